// Client-side faults and memory bounds: a client that leaves with requests in flight, a client
// that pipelines hundreds of megabytes without reading, backends that stop reading (SIGSTOP)
// while clients keep sending, and a flood of memcached `noreply` sets to a stopped server.
// Walnut's resident memory (VmRSS) must stay far below the volume pushed at it, and every
// reply must arrive once the client reads / the backend wakes up (src/proxy/limits.ts).
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  freePort,
  rssBytes,
  startMemcached,
  startRedis,
  startWalnut,
  type Running,
  type RunningProxy,
} from '../../scripts/lib/processes.js';
import { encodeCommand, RawClient } from './support/raw-client.js';
import { poolStat, serverStat, type Stats } from './support/stats.js';

const MB = 1024 * 1024;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const bulk = (s: string): string => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;

/** Samples a process's RSS every 25 ms and keeps the peak. */
class RssWatch {
  readonly base: number;
  peak: number;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number) {
    this.base = rssBytes(pid);
    this.peak = this.base;
    this.timer = setInterval(() => this.sample(), 25);
  }

  sample(): void {
    this.peak = Math.max(this.peak, rssBytes(this.pid));
  }

  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return this.peak - this.base;
  }
}

/** A client socket that does not read until told to; counts occurrences of `reply`. */
class FloodClient {
  readonly socket: Socket;
  replies = 0;
  private tail = '';

  private constructor(socket: Socket, private readonly reply: string) {
    this.socket = socket;
    socket.on('error', () => undefined);
  }

  static async connect(port: number, reply: string): Promise<FloodClient> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new FloodClient(socket, reply);
  }

  /** Queue `chunk` `times` times (the same Buffer: the test process itself stays small). */
  push(chunk: Buffer, times: number): void {
    for (let i = 0; i < times; i++) this.socket.write(chunk);
  }

  /** Start reading: count the replies. */
  read(): void {
    this.socket.on('data', (d: Buffer) => {
      const text = this.tail + d.toString('latin1');
      let at = 0;
      for (let i = text.indexOf(this.reply); i >= 0; i = text.indexOf(this.reply, at)) {
        this.replies++;
        at = i + this.reply.length;
      }
      this.tail = text.slice(Math.max(at, text.length - this.reply.length + 1));
    });
  }

  async waitReplies(n: number, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.replies < n) {
      if (Date.now() > deadline) throw new Error(`got ${this.replies} of ${n} replies`);
      await sleep(20);
    }
  }
}

/** Waits until no client's unsent bytes changed for `quietMs`: Walnut has stopped reading. */
async function waitStalled(clients: FloodClient[], quietMs = 400, timeoutMs = 20_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  let since = Date.now();
  for (;;) {
    const pending = clients.reduce((n, c) => n + c.socket.writableLength, 0);
    if (pending !== last) {
      last = pending;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return pending;
    }
    if (Date.now() > deadline) throw new Error('the clients never stalled');
    await sleep(25);
  }
}

/**
 * `count` SETs of `valueBytes` each over `keys` keys, as one buffer; with `...options` appended
 * to each (`GET`: every reply is the value it replaces, as large as the request).
 */
function setChunk(count: number, valueBytes: number, keys: number, prefix: string, ...options: string[]): Buffer {
  const value = Buffer.alloc(valueBytes, 'v');
  return Buffer.concat(
    Array.from({ length: count }, (_, i) => encodeCommand(['SET', `${prefix}:${i % keys}`, value, ...options])),
  );
}

describe('client faults and memory bounds', () => {
  let redis: Running[] = [];
  let mc: Running;
  let walnut: RunningProxy;
  let port: number;
  let mcPort: number;
  let yaml: string;

  /** Memory tests each get a fresh Walnut, so that one test's heap does not hide the next one's. */
  const restartWalnut = async (): Promise<void> => {
    await walnut.stop();
    walnut = await startWalnut(yaml, { listenPorts: [port, mcPort] });
  };

  before(async () => {
    [redis, mc] = await Promise.all([Promise.all([startRedis(), startRedis()]), startMemcached({ args: ['-m', '64'] })]);
    [port, mcPort] = await Promise.all([freePort(), freePort()]);
    yaml = [
      'rpool:',
      `  listen: 127.0.0.1:${port}`,
      '  redis: true',
      '  servers:',
      ...redis.map((s, i) => `    - 127.0.0.1:${s.port}:1 r${i}`),
      'mpool:',
      `  listen: 127.0.0.1:${mcPort}`,
      '  servers:',
      `    - 127.0.0.1:${mc.port}:1 m0`,
      '',
    ].join('\n');
    walnut = await startWalnut(yaml, { listenPorts: [port, mcPort] });
  });

  after(async () => {
    await walnut.stop();
    await Promise.all([...redis, mc].map((s) => s.stop()));
  });

  test('a client that leaves with requests in flight: its replies are swallowed, others unaffected', async () => {
    // Keys of r0, found by asking r0 directly after writing through Walnut.
    const setup = await RawClient.connect(port);
    const keys = Array.from({ length: 16 }, (_, i) => `gone:${i}`);
    for (const k of keys) {
      setup.command('SET', k, `v-${k}`);
      await setup.readText('+OK\r\n');
    }
    setup.destroy();
    const direct = await RawClient.connect(redis[0]!.port);
    const onR0: string[] = [];
    for (const k of keys) {
      direct.command('EXISTS', k);
      if ((await direct.readText(':0\r\n')) === ':1\r\n') onR0.push(k);
    }
    direct.destroy();
    assert.ok(onR0.length >= 2);

    const x = connect(port, '127.0.0.1');
    x.on('error', () => undefined);
    await new Promise((resolve) => x.once('connect', resolve));
    const y = await RawClient.connect(port);
    y.command('GET', onR0[0]!);
    await y.readText(bulk(`v-${onR0[0]!}`));
    const before = (await walnut.stats()) as Stats;

    await redis[0]!.pause();
    try {
      for (const k of onR0) x.write(encodeCommand(['GET', k]));
      x.write(encodeCommand(['MGET', ...keys]));
      y.command('GET', onR0[1]!);
      // Walnut has read them all: x's GETs, the part of its MGET for r0 and y's GET reached r0.
      const forwarded = serverStat(before, 'rpool', 'r0', 'requests') + onR0.length + 2;
      for (let i = 0; serverStat((await walnut.stats()) as Stats, 'rpool', 'r0', 'requests') < forwarded; i++) {
        assert.ok(i < 500, 'the requests reached r0');
        await sleep(10);
      }
      // A reset, not a half-close: a half-closed client still gets its replies (spec 6.5).
      x.resetAndDestroy();
      // Walnut has seen x go before r0 answers.
      for (let i = 0; ; i++) {
        if (poolStat((await walnut.stats()) as Stats, 'rpool', 'client_connections') === 1) break;
        assert.ok(i < 200, 'x closed');
        await sleep(10);
      }
    } finally {
      redis[0]!.resume();
    }
    assert.equal(await y.readText(bulk(`v-${onR0[1]!}`)), bulk(`v-${onR0[1]!}`));
    y.command('MGET', onR0[0]!, onR0[1]!);
    const want = `*2\r\n${bulk(`v-${onR0[0]!}`)}${bulk(`v-${onR0[1]!}`)}`;
    assert.equal(await y.readText(want), want);
    const after = (await walnut.stats()) as Stats;
    // Every request reached r0, but only y's replies count as responses (twemproxy swallows
    // the replies of a client that has gone and does not count them).
    const d = (name: string): number => serverStat(after, 'rpool', 'r0', name) - serverStat(before, 'rpool', 'r0', name);
    assert.equal(d('requests'), onR0.length + 1 + 1 + 1);
    assert.equal(d('responses'), 2);
    assert.equal(serverStat(after, 'rpool', 'r0', 'out_queue'), 0);
    assert.equal(poolStat(after, 'rpool', 'forward_error') - poolStat(before, 'rpool', 'forward_error'), 0);
    y.destroy();
  });

  test('a client pipelining 200 MB of SET … GET without reading: memory stays bounded, all replies arrive', async (t) => {
    // Replies as large as the requests: 200 MB cannot hide in the kernel's socket buffers, so
    // Walnut must stop reading once the client's replies back up. (With plain SETs the 5-byte
    // replies fit in those buffers and a fast server lets Walnut pass the whole flood through.)
    const valueBytes = 16 * 1024;
    const chunk = setChunk(64, valueBytes, 8, 'flood', 'GET'); // ~1 MB
    const times = Math.ceil((200 * MB) / chunk.length);
    await restartWalnut();
    const primer = await FloodClient.connect(port, '+OK\r\n');
    primer.read();
    primer.push(setChunk(8, valueBytes, 8, 'flood'), 1);
    await primer.waitReplies(8);
    primer.socket.destroy();
    const client = await FloodClient.connect(port, `$${valueBytes}\r\n`);
    const watch = new RssWatch(walnut.pid);
    client.push(chunk, times);
    const unsent = await waitStalled([client]);
    const stalledGrowth = watch.peak - watch.base;
    client.read();
    await client.waitReplies(64 * times);
    const growth = watch.stop();
    t.diagnostic(
      `no-reading client: ${(chunk.length * times / MB).toFixed(0)} MB pushed, ${(unsent / MB).toFixed(0)} MB held back while stalled, ` +
        `Walnut RSS +${(stalledGrowth / MB).toFixed(1)} MB stalled, peak +${(growth / MB).toFixed(1)} MB (base ${(watch.base / MB).toFixed(0)} MB)`,
    );
    assert.ok(unsent > 100 * MB, 'Walnut stopped reading from the client');
    assert.ok(stalledGrowth < unsent, 'Walnut did not buffer what it read');
    assert.equal(client.replies, 64 * times);
    client.socket.destroy();
  });

  test('backends stopped (SIGSTOP) while clients keep sending: memory stays bounded', async (t) => {
    const chunk = setChunk(64, 16 * 1024, 8, 'stall'); // ~1 MB, keys on both servers
    const perClient = Math.ceil((50 * MB) / chunk.length);
    await restartWalnut();
    const clients = await Promise.all(Array.from({ length: 4 }, () => FloodClient.connect(port, '+OK\r\n')));
    for (const c of clients) c.read();
    for (const r of redis) await r.pause();
    const watch = new RssWatch(walnut.pid);
    try {
      for (const c of clients) c.push(chunk, perClient);
      const unsent = await waitStalled(clients);
      const stalledGrowth = watch.peak - watch.base;
      t.diagnostic(
        `stopped backends: ${(4 * perClient * chunk.length / MB).toFixed(0)} MB pushed by 4 clients, ${(unsent / MB).toFixed(0)} MB held back, ` +
          `Walnut RSS +${(stalledGrowth / MB).toFixed(1)} MB (base ${(watch.base / MB).toFixed(0)} MB)`,
      );
      assert.ok(unsent > 100 * MB, 'Walnut stopped reading from the clients');
    } finally {
      for (const r of redis) r.resume();
    }
    await Promise.all(clients.map((c) => c.waitReplies(64 * perClient)));
    t.diagnostic(`peak +${(watch.stop() / MB).toFixed(1)} MB`);
    for (const c of clients) c.socket.destroy();
  });

  test('memcached noreply flood to a stopped server: memory stays bounded, nothing is lost', async (t) => {
    const value = Buffer.alloc(16 * 1024, 'n');
    const one = Buffer.concat([Buffer.from(`set nr:1 0 0 ${value.length} noreply\r\n`), value, Buffer.from('\r\n')]);
    const chunk = Buffer.concat(Array.from({ length: 64 }, () => one));
    const times = Math.ceil((100 * MB) / chunk.length);
    await restartWalnut();
    const client = await FloodClient.connect(mcPort, 'END\r\n');
    client.read();
    await mc.pause();
    const watch = new RssWatch(walnut.pid);
    try {
      client.push(chunk, times);
      client.socket.write('set nr:1 0 0 4 noreply\r\nlast\r\nget nr:1\r\n');
      const unsent = await waitStalled([client]);
      const stalledGrowth = watch.peak - watch.base;
      t.diagnostic(
        `noreply flood: ${(chunk.length * times / MB).toFixed(0)} MB pushed, ${(unsent / MB).toFixed(0)} MB held back, ` +
          `Walnut RSS +${(stalledGrowth / MB).toFixed(1)} MB (base ${(watch.base / MB).toFixed(0)} MB)`,
      );
      assert.ok(unsent > 50 * MB, 'Walnut stopped reading from the client');
    } finally {
      mc.resume();
    }
    await client.waitReplies(1);
    t.diagnostic(`peak +${(watch.stop() / MB).toFixed(1)} MB`);
    client.socket.destroy();
    // The flood's own `get` came after every set on the same server connection; the last set won.
    const check = await RawClient.connect(mcPort);
    check.send('get nr:1\r\n');
    assert.equal(await check.readText('VALUE nr:1 0 4\r\nlast\r\nEND\r\n'), 'VALUE nr:1 0 4\r\nlast\r\nEND\r\n');
    check.destroy();
  });
});
