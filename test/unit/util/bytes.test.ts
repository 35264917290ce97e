// copyBytes / sameBytes / bytesOf must behave exactly like Buffer#copy, Buffer#compare and
// subarray on every length (each takes a different path below and above SHORT_BYTES, and
// copyBytes another one for the head of a buffer); keyOffsets must hand out disjoint, zeroed
// arrays, across slabs and for requests too large for a slab.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { keyOffsets } from '../../../src/proto/key-offsets.js';
import { SHORT_BYTES, bytesOf, copyBytes, copyBytesFrom, sameBytes } from '../../../src/util/bytes.js';

const range = fc
  .uint8Array({ minLength: 0, maxLength: 3 * SHORT_BYTES })
  .chain((bytes) =>
    fc.record({
      src: fc.constant(Buffer.from(bytes)),
      start: fc.integer({ min: 0, max: bytes.length }),
      len: fc.integer({ min: 0, max: bytes.length }),
      at: fc.integer({ min: 0, max: 8 }),
      room: fc.integer({ min: 0, max: 8 }),
    }),
  )
  .map(({ src, start, len, at, room }) => ({ src, start, end: Math.min(src.length, start + len), at, room }));

test('copyBytes copies exactly what Buffer#copy copies, on every path', () => {
  fc.assert(
    fc.property(range, ({ src, start, end, at, room }) => {
      const n = end - start;
      const dst = Buffer.alloc(at + n + room, 0xee);
      const want = Buffer.alloc(dst.length, 0xee);
      assert.equal(copyBytes(src, start, end, dst, at), src.copy(want, at, start, end));
      assert.deepEqual(dst, want);
    }),
    { numRuns: 500 },
  );
  // The lengths around SHORT_BYTES, from the head of a longer buffer (the fill path) and whole.
  const src = Buffer.from(Array.from({ length: 2 * SHORT_BYTES }, (_, i) => i + 1));
  for (const n of [SHORT_BYTES - 1, SHORT_BYTES, SHORT_BYTES + 1, 2 * SHORT_BYTES]) {
    const dst = Buffer.alloc(n + 2);
    assert.equal(copyBytes(src, 0, n, dst, 1), n);
    assert.deepEqual(dst, Buffer.concat([Buffer.alloc(1), src.subarray(0, n), Buffer.alloc(1)]));
  }
});

test('copyBytesFrom copies what Buffer#copy copies, from a buffer in the middle of its backing store too', () => {
  fc.assert(
    fc.property(range, fc.integer({ min: 0, max: 16 }), ({ src, start, end, at, room }, lead) => {
      // The same bytes `lead` bytes into a larger allocation: byteOffset must be honoured.
      const big = Buffer.alloc(lead + src.length + 3, 0x55);
      src.copy(big, lead);
      const inner = big.subarray(lead, lead + src.length);
      const n = end - start;
      const dst = Buffer.alloc(at + n + room, 0xee);
      const want = Buffer.alloc(dst.length, 0xee);
      assert.equal(copyBytesFrom(inner, inner.buffer, start, end, dst, at), src.copy(want, at, start, end));
      assert.deepEqual(dst, want);
    }),
    { numRuns: 500 },
  );
});

test('copyBytes stops at the end of dst, like Buffer#copy', () => {
  const src = Buffer.alloc(4 * SHORT_BYTES, 7);
  const dst = Buffer.alloc(SHORT_BYTES + 2);
  assert.equal(copyBytes(src, 0, 2 * SHORT_BYTES, dst, 4), SHORT_BYTES - 2);
  assert.deepEqual(dst, Buffer.concat([Buffer.alloc(4), Buffer.alloc(SHORT_BYTES - 2, 7)]));
});

test('sameBytes agrees with Buffer#compare on every length', () => {
  fc.assert(
    fc.property(range, fc.boolean(), fc.nat(), ({ src, start, end }, flip, which) => {
      const other = Buffer.from(src.subarray(start, end));
      if (flip && other.length > 0) other[which % other.length]! ^= 1;
      const want = src.compare(other, 0, other.length, start, end) === 0;
      assert.equal(sameBytes(src, start, end, other, 0, other.length), want);
      assert.equal(sameBytes(src, start, end, other, 0, Math.max(0, other.length - 1)), other.length === 0 && want);
    }),
    { numRuns: 500 },
  );
});

test('bytesOf is the buffer itself when the range is all of it, else the same bytes', () => {
  const buf = Buffer.from('abcdef');
  assert.equal(bytesOf(buf, 0, buf.length), buf);
  const part = bytesOf(buf, 1, 4);
  assert.notEqual(part, buf);
  assert.equal(part.toString(), 'bcd');
  assert.equal(part.buffer, buf.buffer, 'a view, not a copy');
  assert.equal(bytesOf(buf, 0, 0).length, 0);
});

test('bytesOf gives subarray\'s view for any range of any buffer, read after read (it remembers the last one)', () => {
  // Pooled, own-store, large (never remembered) and offset buffers, used in turns, so that a
  // view of one is never cut from another's backing store.
  const sources = fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => Buffer.from(b)),
    fc.integer({ min: 1, max: 70 * 1024 }).map((n) => Buffer.allocUnsafe(n).fill(n & 0xff)),
    fc.uint8Array({ minLength: 4, maxLength: 300 }).map((b) => Buffer.from(b).subarray(3)),
  );
  const cuts = fc.array(
    fc.tuple(fc.nat(), fc.nat(), fc.nat()),
    { minLength: 1, maxLength: 20 },
  );
  fc.assert(
    fc.property(fc.array(sources, { minLength: 1, maxLength: 4 }), cuts, (bufs, picks) => {
      for (const [which, a, b] of picks) {
        const buf = bufs[which % bufs.length]!;
        const start = a % (buf.length + 1);
        const end = start + (b % (buf.length - start + 1));
        const view = bytesOf(buf, start, end);
        const expected = buf.subarray(start, end);
        assert.ok(Buffer.isBuffer(view));
        assert.equal(Object.getPrototypeOf(view), Object.getPrototypeOf(expected));
        assert.equal(view.buffer, buf.buffer);
        assert.equal(view.byteOffset, expected.byteOffset);
        assert.equal(view.length, expected.length);
        assert.ok(view.equals(expected));
      }
    }),
  );
});

test('keyOffsets hands out zeroed arrays that never overlap, across slabs and beyond them', () => {
  const live: Int32Array[] = [];
  // Enough to fill several slabs, with sizes up to and past the largest one a slab serves.
  const sizes = [3, 30, 1, 1024, 1025, 4000, 40, 8192, 2, ...Array.from({ length: 400 }, (_, i) => (i * 37) % 300)];
  for (const [i, n] of sizes.entries()) {
    const a = keyOffsets(n);
    assert.equal(a.length, n);
    assert.ok(a.every((v) => v === 0), `array ${i} (${n} entries) is zeroed`);
    a.fill(i + 1);
    live.push(a);
  }
  // Every array still holds its own mark: none was handed out twice or overlaps another.
  for (const [i, a] of live.entries()) assert.ok(a.every((v) => v === i + 1), `array ${i} kept its contents`);
});
