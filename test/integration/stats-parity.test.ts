// Stats JSON parity with twemproxy (issue 4): Walnut and Debian's nutcracker run the same
// two-pool configuration in front of their own (identically named) backends, receive the same
// deterministic traffic, and their stats documents are compared field by field (spec section 8).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  freePort,
  nutcrackerBin,
  startMemcached,
  startNutcracker,
  startRedis,
  startWalnut,
  walnutCli,
  type Running,
  type RunningProxy,
} from '../../scripts/lib/processes.js';
import { McClient } from './support/memcache-client.js';
import { encodeCommand, RawClient } from './support/raw-client.js';

/** -i for both proxies: nutcracker's aggregated stats then catch up within a few intervals. */
const INTERVAL_MS = 50;
/** The memcache pool's `timeout:`. */
const MC_TIMEOUT_MS = 300;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// The metric kinds of spec 8.3, written out here rather than taken from src/stats/metrics.ts so
// that the test does not grade Walnut against its own tables.
const POOL_COUNTERS = ['client_eof', 'client_err', 'server_ejects', 'forward_error', 'fragments'];
const POOL_GAUGES = ['client_connections'];
const SERVER_COUNTERS = [
  'server_eof',
  'server_err',
  'server_timedout',
  'requests',
  'request_bytes',
  'responses',
  'response_bytes',
];
const SERVER_GAUGES = ['server_connections', 'in_queue', 'in_queue_bytes', 'out_queue', 'out_queue_bytes'];
const HEADER = ['service', 'source', 'version', 'uptime', 'timestamp', 'total_connections', 'curr_connections'];

type Doc = Record<string, unknown>;
type Obj = Record<string, unknown>;

function obj(v: unknown, what: string): Obj {
  assert.ok(typeof v === 'object' && v !== null && !Array.isArray(v), `${what} is an object`);
  return v as Obj;
}

function num(v: unknown, what: string): number {
  assert.ok(typeof v === 'number' && Number.isInteger(v), `${what} is an integer: ${String(v)}`);
  return v;
}

/** The metrics of one server of one pool. */
function serverOf(doc: Doc, pool: string, server: string): Record<string, number> {
  const s = obj(obj(doc[pool], pool)[server], `${pool}.${server}`);
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(s)) out[k] = num(v, `${pool}.${server}.${k}`);
  return out;
}

/**
 * The document as a flat map `pool.metric` / `pool.server.metric` → value, where counters are
 * deltas from `base` (the readiness probes of scripts/lib/processes.ts open a variable number of
 * client connections before the test starts) and gauges are absolute.
 */
function flatten(doc: Doc, base: Doc): Record<string, number> {
  const out: Record<string, number> = {};
  out['total_connections'] = num(doc['total_connections'], 'total') - num(base['total_connections'], 'total');
  out['curr_connections'] = num(doc['curr_connections'], 'curr');
  for (const [pool, pv] of Object.entries(doc)) {
    if (HEADER.includes(pool)) continue;
    const p = obj(pv, pool);
    const bp = obj(base[pool], `base ${pool}`);
    for (const [k, v] of Object.entries(p)) {
      if (typeof v === 'number') {
        out[`${pool}.${k}`] = POOL_COUNTERS.includes(k) ? v - num(bp[k], `base ${pool}.${k}`) : v;
        continue;
      }
      const s = obj(v, `${pool}.${k}`);
      const bs = obj(bp[k], `base ${pool}.${k}`);
      for (const [m, sv] of Object.entries(s)) {
        const n = num(sv, `${pool}.${k}.${m}`);
        out[`${pool}.${k}.${m}`] = SERVER_COUNTERS.includes(m) ? n - num(bs[m], `base ${pool}.${k}.${m}`) : n;
      }
    }
  }
  return out;
}

/** The document without the two clock fields, for "has it stopped changing" checks. */
function withoutClock(doc: Doc): string {
  const { uptime: _u, timestamp: _t, ...rest } = doc;
  return JSON.stringify(rest);
}

/**
 * A stats document once it has stopped changing: three identical readings, each a few
 * intervals apart. nutcracker publishes changes only after its stats thread and its event loop
 * have both woken up (spec 8.4); Walnut is live and settles at once.
 */
async function settled(proxy: RunningProxy, ready: (doc: Doc) => boolean = () => true): Promise<Doc> {
  let previous = '';
  let same = 0;
  for (let i = 0; i < 200; i++) {
    const doc = obj(await proxy.stats(), 'stats');
    const key = withoutClock(doc);
    if (key === previous && ready(doc)) {
      if (++same >= 2) return doc;
    } else {
      same = 0;
      previous = key;
    }
    await sleep(3 * INTERVAL_MS);
  }
  throw new Error(`stats of ${proxy.configPath} never settled; last: ${previous}`);
}

/**
 * SIGSTOP and wait until every thread of the process is stopped: the signal is delivered
 * asynchronously, and a thread still running could answer one more request.
 */
async function pauseFully(server: Running): Promise<void> {
  await server.pause();
  const taskDir = `/proc/${server.pid}/task`;
  for (let i = 0; i < 500; i++) {
    const states = readdirSync(taskDir).map((t) => {
      const stat = readFileSync(`${taskDir}/${t}/stat`, 'latin1');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    });
    if (states.every((st) => st === 'T')) return;
    await sleep(2);
  }
  throw new Error(`pid ${server.pid} did not stop`);
}

/** Everything the stats port at host:port sends before it closes. */
function statsText(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, host);
    const chunks: Buffer[] = [];
    socket.setTimeout(5_000, () => socket.destroy(new Error('timed out reading stats')));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

/** Resolves with the error code of a connection attempt to host:port ('' if it connects). */
function connectError(port: number, host: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    socket.on('connect', () => {
      socket.destroy();
      resolve('');
    });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/** One RESP reply of any type, as text. */
async function readResp(c: RawClient): Promise<string> {
  let line = '';
  while (!line.endsWith('\r\n')) line += (await c.read(1)).toString('latin1');
  const n = Number(line.slice(1, -2));
  if (line[0] === '$' && n >= 0) return line + (await c.read(n + 2)).toString('latin1');
  if (line[0] === '*' && n > 0) {
    for (let i = 0; i < n; i++) line += await readResp(c);
  }
  return line;
}

// ---------------------------------------------------------------------------------------------
// The two sides

const REDIS_SERVERS = ['r1', 'r2', 'r3'] as const;
const MC_SERVERS = ['m1', 'm2'] as const;

/** Keys spread over the servers (short keys differing in one byte all hash close together). */
const KEYS = Array.from({ length: 12 }, (_, i) => `user:${(i * 7919) % 1000}:profile`);
const MISSING = 'no:such:key';
const NOREPLY_KEY = 'set:without:reply';

interface Side {
  readonly name: 'walnut' | 'nutcracker';
  readonly proxy: RunningProxy;
  readonly redisPort: number;
  readonly mcPort: number;
  /** r1, r2 over TCP; r3 over a unix socket (also on a TCP port, for direct look-ups). */
  readonly redis: Record<(typeof REDIS_SERVERS)[number], Running>;
  readonly mc: Record<(typeof MC_SERVERS)[number], Running>;
  /** Stats right after start, before any traffic. */
  base: Doc;
  /** Every reply the test received, step by step. */
  readonly transcript: string[];
}

/**
 * The configuration of one side: the same pool and server names on both sides (names, not
 * addresses, place keys with ketama), so placement and the stats keys are identical.
 */
function configYaml(redisPort: number, mcPort: number, r: Side['redis'], m: Side['mc'], socketPath: string): string {
  return [
    'alpha:',
    `  listen: 127.0.0.1:${redisPort}`,
    '  redis: true',
    '  servers:',
    `    - 127.0.0.1:${r.r1.port}:1 r1`,
    `    - 127.0.0.1:${r.r2.port}:1 r2`,
    `    - ${socketPath}:1 r3`,
    // A four-letter name sorts before "alpha" (shorter names first, spec 2.6).
    'beta:',
    `  listen: 127.0.0.1:${mcPort}`,
    `  timeout: ${MC_TIMEOUT_MS}`,
    '  auto_eject_hosts: true',
    '  server_failure_limit: 2',
    '  server_retry_timeout: 60000',
    '  servers:',
    `    - 127.0.0.1:${m.m1.port}:1 m1`,
    `    - 127.0.0.1:${m.m2.port}:1 m2`,
    '',
  ].join('\n');
}

async function startSide(name: Side['name'], socketDir: string): Promise<Side> {
  const socketPath = join(socketDir, `${name}-r3.sock`);
  const [r1, r2, r3, m1, m2] = await Promise.all([
    startRedis(),
    startRedis(),
    startRedis({ unixSocket: socketPath }),
    startMemcached(),
    startMemcached(),
  ]);
  const redis = { r1, r2, r3 };
  const mc = { m1, m2 };
  const [redisPort, mcPort] = await Promise.all([freePort(), freePort()]);
  const yaml = configYaml(redisPort, mcPort, redis, mc, socketPath);
  const start = name === 'walnut' ? startWalnut : startNutcracker;
  const proxy = await start(yaml, { listenPorts: [redisPort, mcPort], args: ['-i', String(INTERVAL_MS)] });
  return { name, proxy, redisPort, mcPort, redis, mc, base: {}, transcript: [] };
}

/** Which backend of the side holds `key` (asked directly, not through the proxy). */
async function redisHolder(side: Side, key: string): Promise<string> {
  const holders: string[] = [];
  for (const name of REDIS_SERVERS) {
    const c = await RawClient.connect(side.redis[name].port);
    c.command('EXISTS', key);
    if ((await readResp(c)) === ':1\r\n') holders.push(name);
    c.destroy();
  }
  assert.equal(holders.length, 1, `${key} is on exactly one server: ${holders.join(',')}`);
  return holders[0]!;
}

async function mcHolder(side: Side, key: string): Promise<string> {
  const holders: string[] = [];
  for (const name of MC_SERVERS) {
    const c = await McClient.connect(side.mc[name].port);
    await c.send(`get ${key}\r\n`);
    if ((await c.readReply()).toString('latin1').startsWith('VALUE ')) holders.push(name);
    c.destroy();
  }
  assert.equal(holders.length, 1, `${key} is on exactly one server: ${holders.join(',')}`);
  return holders[0]!;
}

/** Number of distinct servers the keys live on: the fragments of a multi-key request. */
function spread(keys: readonly string[], where: ReadonlyMap<string, string>): number {
  return new Set(keys.map((k) => where.get(k))).size;
}

async function waitForStats(proxy: RunningProxy, what: string, ok: (doc: Doc) => boolean): Promise<Doc> {
  for (let i = 0; i < 200; i++) {
    const doc = obj(await proxy.stats(), 'stats');
    if (ok(doc)) return doc;
    await sleep(INTERVAL_MS);
  }
  throw new Error(`${proxy.configPath}: stats never showed ${what}`);
}

/**
 * A metric that legitimately differs, and how: either both values exactly, or Walnut's value
 * minus nutcracker's (several offsets on one metric add up).
 */
type Known =
  | { readonly path: string; readonly walnut: number; readonly nutcracker: number; readonly why: string }
  | { readonly path: string; readonly offset: number; readonly why: string };

/**
 * Compares two flat maps: first the metrics with a known, explained difference, then every
 * other metric for equality.
 */
function compareFlat(walnut: Record<string, number>, nutcracker: Record<string, number>, known: readonly Known[]): void {
  assert.deepEqual(Object.keys(walnut).sort(), Object.keys(nutcracker).sort(), 'same metrics');
  const w = { ...walnut };
  const n = { ...nutcracker };
  const offsets = new Map<string, { offset: number; why: string[] }>();
  for (const k of known) {
    if ('offset' in k) {
      const o = offsets.get(k.path) ?? { offset: 0, why: [] };
      o.offset += k.offset;
      o.why.push(k.why);
      offsets.set(k.path, o);
      continue;
    }
    assert.equal(w[k.path], k.walnut, `walnut ${k.path} (${k.why})`);
    assert.equal(n[k.path], k.nutcracker, `nutcracker ${k.path} (${k.why})`);
    delete w[k.path];
    delete n[k.path];
  }
  for (const [path, o] of offsets) {
    assert.equal(w[path]! - n[path]!, o.offset, `walnut ${path} ${w[path]} - nutcracker ${n[path]} (${o.why.join('; ')})`);
    delete w[path];
    delete n[path];
  }
  assert.deepEqual(w, n);
}

/** A RESP bulk string's size on the wire. */
function bulkSize(value: string): number {
  return `$${Buffer.byteLength(value)}\r\n${value}\r\n`.length;
}

describe('stats JSON: Walnut and nutcracker after the same traffic', () => {
  let walnut: Side;
  let nutcracker: Side;
  let sides: Side[] = [];
  /** Placement of every key, found by asking the backends (identical on both sides). */
  const whereR = new Map<string, string>();
  const whereM = new Map<string, string>();
  let socketDir = '';

  before(async () => {
    socketDir = await mkdtemp(join(tmpdir(), 'walnut-stats-'));
    [walnut, nutcracker] = await Promise.all([startSide('walnut', socketDir), startSide('nutcracker', socketDir)]);
    sides = [walnut, nutcracker];
    for (const s of sides) s.base = await settled(s.proxy);
  });

  after(async () => {
    await Promise.all(sides.flatMap((s) => [s.proxy, ...Object.values(s.redis), ...Object.values(s.mc)]).map((p) => p.stop()));
    if (socketDir !== '') await rm(socketDir, { recursive: true, force: true });
  });

  test('same top-level fields, in the same order, with the same types and layout', async () => {
    const startSec = Math.floor(Date.now() / 1000);
    const [wText, nText] = await Promise.all([statsText(walnut.proxy.statsPort), statsText(nutcracker.proxy.statsPort)]);
    const now = Math.floor(Date.now() / 1000);
    // Byte layout (spec 8.2): with every number replaced, the two documents are the same text.
    const skeleton = (t: string): string => t.replace(/":-?\d+/g, '":N');
    assert.equal(skeleton(wText), skeleton(nText));
    assert.ok(wText.endsWith('}}}\n') && !wText.slice(0, -1).includes('\n'), 'one line ending in }}}\\n');

    const w = JSON.parse(wText) as Doc;
    const n = JSON.parse(nText) as Doc;
    assert.deepEqual(Object.keys(w), [...HEADER, 'beta', 'alpha'], 'header, then pools in sorted order');
    assert.deepEqual(Object.keys(w), Object.keys(n));
    for (const key of Object.keys(n)) assert.equal(typeof w[key], typeof n[key], `type of ${key}`);
    for (const d of [w, n]) {
      assert.equal(d['service'], 'nutcracker');
      assert.equal(d['source'], hostname());
      assert.equal(d['version'], '0.5.0');
      const timestamp = num(d['timestamp'], 'timestamp');
      assert.ok(timestamp >= startSec && timestamp <= now, `timestamp ${timestamp} in [${startSec}, ${now}]`);
      assert.ok(num(d['uptime'], 'uptime') >= 0);
    }
    for (const pool of ['alpha', 'beta']) {
      const wp = obj(w[pool], pool);
      const np = obj(n[pool], pool);
      assert.deepEqual(Object.keys(wp), Object.keys(np), `${pool}: pool metrics then servers, in order`);
      const servers = pool === 'alpha' ? REDIS_SERVERS : MC_SERVERS;
      assert.deepEqual(Object.keys(np), [
        'client_eof',
        'client_err',
        'client_connections',
        'server_ejects',
        'forward_error',
        'fragments',
        ...servers,
      ]);
      for (const server of servers) {
        assert.deepEqual(Object.keys(serverOf(w, pool, server)), Object.keys(serverOf(n, pool, server)));
        assert.deepEqual(Object.keys(serverOf(n, pool, server)), [
          'server_eof',
          'server_err',
          'server_timedout',
          'server_connections',
          'server_ejected_at',
          'requests',
          'request_bytes',
          'responses',
          'response_bytes',
          'in_queue',
          'in_queue_bytes',
          'out_queue',
          'out_queue_bytes',
        ]);
      }
    }
    // Idle, no preconnect: the only connection objects are the two listeners (spec 8.3).
    assert.equal(w['curr_connections'], 2);
    assert.equal(n['curr_connections'], 2);
  });

  // Clients kept open from the first traffic test to the second.
  const rc = new Map<Side, RawClient>();
  const mcc = new Map<Side, McClient>();
  let fragmentsAlpha = 0;
  let msetOvercount: Known[] = [];
  let fragmentsBeta = 0;

  const redisCmd = async (s: Side, ...args: string[]): Promise<string> => {
    const c = rc.get(s)!;
    c.command(...args);
    const reply = await readResp(c);
    s.transcript.push(`${args.join(' ')} -> ${reply}`);
    return reply;
  };
  const mcCmd = async (s: Side, line: string): Promise<string> => {
    const c = mcc.get(s)!;
    await c.send(line);
    const reply = (await c.readReply()).toString('latin1');
    s.transcript.push(`${line.split('\r\n')[0]!} -> ${reply}`);
    return reply;
  };

  test('with clients connected and a stopped server: counters, connection and queue gauges', async () => {
    // Multi-key requests, in pool alpha and beta (memcache multi-get).
    const mgetAll = KEYS;
    const msetKeys = KEYS.slice(0, 3);
    const delKeys = KEYS.slice(3, 7);
    const mcKeys = KEYS.slice(0, 6);

    await Promise.all(
      sides.map(async (s) => {
        rc.set(s, await RawClient.connect(s.redisPort));
        mcc.set(s, await McClient.connect(s.mcPort));
        for (const k of KEYS) await redisCmd(s, 'SET', k, `value-of-${k}`);
        for (const k of mcKeys) await mcCmd(s, `set ${k} 0 0 ${k.length}\r\n${k}\r\n`);
      }),
    );
    for (const s of sides) {
      for (const k of KEYS) {
        const holder = await redisHolder(s, k);
        if (whereR.has(k)) assert.equal(holder, whereR.get(k), `${k} placed alike on both sides`);
        whereR.set(k, holder);
      }
      for (const k of mcKeys) {
        const holder = await mcHolder(s, k);
        if (whereM.has(k)) assert.equal(holder, whereM.get(k), `${k} placed alike on both sides`);
        whereM.set(k, holder);
      }
    }
    for (const name of REDIS_SERVERS) {
      assert.ok(KEYS.filter((k) => whereR.get(k) === name).length >= 2, `two keys or more on ${name}`);
    }
    for (const name of MC_SERVERS) assert.ok(mcKeys.some((k) => whereM.get(k) === name), `a key on ${name}`);
    assert.ok(spread(delKeys, whereR) > 1 && spread(mgetAll, whereR) === 3, 'multi-key requests span servers');
    fragmentsAlpha += spread(mgetAll, whereR) + spread(msetKeys, whereR) + spread(delKeys, whereR);
    // nutcracker's request_bytes of an MSET fragment counts each value bulk twice, except the
    // request's last one: redis_copy_bulk adds the bytes to the fragment's mlen after
    // msg_append has already added them (the last bulk ends the buffer, is moved rather than
    // appended, and is counted once). What goes on the wire, and what Walnut counts, is each
    // value once.
    msetOvercount = msetKeys.slice(0, -1).map((k) => ({
      path: `alpha.${whereR.get(k)!}.request_bytes`,
      offset: -bulkSize(`new-${k}`),
      why: 'nutcracker counts MSET fragment values twice',
    }));
    fragmentsBeta += spread(mcKeys, whereM);

    await Promise.all(
      sides.map(async (s) => {
        for (const k of KEYS) await redisCmd(s, 'GET', k);
        await redisCmd(s, 'GET', MISSING);
        await redisCmd(s, 'MGET', ...mgetAll);
        // One key: forwarded whole, not a fragment (spec 4.6).
        await redisCmd(s, 'MGET', KEYS[0]!);
        await redisCmd(s, 'MSET', ...msetKeys.flatMap((k) => [k, `new-${k}`]));
        await redisCmd(s, 'DEL', ...delKeys);
        // Answered by the proxy: no server sees it.
        await redisCmd(s, 'PING');
        for (const k of mcKeys) await mcCmd(s, `get ${k}\r\n`);
        await mcCmd(s, `get ${mcKeys.join(' ')}\r\n`);
        await mcCmd(s, `get ${MISSING}\r\n`);
        // noreply: a request with no response; the get after it shows it has been handled.
        await mcCmd(s, `set ${NOREPLY_KEY} 0 0 1 noreply\r\nx\r\nget ${NOREPLY_KEY}\r\n`);
        await mcCmd(s, `delete ${mcKeys[0]!}\r\n`);
      }),
    );

    // r2 stops answering: three pipelined GETs are written to it and wait (out_queue).
    const r2Keys = KEYS.filter((k) => whereR.get(k) === 'r2').slice(0, 3);
    const waiting = r2Keys.map((k) => encodeCommand(['GET', k]).length);
    for (const s of sides) {
      await pauseFully(s.redis.r2);
      const c = rc.get(s)!;
      c.send(Buffer.concat(r2Keys.map((k) => encodeCommand(['GET', k]))));
    }
    const isWaiting = (d: Doc): boolean => serverOf(d, 'alpha', 'r2')['out_queue'] === r2Keys.length;
    const [w, n] = await Promise.all([settled(walnut.proxy, isWaiting), settled(nutcracker.proxy, isWaiting)]);
    for (const s of sides) s.redis.r2.resume();
    await Promise.all(
      sides.map(async (s) => {
        for (const k of r2Keys) s.transcript.push(`GET ${k} (pipelined) -> ${await readResp(rc.get(s)!)}`);
      }),
    );

    const fw = flatten(w, walnut.base);
    const fn = flatten(n, nutcracker.base);
    // Meaning, on each side: the stopped server holds exactly the pipelined requests.
    for (const f of [fw, fn]) {
      assert.equal(f['alpha.r2.out_queue'], r2Keys.length);
      assert.equal(f['alpha.r2.out_queue_bytes'], waiting.reduce((a, b) => a + b, 0));
      assert.equal(f['alpha.r2.in_queue'], 0);
      assert.equal(f['alpha.client_connections'], 1);
      assert.equal(f['beta.client_connections'], 1);
    }
    compareFlat(fw, fn, [
      {
        path: 'alpha.fragments',
        walnut: fragmentsAlpha,
        nutcracker: 0,
        why: 'nutcracker never increments fragments (spec 4.6); Walnut counts one per sub-request',
      },
      { path: 'beta.fragments', walnut: fragmentsBeta, nutcracker: 0, why: 'as alpha.fragments' },
      {
        path: 'alpha.r3.server_connections',
        walnut: 1,
        nutcracker: 0,
        why: 'a unix-socket connect completes synchronously and nutcracker never counts it (spec 4.4)',
      },
      ...msetOvercount,
    ]);
    assert.deepEqual(walnut.transcript, nutcracker.transcript, 'same replies');
  });

  test('after killed servers, errors and closed clients: counters equal, gauges never negative', async () => {
    assert.equal(whereR.size, KEYS.length, 'the previous test placed the keys');
    const r3Keys = KEYS.filter((k) => whereR.get(k) === 'r3');
    const r1Keys = KEYS.filter((k) => whereR.get(k) === 'r1');
    const r2Keys = KEYS.filter((k) => whereR.get(k) === 'r2');
    const mcKeys = KEYS.slice(1, 6);
    assert.equal(spread(mcKeys, whereM), 2, 'the multi-get reaches both memcached servers');
    /** Error replies made up by the proxy, per pool, as the clients saw them. */
    const proxyErrors = new Map<Side, { alpha: number; beta: number }>();
    for (const s of sides) proxyErrors.set(s, { alpha: 0, beta: 0 });

    // m1 stops answering: a get outlives the pool timeout, its connection is closed
    // (server_timedout, a first failure); once m1 answers again the failure count is reset.
    const m1Key = KEYS.slice(0, 6).find((k) => whereM.get(k) === 'm1')!;
    await Promise.all(
      sides.map(async (s) => {
        await pauseFully(s.mc.m1);
        const reply = await mcCmd(s, `get ${m1Key}\r\n`);
        s.mc.m1.resume();
        if (reply.startsWith('SERVER_ERROR ')) proxyErrors.get(s)!.beta++;
        await mcCmd(s, `get ${m1Key}\r\n`);
      }),
    );

    // m2 is used just before it dies: Walnut does not count the close of a connection idle for
    // a second or more as a failure (Redis's `timeout`), and this test wants a failure.
    const m2Key = KEYS.slice(0, 6).find((k) => whereM.get(k) === 'm2')!;
    await Promise.all(sides.map((s) => mcCmd(s, `get ${m2Key}\r\n`)));
    const killedAt = Date.now();
    // r3 (unix socket) and m2 die: each proxy sees its connection close (server_eof).
    for (const s of sides) {
      s.redis.r3.kill('SIGKILL');
      s.mc.m2.kill('SIGKILL');
    }
    await Promise.all(sides.flatMap((s) => [s.redis.r3.exited, s.mc.m2.exited]));
    await Promise.all(
      sides.map((s) =>
        waitForStats(s.proxy, 'both connections closed', (d) =>
          serverOf(d, 'alpha', 'r3')['server_eof']! > 0 && serverOf(d, 'beta', 'm2')['server_eof']! > 0,
        ),
      ),
    );

    // What Walnut sends towards the dead unix-socket server r3 (each a refused connection).
    const delKeys = [r1Keys[0]!, r3Keys[0]!, r3Keys[1]!];
    const failedMget = [r2Keys[0]!, r3Keys[0]!];
    const toR3 = [
      ...r3Keys.map((k) => encodeCommand(['GET', k]).length),
      encodeCommand(['del', r3Keys[0]!, r3Keys[1]!]).length,
      encodeCommand(['mget', r3Keys[0]!]).length,
    ];
    fragmentsAlpha += spread(delKeys, whereR) + spread(failedMget, whereR);
    fragmentsBeta += spread(mcKeys, whereM);

    await Promise.all(
      sides.map(async (s) => {
        const errors = proxyErrors.get(s)!;
        for (const k of KEYS) if ((await redisCmd(s, 'GET', k)).startsWith('-ERR ')) errors.alpha++;
        // A DEL with a failed fragment: one error reply, one forward_error; the client stays.
        if ((await redisCmd(s, 'DEL', ...delKeys)).startsWith('-ERR ')) errors.alpha++;

        // MGET with a failed fragment: nutcracker closes the client after the error, Walnut
        // keeps it (README, differences); this client then leaves.
        const rf = await RawClient.connect(s.redisPort);
        rf.command('MGET', ...failedMget);
        const mgetReply = await readResp(rf);
        s.transcript.push(`MGET ${failedMget.join(' ')} -> ${mgetReply}`);
        if (mgetReply.startsWith('-ERR ')) errors.alpha++;
        if (s.name === 'nutcracker') await rf.readToEnd();
        rf.destroy();

        // The multi-get reaching the dead m2 is its second failure: m2 is ejected. The error
        // closes the client in nutcracker only, as for MGET.
        const mf = await McClient.connect(s.mcPort);
        await mf.send(`get ${mcKeys.join(' ')}\r\n`);
        const getReply = (await mf.readReply()).toString('latin1');
        s.transcript.push(`get ${mcKeys.join(' ')} -> ${getReply}`);
        if (getReply.startsWith('SERVER_ERROR ')) errors.beta++;
        if (s.name === 'nutcracker') await mf.readToEnd();
        mf.destroy();
        // m2 ejected: its keys now go to m1 (misses), no errors.
        for (const k of mcKeys) await mcCmd(s, `get ${k}\r\n`);

        // An unframeable request: both close the client (client_err).
        const g = await RawClient.connect(s.redisPort);
        g.send('*x\r\n');
        await g.readToEnd();
        g.destroy();

        rc.get(s)!.destroy();
        mcc.get(s)!.destroy();
      }),
    );
    const noClients = (d: Doc): boolean =>
      obj(d['alpha'], 'alpha')['client_connections'] === 0 && obj(d['beta'], 'beta')['client_connections'] === 0;
    const [w, n] = await Promise.all([settled(walnut.proxy, noClients), settled(nutcracker.proxy, noClients)]);
    const finishedAt = Date.now();
    const fw = flatten(w, walnut.base);
    const fn = flatten(n, nutcracker.base);

    // Meaning, on each side.
    for (const [s, f] of [[walnut, fw], [nutcracker, fn]] as const) {
      const errors = proxyErrors.get(s)!;
      assert.equal(errors.alpha, r3Keys.length + 2, `${s.name}: every request touching r3 failed: ${JSON.stringify(s.transcript.slice(-20))}`);
      assert.equal(errors.beta, 2, `${s.name}: the timed-out get and the multi-get reaching m2: ${JSON.stringify(s.transcript.slice(-12))}`);
      assert.equal(f['beta.m1.server_timedout'], 1, `${s.name}: one connection to m1 closed by the timeout`);
      assert.equal(f['beta.m1.server_err'], 0);
      assert.equal(f['alpha.forward_error'], errors.alpha, `${s.name}: forward_error = error replies sent`);
      assert.equal(f['beta.forward_error'], errors.beta, `${s.name}: forward_error = error replies sent`);
      assert.equal(f['alpha.r3.server_eof'], 1, `${s.name}: r3 closed its connection once`);
      assert.equal(f['alpha.r3.server_err'], toR3.length, `${s.name}: one refused connection per request to r3`);
      assert.equal(f['beta.m2.server_eof'], 1);
      assert.equal(f['beta.m2.server_err'], 1, `${s.name}: the multi-get's refused connection`);
      assert.equal(f['beta.server_ejects'], 1);
      assert.equal(f['alpha.server_ejects'], 0, 'no auto_eject_hosts in alpha');
      // Every client this test opened (2 long-lived, 2 closed-on-error, 1 garbage) has gone.
      assert.equal(f['alpha.client_eof']! + f['alpha.client_err']!, 3);
      assert.equal(f['beta.client_eof']! + f['beta.client_err']!, 2);
      for (const pool of ['alpha', 'beta']) {
        for (const server of pool === 'alpha' ? REDIS_SERVERS : MC_SERVERS) {
          for (const g of ['in_queue', 'in_queue_bytes', 'out_queue', 'out_queue_bytes']) {
            assert.equal(f[`${pool}.${server}.${g}`], 0, `${s.name}: ${pool}.${server}.${g} drained`);
          }
        }
      }
      // server_ejected_at is a µs timestamp from the ejection, which happened in this test.
      const ejectedAt = serverOf(s === walnut ? w : n, 'beta', 'm2')['server_ejected_at']!;
      assert.ok(ejectedAt >= killedAt * 1000 && ejectedAt <= finishedAt * 1000, `${s.name}: ejected_at ${ejectedAt}`);
      assert.equal(serverOf(s === walnut ? w : n, 'beta', 'm1')['server_ejected_at'], 0);
    }
    // Gauges never negative in Walnut, whatever closed: not in the document, and not in the
    // accounting behind it (the stats server logs any gauge it had to print as 0).
    for (const [k, v] of Object.entries(fw)) {
      const metric = k.split('.').at(-1)!;
      if (SERVER_GAUGES.includes(metric) || POOL_GAUGES.includes(metric) || k === 'curr_connections') {
        assert.ok(v >= 0, `walnut ${k} = ${v}`);
      }
    }
    const negative = readFileSync(walnut.proxy.logPath, 'utf8').split('\n').filter((l) => l.includes('is negative'));
    assert.deepEqual(negative, [], 'no gauge of Walnut went below zero');

    const toR3Bytes = toR3.reduce((a, b) => a + b, 0);
    compareFlat(fw, fn, [
      {
        path: 'alpha.fragments',
        walnut: fragmentsAlpha,
        nutcracker: 0,
        why: 'nutcracker never increments fragments (spec 4.6); Walnut counts one per sub-request',
      },
      { path: 'beta.fragments', walnut: fragmentsBeta, nutcracker: 0, why: 'as alpha.fragments' },
      {
        path: 'alpha.r3.server_connections',
        walnut: 0,
        nutcracker: -1,
        why: 'nutcracker never counted the unix-socket connection but uncounts its close (spec 4.4)',
      },
      {
        path: 'alpha.r3.requests',
        offset: toR3.length,
        why:
          'a refused unix-socket connect fails synchronously in nutcracker, before the request is ' +
          'queued and counted; Walnut counts every request routed to a server, as nutcracker does for TCP',
      },
      { path: 'alpha.r3.request_bytes', offset: toR3Bytes, why: 'as alpha.r3.requests' },
      ...msetOvercount,
      {
        path: 'alpha.client_err',
        offset: -1,
        why: 'nutcracker closes the client of an MGET with a failed fragment (an error); Walnut keeps it',
      },
      { path: 'alpha.client_eof', offset: 1, why: 'that client leaves on its own in Walnut (an eof)' },
      { path: 'beta.client_err', offset: -1, why: 'as alpha.client_err, for a memcache multi-get' },
      { path: 'beta.client_eof', offset: 1, why: 'as alpha.client_eof' },
      {
        path: 'beta.m2.server_ejected_at',
        walnut: fw['beta.m2.server_ejected_at']!,
        nutcracker: fn['beta.m2.server_ejected_at']!,
        why: 'both are the clock at the ejection (checked above), not the same microsecond',
      },
    ]);
    assert.deepEqual(walnut.transcript, nutcracker.transcript, 'same replies');
  });
});

describe('stats JSON: a server that stops reading, as nutcracker reports it', () => {
  // Requests too large for the kernel's socket buffers to take whole while the server is
  // stopped: twemproxy keeps a request in in_queue until its last byte is written, and only
  // then moves it to out_queue (spec 8.3), so a backlog the server does not read shows there.
  const VALUE_BYTES = 2 << 20;
  const SETS = 4;
  const sides: { name: string; proxy: RunningProxy; redis: Running; port: number }[] = [];

  before(async () => {
    for (const name of ['walnut', 'nutcracker'] as const) {
      const [redis, port] = await Promise.all([startRedis(), freePort()]);
      const yaml = ['solo:', `  listen: 127.0.0.1:${port}`, '  redis: true', '  servers:', `    - 127.0.0.1:${redis.port}:1 r1`, ''];
      const start = name === 'walnut' ? startWalnut : startNutcracker;
      const proxy = await start(yaml.join('\n'), { listenPorts: [port], args: ['-i', String(INTERVAL_MS)] });
      sides.push({ name, proxy, redis, port });
    }
  });

  after(async () => {
    await Promise.all(sides.flatMap((s) => [s.proxy.stop(), s.redis.stop()]));
  });

  test('requests the kernel has not taken whole are in in_queue, the rest in out_queue', async () => {
    const value = 'v'.repeat(VALUE_BYTES);
    const requests = Array.from({ length: SETS }, (_, i) => encodeCommand(['SET', `big:${i}`, value]));
    const size = requests[0]!.length;
    const clients = new Map<string, RawClient>();
    const stalled = new Map<string, Record<string, number>>();
    for (const s of sides) {
      const c = await RawClient.connect(s.port);
      clients.set(s.name, c);
      // A connection to r1 first, so that the big requests do not wait for a connect.
      c.command('PING');
      c.command('GET', 'big:0');
      assert.equal(await readResp(c), '+PONG\r\n');
      assert.equal(await readResp(c), '$-1\r\n');
      await pauseFully(s.redis);
      void c.send(Buffer.concat(requests));
      const all = (d: Doc): boolean => {
        const r1 = serverOf(d, 'solo', 'r1');
        return r1['in_queue']! + r1['out_queue']! === SETS;
      };
      stalled.set(s.name, serverOf(await settled(s.proxy, all), 'solo', 'r1'));
    }
    for (const s of sides) {
      s.redis.resume();
      const c = clients.get(s.name)!;
      for (let i = 0; i < SETS; i++) assert.equal(await readResp(c), '+OK\r\n', `${s.name}: SET ${i}`);
      c.destroy();
    }
    for (const s of sides) {
      const r1 = stalled.get(s.name)!;
      // What the stopped server's socket could not take is not "written, awaiting a reply".
      assert.ok(r1['in_queue']! >= 1, `${s.name}: a request not written whole is in in_queue: ${JSON.stringify(r1)}`);
      assert.equal(r1['in_queue_bytes'], r1['in_queue']! * size, `${s.name}: in_queue_bytes`);
      assert.equal(r1['out_queue_bytes'], r1['out_queue']! * size, `${s.name}: out_queue_bytes`);
      const done = serverOf(await settled(s.proxy), 'solo', 'r1');
      for (const g of ['in_queue', 'in_queue_bytes', 'out_queue', 'out_queue_bytes']) {
        assert.equal(done[g], 0, `${s.name}: ${g} drained`);
      }
    }
    const negative = readFileSync(sides[0]!.proxy.logPath, 'utf8').split('\n').filter((l) => l.includes('is negative'));
    assert.deepEqual(negative, [], 'no gauge of Walnut went below zero');
  });
});

describe('stats flags as in nutcracker', () => {
  test('-a and -s bind the stats listener to that address and port only', async () => {
    const [wPort, nPort, wStats, nStats] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const yaml = (port: number): string =>
      ['solo:', `  listen: 127.0.0.1:${port}`, '  redis: true', '  servers:', '    - 127.0.0.1:1:1 nowhere', ''].join('\n');
    const [w, n] = await Promise.all([
      startWalnut(yaml(wPort), { listenPorts: [wPort], statsPort: wStats, args: ['-a', '127.0.0.2'] }),
      startNutcracker(yaml(nPort), { listenPorts: [nPort], statsPort: nStats, args: ['-a', '127.0.0.2'] }),
    ]);
    try {
      for (const [proxy, port] of [[w, wStats], [n, nStats]] as const) {
        const doc = JSON.parse(await statsText(port, '127.0.0.2')) as Doc;
        assert.equal(doc['service'], 'nutcracker');
        assert.equal(Object.keys(obj(doc['solo'], 'solo')).at(-1), 'nowhere');
        assert.equal(proxy.statsPort, port);
        // Another loopback address, same port: nothing listens there.
        assert.equal(await connectError(port, '127.0.0.1'), 'ECONNREFUSED');
      }
    } finally {
      await Promise.all([w.stop(), n.stop()]);
    }
  });

  test('-D describes the same metrics as nutcracker -D, line by line', () => {
    const w = spawnSync(process.execPath, [walnutCli, '-D'], { encoding: 'utf8' });
    const n = spawnSync(nutcrackerBin, ['-D'], { encoding: 'utf8' });
    assert.equal(w.status, 0);
    assert.equal(n.status, 0);
    assert.equal(w.stdout, '');
    assert.equal(n.stdout, '');
    const wLines = w.stderr.split('\n');
    const nLines = n.stderr.split('\n');
    // The version banner (three lines, the last empty) names the program and its event loop:
    // "This is nutcracker-0.5.0" / "async event backend: epoll" there, Walnut's own here.
    assert.equal(nLines[0], 'This is nutcracker-0.5.0');
    assert.match(wLines[0]!, /^This is walnut-\S+ \(twemproxy 0\.5\.0 compatible\)$/);
    assert.match(wLines[1]!, /^async event backend: /);
    assert.equal(wLines[2], '');
    assert.equal(nLines[2], '');
    // The description itself: identical.
    assert.deepEqual(wLines.slice(3), nLines.slice(3));
    assert.equal(nLines[3], 'pool stats:');
    assert.equal(nLines.filter((l) => l.startsWith('  ')).length, 6 + 13);
  });
});
