/**
 * Copying and comparing short byte ranges. Buffer#copy and Buffer#compare check their
 * arguments and cross into C++ on every call: ~45-75 ns whatever the length. A JS loop moves
 * about a byte per ns, so below SHORT_BYTES the loop wins; keys, small replies and protocol
 * headers are mostly that short (measured on Node 20).
 */
export const SHORT_BYTES = 40;

/** Copy src[start, end) into dst at `at`; returns the number of bytes copied. */
export function copyBytes(src: Buffer, start: number, end: number, dst: Buffer, at: number): number {
  const n = end - start;
  if (n >= SHORT_BYTES) return src.copy(dst, at, start, end);
  for (let i = 0; i < n; i++) dst[at + i] = src[start + i]!;
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
