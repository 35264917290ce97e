// --limit-client-memory: past the process-wide limit, the clients holding the most are closed
// and the others go on untouched; and the tally of what clients hold comes back to nothing
// after every kind of traffic (a leak would close innocent clients later).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { freePort, startRedis, startWalnut, type Running, type RunningProxy } from '../../scripts/lib/processes.js';
import { logMessages } from './support/log-file.js';
import { MisbehavingFakeServer } from './support/misbehaving-fake-server.js';
import { openSocket } from './support/raw-client.js';
import { startOnePoolWalnut } from './support/workers.js';

const MiB = 1024 * 1024;
const LIMIT = 24 * MiB;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A client socket that records what arrives and whether Walnut closed it. */
interface Watched {
  socket: Socket;
  received: () => Buffer;
  closed: () => boolean;
}

/** `target`: a TCP port on 127.0.0.1, or a unix socket path. */
async function watched(target: number | string): Promise<Watched> {
  const socket = typeof target === 'number' ? await openSocket(target) : await openPath(target);
  const chunks: Buffer[] = [];
  let closed = false;
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.on('close', () => (closed = true));
  socket.on('error', () => undefined);
  return { socket, received: () => Buffer.concat(chunks), closed: () => closed };
}

function openPath(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ path }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Resolves once everything written so far is in the kernel. */
function written(s: Socket, data: Buffer | string): Promise<void> {
  return new Promise((resolve, reject) => s.write(data, (err) => (err ? reject(err) : resolve())));
}

async function until(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await sleep(20);
  }
}

/** The head of a SET whose value is `size` bytes, the value itself to follow. */
function setHead(key: string, size: number): Buffer {
  return Buffer.from(`*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$${size}\r\n`);
}

/** A Lua script that keeps its server busy for ARGV[1] microseconds: what is behind it waits. */
const BUSY_SCRIPT =
  "local s = redis.call('TIME') while true do local n = redis.call('TIME') " +
  "if (n[1] - s[1]) * 1000000 + (n[2] - s[2]) > tonumber(ARGV[1]) then break end end return 1";

function evalBusy(key: string, micros: number): string {
  const args = ['EVAL', BUSY_SCRIPT, '1', key, String(micros)];
  return `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('');
}

/**
 * A key that Walnut (`via`) places on the server `first` talks to directly (`onFirst`), or on
 * the other one. (Names of one pattern can fall on one server for long runs: they are spread.)
 */
async function keyOnServer(via: Redis, first: Redis, onFirst: boolean): Promise<string> {
  for (let i = 1; i < 1000; i++) {
    const key = `key:${(i * 2654435761) % 1000003}`;
    await via.set(key, '1');
    if (((await first.exists(key)) === 1) === onFirst) return key;
  }
  return assert.fail(`no key found on the ${onFirst ? 'first' : 'second'} server`);
}

function evictionLines(walnut: RunningProxy): string[] {
  return logMessages(walnut.logPath).filter((m) => m.includes('the most of all clients'));
}

describe(`--limit-client-memory=${LIMIT / MiB}mb`, () => {
  let redis1: Running;
  let redis2: Running;
  let walnut: RunningProxy;
  let port: number;
  /**
   * The same pool on a unix socket: the kernel holds about 200 KB for a stream socket that is
   * not read, whatever the TCP buffer settings (a tuned loopback can hold tens of MB).
   */
  const dir = mkdtempSync(join(tmpdir(), 'walnut-cml-'));
  const unixPath = join(dir, 'walnut.sock');

  before(async () => {
    [redis1, redis2] = await Promise.all([startRedis(), startRedis()]);
    port = await freePort();
    const pool = (name: string, listen: string): string =>
      `${name}:\n  listen: ${listen}\n  redis: true\n  hash: fnv1a_64\n  distribution: ketama\n` +
      `  servers:\n    - 127.0.0.1:${redis1.port}:1\n    - 127.0.0.1:${redis2.port}:1\n`;
    walnut = await startWalnut(pool('p', `127.0.0.1:${port}`) + pool('u', unixPath), {
      listenPorts: [port],
      listenPaths: [unixPath],
      args: [`--limit-client-memory=${LIMIT / MiB}mb`],
    });
  });

  after(async () => {
    await walnut?.stop();
    await Promise.all([redis1?.stop(), redis2?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('after pipelines, merges, held and unread replies, QUIT and abandoned requests, the tally is back to nothing', async () => {
    const value = Buffer.alloc(100 * 1024, 0x76);
    let keyOnA = '';
    let keyOnB = '';
    const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
    await client.connect();
    try {
      // About 40 MiB each way, fragments merged (MGET, DEL over both servers) included.
      for (let round = 0; round < 4; round++) {
        const p = client.pipeline();
        for (let i = 0; i < 100; i++) p.set(`k${i}`, value);
        p.mget(...Array.from({ length: 100 }, (_, i) => `k${i}`));
        const results = await p.exec();
        assert.ok(results !== null && results.every(([err]) => err === null));
        const values = results[100]![1] as string[];
        assert.equal(values.length, 100);
        assert.ok(values.every((v) => v.length === value.length));
      }
      assert.equal(await client.del('k0', 'k1', 'k2', 'k3'), 4);
      const first = new Redis({ port: redis1.port, host: '127.0.0.1', lazyConnect: true });
      try {
        keyOnA = await keyOnServer(client, first, true);
        keyOnB = await keyOnServer(client, first, false);
      } finally {
        first.disconnect();
      }
      await client.set(keyOnB, value);
    } finally {
      client.disconnect();
    }

    // A pipeline abandoned before its replies, one ended by QUIT, a request cut off mid-value.
    const gone = await watched(port);
    await written(gone.socket, Buffer.from('*2\r\n$3\r\nGET\r\n$2\r\nk9\r\n'.repeat(50)));
    gone.socket.destroy();
    const quitter = await watched(port);
    quitter.socket.write(Buffer.from('*2\r\n$3\r\nGET\r\n$2\r\nk8\r\n'.repeat(20) + '*1\r\n$4\r\nQUIT\r\n'));
    await until('QUIT closes', quitter.closed);
    assert.equal(quitter.received().length, 20 * (value.length + 11) + 5);
    const cut = await watched(port);
    await written(cut.socket, Buffer.concat([setHead('cut', 8 * MiB), Buffer.alloc(4 * MiB, 0x63)]));
    await sleep(200);
    cut.socket.destroy();

    // Replies held behind a slow request to the other server, then written.
    const held = await watched(port);
    held.socket.write(evalBusy(keyOnA, 300_000) + `*2\r\n$3\r\nGET\r\n$${keyOnB.length}\r\n${keyOnB}\r\n`.repeat(40));
    await until('the held replies come after the slow one', () => held.received().length === 4 + 40 * (value.length + 11));
    held.socket.destroy();

    // Replies not read at first (queued in Walnut past the socket's high-water mark), then read.
    const slow = await watched(port);
    slow.socket.pause();
    await written(slow.socket, Buffer.from('*2\r\n$3\r\nGET\r\n$2\r\nk7\r\n'.repeat(150)));
    await sleep(500);
    slow.socket.resume();
    await until('the slow reader gets all 150 replies', () => slow.received().length === 150 * (value.length + 11));
    // (It stays open: what it held must be off the tally once taken, not only at its close.)

    // With anything left over on the tally, a request of 23 MiB still arriving would pass 24 MiB.
    const big = await watched(port);
    await written(big.socket, Buffer.concat([setHead('big', 23 * MiB + 100), Buffer.alloc(23 * MiB, 0x62)]));
    await sleep(500);
    assert.equal(big.closed(), false, `closed: ${evictionLines(walnut).join(' | ')}`);
    big.socket.write(Buffer.concat([Buffer.alloc(100, 0x62), Buffer.from('\r\n')]));
    await until('+OK for the 23 MiB SET', () => big.received().toString() === '+OK\r\n');
    big.socket.destroy();
    slow.socket.destroy();
    assert.deepEqual(evictionLines(walnut), []);
    // Nor may anything be missing from it: 25 MiB arriving now is over the limit.
    const over = await watched(port);
    await written(over.socket, Buffer.concat([setHead('over', 26 * MiB), Buffer.alloc(25 * MiB, 0x6f)])).catch(() => undefined);
    await until('the 25 MiB request is closed', over.closed);
    assert.equal(evictionLines(walnut).length, 1);
  });

  test('requests still arriving: the client holding the most is closed, the others finish theirs', async () => {
    const before = evictionLines(walnut).length;
    const a = await watched(port);
    const aPort = a.socket.localPort;
    const b = await watched(port);
    const c = await watched(port);
    // a 18 MiB and b 4 MiB hold 22: under the limit. c's 8 MiB passes it, and a holds the most.
    await written(a.socket, Buffer.concat([setHead('a', 19 * MiB), Buffer.alloc(18 * MiB, 0x61)]));
    await written(b.socket, Buffer.concat([setHead('b', 5 * MiB), Buffer.alloc(4 * MiB, 0x62)]));
    await sleep(300);
    assert.equal(a.closed() || b.closed(), false, 'under the limit, nobody is closed');
    await written(c.socket, Buffer.concat([setHead('c', 9 * MiB), Buffer.alloc(8 * MiB, 0x63)]));
    await until('a is closed', a.closed);
    await sleep(300);
    assert.equal(b.closed() || c.closed(), false, 'closing a alone brought the sum under the limit');
    assert.equal(a.received().length, 0, 'a was closed without a reply');

    b.socket.write(Buffer.concat([Buffer.alloc(MiB, 0x62), Buffer.from('\r\n')]));
    c.socket.write(Buffer.concat([Buffer.alloc(MiB, 0x63), Buffer.from('\r\n')]));
    await until('b and c get +OK', () => b.received().toString() === '+OK\r\n' && c.received().toString() === '+OK\r\n');
    const check = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
    try {
      assert.equal(await check.strlen('b'), 5 * MiB);
      assert.equal(await check.strlen('c'), 9 * MiB);
      assert.equal(await check.exists('a'), 0);
    } finally {
      check.disconnect();
    }
    b.socket.destroy();
    c.socket.destroy();
    const lines = evictionLines(walnut).slice(before);
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0]!, new RegExp(`^client 127\\.0\\.0\\.1:${aPort}: holds \\d+ bytes, the most of all clients, which hold \\d+ together, over --limit-client-memory ${LIMIT}: closing$`));
  });

  test('replies not read: of two clients that each stay under the limit but not together, one is closed, the other gets every reply', async () => {
    const setter = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
    const value = Buffer.alloc(MiB);
    for (let i = 0; i < value.length; i++) value[i] = i % 251;
    try {
      await setter.set('v', value);
    } finally {
      setter.disconnect();
    }
    const before = evictionLines(walnut).length;
    const stats0 = (await walnut.stats()) as Record<string, Record<string, number>>;
    // 23 replies of 1 MiB each: less than the limit even if the kernel took none of them, more
    // than half of it with what a unix socket holds for a reader that reads nothing.
    const gets = Buffer.from('*2\r\n$3\r\nGET\r\n$1\r\nv\r\n'.repeat(23));
    const x = await watched(unixPath);
    const y = await watched(unixPath);
    x.socket.pause();
    y.socket.pause();
    x.socket.write(gets);
    y.socket.write(gets);
    await until('one of the two is closed', () => evictionLines(walnut).length > before);
    await sleep(500);
    assert.equal(evictionLines(walnut).length, before + 1, evictionLines(walnut).join('\n'));
    x.socket.resume();
    y.socket.resume();
    await until('one closed, the other has every reply', () =>
      (x.closed() || y.closed()) && [x, y].some((w) => w.received().length === 23 * (MiB + 12)));
    const [gone, kept] = x.closed() ? [x, y] : [y, x];
    assert.equal(kept.closed(), false);
    assert.ok(gone.received().length < 23 * (MiB + 12), `the closed one got ${gone.received().length} bytes`);
    const reply = Buffer.concat([Buffer.from(`$${MiB}\r\n`), value, Buffer.from('\r\n')]);
    assert.ok(kept.received().equals(Buffer.concat(Array.from({ length: 23 }, () => reply))), 'every reply intact, in order');
    kept.socket.destroy();
    const stats1 = (await walnut.stats()) as Record<string, Record<string, number>>;
    assert.equal((stats1['u']?.['client_err'] ?? 0) - (stats0['u']?.['client_err'] ?? 0), 1, 'the closed client counts as client_err');
  });

  test('replies held behind a slow request count: past the limit, their client is closed', async () => {
    const before = evictionLines(walnut).length;
    const check = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
    let other = '';
    try {
      await check.set('v', Buffer.alloc(MiB, 0x68));
      const first = new Redis({ port: redis1.port, host: '127.0.0.1', lazyConnect: true });
      try {
        const vOnFirst = (await first.exists('v')) === 1;
        other = await keyOnServer(check, first, !vOnFirst);
      } finally {
        first.disconnect();
      }
    } finally {
      check.disconnect();
    }
    const h = await watched(port);
    // 30 replies of 1 MiB, held behind a script that keeps the other server busy for 2 s.
    h.socket.write(evalBusy(other, 2_000_000) + '*2\r\n$3\r\nGET\r\n$1\r\nv\r\n'.repeat(30));
    await until('the client is closed', h.closed);
    assert.equal(h.received().length, 0, 'closed before any reply');
    assert.equal(evictionLines(walnut).length, before + 1);
  });

  test('one client alone over the limit is closed, and the pool serves on', async () => {
    const before = evictionLines(walnut).length;
    const one = await watched(port);
    await written(one.socket, setHead('one', 30 * MiB));
    for (let i = 0; i < 26 && !one.closed(); i++) await written(one.socket, Buffer.alloc(MiB, 0x6f)).catch(() => undefined);
    await until('the client is closed', one.closed);
    assert.equal(evictionLines(walnut).length, before + 1);
    const check = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
    try {
      assert.equal(await check.ping(), 'PONG');
      assert.equal(await check.exists('one'), 0);
    } finally {
      check.disconnect();
    }
  });
});

test('with --workers 2, each worker takes half of --limit-client-memory', async () => {
  const redis = await startRedis();
  const { walnut, port } = await startOnePoolWalnut(redis, ['--workers=2', '--limit-client-memory=48mb']);
  try {
    const one = await watched(port);
    await written(one.socket, setHead('one', 30 * MiB));
    for (let i = 0; i < 26 && !one.closed(); i++) await written(one.socket, Buffer.alloc(MiB, 0x6f)).catch(() => undefined);
    await until('the client is closed', one.closed);
    await until('the eviction is logged', () => evictionLines(walnut).length === 1);
    assert.match(evictionLines(walnut)[0]!, new RegExp(`over this worker's share ${LIMIT} of --limit-client-memory ${2 * LIMIT}: closing$`));
  } finally {
    await walnut.stop();
    await redis.stop();
  }
});

test('a reply a server is still sending, gathered for a merge, counts against its client', async () => {
  const redis = await startRedis();
  let fragmentKeys = -1;
  // Answers its part of an MGET with the head of a 30 MiB value, 26 MiB of it, then stalls.
  const fake = await MisbehavingFakeServer.start((conn) => {
    conn.onRequest((args) => {
      fragmentKeys = args.length - 1;
      conn.socket.write(`*${fragmentKeys}\r\n$${30 * MiB}\r\n`);
      conn.socket.write(Buffer.alloc(26 * MiB, 0x66));
    });
  });
  const port = await freePort();
  const yaml =
    `p:\n  listen: 127.0.0.1:${port}\n  redis: true\n  hash: fnv1a_64\n  distribution: ketama\n` +
    `  servers:\n    - 127.0.0.1:${fake.port}:1\n    - 127.0.0.1:${redis.port}:1\n`;
  const walnut = await startWalnut(yaml, { listenPorts: [port], args: [`--limit-client-memory=${LIMIT / MiB}mb`] });
  try {
    const keys = Array.from({ length: 20 }, (_, i) => `key:${(i * 2654435761) % 1000003}`);
    const c = await watched(port);
    c.socket.write(`*${keys.length + 1}\r\n$4\r\nMGET\r\n` + keys.map((k) => `$${k.length}\r\n${k}\r\n`).join(''));
    await until('the client is closed', c.closed);
    assert.ok(fragmentKeys > 0 && fragmentKeys < keys.length, `the MGET was split (${fragmentKeys} keys to the fake server)`);
    assert.equal(c.received().length, 0);
    assert.equal(evictionLines(walnut).length, 1, evictionLines(walnut).join('\n'));
  } finally {
    await walnut.stop();
    await fake.close();
    await redis.stop();
  }
});
