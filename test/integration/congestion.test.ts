// Fairness on a congested server connection: the clients held back while a slow server takes
// their requests get their turn even while new clients keep coming, and new clients cannot
// take all the room of the hard bound (MAX_SERVER_QUEUED_BYTES) from the clients already
// waiting. The backend is a deliberately slow fake that takes request bytes only when the test
// says so: a real server cannot be slowed by exact amounts.
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import { freePort, startWalnut, type RunningProxy } from '../../scripts/lib/processes.js';
import { MAX_SERVER_QUEUED_BYTES, MAX_SERVER_UNSENT_BYTES } from '../../src/proxy/limits.js';
import { MisbehavingFakeServer, sleep, type FakeConnection } from './support/misbehaving-fake-server.js';
import { encodeCommand, openSocket } from './support/raw-client.js';
import { serverStat, type Stats } from './support/stats.js';

const MiB = 1024 * 1024;
const ENOBUFS = '-ERR No buffer space available\r\n';

/** A client socket and the replies it has received (each one line: +OK, $-1 or an error). */
interface Client {
  socket: Socket;
  replies: string[];
}

async function client(port: number): Promise<Client> {
  const socket = await openSocket(port);
  const c: Client = { socket, replies: [] };
  let pending = '';
  socket.on('data', (d: Buffer) => {
    pending += d.toString('latin1');
    for (let at = pending.indexOf('\r\n'); at >= 0; at = pending.indexOf('\r\n')) {
      c.replies.push(pending.slice(0, at + 2));
      pending = pending.slice(at + 2);
    }
  });
  socket.on('error', () => undefined);
  return c;
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await cond()) return;
    await sleep(20);
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('a congested server connection', () => {
  let fake: MisbehavingFakeServer;
  let walnut: RunningProxy;
  let port: number;
  /** The fake's connection from Walnut, and the request bytes it has taken so far. */
  let backend: FakeConnection | null = null;
  let taken = 0;
  let allowed = 0;

  before(async () => {
    fake = await MisbehavingFakeServer.start((conn) => {
      backend = conn;
      conn.socket.pause();
      conn.socket.on('data', (d: Buffer) => {
        taken += d.length;
        if (taken >= allowed) conn.socket.pause();
      });
      conn.onRequest((args) => conn.write(args[0]?.toString('latin1').toUpperCase() === 'GET' ? '$-1\r\n' : '+OK\r\n'));
    });
    port = await freePort();
    const yaml = `slow:\n  listen: 127.0.0.1:${port}\n  redis: true\n  preconnect: true\n  servers:\n    - 127.0.0.1:${fake.port}:1 slow\n`;
    walnut = await startWalnut(yaml, { listenPorts: [port] });
    await waitFor('the server connection', () => backend !== null);
  });

  after(async () => {
    await walnut?.stop();
    await fake?.close();
  });

  /** Let the fake take `bytes` more request bytes (it reads in chunks: a little more). */
  async function take(bytes: number): Promise<void> {
    allowed = taken + bytes;
    backend!.socket.resume();
    await waitFor(`the server to take ${bytes} bytes`, () => taken >= allowed);
  }

  /** Let the fake take everything queued, until Walnut has nothing left for it. */
  async function takeAll(): Promise<void> {
    allowed = Number.POSITIVE_INFINITY;
    backend!.socket.resume();
    // Requests the socket has not handed to the kernel whole are in in_queue (as in twemproxy).
    await waitFor('the queue to empty', async () => {
      const stats = (await walnut.stats()) as Stats;
      return serverStat(stats, 'slow', 'slow', 'in_queue') + serverStat(stats, 'slow', 'slow', 'out_queue') === 0;
    });
    allowed = 0;
    backend!.socket.pause();
  }

  const requests = async (): Promise<number> => serverStat((await walnut.stats()) as Stats, 'slow', 'slow', 'requests');

  /** Send a SET of `bytes` from a new client; resolves once Walnut has queued or refused it. */
  async function newcomer(bytes: number): Promise<Client> {
    const before = await requests();
    const c = await client(port);
    c.socket.write(encodeCommand(['SET', 'new', Buffer.alloc(bytes, 0x6e)]));
    await waitFor('the request to be queued or refused', async () => c.replies.length > 0 || (await requests()) > before);
    return c;
  }

  /** A client that fills the connection past MAX_SERVER_UNSENT_BYTES (so it is held), then asks a GET. */
  async function heldClient(): Promise<Client> {
    const c = await newcomer(MAX_SERVER_UNSENT_BYTES * 6);
    c.socket.write(encodeCommand(['GET', 'held']));
    return c;
  }

  beforeEach(async () => {
    await takeAll();
  });

  test('a held client is read again while new clients keep a slow server busy', async () => {
    const held = await heldClient();
    const step = MAX_SERVER_UNSENT_BYTES;
    const newcomers: Client[] = [];
    // Each step, one new client sends as much as the server takes: the queue stays as long.
    for (let i = 0; i < 24 && held.replies.length < 2; i++) {
      newcomers.push(await newcomer(step));
      await take(step);
    }
    assert.deepEqual(held.replies, ['+OK\r\n', '$-1\r\n'], 'the held client is answered while new clients still come');
    await takeAll();
    await waitFor('every reply', () => newcomers.every((c) => c.replies.length === 1));
    assert.deepEqual(new Set(newcomers.flatMap((c) => c.replies)), new Set(['+OK\r\n']));
    for (const c of [held, ...newcomers]) c.socket.destroy();
  });

  test('new clients are refused from half of MAX_SERVER_QUEUED_BYTES, which leaves the rest to held clients', async () => {
    const held = await heldClient();
    const size = 4 * MiB;
    const newcomers: Client[] = [];
    for (let i = 0; i < MAX_SERVER_QUEUED_BYTES / size; i++) newcomers.push(await newcomer(size));
    await takeAll();
    await waitFor('every reply', () => newcomers.every((c) => c.replies.length === 1) && held.replies.length === 2);
    // The held client queued 24 MiB, less what the sockets took; newcomers fill the room left
    // under half the bound (32 MiB), and the rest of them are refused.
    const ok = newcomers.filter((c) => c.replies[0] === '+OK\r\n').length;
    const refused = newcomers.filter((c) => c.replies[0] === ENOBUFS).length;
    assert.equal(ok + refused, newcomers.length);
    assert.ok(ok >= 1 && ok * size <= MAX_SERVER_QUEUED_BYTES / 2, `${ok} of ${newcomers.length} queued`);
    assert.deepEqual(held.replies, ['+OK\r\n', '$-1\r\n']);
    for (const c of [held, ...newcomers]) c.socket.destroy();
  });
});
