/**
 * Copying and comparing short byte ranges. Buffer#copy and Buffer#compare check their
 * arguments and cross into C++ on every call, ~20 ns whatever the length; a JS loop moves a
 * byte in 0.8-1.4 ns. Below SHORT_BYTES the loop wins: keys, small replies (`+OK`, `:1`, `$-1`)
 * and short values are that short. (Node 20.20: 24 beat both 14 and 40 at joining 36-byte
 * requests and at re-encoding 10-key MSETs.)
 */
export const SHORT_BYTES = 24;

/** Copy src[start, end) into dst at `at`; returns the number of bytes copied. */
export function copyBytes(src: Buffer, start: number, end: number, dst: Buffer, at: number): number {
  const n = end - start;
  if (n < SHORT_BYTES) {
    for (let i = 0; i < n; i++) dst[at + i] = src[start + i]!;
    return n;
  }
  // Buffer#copy of part of a buffer allocates a view of that part on Node 20 (a hundred bytes
  // of garbage per read); fill() with a buffer copies its head without one. (fill() throws
  // where copy() would stop at the end of dst: that case is left to copy().)
  if (start === 0 && end < src.length && at + n <= dst.length) {
    dst.fill(src, at, at + n);
    return n;
  }
  return src.copy(dst, at, start, end);
}

/**
 * copyBytes for many ranges out of one source: `backing` is src.buffer, read once by the
 * caller. Reading `.buffer` is a call into C++, and Buffer#copy of part of a buffer makes it
 * (and allocates a view) on every call: this costs about half as much per range of a few
 * dozen bytes (a merged MGET copies one per key). `dst` must have room for the range.
 */
export function copyBytesFrom(src: Buffer, backing: ArrayBufferLike, start: number, end: number, dst: Buffer, at: number): number {
  const n = end - start;
  if (n < SHORT_BYTES) {
    for (let i = 0; i < n; i++) dst[at + i] = src[start + i]!;
    return n;
  }
  dst.set(new Uint8Array(backing, src.byteOffset + start, n), at);
  return n;
}

/** Are a[as, ae) and b[bs, be) the same bytes? */
export function sameBytes(a: Buffer, as: number, ae: number, b: Buffer, bs: number, be: number): boolean {
  const n = ae - as;
  if (n !== be - bs) return false;
  if (n >= SHORT_BYTES) return a.compare(b, bs, be, as, ae) === 0;
  for (let i = 0; i < n; i++) if (a[as + i] !== b[bs + i]) return false;
  return true;
}

type BufferView = new (backing: ArrayBufferLike, offset: number, length: number) => Buffer;

/**
 * The class of every Buffer Node makes (its internal FastBuffer), which Buffer names as its
 * species; null if a Node no longer does (bytesOf then uses subarray).
 */
const NodeBuffer: BufferView | null = (() => {
  const species: unknown = (Buffer as unknown as Record<symbol, unknown>)[Symbol.species];
  if (typeof species !== 'function') return null;
  const ctor = species as BufferView;
  try {
    const probe = new ctor(new ArrayBuffer(4), 1, 2);
    return Object.getPrototypeOf(probe) === Buffer.prototype && probe.byteOffset === 1 && probe.length === 2 ? ctor : null;
  } catch {
    return null;
  }
})();

/**
 * The buffer bytesOf last cut views from, with its backing store. A pipelined read is cut into
 * one view per request or reply, and reading `.buffer` is a call into C++ that costs half of
 * what buf.subarray does (about 45 ns on Node 20, against 20 ns for a view built from a known
 * backing). Only buffers of a read's size are remembered, so at most one of them (and not a
 * large joined message) stays referenced here after its last view is gone.
 */
let viewSource: Buffer | null = null;
let viewBacking: ArrayBufferLike | null = null;
let viewBase = 0;
const VIEW_SOURCE_MAX = 64 * 1024;

/**
 * Bytes [start, end) of buf: buf itself when that is all of it (a read holding exactly one
 * request or reply, the usual case without pipelining), else a view; one object less per message.
 */
export function bytesOf(buf: Buffer, start: number, end: number): Buffer {
  if (start === 0 && end === buf.length) return buf;
  if (buf !== viewSource) {
    if (NodeBuffer === null || buf.length > VIEW_SOURCE_MAX) return buf.subarray(start, end);
    viewSource = buf;
    viewBacking = buf.buffer;
    viewBase = buf.byteOffset;
  }
  return new NodeBuffer!(viewBacking!, viewBase + start, end - start);
}

/** The digits of INT64_MAX, and of INT64_MIN's magnitude (one more). */
export const INT64_MAX_DIGITS = Buffer.from('9223372036854775807', 'latin1');
export const INT64_MIN_DIGITS = Buffer.from('9223372036854775808', 'latin1');

/**
 * Are bytes [start, end) one or more decimal digits whose value is at most `max` (a digit
 * string without leading zeros)? Compares digit strings so that 64-bit limits need no BigInt.
 */
export function digitsAtMost(buf: Buffer, start: number, end: number, max: Uint8Array): boolean {
  if (start >= end) return false;
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c < 48 || c > 57) return false;
  }
  let s = start;
  while (s < end - 1 && buf[s] === 48) s++;
  const n = end - s;
  if (n !== max.length) return n < max.length;
  for (let i = 0; i < n; i++) {
    const a = buf[s + i]!;
    const b = max[i]!;
    if (a !== b) return a < b;
  }
  return true;
}
