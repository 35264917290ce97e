/**
 * The memcache ASCII command table and the field validators the request parser uses.
 * Mirrors the command switch of twemproxy's nc_memcache.c memcache_parse_req (MSG_REQ_MC_*).
 */
import { digitsAtMost, INT64_MAX_DIGITS, INT64_MIN_DIGITS } from '../../util/bytes.js';

/** Msg.cmd values for memcache requests. */
export const MC_UNKNOWN = 0;
export const MC_GET = 1;
export const MC_GETS = 2;
export const MC_GAT = 3;
export const MC_GATS = 4;
export const MC_SET = 5;
export const MC_ADD = 6;
export const MC_REPLACE = 7;
export const MC_APPEND = 8;
export const MC_PREPEND = 9;
export const MC_CAS = 10;
export const MC_INCR = 11;
export const MC_DECR = 12;
export const MC_TOUCH = 13;
export const MC_DELETE = 14;
export const MC_VERSION = 15;
export const MC_QUIT = 16;
/** A real memcached command a proxy cannot forward (flush_all, stats, meta commands ...). */
export const MC_UNSUPPORTED = 17;
/** Meta set (`ms <key> <datalen> <flags>*`): unsupported, but it carries a data block to skip. */
export const MC_META_SET = 18;

/** Longest key memcached accepts (KEY_MAX_LENGTH); twemproxy uses the same limit. */
export const MC_KEY_MAX = 250;

/**
 * Commands memcached 1.6 knows but a proxy cannot serve: they address one server's whole state
 * (flush_all, stats ...) or use the meta protocol, whose quiet mode and opaque tokens we do not
 * track. Answered locally with CLIENT_ERROR instead of memcached's `ERROR` for unknown commands.
 */
const UNSUPPORTED_NAMES: readonly string[] = [
  'flush_all', 'stats', 'verbosity', 'shutdown', 'slabs', 'lru_crawler', 'lru', 'watch',
  'cache_memlimit', 'misbehave', 'extstore', 'debugtime', 'refresh_certs',
  'mg', 'md', 'ma', 'mn', 'me',
];

interface Entry {
  readonly name: Uint8Array;
  readonly cmd: number;
}

/** Candidates grouped by name length, so a lookup compares at most a handful of names. */
const BY_LENGTH: Entry[][] = [];

function addEntry(name: string, cmd: number): void {
  const bucket = (BY_LENGTH[name.length] ??= []);
  bucket.push({ name: Buffer.from(name, 'latin1'), cmd });
}

// Hot commands first in their buckets.
for (const [name, cmd] of [
  ['get', MC_GET], ['set', MC_SET], ['gets', MC_GETS], ['delete', MC_DELETE], ['gat', MC_GAT],
  ['gats', MC_GATS], ['add', MC_ADD], ['replace', MC_REPLACE], ['append', MC_APPEND],
  ['prepend', MC_PREPEND], ['cas', MC_CAS], ['incr', MC_INCR], ['decr', MC_DECR],
  ['touch', MC_TOUCH], ['version', MC_VERSION], ['quit', MC_QUIT], ['ms', MC_META_SET],
] as const) {
  addEntry(name, cmd);
}
for (const name of UNSUPPORTED_NAMES) addEntry(name, MC_UNSUPPORTED);

/**
 * The command whose (case-sensitive, as in memcached 1.6) name is bytes [start, end) of buf;
 * MC_UNKNOWN when there is none.
 */
export function mcLookupCommand(buf: Buffer, start: number, end: number): number {
  const bucket = BY_LENGTH[end - start];
  if (bucket === undefined) return MC_UNKNOWN;
  for (let e = 0; e < bucket.length; e++) {
    const entry = bucket[e]!;
    const name = entry.name;
    let i = 0;
    while (i < name.length && name[i] === buf[start + i]) i++;
    if (i === name.length) return entry.cmd;
  }
  return MC_UNKNOWN;
}

const NOREPLY = Buffer.from('noreply', 'latin1');

/** Is token [start, end) exactly `noreply`? */
export function mcIsNoreply(buf: Buffer, start: number, end: number): boolean {
  if (end - start !== 7) return false;
  for (let i = 0; i < 7; i++) if (buf[start + i] !== NOREPLY[i]) return false;
  return true;
}

const CH_0 = 48;
const CH_9 = 57;
const CH_PLUS = 43;
const CH_MINUS = 45;

const U32_MAX = Buffer.from('4294967295', 'latin1');
const U64_MAX = Buffer.from('18446744073709551615', 'latin1');

/** Unsigned 32-bit decimal, optional `+` (memcached's safe_strtoul): storage `<flags>`. */
export function mcValidU32(buf: Buffer, start: number, end: number): boolean {
  if (start < end && buf[start] === CH_PLUS) start++;
  return digitsAtMost(buf, start, end, U32_MAX);
}

/** Unsigned 64-bit decimal, optional `+` (safe_strtoull): incr/decr `<value>`, `<cas unique>`. */
export function mcValidU64(buf: Buffer, start: number, end: number): boolean {
  if (start < end && buf[start] === CH_PLUS) start++;
  return digitsAtMost(buf, start, end, U64_MAX);
}

/**
 * Signed decimal with optional sign (safe_strtol): `<exptime>`. memcached accepts a negative
 * exptime (the item expires at once), so do we; twemproxy rejects it.
 */
export function mcValidExptime(buf: Buffer, start: number, end: number): boolean {
  const negative = start < end && buf[start] === CH_MINUS;
  if (negative || (start < end && buf[start] === CH_PLUS)) start++;
  return digitsAtMost(buf, start, end, negative ? INT64_MIN_DIGITS : INT64_MAX_DIGITS);
}

/** memcached rejects `<bytes>` above INT_MAX - 2 (the data block plus its CR LF must fit). */
export const MC_MAX_DATA_LENGTH = 2147483645;

/**
 * The storage `<bytes>` value of token [start, end), or -1 when it is not a valid length.
 * A number is built here (not just validated) because the parser must skip that many bytes.
 */
export function mcParseLength(buf: Buffer, start: number, end: number): number {
  if (start < end && buf[start] === CH_PLUS) start++;
  if (start >= end) return -1;
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c < CH_0 || c > CH_9) return -1;
    v = v * 10 + (c - CH_0);
    // Stop before doubles lose integer precision; anything this large is invalid anyway.
    if (v > MC_MAX_DATA_LENGTH) return -1;
  }
  return v;
}
