// Shared-buffer reads (src/proxy/socket-read.ts): every socket's bytes arrive whole and in
// order, a chunk handed out is never overwritten by a later read of another socket, pause()
// stops the reads, and a listener whose accept callback was taken over wraps each connection
// once and reports accept errors as net.Server errors.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { interceptAccepts, openAccepted, sharedReads } from '../../../src/proxy/socket-read.js';

const received = new Map<Socket, Buffer[]>();
const READS = sharedReads((socket, chunk) => {
  let list = received.get(socket);
  if (list === undefined) received.set(socket, (list = []));
  list.push(chunk);
});

async function listening(): Promise<{ server: ReturnType<typeof createServer>; port: number; accepted: Socket[] }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const accepted: Socket[] = [];
  interceptAccepts(server, (handle) => accepted.push(openAccepted(handle, READS, false)));
  return { server, port: address.port, accepted };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function total(socket: Socket): number {
  return (received.get(socket) ?? []).reduce((n, c) => n + c.length, 0);
}

test('bytes from many sockets arrive whole, in order, and chunks are not overwritten by later reads', async () => {
  const { server, port, accepted } = await listening();
  const clients: Socket[] = [];
  try {
    for (let i = 0; i < 8; i++) {
      const c = connect(port, '127.0.0.1');
      await once(c, 'connect');
      clients.push(c);
    }
    await until(() => accepted.length === 8, 'accepts');
    // Interleave writes so the shared buffer serves every socket many times over.
    const sent: Buffer[][] = clients.map(() => []);
    for (let round = 0; round < 200; round++) {
      clients.forEach((c, i) => {
        const piece = Buffer.from(`client ${i} round ${round} `.repeat(1 + ((round * 7 + i) % 40)));
        sent[i]!.push(piece);
        c.write(piece);
      });
      if (round % 20 === 0) await new Promise((r) => setImmediate(r));
    }
    const expected = sent.map((parts) => Buffer.concat(parts));
    // Which accepted socket belongs to which client: match by the first bytes received.
    await until(() => accepted.every((s) => total(s) > 0), 'first reads');
    for (const socket of accepted) {
      const first = received.get(socket)![0]!.toString('latin1');
      const i = Number(/^client (\d+) /.exec(first)![1]);
      await until(() => total(socket) >= expected[i]!.length, `client ${i}'s bytes`);
      const got = Buffer.concat(received.get(socket)!);
      assert.ok(got.equals(expected[i]!), `client ${i}: every byte, in order, none from another socket`);
    }
  } finally {
    for (const c of clients) c.destroy();
    for (const s of accepted) s.destroy();
    server.close();
  }
});

test('pause() stops reading and resume() picks up where it left off; end is still seen', async () => {
  const { server, port, accepted } = await listening();
  const client = connect(port, '127.0.0.1');
  try {
    await once(client, 'connect');
    await until(() => accepted.length === 1, 'accept');
    const socket = accepted[0]!;
    const ended = once(socket, 'end');
    client.write('before ');
    await until(() => total(socket) === 7, 'first bytes');
    socket.pause();
    client.write('after');
    client.end();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(total(socket), 7, 'nothing is read while paused');
    socket.resume();
    await ended;
    assert.equal(Buffer.concat(received.get(socket)!).toString('latin1'), 'before after');
  } finally {
    client.destroy();
    for (const s of accepted) s.destroy();
    server.close();
  }
});

test('an accept error becomes the net.Server error, with its code', async () => {
  const { server } = await listening();
  try {
    const errored = once(server, 'error') as Promise<[NodeJS.ErrnoException]>;
    const handle = (server as unknown as { _handle: { onconnection(err: number): void } })._handle;
    handle.onconnection(-24); // EMFILE, as libuv reports it
    const [err] = await errored;
    assert.equal(err.code, 'EMFILE');
    assert.equal(err.syscall, 'accept');
  } finally {
    server.close();
  }
});
