// OutBuffer must deliver exactly the bytes pushed, in order, whatever mix of small and large
// buffers it joins or passes through; scheduleFlush must run each flushable once per batch,
// flushNextTurn once in the next turn's batch, after that turn's I/O.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SocketWriter } from '../../../src/proxy/socket-write.js';
import { DIRECT_HANDLES_AVAILABLE } from '../../../src/proxy/stream-handle.js';
import { flushNextTurn, OutBuffer, scheduleFlush, type Flushable } from '../../../src/proxy/write-batch.js';
import { socketPair } from './socket-pair.js';

for (const direct of [true, false]) {
  test(`OutBuffer.writeTo delivers every byte in order (${direct ? 'direct writes' : 'socket.write fallback'})`, async () => {
    if (direct) assert.equal(DIRECT_HANDLES_AVAILABLE, true, 'this Node has the stream_wrap binding');
    const { a, b, close } = await socketPair();
    const writer = new SocketWriter(a, { onDrain: () => undefined }, direct);
    // One OutBuffer for every run: the slots it keeps between writes must not leak into the next.
    const out = new OutBuffer();
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.oneof(
              fc.uint8Array({ minLength: 0, maxLength: 64 }),
              fc.integer({ min: 4000, max: 70000 }).map((n) => new Uint8Array(n).fill(n & 0xff)),
            ),
            { minLength: 1, maxLength: 100 },
          ),
          async (parts) => {
            const expected = Buffer.concat(parts.map((p) => Buffer.from(p)));
            for (const p of parts) out.push(Buffer.from(p));
            assert.equal(out.bytes, expected.length);
            const received: Buffer[] = [];
            let got = 0;
            const done = new Promise<void>((resolve) => {
              const onData = (chunk: Buffer): void => {
                received.push(chunk);
                got += chunk.length;
                if (got >= expected.length) {
                  b.off('data', onData);
                  resolve();
                }
              };
              b.on('data', onData);
              b.resume();
            });
            out.writeTo(writer);
            assert.equal(out.empty, true);
            assert.equal(out.bytes, 0);
            if (expected.length > 0) await done;
            assert.deepEqual(Buffer.concat(received), expected);
          },
        ),
        { numRuns: 40 },
      );
    } finally {
      close();
    }
  });
}

test('scheduleFlush runs each flushable once per batch, after the current turn', async () => {
  let calls = 0;
  const f: Flushable = {
    flushQueued: false,
    flush() {
      calls++;
    },
  };
  scheduleFlush(f);
  scheduleFlush(f);
  assert.equal(calls, 0);
  assert.equal(f.flushQueued, true);
  await new Promise((r) => setImmediate(r));
  assert.equal(calls, 1);
  assert.equal(f.flushQueued, false);
  scheduleFlush(f);
  await new Promise((r) => setImmediate(r));
  assert.equal(calls, 2);
});

test('a flush that schedules others runs them in the same batch; later batches start afresh', async () => {
  const order: string[] = [];
  const make = (name: string, then?: () => void): Flushable => ({
    flushQueued: false,
    flush() {
      order.push(name);
      then?.();
    },
  });
  const c = make('c');
  const b = make('b', () => scheduleFlush(c));
  const a = make('a', () => scheduleFlush(b));
  scheduleFlush(a);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, ['a', 'b', 'c']);
  assert.equal(a.flushQueued || b.flushQueued || c.flushQueued, false);
  // A smaller batch after a larger one runs only what it was given (the kept slots are empty).
  order.length = 0;
  scheduleFlush(c);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, ['c']);
  // One that reschedules itself while flushing runs again in the same batch, once.
  order.length = 0;
  let again = true;
  const self: Flushable = make('self', () => {
    if (again) {
      again = false;
      scheduleFlush(self);
    }
  });
  scheduleFlush(self);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, ['self', 'self']);
});

test('work queued while a batch runs is flushed by that batch, without scheduling another', async () => {
  const real = globalThis.setImmediate;
  let scheduled = 0;
  const counting = ((...args: Parameters<typeof setImmediate>) => {
    scheduled++;
    return real(...args);
  }) as typeof setImmediate;
  let flushed = 0;
  const b: Flushable = { flushQueued: false, flush: () => void flushed++ };
  const a: Flushable = {
    flushQueued: false,
    flush: () => {
      flushed++;
      scheduleFlush(b);
    },
  };
  // Let any batch the tests above left scheduled run first.
  await new Promise((r) => real(r));
  await new Promise((r) => real(r));
  globalThis.setImmediate = counting;
  try {
    scheduleFlush(a);
    await new Promise((r) => real(r));
    await new Promise((r) => real(r));
  } finally {
    globalThis.setImmediate = real;
  }
  assert.equal(flushed, 2);
  assert.equal(scheduled, 1);
});

test('flushNextTurn runs the flushable once in the next turn, after the I/O that turn finds', async () => {
  // Data written while the flush is deferred is already waiting when the next turn polls: the
  // read must come before the deferred batch.
  const { a: client, b: peer, close } = await socketPair();
  try {
    const events: string[] = [];
    let deferred = false;
    const f: Flushable = {
      flushQueued: false,
      flush() {
        events.push('flush');
        if (!deferred) {
          deferred = true;
          client.write('x');
          flushNextTurn(f);
        }
      },
    };
    const other: Flushable = { flushQueued: false, flush: () => events.push('other') };
    peer.on('data', () => {
      events.push('data');
      // Joins the deferred batch; asks for nothing more for f, already queued.
      scheduleFlush(other);
      scheduleFlush(f);
    });
    peer.resume();
    scheduleFlush(f);
    assert.equal(f.flushQueued, true);
    // Linux delivers loopback data inside write(2): the next turn's poll finds it readable,
    // reads it, and only then runs the deferred batch, which the read joined.
    for (let i = 0; i < 200 && events.length < 4; i++) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(events, ['flush', 'data', 'flush', 'other']);
    assert.equal(f.flushQueued, false);
  } finally {
    close();
  }
});
