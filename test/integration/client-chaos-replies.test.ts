// Seeded client chaos with exact replies: clients of a redis pool and a memcached pool (two
// servers each, two connections per server, so clients share server connections) send random
// pipelines of single- and multi-key requests, written whole, in random pieces or byte by
// byte; some stop reading for a while, some half-close after a cut at a random byte (the
// requests complete before it are answered, then the connection ends), some hang up in the
// middle of a pipeline. There are no server faults, so every reply is known exactly: each
// client's reply stream must equal, byte for byte, the replies its own requests imply
// (values are unique to the client and the request). Afterwards the queue gauges and
// client_connections are back to 0. The seed fixes every choice; only timing varies.
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { freePort, startMemcached, startRedis, startWalnut, type Running, type RunningProxy } from '../../scripts/lib/processes.js';
import { encodeCommand, openSocket } from './support/raw-client.js';
import type { Stats } from './support/stats.js';

const SEED = 20261206;
const CLIENTS_PER_POOL = 8;
const SESSIONS_PER_CLIENT = 10;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** mulberry32: small, seedable, good enough to pick test cases. */
class Rng {
  private a: number;
  constructor(seed: number) {
    this.a = seed >>> 0;
  }
  next(): number {
    this.a = (this.a + 0x6d2b79f5) >>> 0;
    let t = this.a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** One request and the exact reply it must get ('' for a memcached noreply request). */
interface Step {
  bytes: Buffer;
  reply: string;
}

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');
const bulk = (v: string | null): string => (v === null ? '$-1\r\n' : `$${v.length}\r\n${v}\r\n`);

/** A value unique to the session and the request, sometimes holding protocol-like bytes. */
function value(r: Rng, tag: string, seq: number): string {
  const pad = ['', '\r\nEND\r\n$-1\r\n+OK\r\n', ' VALUE x 0 1 ', 'y'.repeat(r.int(3000))][r.int(4)]!;
  return `${tag}-${seq}${pad}`;
}

/** Redis: the session's own keys, modelled exactly (strings and counters). */
function redisSteps(r: Rng, tag: string, model: Map<string, string>, count: number, seq0: number): Step[] {
  const steps: Step[] = [];
  const key = (i: number): string => `{${tag}:${i % 2}}k${i}`;
  const some = (): string[] => Array.from({ length: 1 + r.int(6) }, () => key(r.int(8)));
  for (let i = 0; i < count; i++) {
    const seq = seq0 + i;
    const op = r.int(8);
    if (op === 0 || op === 1) {
      const k = key(r.int(8));
      const v = value(r, tag, seq);
      model.set(k, v);
      steps.push({ bytes: encodeCommand(['SET', k, v]), reply: '+OK\r\n' });
    } else if (op === 2) {
      const k = key(r.int(8));
      steps.push({ bytes: encodeCommand(['GET', k]), reply: bulk(model.get(k) ?? null) });
    } else if (op === 3) {
      const k = `${tag}:n${r.int(3)}`;
      const n = BigInt(model.get(k) ?? '0') + 7n;
      model.set(k, String(n));
      steps.push({ bytes: encodeCommand(['INCRBY', k, '7']), reply: `:${n}\r\n` });
    } else if (op === 4) {
      const ks = some();
      steps.push({ bytes: encodeCommand(['MGET', ...ks]), reply: `*${ks.length}\r\n${ks.map((k) => bulk(model.get(k) ?? null)).join('')}` });
    } else if (op === 5) {
      const ks = some();
      const args = ks.flatMap((k, j) => [k, value(r, tag, seq * 10 + j)]);
      for (let j = 0; j < args.length; j += 2) model.set(args[j]!, args[j + 1]!);
      steps.push({ bytes: encodeCommand(['MSET', ...args]), reply: '+OK\r\n' });
    } else if (op === 6) {
      const ks = some();
      const cmd = r.chance(0.5) ? 'DEL' : 'EXISTS';
      // EXISTS counts a key each time it is named; DEL deletes it once.
      const n = cmd === 'EXISTS' ? ks.filter((k) => model.has(k)).length : new Set(ks.filter((k) => model.has(k))).size;
      if (cmd === 'DEL') for (const k of ks) model.delete(k);
      steps.push({ bytes: encodeCommand([cmd, ...ks]), reply: `:${n}\r\n` });
    } else {
      steps.push({ bytes: encodeCommand(['PING', `${tag}-${seq}`]), reply: bulk(`${tag}-${seq}`) });
    }
  }
  return steps;
}

/** memcached: the session's own keys, modelled exactly (value and flags). */
function memcacheSteps(r: Rng, tag: string, model: Map<string, [string, number]>, count: number, seq0: number): Step[] {
  const steps: Step[] = [];
  const key = (i: number): string => `${tag}:k${i}`;
  const valueBlock = (k: string): string => {
    const e = model.get(k);
    return e === undefined ? '' : `VALUE ${k} ${e[1]} ${e[0].length}\r\n${e[0]}\r\n`;
  };
  for (let i = 0; i < count; i++) {
    const seq = seq0 + i;
    const op = r.int(7);
    const noreply = r.chance(0.25);
    if (op <= 1) {
      const k = key(r.int(8));
      const v = value(r, tag, seq);
      const cmd = op === 0 ? 'set' : 'add';
      const stored = cmd === 'set' || !model.has(k);
      if (stored) model.set(k, [v, seq]);
      const line = `${cmd} ${k} ${seq} 0 ${v.length}${noreply ? ' noreply' : ''}\r\n${v}\r\n`;
      steps.push({ bytes: latin1(line), reply: noreply ? '' : stored ? 'STORED\r\n' : 'NOT_STORED\r\n' });
    } else if (op <= 3) {
      const ks = Array.from({ length: 1 + r.int(r.chance(0.2) ? 40 : 6) }, () => key(r.int(8)));
      steps.push({ bytes: latin1(`get ${ks.join(' ')}\r\n`), reply: `${ks.map(valueBlock).join('')}END\r\n` });
    } else if (op === 4) {
      const k = `${tag}:n${r.int(2)}`;
      const e = model.get(k);
      let reply = 'NOT_FOUND\r\n';
      if (e !== undefined) {
        const n = String(BigInt(e[0]) + 3n);
        model.set(k, [n, e[1]]);
        reply = `${n}\r\n`;
      }
      steps.push({ bytes: latin1(`incr ${k} 3${noreply ? ' noreply' : ''}\r\n`), reply: noreply ? '' : reply });
    } else if (op === 5) {
      const k = `${tag}:n${r.int(2)}`;
      const n = String(r.int(1000));
      model.set(k, [n, 1]);
      steps.push({ bytes: latin1(`set ${k} 1 0 ${n.length}\r\n${n}\r\n`), reply: 'STORED\r\n' });
    } else {
      const k = key(r.int(8));
      const reply = model.has(k) ? 'DELETED\r\n' : 'NOT_FOUND\r\n';
      model.delete(k);
      steps.push({ bytes: latin1(`delete ${k}${noreply ? ' noreply' : ''}\r\n`), reply: noreply ? '' : reply });
    }
  }
  return steps;
}

/** A client socket that collects what it receives. */
class Collector {
  received = '';
  ended = false;
  private wake: (() => void) | null = null;

  constructor(readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => {
      this.received += d.toString('latin1');
      this.wake?.();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake?.();
    });
    socket.on('error', () => undefined);
  }

  static async open(port: number): Promise<Collector> {
    return new Collector(await openSocket(port));
  }

  /** Wait until `done()` or 10 s. */
  async until(done: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; received ${JSON.stringify(this.received.slice(-200))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = null;
    }
  }
}

/** Write bytes whole, in random pieces, or one byte per event-loop turn. */
async function write(c: Collector, r: Rng, data: Buffer): Promise<void> {
  const mode = data.length < 400 && r.chance(0.15) ? 'byte' : r.chance(0.5) ? 'pieces' : 'whole';
  if (mode === 'whole') {
    c.socket.write(data);
    return;
  }
  for (let at = 0; at < data.length; ) {
    const n = mode === 'byte' ? 1 : 1 + r.int(r.chance(0.3) ? 8 : 3000);
    if (!c.socket.write(data.subarray(at, at + n))) await new Promise((res) => c.socket.once('drain', res));
    at += n;
    await new Promise((res) => setImmediate(res));
  }
}

interface Tally {
  requests: number;
  checked: number;
  aborts: number;
  halfCloses: number;
  pauses: number;
}

/**
 * One client: SESSIONS_PER_CLIENT connections, each with its own keys and 1..4 pipelines; the
 * received stream must equal the expected one exactly.
 */
async function runClient(port: number, proto: 'redis' | 'memcache', id: number, tally: Tally): Promise<void> {
  const r = new Rng(SEED + id * 7919 + (proto === 'redis' ? 0 : 104729));
  for (let s = 0; s < SESSIONS_PER_CLIENT; s++) {
    const tag = `${proto[0]}${id}.${s}`;
    const redisModel = new Map<string, string>();
    const mcModel = new Map<string, [string, number]>();
    const c = await Collector.open(port);
    let expected = '';
    let seq = 0;
    const pipelines = 1 + r.int(4);
    for (let p = 0; p < pipelines; p++) {
      const n = 1 + r.int(r.chance(0.1) ? 400 : 40);
      const steps = proto === 'redis' ? redisSteps(r, tag, redisModel, n, seq) : memcacheSteps(r, tag, mcModel, n, seq);
      seq += n;
      tally.requests += n;
      const data = Buffer.concat(steps.map((st) => st.bytes));
      const behaviour = r.int(20);
      if (behaviour === 0) {
        // Hang up somewhere in the pipeline: nothing to check; the next session has new keys.
        tally.aborts++;
        await write(c, r, data.subarray(0, r.int(data.length + 1)));
        c.socket.destroy();
        break;
      }
      if (behaviour === 1) {
        // Half-close after a cut: the requests complete before it are answered, then the end.
        tally.halfCloses++;
        const cut = r.int(data.length + 1);
        let end = 0;
        for (const st of steps) {
          end += st.bytes.length;
          if (end > cut) break;
          expected += st.reply;
        }
        await write(c, r, data.subarray(0, cut));
        c.socket.end();
        await c.until(() => c.ended, `the end after a half-close (${tag})`);
        assert.equal(c.received, expected, `${tag}: replies before a half-close`);
        tally.checked++;
        break;
      }
      if (behaviour === 2) {
        tally.pauses++;
        c.socket.pause();
        setTimeout(() => c.socket.resume(), 50 + r.int(400));
      }
      expected += steps.map((st) => st.reply).join('');
      await write(c, r, data);
      await c.until(() => c.received.length >= expected.length || c.ended, `replies (${tag}, pipeline ${p})`);
      assert.equal(c.received, expected, `${tag}: pipeline ${p}`);
      assert.equal(c.ended, false, `${tag}: connection still open`);
      tally.checked++;
    }
    c.socket.destroy();
  }
}

describe('seeded client chaos: exact replies in order, whatever the writes and hang-ups', () => {
  let servers: Running[] = [];
  let walnut: RunningProxy;
  let redisPort: number;
  let mcPort: number;

  before(async () => {
    servers = await Promise.all([startRedis(), startRedis(), startMemcached(), startMemcached()]);
    redisPort = await freePort();
    mcPort = await freePort();
    const yaml = [
      'chaos_redis:',
      `  listen: 127.0.0.1:${redisPort}`,
      '  redis: true',
      '  hash_tag: "{}"',
      '  server_connections: 2',
      '  servers:',
      `    - 127.0.0.1:${servers[0]!.port}:1 r0`,
      `    - 127.0.0.1:${servers[1]!.port}:1 r1`,
      'chaos_memcache:',
      `  listen: 127.0.0.1:${mcPort}`,
      '  server_connections: 2',
      '  servers:',
      `    - 127.0.0.1:${servers[2]!.port}:1 m0`,
      `    - 127.0.0.1:${servers[3]!.port}:1 m1`,
      '',
    ].join('\n');
    walnut = await startWalnut(yaml, { listenPorts: [redisPort, mcPort] });
  });

  after(async () => {
    await walnut.stop();
    await Promise.all(servers.map((s) => s.stop()));
  });

  test(`${CLIENTS_PER_POOL} redis and ${CLIENTS_PER_POOL} memcached clients, ${SESSIONS_PER_CLIENT} sessions each`, async (t) => {
    const tally: Tally = { requests: 0, checked: 0, aborts: 0, halfCloses: 0, pauses: 0 };
    const clients: Promise<void>[] = [];
    for (let i = 0; i < CLIENTS_PER_POOL; i++) {
      clients.push(runClient(redisPort, 'redis', i, tally), runClient(mcPort, 'memcache', i, tally));
    }
    await Promise.all(clients);
    assert.ok(tally.aborts > 0 && tally.halfCloses > 0 && tally.pauses > 0, JSON.stringify(tally));
    // Every client has gone and every request has been answered (or dropped with its client).
    let stats: Stats = {};
    let busy: string[] = [];
    for (let i = 0; i < 100; i++) {
      stats = (await walnut.stats()) as Stats;
      busy = [];
      for (const pool of ['chaos_redis', 'chaos_memcache']) {
        const ps = stats[pool] as Record<string, unknown>;
        if (ps['client_connections'] !== 0) busy.push(`${pool}.client_connections=${String(ps['client_connections'])}`);
        for (const [name, s] of Object.entries(ps)) {
          if (typeof s !== 'object' || s === null) continue;
          for (const g of ['in_queue', 'in_queue_bytes', 'out_queue', 'out_queue_bytes']) {
            const v = (s as Record<string, number>)[g];
            if (v !== 0) busy.push(`${pool}.${name}.${g}=${String(v)}`);
          }
        }
      }
      if (busy.length === 0) break;
      await sleep(50);
    }
    assert.deepEqual(busy, [], 'gauges back to 0');
    for (const pool of ['chaos_redis', 'chaos_memcache']) {
      assert.equal((stats[pool] as Record<string, number>)['forward_error'], 0, `${pool}: no request failed`);
    }
    t.diagnostic(JSON.stringify(tally));
  });
});
