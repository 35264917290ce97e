// `timeout:` against a hung backend (SIGSTOP): every request pending on its connection gets the
// timeout error, in order, on the client that sent it; replies of the live server keep their
// place; when the backend wakes up (SIGCONT) its late replies are dropped, never handed to a
// later request; server_timedout counts the closed connection (spec 6.4, 4.7, 5.5).
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import {
  freePort,
  startMemcached,
  startRedis,
  startWalnut,
  type Running,
  type RunningProxy,
} from '../../scripts/lib/processes.js';
import { RawClient } from './support/raw-client.js';
import { poolStat, serverStat, type Stats } from './support/stats.js';

const bulk = (s: string): string => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Send `text` to a memcached directly and wait for `until` to appear in the reply. */
function memcachedSay(port: number, text: string, until: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(text));
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes(until)) {
        s.destroy();
        resolve(got);
      }
    });
    s.on('error', reject);
  });
}

describe('timeout with a hung backend', () => {
  let redis: Running[] = [];
  let mc: Running[] = [];
  let walnut: RunningProxy;
  let redisPort: number;
  let mcPort: number;
  /** Keys by the index of the server that owns them. */
  const redisKeys: string[][] = [[], []];
  const mcKeys: string[][] = [[], []];

  before(async () => {
    redis = await Promise.all([startRedis(), startRedis()]);
    mc = await Promise.all([startMemcached(), startMemcached()]);
    [redisPort, mcPort] = await Promise.all([freePort(), freePort()]);
    const yaml = [
      'rpool:',
      `  listen: 127.0.0.1:${redisPort}`,
      '  redis: true',
      '  timeout: 300',
      '  servers:',
      ...redis.map((s, i) => `    - 127.0.0.1:${s.port}:1 r${i}`),
      'mpool:',
      `  listen: 127.0.0.1:${mcPort}`,
      '  timeout: 300',
      '  servers:',
      ...mc.map((s, i) => `    - 127.0.0.1:${s.port}:1 m${i}`),
      '',
    ].join('\n');
    walnut = await startWalnut(yaml, { listenPorts: [redisPort, mcPort] });

    // Store key -> "val-<key>" through Walnut, then ask each server which keys it holds.
    const keys = Array.from({ length: 24 }, (_, i) => `key:${i}`);
    const client = new Redis({ port: redisPort, host: '127.0.0.1', enableReadyCheck: false });
    for (const k of keys) await client.set(k, `val-${k}`);
    client.disconnect();
    for (let i = 0; i < redis.length; i++) {
      const direct = new Redis({ port: redis[i]!.port, host: '127.0.0.1' });
      for (const k of keys) if ((await direct.exists(k)) === 1) redisKeys[i]!.push(k);
      direct.disconnect();
    }
    const mcClient = await RawClient.connect(mcPort);
    for (const k of keys) {
      mcClient.send(`set ${k} 0 0 ${4 + k.length}\r\nval-${k}\r\n`);
      await mcClient.readText('STORED\r\n');
    }
    mcClient.destroy();
    for (let i = 0; i < mc.length; i++) {
      for (const k of keys) {
        if ((await memcachedSay(mc[i]!.port, `get ${k}\r\n`, 'END\r\n')).startsWith('VALUE')) mcKeys[i]!.push(k);
      }
    }
    for (const ks of [...redisKeys, ...mcKeys]) assert.ok(ks.length >= 3, 'keys spread over both servers');
  });

  after(async () => {
    await walnut.stop();
    await Promise.all([...redis, ...mc].map((s) => s.stop()));
  });

  test('redis: timed-out requests fail in order on their own clients; late replies are dropped', async () => {
    const [a1, a2, a3, a4] = redisKeys[0]!;
    const [b1, b2] = redisKeys[1]!;
    const x = await RawClient.connect(redisPort);
    const y = await RawClient.connect(redisPort);
    // Both clients have used the pool, so r0's connection exists before it hangs.
    x.command('GET', b1!);
    y.command('GET', a4!);
    await x.readText(bulk(`val-${b1!}`));
    await y.readText(bulk(`val-${a4!}`));
    const before = (await walnut.stats()) as Stats;

    await redis[0]!.pause();
    try {
      x.command('GET', a1!);
      x.command('PING');
      x.command('GET', b1!);
      x.command('GET', a2!);
      y.command('GET', a3!);
      y.command('GET', b2!);
      const xWant = `-ERR Connection timed out\r\n+PONG\r\n${bulk(`val-${b1!}`)}-ERR Connection timed out\r\n`;
      const yWant = `-ERR Connection timed out\r\n${bulk(`val-${b2!}`)}`;
      assert.equal(await x.readText(xWant), xWant);
      assert.equal(await y.readText(yWant), yWant);
    } finally {
      redis[0]!.resume();
    }
    // r0 now answers the three GETs it was sent before it hung; Walnut closed that connection,
    // so those answers must not surface anywhere.
    await sleep(100);
    x.command('GET', a2!);
    y.command('GET', a1!);
    x.command('GET', a3!);
    assert.equal(await x.readText(bulk(`val-${a2!}`) + bulk(`val-${a3!}`)), bulk(`val-${a2!}`) + bulk(`val-${a3!}`));
    assert.equal(await y.readText(bulk(`val-${a1!}`)), bulk(`val-${a1!}`));

    const after = (await walnut.stats()) as Stats;
    const delta = (server: string, name: string): number =>
      serverStat(after, 'rpool', server, name) - serverStat(before, 'rpool', server, name);
    assert.equal(delta('r0', 'server_timedout'), 1);
    assert.equal(delta('r0', 'server_err') + delta('r0', 'server_eof'), 0);
    assert.equal(serverStat(after, 'rpool', 'r1', 'server_timedout'), 0);
    assert.equal(poolStat(after, 'rpool', 'forward_error') - poolStat(before, 'rpool', 'forward_error'), 3);
    x.destroy();
    y.destroy();
  });

  test('memcache: SERVER_ERROR Connection timed out, in order; late replies are dropped', async () => {
    const [a1, a2, a3] = mcKeys[0]!;
    const [b1] = mcKeys[1]!;
    const x = await RawClient.connect(mcPort);
    const y = await RawClient.connect(mcPort);
    x.send(`get ${a3!}\r\n`);
    await x.readText(`VALUE ${a3!} 0 ${4 + a3!.length}\r\nval-${a3!}\r\nEND\r\n`);
    const before = (await walnut.stats()) as Stats;
    const value = (k: string): string => `VALUE ${k} 0 ${4 + k.length}\r\nval-${k}\r\nEND\r\n`;

    await mc[0]!.pause();
    try {
      x.send(`get ${a1!}\r\nget ${b1!}\r\nincr ${a2!} 1\r\n`);
      y.send(`get ${a2!}\r\n`);
      const xWant = `SERVER_ERROR Connection timed out\r\n${value(b1!)}SERVER_ERROR Connection timed out\r\n`;
      assert.equal(await x.readText(xWant), xWant);
      assert.equal(await y.readText('SERVER_ERROR Connection timed out\r\n'), 'SERVER_ERROR Connection timed out\r\n');
    } finally {
      mc[0]!.resume();
    }
    await sleep(100);
    x.send(`get ${a2!}\r\n`);
    y.send(`get ${a1!}\r\n`);
    assert.equal(await x.readText(value(a2!)), value(a2!));
    assert.equal(await y.readText(value(a1!)), value(a1!));
    const after = (await walnut.stats()) as Stats;
    assert.equal(serverStat(after, 'mpool', 'm0', 'server_timedout') - serverStat(before, 'mpool', 'm0', 'server_timedout'), 1);
    assert.equal(poolStat(after, 'mpool', 'forward_error') - poolStat(before, 'mpool', 'forward_error'), 3);
    x.destroy();
    y.destroy();
  });
});

describe('timeout with a hung backend and only noreply requests', () => {
  // noreply requests wait for no reply, so no deadline of their own: once the stalled server's
  // socket is full, the clients sending to it are held back, unread, and a client that leaves
  // went unnoticed for as long as the server stalled (found by the leak review).
  let mc: Running;
  let walnut: RunningProxy;
  let port: number;

  before(async () => {
    mc = await startMemcached();
    port = await freePort();
    const yaml = `nr:\n  listen: 127.0.0.1:${port}\n  timeout: 200\n  servers:\n    - 127.0.0.1:${mc.port}:1 m0\n`;
    walnut = await startWalnut(yaml, { listenPorts: [port] });
  });

  after(async () => {
    mc?.resume();
    await walnut?.stop();
    await mc?.stop();
  });

  test('a socket the server does not drain for the timeout fails: clients that left are let go while it stalls', async () => {
    await mc.pause();
    const value = 'x'.repeat(50 * 1024);
    const set = (i: number): string => `set nr${i % 100} 0 0 ${value.length} noreply\r\n${value}\r\n`;
    // Clients one after another, each writing noreply sets for 300 ms without reading, then gone.
    for (let c = 0; c < 6; c++) {
      const s = connect(port, '127.0.0.1');
      s.on('error', () => undefined);
      let i = 0;
      let writing = true;
      const pump = (): void => {
        while (writing && s.write(set(i++)));
      };
      s.on('connect', pump);
      s.on('drain', pump);
      await sleep(300);
      writing = false;
      s.destroy();
    }
    // The server is still stopped: every client must be gone from Walnut all the same.
    let s = (await walnut.stats()) as Stats;
    for (let tries = 0; tries < 50 && poolStat(s, 'nr', 'client_connections') !== 0; tries++) {
      await sleep(100);
      s = (await walnut.stats()) as Stats;
    }
    assert.equal(poolStat(s, 'nr', 'client_connections'), 0);
    assert.ok(serverStat(s, 'nr', 'm0', 'server_timedout') >= 1, 'the stalled connection timed out');
    mc.resume();
  });
});
