// The twelve key hash functions a pool can configure with `hash:`, bit-exact with twemproxy's
// hashkit (nc_hashkit.h: hash_one_at_a_time, hash_md5, hash_crc16, hash_crc32, ... hash_jenkins).
import * as crypto from 'node:crypto';
import type { HashName } from './names.js';

/** uint32 hash of bytes [start, end) of buf. */
export type HashFunction = (buf: Buffer, start: number, end: number) => number;

// Everything below keeps state in int32 registers (`| 0`, Math.imul) and only converts to uint32
// on return: C's uint32 arithmetic is arithmetic mod 2^32, which int32 bit patterns reproduce.
// Right shifts of C uint32 values are logical, hence `>>>` everywhere.
//
// Several twemproxy functions read key bytes through a (signed on x86-64) `char`, so a byte >= 0x80
// enters the arithmetic sign-extended; `(b << 24) >> 24` is that sign extension.

function oneAtATime(buf: Buffer, start: number, end: number): number {
  let h = 0;
  for (let i = start; i < end; i++) {
    h = (h + ((buf[i]! << 24) >> 24)) | 0;
    h = (h + (h << 10)) | 0;
    h ^= h >>> 6;
  }
  h = (h + (h << 3)) | 0;
  h ^= h >>> 11;
  h = (h + (h << 15)) | 0;
  return h >>> 0;
}

/** MD5 digest of `data`; the one-shot crypto.hash (Node >= 20.12) is about twice as fast. */
export const md5Digest: (data: Uint8Array) => Buffer =
  typeof crypto.hash === 'function'
    ? (data) => crypto.hash('md5', data, 'buffer')
    : (data) => crypto.createHash('md5').update(data).digest();

function md5(buf: Buffer, start: number, end: number): number {
  return md5Digest(buf.subarray(start, end)).readUInt32LE(0);
}

/** CRC-16/XMODEM table (poly 0x1021, MSB first). */
const CRC16_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[i] = crc;
  }
  return table;
})();

function crc16(buf: Buffer, start: number, end: number): number {
  // twemproxy keeps the CRC in a uint32_t and never masks it to 16 bits, so the high bits of the
  // shifted register survive and are part of the result.
  let crc = 0;
  for (let i = start; i < end; i++) crc = (crc << 8) ^ CRC16_TABLE[((crc >>> 8) ^ buf[i]!) & 0xff]!;
  return crc >>> 0;
}

/** Reflected CRC-32 table (IEEE 802.3, poly 0xEDB88320), as used by zlib. */
const CRC32_TABLE = (() => {
  const table = new Int32Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
    table[i] = crc;
  }
  return table;
})();

function crc32a(buf: Buffer, start: number, end: number): number {
  let crc = -1;
  for (let i = start; i < end; i++) crc = CRC32_TABLE[(crc ^ buf[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

/** libmemcached's variant: 15 bits taken from the top half of the standard CRC-32. */
function crc32(buf: Buffer, start: number, end: number): number {
  return (crc32a(buf, start, end) >>> 16) & 0x7fff;
}

// FNV 64-bit variants: the low 32 bits of a 64-bit product depend only on the low 32 bits of its
// factors, and twemproxy returns the low 32 bits, so 32-bit arithmetic with the low halves of the
// 64-bit offset basis (0x84222325) and prime (0x1b3) is exact.
const FNV_64_INIT_LOW = 0x84222325 | 0;
const FNV_64_PRIME_LOW = 0x1b3;
const FNV_32_INIT = 0x811c9dc5 | 0;
const FNV_32_PRIME = 0x01000193;

function fnv1_64(buf: Buffer, start: number, end: number): number {
  let h = FNV_64_INIT_LOW;
  for (let i = start; i < end; i++) h = Math.imul(h, FNV_64_PRIME_LOW) ^ ((buf[i]! << 24) >> 24);
  return h >>> 0;
}

function fnv1a_64(buf: Buffer, start: number, end: number): number {
  let h = FNV_64_INIT_LOW;
  for (let i = start; i < end; i++) h = Math.imul(h ^ ((buf[i]! << 24) >> 24), FNV_64_PRIME_LOW);
  return h >>> 0;
}

function fnv1_32(buf: Buffer, start: number, end: number): number {
  let h = FNV_32_INIT;
  for (let i = start; i < end; i++) h = Math.imul(h, FNV_32_PRIME) ^ ((buf[i]! << 24) >> 24);
  return h >>> 0;
}

function fnv1a_32(buf: Buffer, start: number, end: number): number {
  let h = FNV_32_INIT;
  for (let i = start; i < end; i++) h = Math.imul(h ^ ((buf[i]! << 24) >> 24), FNV_32_PRIME);
  return h >>> 0;
}

/** Paul Hsieh's SuperFastHash, started from 0 rather than the length (twemproxy's choice). */
function hsieh(buf: Buffer, start: number, end: number): number {
  const len = end - start;
  if (len <= 0) return 0;
  let h = 0;
  let p = start;
  const blocksEnd = start + (len & ~3);
  for (; p < blocksEnd; p += 4) {
    h = (h + (buf[p]! | (buf[p + 1]! << 8))) | 0;
    const tmp = ((buf[p + 2]! | (buf[p + 3]! << 8)) << 11) ^ h;
    h = (h << 16) ^ tmp;
    h = (h + (h >>> 11)) | 0;
  }
  switch (len & 3) {
    case 3:
      h = (h + (buf[p]! | (buf[p + 1]! << 8))) | 0;
      h ^= h << 16;
      // The third tail byte is read through a signed char.
      h ^= ((buf[p + 2]! << 24) >> 24) << 18;
      h = (h + (h >>> 11)) | 0;
      break;
    case 2:
      h = (h + (buf[p]! | (buf[p + 1]! << 8))) | 0;
      h ^= h << 11;
      h = (h + (h >>> 17)) | 0;
      break;
    case 1:
      h = (h + buf[p]!) | 0;
      h ^= h << 10;
      h = (h + (h >>> 1)) | 0;
      break;
  }
  h ^= h << 3;
  h = (h + (h >>> 5)) | 0;
  h ^= h << 4;
  h = (h + (h >>> 17)) | 0;
  h ^= h << 25;
  h = (h + (h >>> 6)) | 0;
  return h >>> 0;
}

const MURMUR_M = 0x5bd1e995;

/** MurmurHash2, 32-bit, with twemproxy's length-dependent seed 0xdeadbeef * len. */
function murmur(buf: Buffer, start: number, end: number): number {
  const len = end - start;
  let h = Math.imul(0xdeadbeef | 0, len) ^ len;
  let p = start;
  const blocksEnd = start + (len & ~3);
  for (; p < blocksEnd; p += 4) {
    let k = buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16) | (buf[p + 3]! << 24);
    k = Math.imul(k, MURMUR_M);
    k ^= k >>> 24;
    k = Math.imul(k, MURMUR_M);
    h = Math.imul(h, MURMUR_M) ^ k;
  }
  const tail = len & 3;
  if (tail !== 0) {
    if (tail === 3) h ^= buf[p + 2]! << 16;
    if (tail >= 2) h ^= buf[p + 1]! << 8;
    h ^= buf[p]!;
    h = Math.imul(h, MURMUR_M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, MURMUR_M);
  h ^= h >>> 15;
  return h >>> 0;
}

const JENKINS_INITVAL = 13;

/** The little-endian 32-bit word at p, with bytes at or past `end` read as zero. */
function le32Padded(buf: Buffer, p: number, end: number): number {
  let w = 0;
  const n = end - p < 4 ? end - p : 4;
  for (let i = 0; i < n; i++) w |= buf[p + i]! << (8 * i);
  return w;
}

/** Bob Jenkins' lookup3 hashlittle(key, len, 13) on a little-endian machine. */
function jenkins(buf: Buffer, start: number, end: number): number {
  let length = end - start;
  let a = (0xdeadbeef + length + JENKINS_INITVAL) | 0;
  let b = a;
  let c = a;
  let p = start;
  // Every full block but the last goes through mix; the last (1..12 bytes, zero-padded) through
  // final. A zero length returns c untouched.
  while (length > 12) {
    a = (a + (buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16) | (buf[p + 3]! << 24))) | 0;
    b = (b + (buf[p + 4]! | (buf[p + 5]! << 8) | (buf[p + 6]! << 16) | (buf[p + 7]! << 24))) | 0;
    c = (c + (buf[p + 8]! | (buf[p + 9]! << 8) | (buf[p + 10]! << 16) | (buf[p + 11]! << 24))) | 0;
    // mix(a, b, c)
    a = (a - c) | 0; a ^= (c << 4) | (c >>> 28); c = (c + b) | 0;
    b = (b - a) | 0; b ^= (a << 6) | (a >>> 26); a = (a + c) | 0;
    c = (c - b) | 0; c ^= (b << 8) | (b >>> 24); b = (b + a) | 0;
    a = (a - c) | 0; a ^= (c << 16) | (c >>> 16); c = (c + b) | 0;
    b = (b - a) | 0; b ^= (a << 19) | (a >>> 13); a = (a + c) | 0;
    c = (c - b) | 0; c ^= (b << 4) | (b >>> 28); b = (b + a) | 0;
    length -= 12;
    p += 12;
  }
  if (length === 0) return c >>> 0;
  a = (a + le32Padded(buf, p, end)) | 0;
  if (length > 4) b = (b + le32Padded(buf, p + 4, end)) | 0;
  if (length > 8) c = (c + le32Padded(buf, p + 8, end)) | 0;
  // final(a, b, c)
  c ^= b; c = (c - ((b << 14) | (b >>> 18))) | 0;
  a ^= c; a = (a - ((c << 11) | (c >>> 21))) | 0;
  b ^= a; b = (b - ((a << 25) | (a >>> 7))) | 0;
  c ^= b; c = (c - ((b << 16) | (b >>> 16))) | 0;
  a ^= c; a = (a - ((c << 4) | (c >>> 28))) | 0;
  b ^= a; b = (b - ((a << 14) | (a >>> 18))) | 0;
  c ^= b; c = (c - ((b << 24) | (b >>> 8))) | 0;
  return c >>> 0;
}

const HASH_FUNCTIONS: Readonly<Record<HashName, HashFunction>> = {
  one_at_a_time: oneAtATime,
  md5,
  crc16,
  crc32,
  crc32a,
  fnv1_64,
  fnv1a_64,
  fnv1_32,
  fnv1a_32,
  hsieh,
  murmur,
  jenkins,
};

export function hashFunction(name: HashName): HashFunction {
  return HASH_FUNCTIONS[name];
}
