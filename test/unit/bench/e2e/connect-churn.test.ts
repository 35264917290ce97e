// The short-lived connection load generator (bench/e2e/connect-churn.ts): it completes the
// connections asked for, counts a reply that differs from the expected bytes as an error, and
// fails the run when a connection closes before its reply. Against a deliberately fake
// server that answers every connection with fixed bytes (what it measures is the generator,
// not a cache server).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import { runConnectChurn } from '../../../../bench/e2e/connect-churn.js';

const REQUEST = Buffer.from('*2\r\n$3\r\nGET\r\n$1\r\nk\r\n');
const REPLY = Buffer.from('$3\r\nxxx\r\n');

/** A fake server: answers each connection's first bytes with `answer(n)` (n counts connections). */
async function fakeFixedReplyServer(answer: (n: number, socket: Socket) => void): Promise<{ server: Server; port: number; accepted: () => number }> {
  let n = 0;
  const server = createServer((socket) => {
    const i = n++;
    socket.on('error', () => undefined);
    socket.once('data', () => answer(i, socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { server, port: address.port, accepted: () => n };
}

test('completes every connection, with per-connection latency and rate', async () => {
  // The reply in two writes 20 ms apart: the generator must wait for all of it (a timer may
  // fire a little early against the clock, hence the margin in the check).
  const { server, port, accepted } = await fakeFixedReplyServer((_, s) => {
    s.write(REPLY.subarray(0, 3));
    setTimeout(() => s.end(REPLY.subarray(3)), 20);
  });
  try {
    const r = await runConnectChurn({ port, connections: 300, parallel: 10, request: REQUEST, reply: REPLY, timeoutMs: 20_000 });
    assert.equal(r.failure, '');
    assert.equal(r.completed, 300);
    assert.equal(accepted(), 300, 'one connection per completed exchange');
    assert.equal(r.errors, 0);
    assert.ok(r.rps > 0 && Number.isFinite(r.rps));
    assert.ok(r.p50Ms >= 10 && r.p99Ms >= r.p50Ms, `p50 ${r.p50Ms} p99 ${r.p99Ms}`);
  } finally {
    server.close();
  }
});

test('a reply of the right length but other bytes is counted as an error', async () => {
  const wrong = Buffer.from('$3\r\nyyy\r\n');
  const { server, port } = await fakeFixedReplyServer((n, s) => s.end(n % 4 === 0 ? wrong : REPLY));
  try {
    const r = await runConnectChurn({ port, connections: 100, parallel: 1, request: REQUEST, reply: REPLY, timeoutMs: 20_000 });
    assert.equal(r.failure, '');
    assert.equal(r.completed, 100);
    assert.equal(r.errors, 25);
  } finally {
    server.close();
  }
});

test('a connection closed before its whole reply fails the run, saying so', async () => {
  const { server, port } = await fakeFixedReplyServer((n, s) => s.end(n === 5 ? REPLY.subarray(0, 4) : REPLY));
  try {
    const r = await runConnectChurn({ port, connections: 50, parallel: 1, request: REQUEST, reply: REPLY, timeoutMs: 20_000 });
    assert.match(r.failure, /closed after 4 of 9 reply bytes/);
    assert.ok(Number.isNaN(r.rps));
    assert.equal(r.completed, 5);
  } finally {
    server.close();
  }
});
