/**
 * memcached's reply header `VALUE <key> <flags> <bytes>[ <cas>]\r\n`, read one way for the
 * reply parser, which frames replies with it, and the multi-get merge, which splits the framed
 * replies at it. memcached writes single spaces and plain digits. The grammar is looser than
 * that (more spaces, a `+`, leading zeros, within the ranges memcached takes for the same fields
 * of a `set`), and in two corners stricter than memcached's reading of a `set`: `<bytes>` takes
 * no `+`, and flags no `-0`:
 *
 *   header = "VALUE" 1*SP key 1*SP flags 1*SP bytes [1*SP cas] *SP CR LF
 *   key    = 1 to MC_KEY_MAX bytes other than SP and LF (a CR not followed by LF is a key byte)
 *   flags  = ["+"] 1*DIGIT, at most 2^32 - 1
 *   bytes  = 1*DIGIT, at most MAX_VALUE_BYTES
 *   cas    = ["+"] 1*DIGIT, at most 2^64 - 1
 *
 * Read in one pass from the `V`, without first finding the LF: a Buffer#indexOf call costs
 * more than reading a usual header.
 */
import { MC_KEY_MAX, mcValidU32, mcValidU64 } from './commands.js';

const LF = 10;
const CR = 13;
const SP = 32;
const CH_PLUS = 43;
const CH_0 = 48;
const CH_A = 65;
const CH_E = 69;
const CH_L = 76;
const CH_U = 85;
const CH_V = 86;

/** Largest <bytes> taken: with its CR LF it fits an int32 (memcached's own limit is far below). */
const MAX_VALUE_BYTES = 2147483645;

/** Where the last header read put its key, and its data length. One per reader, reused. */
export class ValueHeader {
  keyStart = 0;
  keyEnd = 0;
  bytes = 0;
}

/**
 * Reads the header at buf[pos]: returns where its data starts (after the header's CR LF) and
 * fills h, or returns -1 when buf from pos does not start with a whole well-formed header. The
 * header's line ends at its first LF, so the bytes after that LF never change the answer. No
 * caller needs to know why not: the reply parser words its errors from the line, and the merge
 * answers Invalid argument whatever the fault.
 */
export function readValueHeader(buf: Buffer, pos: number, h: ValueHeader): number {
  const len = buf.length;
  if (
    pos + 6 > len || buf[pos] !== CH_V || buf[pos + 1] !== CH_A || buf[pos + 2] !== CH_L ||
    buf[pos + 3] !== CH_U || buf[pos + 4] !== CH_E || buf[pos + 5] !== SP
  ) {
    return -1;
  }
  let i = pos + 6;
  if (i < len && buf[i] === SP) i = spacesEnd(buf, i, len);
  const ks = i;
  const keyLimit = Math.min(len, ks + MC_KEY_MAX + 1);
  for (; i < keyLimit; i++) {
    const c = buf[i]!;
    if (c === SP) break;
    // A CR is read as a key byte: one that ends the line is followed by its LF, which fails.
    if (c === LF) return -1;
  }
  if (i === ks || i === keyLimit) return -1;
  h.keyStart = ks;
  h.keyEnd = i;
  return readValueFields(buf, i, h);
}

/**
 * readValueHeader from the space that ends the key, buf[at], for a caller that has matched the
 * key itself (the merge, against the key it asked for): fills h.bytes only.
 */
export function readValueFields(buf: Buffer, at: number, h: ValueHeader): number {
  const len = buf.length;
  // memcached writes single spaces: more are skipped in a loop only when there are more (a
  // loop costs more than a test, and this runs once per value of every get).
  let i = at + 1;
  if (i < len && buf[i] === SP) i = spacesEnd(buf, i, len);
  // <flags>: up to 9 digits always fit 32 bits; a longer field (leading zeros) is compared.
  const fs = i;
  let fd = i;
  i = digitsEnd(buf, i, len);
  if (i === fd && i < len && buf[i] === CH_PLUS) i = digitsEnd(buf, ++fd, len);
  if (i === fd || i >= len || buf[i] !== SP || (i - fd > 9 && !mcValidU32(buf, fs, i))) return -1;
  i++;
  if (i < len && buf[i] === SP) i = spacesEnd(buf, i, len);
  // <bytes>
  const bs = i;
  let bytes = 0;
  while (i < len) {
    const d = buf[i]! - CH_0;
    if (d < 0 || d > 9) break;
    bytes = bytes * 10 + d;
    i++;
  }
  if (i === bs || bytes > MAX_VALUE_BYTES) return -1;
  if (i < len && buf[i] === SP) i = casEnd(buf, i, len);
  if (i < 0 || i + 1 >= len || buf[i] !== CR || buf[i + 1] !== LF) return -1;
  h.bytes = bytes;
  return i + 2;
}

/**
 * For a header line whose LF has not arrived: the position of the first byte of buf[pos, end)
 * (which starts `VALUE `) that no header of the grammar can have there, or -1 while every byte
 * so far fits one. Only the shape is judged, not the ranges of the numbers: this decides early
 * what readValueHeader would refuse anyway, and a byte's verdict depends on the bytes before
 * it only, so it is the same however the line was cut into reads. buf[pos, end) holds no LF.
 */
export function valueHeaderBadByte(buf: Buffer, pos: number, end: number): number {
  const ks = spacesEnd(buf, pos + 6, end);
  const keyLimit = Math.min(end, ks + MC_KEY_MAX + 1);
  let i = ks;
  while (i < keyLimit && buf[i] !== SP) i++;
  if (i === keyLimit) return i - ks > MC_KEY_MAX ? i - 1 : -1;
  // <flags>, then <bytes>: a number (flags may start with +), at least one space after flags.
  for (let field = 0; field < 2; field++) {
    i = spacesEnd(buf, i, end);
    if (field === 0 && i < end && buf[i] === CH_PLUS) i++;
    const ds = i;
    i = digitsEnd(buf, i, end);
    if (i === end) return -1;
    if (i === ds || (field === 0 && buf[i] !== SP)) return i;
  }
  // After <bytes>: spaces, an optional [+]cas and spaces, then CR LF.
  if (buf[i] === SP) {
    i = spacesEnd(buf, i, end);
    if (i < end && buf[i] !== CR) {
      if (buf[i] === CH_PLUS) i++;
      const ds = i;
      i = digitsEnd(buf, i, end);
      if (i < end && i === ds) return i;
      i = spacesEnd(buf, i, end);
    }
  }
  if (i === end) return -1;
  if (buf[i] !== CR) return i;
  return i + 1 < end ? i + 1 : -1; // the byte after the CR is not the LF
}

/**
 * The end of the data block of `bytes` bytes that starts at buf[dataStart] (after its CR LF),
 * when all of it and a CR LF are in buf; else -1.
 */
export function valueDataEnd(buf: Buffer, dataStart: number, bytes: number): number {
  const end = dataStart + bytes + 2;
  return end <= buf.length && buf[end - 2] === CR && buf[end - 1] === LF ? end : -1;
}

/**
 * After <bytes>, from the space at buf[i]: the position after `*SP [<cas> *SP]`, or -1 for a
 * bad cas. Apart so that readValueFields stays small enough for V8 to inline into its callers.
 */
function casEnd(buf: Buffer, i: number, len: number): number {
  i = spacesEnd(buf, i, len);
  if (i >= len || buf[i] === CR) return i;
  // Up to 19 digits always fit 64 bits.
  const cs = i;
  let cd = i;
  i = digitsEnd(buf, i, len);
  if (i === cd && i < len && buf[i] === CH_PLUS) i = digitsEnd(buf, ++cd, len);
  if (i === cd || (i - cd > 19 && !mcValidU64(buf, cs, i))) return -1;
  return spacesEnd(buf, i, len);
}

/** The position of the first byte at or after i (before len) that is not a digit. */
function digitsEnd(buf: Buffer, i: number, len: number): number {
  while (i < len) {
    const d = buf[i]! - CH_0;
    if (d < 0 || d > 9) break;
    i++;
  }
  return i;
}

/** The position of the first byte at or after i (before len) that is not a space. */
function spacesEnd(buf: Buffer, i: number, len: number): number {
  while (i < len && buf[i] === SP) i++;
  return i;
}
