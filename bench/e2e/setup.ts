// The end-to-end benchmark's test bed: backends (1 + 4 redis, 2 memcached), the same
// nutcracker YAML for C twemproxy and Walnut (different listen ports), key filling and a
// sanity check of every path. Servers come from scripts/lib/processes.ts. No twemproxy
// counterpart (cf. its tests/lib/server_modules.py).
import {
  freePort,
  startMemcached,
  startNutcracker,
  startRedis,
  startWalnut,
  type Running,
  type RunningProxy,
} from '../../scripts/lib/processes.js';
import { benchKey } from './memcache-load.js';
import { fdLimits, raiseFdLimit } from './proc-stats.js';
import { exchange, afterLines, openSocket, respCommand } from './raw-client.js';
import type { ProxyName, TargetName } from './results.js';

/** Keys the -r runs and the memcached load pick from; every backend holds all of them. */
export const KEYSPACE = 100_000;
/** Keys of the bulk MGET / multi-get; every backend holds all of them. */
export const BULK_KEYS = 10_000;
/** Elements pushed onto `mylist` on every redis backend for LRANGE_100. */
export const LIST_LENGTH = 600;
/** redis-benchmark's default value: 3 bytes of 'x'. The memcached load uses the same. */
export const VALUE_SIZE = 3;
/** The descriptor limit the proxies get (or their hard limit, if lower). */
export const WANT_FDS = 65_536;

export type Protocol = 'redis' | 'memcache';

/** A pool as the proxies see it, and its ports for each target. */
export interface Suite {
  name: string;
  protocol: Protocol;
  /** -r for redis-benchmark / key range of the memcached load; 0 = one fixed key. */
  keyspace: number;
  ports: Record<TargetName, number>;
  /** The pool's backend processes, whose CPU counts in the whole path of a request. */
  serverPids: number[];
}

export interface Bed {
  redis: Running[];
  memcached: Running[];
  proxies: Record<ProxyName, RunningProxy>;
  suites: Suite[];
  /** The soft descriptor limit each proxy runs with. */
  fdLimits: Record<ProxyName, number>;
  /** Writes the same YAML with other listen ports (for fresh proxies of the idle test). */
  yaml: (ports: PoolPorts) => string;
  stop: () => Promise<void>;
}

/** Listen ports of the three pools of one proxy. */
export interface PoolPorts {
  redis1: number;
  redis4: number;
  memcache: number;
}

/**
 * The pools in nutcracker YAML. Servers are named so ketama placement (which hashes the name)
 * does not depend on the ports of the run. No timeout: twemproxy's default, and a timer per
 * request is work one proxy might do and the other not.
 */
export function proxyYaml(ports: PoolPorts, redis1: readonly number[], redis4: readonly number[], memcache: readonly number[]): string {
  const pool = (name: string, listen: number, redis: boolean, servers: readonly number[], prefix: string): string =>
    [
      `${name}:`,
      `  listen: 127.0.0.1:${listen}`,
      '  hash: fnv1a_64',
      '  distribution: ketama',
      `  redis: ${redis}`,
      '  auto_eject_hosts: false',
      '  preconnect: true',
      '  server_connections: 1',
      '  servers:',
      ...servers.map((p, i) => `   - 127.0.0.1:${p}:1 ${prefix}${i + 1}`),
      '',
    ].join('\n');
  return [
    '# Written by bench/e2e/setup.ts: the same pools for twemproxy and Walnut.',
    pool('bench_redis_1', ports.redis1, true, redis1, 'r'),
    pool('bench_redis_4', ports.redis4, true, redis4, 'r'),
    pool('bench_memcache_2', ports.memcache, false, memcache, 'm'),
  ].join('\n');
}

export async function freePoolPorts(): Promise<PoolPorts> {
  return { redis1: await freePort(), redis4: await freePort(), memcache: await freePort() };
}

/** Arguments both proxies get: quiet logging, the default stats interval. */
export const PROXY_ARGS = ['-v', '4', '-i', '30000'];

/**
 * Tries at starting a proxy: a port found free can be taken before the proxy binds it (for
 * instance as the local end of another proxy's connection to a backend), so a bind failure is
 * retried on other ports.
 */
const START_ATTEMPTS = 3;

/** Extra command-line arguments for each proxy, after PROXY_ARGS. */
export type ProxyArgs = Readonly<Record<ProxyName, readonly string[]>>;

/** Starts one proxy on free ports (`yaml` writes its pools for them) and raises its descriptor limit. */
export async function startProxy(
  which: ProxyName,
  yaml: (ports: PoolPorts) => string,
  extraArgs: readonly string[],
): Promise<{ proxy: RunningProxy; ports: PoolPorts; fdLimit: number }> {
  for (let attempt = 1; ; attempt++) {
    const ports = await freePoolPorts();
    const listenPorts = [ports.redis1, ports.redis4, ports.memcache];
    try {
      const proxy =
        which === 'walnut'
          ? await startWalnut(yaml(ports), { listenPorts, args: [...PROXY_ARGS, ...extraArgs] })
          : await startNutcracker(yaml(ports), { listenPorts, args: [...PROXY_ARGS, ...extraArgs] });
      return { proxy, ports, fdLimit: raiseFdLimit(proxy.pid, WANT_FDS) };
    } catch (e) {
      const inUse = /Address already in use|EADDRINUSE/.test(e instanceof Error ? e.message : String(e));
      if (!inUse || attempt >= START_ATTEMPTS) throw e;
    }
  }
}

export async function startBed(proxyArgs: ProxyArgs): Promise<Bed> {
  const redis = await Promise.all(Array.from({ length: 5 }, () => startRedis()));
  const memcached = await Promise.all([0, 1].map(() => startMemcached()));
  const r1 = [(redis[0] as Running).port];
  const r4 = redis.slice(1).map((r) => r.port);
  const mc = memcached.map((m) => m.port);
  const yaml = (ports: PoolPorts): string => proxyYaml(ports, r1, r4, mc);
  const stoppable: Running[] = [...redis, ...memcached];
  const stop = async (): Promise<void> => {
    await Promise.all(stoppable.map((p) => p.stop()));
  };
  try {
    const nut = await startProxy('twemproxy', yaml, proxyArgs.twemproxy);
    const nutPorts = nut.ports;
    stoppable.push(nut.proxy);
    const wal = await startProxy('walnut', yaml, proxyArgs.walnut);
    const walPorts = wal.ports;
    stoppable.push(wal.proxy);
    const suites: Suite[] = [
      {
        name: 'redis-1',
        protocol: 'redis',
        keyspace: 0,
        ports: { direct: r1[0] as number, twemproxy: nutPorts.redis1, walnut: walPorts.redis1 },
        serverPids: [(redis[0] as Running).pid],
      },
      {
        name: 'redis-4',
        protocol: 'redis',
        keyspace: KEYSPACE,
        ports: { direct: r4[0] as number, twemproxy: nutPorts.redis4, walnut: walPorts.redis4 },
        serverPids: redis.slice(1).map((r) => r.pid),
      },
      {
        name: 'memcache-2',
        protocol: 'memcache',
        keyspace: KEYSPACE,
        ports: { direct: mc[0] as number, twemproxy: nutPorts.memcache, walnut: walPorts.memcache },
        serverPids: memcached.map((m) => m.pid),
      },
    ];
    return {
      redis,
      memcached,
      proxies: { twemproxy: nut.proxy, walnut: wal.proxy },
      suites,
      fdLimits: { twemproxy: nut.fdLimit, walnut: wal.fdLimit },
      yaml,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** The value of bulk key i: 32 bytes, distinct per key so a misplaced value shows. */
export function bulkValue(i: number): string {
  return `bulk-value-${i}-`.padEnd(32, '.');
}

/**
 * Bulk key i: "b0000".."b9999": a 10,000-key memcached `get` line is 60,005 bytes (Walnut's
 * cap on retrieval lines, MC_RETRIEVAL_LINE_CAP, is 4 MiB; twemproxy and memcached have none).
 */
export function bulkKey(i: number): string {
  return `b${String(i).padStart(4, '0')}`;
}

/** Sends a pipeline of one-line-reply commands and waits for all replies. */
async function pipelineLines(port: number, payload: string, replies: number): Promise<Buffer> {
  const s = await openSocket(port);
  try {
    return (await exchange(s, payload, afterLines(replies), 60_000)).reply;
  } finally {
    s.destroy();
  }
}

/**
 * Fills one redis backend: `mylist` of LIST_LENGTH elements, the KEYSPACE keys of the -r runs
 * and the BULK_KEYS keys, so every target finds the same data.
 */
export async function fillRedis(port: number): Promise<void> {
  const parts: string[] = [respCommand(['DEL', 'mylist'])];
  parts.push(respCommand(['RPUSH', 'mylist', ...Array.from({ length: LIST_LENGTH }, () => 'x'.repeat(VALUE_SIZE))]));
  let commands = 2;
  const value = 'x'.repeat(VALUE_SIZE);
  for (let start = 0; start < KEYSPACE; start += 1000) {
    const args = ['MSET'];
    for (let i = start; i < Math.min(KEYSPACE, start + 1000); i++) args.push(benchKey(i), value);
    parts.push(respCommand(args));
    commands++;
  }
  for (let start = 0; start < BULK_KEYS; start += 1000) {
    const args = ['MSET'];
    for (let i = start; i < Math.min(BULK_KEYS, start + 1000); i++) args.push(bulkKey(i), bulkValue(i));
    parts.push(respCommand(args));
    commands++;
  }
  const reply = (await pipelineLines(port, parts.join(''), commands)).toString('latin1');
  if (reply.includes('-')) throw new Error(`filling redis on ${port}: error reply ${reply.slice(0, 200)}`);
}

/** Fills one memcached backend with the KEYSPACE keys and the BULK_KEYS keys. */
export async function fillMemcached(port: number): Promise<void> {
  const parts: string[] = [];
  const value = 'x'.repeat(VALUE_SIZE);
  for (let i = 0; i < KEYSPACE; i++) parts.push(`set ${benchKey(i)} 0 0 ${VALUE_SIZE}\r\n${value}\r\n`);
  for (let i = 0; i < BULK_KEYS; i++) parts.push(`set ${bulkKey(i)} 0 0 32\r\n${bulkValue(i)}\r\n`);
  const reply = (await pipelineLines(port, parts.join(''), KEYSPACE + BULK_KEYS)).toString('latin1');
  const stored = reply.split('STORED\r\n').length - 1;
  if (stored !== KEYSPACE + BULK_KEYS) throw new Error(`filling memcached on ${port}: ${reply.slice(0, 200)}`);
}

/** A SET and a GET through `port`; throws with what came back if it is not right. */
export async function sanityCheck(protocol: Protocol, port: number, what: string): Promise<void> {
  const payload =
    protocol === 'redis'
      ? respCommand(['SET', 'bench:sanity', 'ok']) + respCommand(['GET', 'bench:sanity'])
      : 'set bench:sanity 0 0 2\r\nok\r\nget bench:sanity\r\n';
  const expected = protocol === 'redis' ? '+OK\r\n$2\r\nok\r\n' : 'STORED\r\nVALUE bench:sanity 0 2\r\nok\r\nEND\r\n';
  let got: string;
  try {
    const s = await openSocket(port);
    try {
      got = (await exchange(s, payload, (_c, len) => len >= expected.length, 5_000)).reply.toString('latin1');
    } finally {
      s.destroy();
    }
  } catch (e) {
    throw new Error(`${what}: sanity check failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (got !== expected) throw new Error(`${what}: sanity check failed: got ${JSON.stringify(got)}`);
}

/** This process's descriptor limit, which bounds the idle connections it can open. */
export function ownFdLimit(): number {
  return fdLimits('self').soft;
}
