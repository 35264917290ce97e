// The tally behind --limit-client-memory must be exact: whatever the clients did, it is back
// to 0 once they are gone, and it never goes below 0. Walnut runs in this process (Proxy.start)
// so that the tally can be read; the servers are real redis-server and memcached processes.
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { freePort, startMemcached, startRedis, type Running } from '../../scripts/lib/processes.js';
import { configFromBytes } from '../../src/config/load.js';
import { Proxy } from '../../src/proxy/proxy.js';
import { openSocket } from './support/raw-client.js';

const MiB = 1024 * 1024;

let servers: Running[] = [];
let proxy: Proxy;
let rport: number;
let mport: number;
let lowest = 0;
let sampler: NodeJS.Timeout;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

before(async () => {
  servers = await Promise.all([startRedis(), startRedis(), startMemcached(), startMemcached()]);
  const [r1, r2, m1, m2] = servers as [Running, Running, Running, Running];
  rport = await freePort();
  mport = await freePort();
  const yaml =
    `r:\n  listen: 127.0.0.1:${rport}\n  redis: true\n  timeout: 2000\n  servers:\n` +
    `    - 127.0.0.1:${r1.port}:1\n    - 127.0.0.1:${r2.port}:1\n` +
    `m:\n  listen: 127.0.0.1:${mport}\n  servers:\n    - 127.0.0.1:${m1.port}:1\n    - 127.0.0.1:${m2.port}:1\n`;
  const config = await configFromBytes(Buffer.from(yaml), 'tally.yml');
  proxy = await Proxy.start(config, { clientMemory: { bytes: 0, label: '' } });
  sampler = setInterval(() => {
    lowest = Math.min(lowest, proxy.clientMemoryHeld);
  }, 1);
});

after(async () => {
  clearInterval(sampler);
  await proxy?.close(1000);
  await Promise.all(servers.map((s) => s.stop()));
});

/** Once every client of the phase has gone, nothing may be left on the tally. */
function clients(): number {
  return proxy.snapshot().pools.reduce((n, p) => n + p.stats.client_connections, 0);
}

async function settled(phase: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while ((clients() > 0 || proxy.clientMemoryHeld !== 0) && Date.now() < deadline) await sleep(10);
  assert.equal(clients(), 0, `${phase}: clients still connected`);
  assert.equal(proxy.clientMemoryHeld, 0, `${phase}: left on the tally`);
  assert.equal(lowest, 0, `${phase}: the tally went below 0`);
}

async function raw(port: number): Promise<{ s: Socket; got: () => number; closed: Promise<void> }> {
  const s = await openSocket(port);
  let n = 0;
  s.on('data', (d: Buffer) => (n += d.length));
  s.on('error', () => undefined);
  const closed = new Promise<void>((r) => s.once('close', () => r()));
  return { s, got: () => n, closed };
}

test('redis: pipelines, merges, local replies, scripts on every server; the tally ends at 0', async () => {
  const c = new Redis({ port: rport, host: '127.0.0.1', maxRetriesPerRequest: 0 });
  try {
    const value = Buffer.alloc(50_000, 0x61);
    for (let round = 0; round < 3; round++) {
      const p = c.pipeline();
      for (let i = 0; i < 100; i++) p.set(`k${i}`, value);
      p.mget(...Array.from({ length: 100 }, (_, i) => `k${i}`));
      p.mset(...Array.from({ length: 20 }, (_, i) => [`m${i}`, 'v']).flat());
      p.del('m0', 'm1', 'm2', 'm3');
      p.exists('k1', 'k2', 'k3');
      p.ping();
      p.call('SCRIPT', 'LOAD', 'return 1');
      p.call('NOSUCHCOMMAND');
      for (let i = 0; i < 100; i++) p.getBuffer(`k${i}`);
      const results = await p.exec();
      assert.ok(results !== null && results.length === 207);
      assert.ok((results[100]![1] as string[]).every((v) => v.length === value.length));
    }
  } finally {
    c.disconnect();
  }
  await settled('redis traffic');
});

test('redis: clients that leave mid-pipeline, QUIT, framing errors, requests cut off, slow readers; the tally ends at 0', async () => {
  const big = Buffer.alloc(2 * MiB, 0x62);
  const setter = new Redis({ port: rport, host: '127.0.0.1', maxRetriesPerRequest: 0 });
  await setter.set('big', big);
  setter.disconnect();
  const gets = '*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n';
  // Gone before the replies (streamed ones among them).
  for (let i = 0; i < 5; i++) {
    const g = await raw(rport);
    g.s.write(gets.repeat(10) + '*3\r\n$4\r\nMGET\r\n$3\r\nbig\r\n$2\r\nk1\r\n');
    await sleep(5 * i);
    g.s.destroy();
  }
  // QUIT and a framing error in the middle of a pipeline.
  const q = await raw(rport);
  q.s.write(gets.repeat(3) + '*1\r\n$4\r\nQUIT\r\n' + gets);
  await q.closed;
  const f = await raw(rport);
  f.s.write(gets.repeat(3) + '*2\r\n$3\r\nGET\r\n$x\r\n');
  await f.closed;
  // A request cut off half-way, then the client leaves; another half-closes.
  const cut = await raw(rport);
  cut.s.write(`*3\r\n$3\r\nSET\r\n$3\r\ncut\r\n$${MiB}\r\n` + 'c'.repeat(MiB / 2));
  await sleep(50);
  cut.s.destroy();
  const half = await raw(rport);
  half.s.end(`*3\r\n$3\r\nSET\r\n$4\r\nhalf\r\n$${MiB}\r\n` + 'h'.repeat(1000));
  await half.closed;
  // A slow reader: its replies queue in Walnut, then it reads them; another leaves unread.
  const slow = await raw(rport);
  slow.s.pause();
  slow.s.write(gets.repeat(20));
  await sleep(300);
  slow.s.resume();
  const want = 20 * (big.length + 12);
  while (slow.got() < want) await sleep(10);
  slow.s.destroy();
  const gone = await raw(rport);
  gone.s.pause();
  gone.s.write(gets.repeat(20));
  await sleep(300);
  gone.s.destroy();
  await settled('redis clients leaving');
});

test('memcached: sets, multi-gets across both servers, noreply, quit, bad data, values cut off; the tally ends at 0', async () => {
  const value = 'v'.repeat(100_000);
  const c = await raw(mport);
  let req = '';
  for (let i = 0; i < 50; i++) req += `set k${i} 0 0 ${value.length}\r\n${value}\r\n`;
  for (let i = 0; i < 50; i++) req += `set n${i} 0 0 1 noreply\r\nx\r\n`;
  req += `get ${Array.from({ length: 50 }, (_, i) => `k${i}`).join(' ')}\r\n`;
  req += `gets k1 k2 k3\r\ndelete n1 noreply\r\nincr nosuch 1\r\nversion\r\n`;
  c.s.write(req);
  const want = 50 * 8 + 50 * (`VALUE k00 0 ${value.length}\r\n`.length + value.length + 2) - 10 + 5;
  const deadline = Date.now() + 5000;
  while (c.got() < want && Date.now() < deadline) await sleep(10);
  c.s.end('quit\r\n');
  await c.closed;
  // Multi-gets then quit; bad data; a value cut off; multi-gets then gone.
  for (let i = 0; i < 5; i++) {
    const q = await raw(mport);
    q.s.write(`get k1 k2 k3 k4 k5\r\nget k6 k7\r\nquit\r\n`);
    await q.closed;
    const bad = await raw(mport);
    bad.s.write(`set bad 0 0 3\r\nabcdef\r\nget k1\r\n`);
    await sleep(20);
    bad.s.destroy();
    const cut = await raw(mport);
    cut.s.write(`set cut 0 0 ${MiB}\r\n` + 'c'.repeat(MiB / 2));
    await sleep(20);
    cut.s.destroy();
    const gone = await raw(mport);
    gone.s.write(`get ${Array.from({ length: 50 }, (_, j) => `k${j}`).join(' ')}\r\n`.repeat(5));
    await sleep(i);
    gone.s.destroy();
  }
  await settled('memcached traffic');
});
