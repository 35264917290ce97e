// SocketWriter must behave the same whether it writes straight to the handle or falls back to
// socket.write: every byte in order, "backed up" once the kernel stops taking bytes, one drain
// report once it has taken them all, a write error reported as the socket's 'error', and
// writes to a destroyed socket dropped without a throw.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { describe, test } from 'node:test';
import { SocketWriter } from '../../../src/proxy/socket-write.js';
import { DIRECT_HANDLES_AVAILABLE } from '../../../src/proxy/stream-handle.js';
import { socketPair } from './socket-pair.js';

/** Distinct bytes per position, so a reordering or a lost piece shows. */
function pattern(size: number, seed: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) buf[i] = (i * 31 + seed * 7) & 0xff;
  return buf;
}

function readAll(b: Socket, bytes: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  return new Promise((resolve) => {
    const onData = (chunk: Buffer): void => {
      parts.push(chunk);
      got += chunk.length;
      if (got >= bytes) {
        b.off('data', onData);
        resolve(Buffer.concat(parts));
      }
    };
    b.on('data', onData);
    b.resume();
  });
}

test('the stream_wrap binding is there on this Node (direct writes are what runs in production)', () => {
  assert.equal(DIRECT_HANDLES_AVAILABLE, true);
});

for (const direct of [true, false]) {
  describe(direct ? 'direct writes' : 'socket.write fallback', () => {
    test('a peer that does not read backs the writer up; one drain once it reads; bytes in order', async () => {
      const { a, b, close } = await socketPair();
      let drains = 0;
      const writer = new SocketWriter(a, { onDrain: () => drains++ }, direct);
      try {
        const sent: Buffer[] = [];
        let ok = true;
        // Kernel buffers on loopback take a few MB; keep writing until 1 MB waits beyond them.
        for (let i = 0; writer.unsent < 1024 * 1024 && i < 400; i++) {
          const piece = pattern(64 * 1024, i);
          sent.push(piece);
          ok = i % 2 === 0 ? writer.write(piece) : writer.writev([piece.subarray(0, 100), piece.subarray(100)]);
        }
        assert.ok(writer.unsent >= 1024 * 1024, `backed up before 25 MB (unsent ${writer.unsent})`);
        assert.equal(ok, false, 'the last write says so');
        assert.equal(drains, 0);
        const expected = Buffer.concat(sent);
        const drained = new Promise<void>((resolve) => {
          const check = setInterval(() => {
            if (drains > 0) {
              clearInterval(check);
              resolve();
            }
          }, 5);
        });
        const received = await readAll(b, expected.length);
        await drained;
        assert.equal(drains, 1);
        assert.equal(writer.unsent, 0);
        assert.equal(received.length, expected.length);
        assert.ok(received.equals(expected), 'every byte, in order');
      } finally {
        close();
      }
    });

    test('small writes go out at once and report no backlog', async () => {
      const { a, b, close } = await socketPair();
      const writer = new SocketWriter(a, { onDrain: () => assert.fail('nothing was backed up') }, direct);
      try {
        const pieces = [Buffer.from('+OK\r\n'), Buffer.from('$1\r\nx\r\n'), Buffer.from(':42\r\n')];
        assert.equal(writer.write(pieces[0]!), true);
        assert.equal(writer.writev([pieces[1]!, pieces[2]!]), true);
        const received = await readAll(b, 17);
        assert.equal(received.toString('latin1'), '+OK\r\n$1\r\nx\r\n:42\r\n');
      } finally {
        close();
      }
    });

    test('destroying a socket with writes still queued reports neither an error nor a drain', async () => {
      const { a, close } = await socketPair();
      let drains = 0;
      const writer = new SocketWriter(a, { onDrain: () => drains++ }, direct);
      const errors: Error[] = [];
      a.on('error', (e) => errors.push(e));
      try {
        for (let i = 0; writer.unsent < 1024 * 1024 && i < 400; i++) writer.write(pattern(64 * 1024, i));
        assert.ok(writer.unsent >= 1024 * 1024);
        const closed = once(a, 'close');
        a.destroy();
        await closed;
        await new Promise((r) => setTimeout(r, 20));
        assert.deepEqual(errors, []);
        assert.equal(drains, 0);
      } finally {
        close();
      }
    });

    test('after a failed write, writes to another socket still work', async () => {
      const first = await socketPair();
      const second = await socketPair();
      try {
        const failing = new SocketWriter(first.a, { onDrain: () => undefined }, direct);
        const errored = once(first.a, 'error');
        first.b.resetAndDestroy();
        const deadline = Date.now() + 5000;
        while (!first.a.destroyed && Date.now() < deadline) {
          failing.write(pattern(1024, 2));
          await new Promise((r) => setTimeout(r, 5));
        }
        await errored;
        const writer = new SocketWriter(second.a, { onDrain: () => undefined }, direct);
        assert.equal(writer.write(Buffer.from('still ')), true);
        assert.equal(writer.writev([Buffer.from('work'), Buffer.from('s')]), true);
        assert.equal((await readAll(second.b, 11)).toString('latin1'), 'still works');
      } finally {
        first.close();
        second.close();
      }
    });

    test('a write to a reset peer ends in the socket error, and later writes are dropped', async () => {
      const { a, b, close } = await socketPair();
      const writer = new SocketWriter(a, { onDrain: () => undefined }, direct);
      try {
        const errored = once(a, 'error') as Promise<[NodeJS.ErrnoException]>;
        b.resetAndDestroy();
        // Keep writing until the reset is seen (the first writes may still be accepted).
        const deadline = Date.now() + 5000;
        while (!a.destroyed && Date.now() < deadline) {
          writer.write(pattern(1024, 1));
          await new Promise((r) => setTimeout(r, 5));
        }
        const [err] = await errored;
        assert.ok(['ECONNRESET', 'EPIPE'].includes(err.code ?? ''), `code ${err.code}`);
        assert.equal(writer.write(Buffer.from('late')), true);
        assert.equal(writer.writev([Buffer.from('la'), Buffer.from('te')]), true);
      } finally {
        close();
      }
    });
  });
}
