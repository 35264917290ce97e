// The client stream contract (src/proxy/client-stream.ts), for both implementations: the one
// driving the libuv handle directly (what runs in production) and the net.Socket fallback.
// Real loopback connections: a net.Server whose accepts are taken over, as the listener does.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { openClientStream, type ClientStream, type StreamEvents } from '../../../src/proxy/client-stream.js';
import { interceptAccepts, type AcceptedHandle } from '../../../src/proxy/socket-read.js';
import { DIRECT_HANDLES_AVAILABLE } from '../../../src/proxy/stream-handle.js';

/** Everything a stream reported, in order. */
class Recorder implements StreamEvents {
  readonly log: string[] = [];
  readonly chunks: Buffer[] = [];
  readonly errors: NodeJS.ErrnoException[] = [];
  drains = 0;
  onData(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.log.push('data');
  }
  onEnd(): void {
    this.log.push('end');
  }
  onError(err: NodeJS.ErrnoException): void {
    this.errors.push(err);
    this.log.push(`error ${err.code}`);
  }
  onClose(): void {
    this.log.push('close');
  }
  onDrain(): void {
    this.drains++;
  }
  get received(): string {
    return Buffer.concat(this.chunks).toString('latin1');
  }
  count(what: string): number {
    return this.log.filter((e) => e === what).length;
  }
}

interface Connected {
  client: Socket;
  stream: ClientStream;
  events: Recorder;
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const SHORT_LINGER_MS = 100;

/** `lingerMs`: the linger time of the streams (short, for the test of the linger itself). */
async function listening(
  direct: boolean,
  lingerMs = 60_000,
): Promise<{ server: Server; connectOne(allowHalfOpen?: boolean): Promise<Connected> }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const accepted: AcceptedHandle[] = [];
  interceptAccepts(server, (handle) => accepted.push(handle));
  return {
    server,
    /** allowHalfOpen: the client does not end its side when it sees the stream's end. */
    async connectOne(allowHalfOpen = false): Promise<Connected> {
      const client = connect({ port: address.port, host: '127.0.0.1', allowHalfOpen });
      client.on('error', () => undefined);
      await once(client, 'connect');
      await until(() => accepted.length > 0, 'the accept');
      const events = new Recorder();
      const stream = openClientStream(accepted.shift()!, { noDelay: true, keepAlive: false }, events, direct, lingerMs);
      return { client, stream, events };
    },
  };
}

function readAll(client: Socket): { text(): string; ended: Promise<unknown> } {
  const parts: Buffer[] = [];
  client.on('data', (c: Buffer) => parts.push(c));
  return { text: () => Buffer.concat(parts).toString('latin1'), ended: once(client, 'end') };
}

function pattern(size: number, seed: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) buf[i] = (i * 31 + seed * 7) & 0xff;
  return buf;
}

test('this Node has the stream_wrap binding (the direct streams are what runs in production)', () => {
  assert.equal(DIRECT_HANDLES_AVAILABLE, true);
});

for (const direct of [true, false]) {
  describe(direct ? 'handle stream' : 'net.Socket stream', () => {
    test('starts paused; bytes arrive whole and in order once resumed; pause stops the reads', async () => {
      const { server, connectOne } = await listening(direct);
      const { client, stream, events } = await connectOne();
      try {
        client.write('sent before resume ');
        await new Promise((r) => setTimeout(r, 30));
        assert.deepEqual(events.log, [], 'nothing is read before resume()');
        stream.resume();
        await until(() => events.received === 'sent before resume ', 'the first bytes');
        stream.pause();
        client.write('while paused');
        client.end();
        await new Promise((r) => setTimeout(r, 30));
        assert.equal(events.received, 'sent before resume ', 'nothing is read while paused');
        assert.equal(events.count('end'), 0);
        stream.resume();
        await until(() => events.count('end') === 1, 'the end');
        assert.equal(events.received, 'sent before resume while paused');
        assert.equal(events.log.at(-1), 'end');
        assert.match(stream.peer(), /^127\.0\.0\.1:\d+$/);
      } finally {
        client.destroy();
        stream.destroy();
        server.close();
      }
    });

    test('after the peer ends its side, replies still reach it; destroy() reports one close', async () => {
      const { server, connectOne } = await listening(direct);
      const { client, stream, events } = await connectOne();
      try {
        const reader = readAll(client);
        stream.resume();
        client.end('GET k');
        await until(() => events.count('end') === 1, 'the end');
        assert.equal(stream.write(Buffer.from('+late ')), true);
        assert.equal(stream.writev([Buffer.from('reply'), Buffer.from('\r\n')]), true);
        await until(() => reader.text() === '+late reply\r\n', 'the reply');
        stream.destroy();
        stream.destroy();
        assert.equal(events.count('close'), 0, 'the close is reported asynchronously');
        await until(() => events.count('close') === 1, 'the close');
        await reader.ended;
        assert.equal(stream.write(Buffer.from('dropped')), true, 'a write after destroy() is dropped');
        await new Promise((r) => setTimeout(r, 20));
        assert.deepEqual(events.log, ['data', 'end', 'close']);
      } finally {
        client.destroy();
        server.close();
      }
    });

    test('end(): the FIN follows every byte even when the peer was not reading; input after it is dropped until the peer ends', async () => {
      const { server, connectOne } = await listening(direct);
      const { client, stream, events } = await connectOne(true);
      try {
        stream.resume();
        client.pause();
        const sent: Buffer[] = [];
        let ok = true;
        for (let i = 0; stream.unsent < 1024 * 1024 && i < 400; i++) {
          const piece = pattern(64 * 1024, i);
          sent.push(piece);
          ok = stream.write(piece);
        }
        assert.ok(stream.unsent >= 1024 * 1024, 'backed up');
        assert.equal(ok, false, 'the last write says so');
        stream.end();
        assert.equal(stream.quietSince, -1, 'no FIN out while bytes wait');
        client.write('after the end: dropped');
        const parts: Buffer[] = [];
        client.on('data', (c: Buffer) => parts.push(c));
        const clientEnded = once(client, 'end');
        client.resume();
        await clientEnded;
        assert.ok(Buffer.concat(parts).equals(Buffer.concat(sent)), 'every byte, in order, before the FIN');
        await until(() => stream.quietSince >= 0, 'the FIN out');
        // Input after the FIN is dropped too, and says the client is still sending.
        const finOutAt = stream.quietSince;
        client.write('after the FIN: dropped');
        await until(() => stream.quietSince > finOutAt, 'input after the FIN noticed');
        assert.equal(events.count('close'), 0, 'stays open until the peer ends');
        client.end();
        await until(() => events.count('close') === 1, 'the close after the peer ends');
        assert.equal(events.count('data'), 0, 'input after end() is dropped');
        assert.equal(events.count('end'), 0, 'the peer end after end() is not reported');
        assert.ok(events.drains <= 1);
      } finally {
        client.destroy();
        stream.destroy();
        server.close();
      }
    });

    test('a peer that does not read backs writes up; one drain once it reads', async () => {
      const { server, connectOne } = await listening(direct);
      const { client, stream, events } = await connectOne();
      try {
        stream.resume();
        client.pause();
        let total = 0;
        for (let i = 0; stream.unsent < 1024 * 1024 && i < 400; i++) {
          const piece = pattern(64 * 1024, i);
          total += piece.length;
          stream.writev([piece.subarray(0, 10), piece.subarray(10)]);
        }
        assert.equal(events.drains, 0);
        let got = 0;
        client.on('data', (c: Buffer) => (got += c.length));
        client.resume();
        await until(() => events.drains === 1 && got === total, 'the drain and every byte');
        assert.equal(stream.unsent, 0);
        await new Promise((r) => setTimeout(r, 20));
        assert.equal(events.drains, 1);
      } finally {
        client.destroy();
        stream.destroy();
        server.close();
      }
    });

    test('a reset by the peer is reported as an error, then one close', async () => {
      const { server, connectOne } = await listening(direct);
      const { client, stream, events } = await connectOne();
      try {
        stream.resume();
        client.write('x');
        await until(() => events.count('data') === 1, 'the first read');
        client.resetAndDestroy();
        await until(() => events.count('close') === 1, 'the close');
        await new Promise((r) => setTimeout(r, 20));
        assert.deepEqual(events.log, ['data', 'error ECONNRESET', 'close']);
      } finally {
        stream.destroy();
        server.close();
      }
    });

    test('a peer that does not end its side after end() is closed once the linger time has passed', async () => {
      const { server, connectOne } = await listening(direct, SHORT_LINGER_MS);
      const { client, stream, events } = await connectOne(true);
      try {
        const reader = readAll(client);
        stream.resume();
        stream.write(Buffer.from('+OK\r\n'));
        const t0 = Date.now();
        stream.end();
        await reader.ended;
        assert.equal(reader.text(), '+OK\r\n');
        await until(() => events.count('close') === 1, 'the close');
        assert.ok(Date.now() - t0 >= SHORT_LINGER_MS - 5, `closed after ${Date.now() - t0} ms, not before the linger time`);
        const clientClosed = once(client, 'close');
        client.end();
        await clientClosed;
        assert.deepEqual(events.log, ['close']);
      } finally {
        client.destroy();
        server.close();
      }
    });

    test('after stopLinger(), a peer that does not end its side is left open past the linger time (the owner closes it)', async () => {
      const { server, connectOne } = await listening(direct, SHORT_LINGER_MS);
      const { client, stream, events } = await connectOne(true);
      try {
        const reader = readAll(client);
        stream.resume();
        stream.write(Buffer.from('+OK\r\n'));
        stream.stopLinger();
        stream.end();
        await reader.ended;
        await until(() => stream.quietSince >= 0, 'the FIN out');
        await new Promise((r) => setTimeout(r, 3 * SHORT_LINGER_MS));
        assert.equal(events.count('close'), 0, 'not closed by the linger');
        stream.destroy();
        await until(() => events.count('close') === 1, 'the close');
      } finally {
        client.destroy();
        server.close();
      }
    });

    test('a peer that reads none of the replies queued before end() is closed after the linger time', async () => {
      // The FIN waits behind the replies: before, the linger started only once it was out,
      // which never happened, and the connection stayed open for ever (found by the leak review).
      const { server, connectOne } = await listening(direct, SHORT_LINGER_MS);
      const { client, stream, events } = await connectOne(true);
      try {
        client.pause();
        stream.resume();
        const big = pattern(1 << 20, 1);
        for (let i = 0; i < 16; i++) stream.write(big);
        assert.ok(stream.unsent > 0, 'some replies wait in Walnut');
        stream.end();
        await until(() => events.count('close') === 1, 'the close');
      } finally {
        client.destroy();
        server.close();
      }
    });

    test('a peer still reading what was queued before end() is not cut off by the linger time', async () => {
      // net.Socket counts its queue down a whole write (here 1 MiB) at a time: a linger time
      // that a 1 MiB write outlasts would see no progress.
      const lingerMs = 400;
      const { server, connectOne } = await listening(direct, lingerMs);
      const { client, stream, events } = await connectOne(true);
      try {
        stream.resume();
        const big = pattern(1 << 20, 2);
        for (let i = 0; i < 16; i++) stream.write(big);
        stream.end();
        // Read the 16 MiB with a 60 ms pause after each MiB: longer than the linger time in all,
        // with progress within each linger time.
        let got = 0;
        let nextPause = 1 << 20;
        const t0 = Date.now();
        client.on('data', (c: Buffer) => {
          got += c.length;
          if (got >= nextPause) {
            nextPause += 1 << 20;
            client.pause();
            setTimeout(() => client.resume(), 60);
          }
        });
        await once(client, 'end');
        assert.equal(got, 16 << 20);
        assert.ok(Date.now() - t0 > lingerMs, 'the reading took longer than the linger time');
        assert.equal(events.log.includes('error ECONNRESET'), false);
      } finally {
        client.destroy();
        server.close();
      }
    });

    test('destroy() with writes queued and the FIN pending: no error, no drain, one close', async () => {
      const { server, connectOne } = await listening(direct);
      const { client, stream, events } = await connectOne();
      try {
        stream.resume();
        client.pause();
        for (let i = 0; stream.unsent < 1024 * 1024 && i < 400; i++) stream.write(pattern(64 * 1024, i));
        assert.ok(stream.unsent >= 1024 * 1024, 'backed up');
        stream.end();
        stream.destroy();
        await until(() => events.count('close') === 1, 'the close');
        await new Promise((r) => setTimeout(r, SHORT_LINGER_MS + 50));
        assert.deepEqual(events.log, ['close']);
        assert.equal(events.drains, 0);
        assert.equal(stream.unsent, 0);
      } finally {
        client.destroy();
        server.close();
      }
    });

    test('end() right after the peer ended closes the stream once the FIN is out', async () => {
      const { server, connectOne } = await listening(direct);
      const { client, stream, events } = await connectOne();
      try {
        const reader = readAll(client);
        stream.resume();
        client.end();
        await until(() => events.count('end') === 1, 'the end');
        stream.write(Buffer.from('bye'));
        stream.end();
        await reader.ended;
        assert.equal(reader.text(), 'bye');
        await until(() => events.count('close') === 1, 'the close');
      } finally {
        client.destroy();
        server.close();
      }
    });
  });
}

// net.Socket ignores how its shutdown ended (afterShutdown in Node's net.js): only the handle
// stream can say that its FIN could not be sent.
test('handle stream: a FIN that cannot be sent (the peer reset the connection) is an error, then one close', async () => {
  const { server, connectOne } = await listening(true);
  const { client, stream, events } = await connectOne();
  try {
    client.resetAndDestroy();
    await new Promise((r) => setTimeout(r, 50));
    stream.end();
    await until(() => events.count('close') === 1, 'the close');
    assert.equal(events.log.length, 2, events.log.join(', '));
    assert.match(events.log[0]!, /^error E[A-Z]+$/);
    assert.equal(events.errors[0]!.syscall, 'shutdown');
  } finally {
    stream.destroy();
    server.close();
  }
});
