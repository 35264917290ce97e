/**
 * The fast path shared by the redis request and reply parsers: a whole bulk string
 * `$<n>\r\n<payload>\r\n` lying inside one chunk, scanned in one tight loop. Whenever it says
 * no (split across reads, malformed), the parsers take the bytes through their byte-by-byte
 * states, which also word the errors. (twemproxy has one byte-at-a-time parser: nc_redis.c.)
 */
const LF = 10;
const CR = 13;
const CH_0 = 48;
const CH_9 = 57;

/** The payload of the bulk last accepted by wholeBulk: bytes [start, end) of the chunk. */
export const bulkSpan = { start: 0, end: 0 };

/**
 * Whether a complete, well-formed bulk of at most `maxLen` payload bytes starts at `pos` (the
 * `$`, which the caller has checked); if so, its payload is in bulkSpan and the element ends
 * at bulkSpan.end + 2.
 */
export function wholeBulk(chunk: Buffer, pos: number, maxLen: number): boolean {
  const len = chunk.length;
  let p = pos + 1;
  let n = 0;
  const digitsEnd = Math.min(len, p + 10);
  for (; p < digitsEnd; p++) {
    const d = chunk[p]!;
    if (d < CH_0 || d > CH_9) break;
    n = n * 10 + (d - CH_0);
  }
  if (p === pos + 1 || n > maxLen || p + 1 >= len || chunk[p] !== CR || chunk[p + 1] !== LF) return false;
  if (chunk[pos + 1] === CH_0 && p > pos + 2) return false; // a leading zero: the slow path decides
  const end = p + 2 + n;
  if (end + 1 >= len || chunk[end] !== CR || chunk[end + 1] !== LF) return false;
  bulkSpan.start = p + 2;
  bulkSpan.end = end;
  return true;
}
