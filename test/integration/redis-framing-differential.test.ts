// Property test: Walnut and redis-server agree on the framing of every request Walnut forwards.
// Walnut forwards requests to a redis-server over a connection that many clients share and
// matches replies to requests in order: a request redis-server frames differently (a length
// it refuses, bytes it reads as more or fewer requests, an argument that ends elsewhere)
// breaks that connection (redis-server closes it on a protocol error) or hands every later
// reply on it to the wrong request, another client's. Well-formed requests (RESP arrays of
// single-key, multi-key, EVAL, proxy-answered and unsupported commands, inline commands,
// pipelines of two or three of them, a 70,000-byte value, thousands of arguments), mutated by
// one to three edits with bytes and tokens that matter to RESP framing, each followed by a
// well-formed SENTINEL request, go on fresh connections to one redis-server directly and
// through Walnut to others; the bytes to Walnut are sometimes cut in pieces, and in one case in
// ten the connection to Walnut is closed a few milliseconds after the last byte, replies or
// not. Each case must pass three checks:
//
// 1. The shared server connections are still in step: ANOTHER client's requests through Walnut
//    (one key on each server), sent while the case runs and again after it, get their own
//    replies.
// 2. Walnut did not drop a server connection during the case (stats: server_err, server_eof,
//    server_timedout unchanged): a reply to nothing, one it cannot frame, or redis-server
//    closing the connection over a protocol error all show there.
// 3. The client gets the replies redis-server sends to the same bytes, error texts aside
//    (Walnut words some errors itself), reply for reply, with these allowances:
//    - Walnut's protocol error (`-ERR Protocol error: ...`, then the connection closes) may
//      stand for any reply of redis-server and ends the comparison: Walnut refuses what
//      redis-server reads loosely (the two bytes after a bulk or after a count's CR, which
//      redis-server skips unseen; a count of `*-N` past 2^31; an inline line over 64 KiB that
//      redis-server still takes when its LF arrives in time; a NUL in a line, where
//      redis-server stalls). Refusing the rest of the stream is safe: none of it reaches a
//      server connection.
//    - Any other error reply of Walnut (an unsupported or unknown command, a wrong number of
//      arguments, EVAL without keys, HELLO 3) may stand for any single reply of redis-server.
//      When redis-server's was not an error, what it ran may have changed what later requests
//      of the same stream see (SELECT 5, HELLO 3 switching to RESP3, MSETNX), so from there on
//      only the number of replies is compared. Errors that report a failed server connection
//      (`-ERR Connection reset by peer`, `-ERR Invalid argument`, ...) are failures.
//    - Commands Walnut answers itself (README "Differences from twemproxy"): its INFO reply
//      for any bulk of redis-server's, its HELLO reply for any array, and its `+OK` to SELECT
//      of a database it reads as 0 (`SELECT 00`, which redis-server refuses).
//    Nothing may follow the reply to the sentinel, the last request. (Not for a case whose
//    connection was closed early: it has no replies to compare.)
//
// Two properties. The first puts Walnut in front of a pool of ONE redis-server, so its reply
// stream can be compared byte for byte with a second redis-server's, sent the same bytes
// directly; multi-key requests then go through unsplit. The second puts it in front of a pool
// of three, where MGET, DEL, EXISTS, TOUCH, UNLINK and MSET are split over the servers and
// their replies merged: the same three checks apply (the keys of one command are independent,
// so a single redis-server answers them as the pool must; EVAL scripts here read no key but
// their first), and checks 1 and 2 watch every one of the three server connections.
//
// State: every redis-server is emptied (FLUSHALL) and the sentinel keys set again before every
// case, so a key set by one case, or a request Walnut refused and redis-server ran, cannot
// carry over.
//
// REDIS_FUZZ_SEED and REDIS_FUZZ_RUNS override fast-check's seed and the number of cases of
// the first property (the second runs half as many, or REDIS_FUZZ_SPLIT_RUNS);
// REDIS_FUZZ_VERBOSE prints how many cases were refused, waited or run again; REDIS_FUZZ_DEBUG
// names a file to which every case is appended as a line of JSON (input, both exchanges, verdict).
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { freePort, startRedis, startWalnut, type Running, type RunningProxy } from '../../scripts/lib/processes.js';
import { exchangeCut, requestUntil, type Exchange } from './support/request-until.js';
import { serverStat, type Stats } from './support/stats.js';

/**
 * How long a stream that neither completed (its sentinel answered) nor closed is given after
 * its last byte (or its last reply): a request redis-server or Walnut is still waiting on (a
 * bulk longer than what was sent). Short, because many cases end that way; a case that fails
 * with a stream cut off by it is run again with RETRY_QUIET_MS, so a slow machine costs time,
 * not a false failure.
 */
const QUIET_MS = 60;
const RETRY_QUIET_MS = 2_000;
/** The other client's requests: always answered at once unless a connection is out of step. */
const CROSS_TIMEOUT_MS = 3_000;

/** A RESP array request of `args`. */
const resp = (...args: string[]): string => `*${args.length}\r\n${args.map((a) => `$${a.length}\r\n${a}\r\n`).join('')}`;

/** Forwarded to the server too, so a misframed request before it shows in its reply. */
const SENTINEL_VALUE = 'S3ntinel-v4lue';
const SENTINEL = resp('GET', 'sentinel');
const SENTINEL_REPLY = `$${SENTINEL_VALUE.length}\r\n${SENTINEL_VALUE}\r\n`;
/**
 * Another client's requests through Walnut after each case: one key on each server of the
 * pool of three (crc32a, ketama; checked in before()), set only on Walnut's servers. Their
 * names are several edits away from every key of the cases: with `x0`..`x2`, an edit writing
 * `x` over the `k` of `UNLINK k1 k2 …` made the case delete a cross key through Walnut (`:1`,
 * where the direct server, without it, said `:0`), which failed the test for no fault of Walnut's.
 */
const CROSS_KEYS = ['cross:0', 'cross:1', 'cross:2'];
const CROSS = CROSS_KEYS.map((k) => resp('GET', k)).join('');
const CROSS_REPLY = CROSS_KEYS.map((k) => `$${k.length + 6}\r\n${k}-other\r\n`).join('');
const RESET_DIRECT = resp('FLUSHALL') + resp('SET', 'sentinel', SENTINEL_VALUE);
const RESET_BACKEND = RESET_DIRECT + CROSS_KEYS.map((k) => resp('SET', k, `${k}-other`)).join('');
const RESET_DIRECT_REPLY = '+OK\r\n'.repeat(2);
const RESET_BACKEND_REPLY = '+OK\r\n'.repeat(2 + CROSS_KEYS.length);

/** A value large enough to take a server's reply past Walnut's 32 KiB streaming threshold. */
const BIG = 'v'.repeat(70_000);
const EVAL_GET = "return redis.call('GET', KEYS[1])";
/** Nested arrays, a status and a nil among the elements: more of the reply parser's paths. */
const EVAL_KEYS = "return {KEYS[1], {KEYS[2], ARGV[1], 7, false}, redis.status_reply('fine')}";

/**
 * Well-formed requests to mutate. Some store first so that the mutated request after them
 * finds a value.
 */
const SINGLE: readonly string[] = [
  resp('GET', 'k'),
  resp('SET', 'k', 'hello'),
  resp('SET', 'k', 'hello', 'EX', '100', 'NX'),
  resp('SET', 'n', '1000') + resp('INCRBY', 'n', '25'),
  resp('HSET', 'h', 'f1', 'v1', 'f2', 'v2', 'f3', 'v3'),
  resp('LPUSH', 'l', 'a', 'bb', 'ccc'),
  resp('SET', 'k', 'x') + resp('EXPIRE', 'k', '100'),
  // multi-key: split over the servers of a pool of several
  resp('MGET', 'k1'),
  resp('SET', 'k2', 'two') + resp('MGET', 'k1', 'k2', 'k3'),
  resp('DEL', 'k1', 'k2', 'k3', 'k4', 'k5'),
  resp('SET', 'k1', 'one') + resp('EXISTS', 'k1', 'k2'),
  resp('EXISTS', 'k1'),
  resp('MSET', 'k1', 'v1'),
  resp('MSET', 'k1', 'v1', 'k2', 'v2', 'k3', 'v3'),
  resp('TOUCH', 'k1', 'k2', 'k3', 'k4'),
  resp('UNLINK', 'k1', 'k2', 'k3', 'k4', 'k5'),
  resp('MSET', 'k1', 'v1', 'k3', 'v3') + resp('MGET', 'k1', 'k2', 'k3', 'k4', 'k5'),
  // values that look like RESP, an empty one, keys repeated and interleaved over the servers
  resp('MSET', 'k1', '', 'k2', 'a\r\n$1\r\nb', 'k3', '*2\r\n:1\r\n') + resp('MGET', 'k1', 'k2', 'k3', 'k4', 'k5', 'k2', 'k1'),
  resp('MSET', 'k1', 'a', 'k2', 'b', 'k1', 'c') +
    resp('DEL', 'k1', 'k1', 'k2', 'k4') +
    resp('EXISTS', 'k3', 'k1', 'k3', 'k2', 'k3'),
  // EVAL with 0, 1 and 2 keys (Walnut refuses 0: a keyless script has no server)
  resp('EVAL', 'return 1', '0'),
  resp('SET', 'k', 'e') + resp('EVAL', EVAL_GET, '1', 'k'),
  resp('EVAL', EVAL_KEYS, '2', 'k1', 'k2', 'arg'),
  // answered by Walnut itself
  resp('PING'),
  resp('PING', 'hello'),
  resp('ECHO', 'hello'),
  resp('SELECT', '0'),
  resp('HELLO', '2'),
  resp('CLIENT', 'SETNAME', 'fuzzer'),
  resp('INFO'),
  resp('QUIT'),
  // unsupported by the proxy
  resp('KEYS', '*'),
  // inline commands
  'GET k\r\n',
  'SET k "a b"\r\nGET k\r\n',
  "MSET k1 'x y' k2 \"\\x41\\n\"\r\nMGET k1 k2\r\n",
  'PING\r\n',
];

/** Keys k0 ... k(n-1). */
const manyKeys = (n: number): string[] => Array.from({ length: n }, (_, i) => `k${i}`);

/**
 * Requests with a 70,000-byte value (big1 and k1 live on different servers of the three), and
 * requests of thousands of arguments (past the 4,096 after which Walnut's parser gives back
 * its offset arrays; a few tens of KiB, so they come in several reads).
 */
const LARGE: readonly string[] = [
  resp('SET', 'big', BIG) + resp('GET', 'big'),
  resp('MSET', 'big1', BIG, 'k1', 'one') + resp('MGET', 'big1', 'k1', 'big1') + resp('MGET', 'big1', 'big1'),
  resp('MSET', ...manyKeys(2_100).flatMap((k) => [k, 'v'])) + resp('MGET', ...manyKeys(4_200)),
  resp('DEL', ...manyKeys(4_100)),
  `EXISTS ${manyKeys(1_000).join(' ')}\r\n`,
];

/** All of them, by index (fast-check prints the indices of a counterexample, not 70,000 bytes). */
const BASES: readonly string[] = [...SINGLE, ...LARGE];
const singleIndex = fc.nat(SINGLE.length - 1);
const largeIndex = fc.integer({ min: SINGLE.length, max: BASES.length - 1 });
const anyIndex = fc.oneof({ arbitrary: singleIndex, weight: 9 }, { arbitrary: largeIndex, weight: 1 });

/** A base request: one of the above, or a pipeline of two or three. */
const base: fc.Arbitrary<number[]> = fc.oneof(
  { arbitrary: singleIndex.map((i) => [i]), weight: 6 },
  { arbitrary: largeIndex.map((i) => [i]), weight: 1 },
  { arbitrary: fc.array(anyIndex, { minLength: 2, maxLength: 3 }), weight: 3 },
);

/** Stands for 66,000 bytes of `x` (an inline line over 64 KiB) in an edit: see expand(). */
const LONG_LINE = '<66000 x>';
const expand = (piece: string): string => (piece === LONG_LINE ? 'x'.repeat(66_000) : piece);

/**
 * What an edit writes: first the bytes that end or start lines and elements (CR, LF, CR LF,
 * NUL, type markers, signs, space, tab) and digits; then quotes and escapes (inline commands)
 * and other bytes; whole tokens (counts at and past 2^31, 2^32, 2^63, 2^64 and Redis's
 * 512 MiB bulk limit, `0` prefixes, long digit runs, elements and requests of their own, an
 * inline line over 64 KiB); and any byte at all.
 */
const SEPARATORS: readonly string[] = [
  '\r', '\n', '\r\n', '\0', ' ', '\t', '*', '$', '-', '+', ':', '0', '1', '2', '3', '5', '9',
];
const BYTES: readonly string[] = [
  '"', "'", '\\', 'x', 'a', 'k', '_', '%', '#', '\x0b', '\x0c', '\x7f', '\x80', '\xff',
];
const TOKENS: readonly string[] = [
  '-1', '-0', '00', '01', '+1', '10',
  '2147483647', '2147483648', '-2147483648', '-2147483649', '4294967296',
  '9223372036854775807', '9223372036854775808', '-9223372036854775808', '18446744073709551616',
  '536870912', '536870913', '65536',
  '9'.repeat(30), '0'.repeat(100), '1'.repeat(19),
  '\r\n\r\n', ' \r\n', '*0\r\n', '*-1\r\n', '$-1\r\n', '$0\r\n\r\n', '$1\r\nx\r\n', '*1\r\n$4\r\nPING\r\n',
  'PING\r\n', '\\x41', '\\"', '""', "''", '"a b"', ' "', '\r\n$3\r\n',
  LONG_LINE,
];

const piece = fc.oneof(
  { arbitrary: fc.constantFrom(...SEPARATORS), weight: 4 },
  { arbitrary: fc.constantFrom(...BYTES), weight: 2 },
  { arbitrary: fc.constantFrom(...TOKENS), weight: 2 },
  { arbitrary: fc.integer({ min: 0, max: 255 }).map((b) => String.fromCharCode(b)), weight: 1 },
);

/**
 * What a number edit puts in place of a number (a count, a length, an argument such as EX's,
 * INCRBY's or EVAL's numkeys): one near it, a `0` prefix, a sign, a space, nothing, or a value
 * at or past a limit.
 */
const NUMBER_EDITS: readonly ((n: string) => string)[] = [
  (n) => String(Number(n) + 1),
  (n) => String(Number(n) - 1),
  (n) => String(Number(n) + 2),
  (n) => String(Math.max(0, Number(n) - 2)),
  (n) => String(Number(n) * 10),
  (n) => `0${n}`,
  (n) => `-${n}`,
  (n) => `+${n}`,
  (n) => ` ${n}`,
  (n) => `${n} `,
  (n) => `${n}\t`,
  (n) => `${n}\0`,
  (n) => `${n}\n`,
  () => '',
  () => '0',
  () => '00',
  () => '-0',
  () => '-1',
  () => '2147483647',
  () => '2147483648',
  () => '-2147483648',
  () => '4294967296',
  () => '9223372036854775807',
  () => '9223372036854775808',
  () => '-9223372036854775809',
  () => '18446744073709551616',
  () => '536870912',
  () => '536870913',
  () => '9'.repeat(30),
];

/**
 * An edit: a piece written over, inserted before or a byte deleted at a place, or a number
 * replaced by one of NUMBER_EDITS. The place: anywhere (`at` modulo the text's length plus
 * one), or near a byte that frames (`at` modulo their number picks one: a `*`, `$`, CR, LF,
 * quote, space or tab, or the first digit of a count), moved by `shift` (-1, 0, 1): edits of a
 * request with a 70,000-byte value then land on its framing as often as in its value. A
 * number edit's `at` picks one of the text's runs of digits.
 */
type Edit =
  | { how: 'replace' | 'insert' | 'delete'; near: boolean; at: number; shift: number; piece: string }
  | { how: 'number'; at: number; to: number };

const edit: fc.Arbitrary<Edit> = fc.oneof(
  {
    arbitrary: fc.record({
      how: fc.constantFrom('replace' as const, 'insert' as const, 'delete' as const),
      near: fc.boolean(),
      at: fc.nat(1_000_000),
      shift: fc.integer({ min: -1, max: 1 }),
      piece,
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({ how: fc.constant('number' as const), at: fc.nat(1_000_000), to: fc.nat(NUMBER_EDITS.length - 1) }),
    weight: 1,
  },
);

/**
 * Where the bytes sent to Walnut are cut (most cases: nowhere). Walnut parses a request that
 * spans reads on other paths than one that came whole (its fast path takes whole bulks only).
 * redis-server is sent the bytes whole.
 */
const cuts = fc.oneof(
  { arbitrary: fc.constant([]), weight: 2 },
  { arbitrary: fc.array(fc.nat(1_000_000), { minLength: 1, maxLength: 3 }), weight: 1 },
);

/**
 * Most cases read every reply; some close the connection to Walnut 0 to 5 ms after the last
 * byte, with requests still at the server or a reply being passed on (then only checks 1 and
 * 2 apply).
 */
const hangUp = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 9 },
  { arbitrary: fc.integer({ min: 0, max: 5 }), weight: 1 },
);

const FRAMING_BYTES = new Set([...'*$\r\n"\' \t']);

function framingPositions(s: string): number[] {
  const at: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (FRAMING_BYTES.has(c) || (i > 0 && (s[i - 1] === '*' || s[i - 1] === '$') && c >= '0' && c <= '9')) at.push(i);
  }
  return at;
}

function mutate(baseText: string, edits: readonly Edit[]): string {
  let s = baseText;
  for (const e of edits) {
    if (e.how === 'number') {
      const runs = [...s.matchAll(/\d+/g)];
      if (runs.length === 0) continue;
      const run = runs[e.at % runs.length]!;
      s = s.slice(0, run.index) + NUMBER_EDITS[e.to]!(run[0]) + s.slice(run.index + run[0].length);
      continue;
    }
    let at = e.at % (s.length + 1);
    if (e.near) {
      const candidates = framingPositions(s);
      if (candidates.length > 0) at = Math.max(0, Math.min(s.length, candidates[e.at % candidates.length]! + e.shift));
    }
    if (e.how === 'replace') s = s.slice(0, at) + expand(e.piece) + s.slice(at + 1);
    else if (e.how === 'insert') s = s.slice(0, at) + expand(e.piece) + s.slice(at);
    else s = s.slice(0, at) + s.slice(at + 1);
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Replies

/**
 * The complete replies at the start of `text`, and what follows them (an unfinished reply, or
 * bytes that are no reply). RESP3 types are taken too: a client that sent HELLO 3 straight to
 * redis-server gets them.
 */
function parseReplies(text: string): { replies: string[]; rest: string } {
  const replies: string[] = [];
  let pos = 0;
  for (;;) {
    const end = skipReply(text, pos);
    if (end < 0) break;
    replies.push(text.slice(pos, end));
    pos = end;
  }
  return { replies, rest: text.slice(pos) };
}

/** Position after the whole reply at `pos`, or -1 (incomplete, or not a reply). */
function skipReply(text: string, pos: number): number {
  let pending = 1;
  while (pending > 0) {
    if (pos >= text.length) return -1;
    const type = text[pos]!;
    const eol = text.indexOf('\r\n', pos);
    if (eol < 0) return -1;
    const line = text.slice(pos + 1, eol);
    pending--;
    if ('+-:_,#('.includes(type)) {
      pos = eol + 2;
    } else if ('$=!'.includes(type)) {
      const n = Number(line);
      if (!/^-?\d+$/.test(line)) return -1;
      if (n < 0) pos = eol + 2;
      else {
        if (text.length < eol + 2 + n + 2) return -1;
        pos = eol + 2 + n + 2;
      }
    } else if ('*~>%|'.includes(type)) {
      if (!/^-?\d+$/.test(line)) return -1;
      const n = Number(line);
      pos = eol + 2;
      if (n > 0) pending += type === '%' || type === '|' ? 2 * n : n;
      if (type === '|') pending++; // an attribute comes before the reply it describes
    } else {
      return -1;
    }
  }
  return pos;
}

const isError = (r: string): boolean => r.startsWith('-');
/** Walnut refused the rest of the stream (and closes the connection). */
const isProtocolError = (r: string): boolean => r.startsWith('-ERR Protocol error');
/** A reply as compared: errors as one. */
const normal = (r: string): string => (isError(r) ? '-ERR' : r);
/**
 * Errors that report a failed server connection or an unexpected server reply (Walnut's
 * `-ERR <strerror>`, as twemproxy's): `Invalid argument` for a fragment's unexpected reply,
 * `unknown` for a server that closed, and the texts of the transport errors.
 */
const FAILURE_TEXTS = [
  'Invalid argument', 'Connection reset by peer', 'Connection refused', 'Connection timed out', 'Broken pipe',
  'unknown', 'Protocol error', 'Transport endpoint is not connected', 'Software caused connection abort',
  'Input/output error', 'Bad file descriptor', 'Resource temporarily unavailable', 'Cannot allocate memory',
  'No buffer space available', 'Message too long', 'Network is unreachable', 'No route to host', 'Host is down',
];
const FAILURE = new RegExp(`^-ERR (${FAILURE_TEXTS.map((t) => t.replace('/', '\\/')).join('|')})\r\n$`);
const WALNUT_INFO = /^\$\d+\r\n# Server\r\nwalnut_version:/;
const WALNUT_HELLO = /^\*12\r\n\$6\r\nserver\r\n\$6\r\nwalnut\r\n/;

/** A reply of Walnut's own that may differ from redis-server's for the same request. */
function ownAnswer(input: string, w: string, d: string): boolean {
  if (WALNUT_INFO.test(w) && d.startsWith('$')) return true;
  if (WALNUT_HELLO.test(w) && d.startsWith('*')) return true;
  if (w === '+OK\r\n' && isError(d) && /select/i.test(input)) return true;
  return false;
}

// ---------------------------------------------------------------------------------------------
// Exchanges

/** The stream ends with the sentinel's reply, the last one, and nothing after it. */
function sentinelAnswered(text: string): boolean {
  if (!text.endsWith(SENTINEL_REPLY)) return false;
  const p = parseReplies(text);
  return p.rest === '' && p.replies.at(-1) === SENTINEL_REPLY;
}

const exchange = (
  port: number, bytes: Buffer, quietMs: number, cuts: readonly number[] = [], hangUpMs?: number,
): Promise<Exchange> => exchangeCut(port, bytes, { quietMs, cuts, complete: sentinelAnswered, ...(hangUpMs === undefined ? {} : { hangUpMs }) });

/** Sends `req` on a fresh connection; what came back once it ends with `end` (or at timeout). */
const request = (port: number, req: string, end: string, timeoutMs = CROSS_TIMEOUT_MS): Promise<string> =>
  requestUntil(port, req, end, timeoutMs);

// ---------------------------------------------------------------------------------------------
// The verdict

type Verdict = { ok: true; refused: boolean; loose: boolean } | { ok: false; why: string };

function judge(input: string, viaWalnut: Exchange, direct: Exchange): Verdict {
  const { replies: w, rest: wRest } = parseReplies(viaWalnut.text);
  const { replies: d, rest: dRest } = parseReplies(direct.text);
  const failure = w.find((r) => FAILURE.test(r));
  if (failure !== undefined) return { ok: false, why: `Walnut answered ${JSON.stringify(failure)}` };
  if (!viaWalnut.closed && wRest !== '') {
    return { ok: false, why: `Walnut sent bytes that are no reply: ${JSON.stringify(wRest.slice(0, 200))}` };
  }
  // The sentinel is the last request: nothing answers anything after it.
  const sentinelAt = w.indexOf(SENTINEL_REPLY);
  if (sentinelAt >= 0 && (sentinelAt < w.length - 1 || wRest !== '')) {
    return { ok: false, why: 'Walnut sent more after the reply to the sentinel, the last request' };
  }
  const walnutRefusedStream = viaWalnut.closed && w.length > 0 && isProtocolError(w.at(-1)!);
  let refused = false;
  let loose = false;
  const n = Math.min(w.length, d.length);
  for (let i = 0; i < n; i++) {
    const a = w[i]!;
    const b = d[i]!;
    if (normal(a) === normal(b)) continue;
    if (isProtocolError(a) && i === w.length - 1 && walnutRefusedStream) return { ok: true, refused: true, loose };
    if (isError(a)) {
      refused = true;
      if (!isError(b)) loose = true;
      continue;
    }
    if (loose || ownAnswer(input, a, b)) continue;
    return {
      ok: false,
      why: `reply ${i} differs (redis-server ${JSON.stringify(b.slice(0, 300))}, Walnut ${JSON.stringify(a.slice(0, 300))})`,
    };
  }
  if (w.length === d.length) {
    if (!loose && wRest !== dRest && !viaWalnut.closed && !direct.closed) {
      return {
        ok: false,
        why: `unfinished replies differ (redis-server ${JSON.stringify(dRest.slice(0, 200))}, Walnut ${JSON.stringify(wRest.slice(0, 200))})`,
      };
    }
    return { ok: true, refused, loose };
  }
  if (w.length > d.length) {
    // Walnut's protocol error where redis-server waits for more (a NUL before a line's end, a
    // line it has not seen the end of) or closed.
    if (walnutRefusedStream && w.length === d.length + 1) return { ok: true, refused: true, loose };
    return {
      ok: false,
      why:
        `Walnut sent ${w.length} replies, redis-server ${d.length}${direct.closed ? ' and closed' : ''} ` +
        `(Walnut's reply ${d.length}: ${JSON.stringify(w[d.length]!.slice(0, 300))})`,
    };
  }
  // Walnut sent fewer replies: only after refusing the rest of the stream.
  if (walnutRefusedStream) return { ok: true, refused: true, loose };
  return {
    ok: false,
    why:
      `redis-server sent ${d.length} replies, Walnut ${w.length}${viaWalnut.closed ? ' and closed' : ' and waits'} ` +
      `(redis-server's reply ${w.length}: ${JSON.stringify(d[w.length]!.slice(0, 300))})`,
  };
}

// ---------------------------------------------------------------------------------------------

interface Pool {
  name: string;
  port: number;
  servers: string[];
  backends: Running[];
}

describe('redis framing: Walnut and redis-server agree', () => {
  let direct: Running;
  let backends: Running[];
  let walnut: RunningProxy;
  let single: Pool;
  let split: Pool;

  before(async () => {
    backends = await Promise.all([startRedis(), startRedis(), startRedis(), startRedis()]);
    direct = backends.pop()!;
    const [one, two] = [await freePort(), await freePort()];
    single = { name: 'one', port: one, servers: ['r0'], backends: backends.slice(0, 1) };
    split = { name: 'three', port: two, servers: ['r0', 'r1', 'r2'], backends };
    const pool = (p: Pool): string =>
      `${p.name}:\n  listen: 127.0.0.1:${p.port}\n  redis: true\n  hash: crc32a\n  distribution: ketama\n  servers:\n` +
      p.backends.map((b, i) => `    - 127.0.0.1:${b.port}:1 ${p.servers[i]}\n`).join('');
    walnut = await startWalnut(pool(single) + pool(split), { listenPorts: [one, two] });
    // Where the keys live in the pool of three: the cross keys one on each server, the keys of
    // the multi-key requests over several (so that they are split).
    const keys = [...CROSS_KEYS, 'k1', 'k2', 'k3', 'k4', 'k5', 'big1'];
    assert.equal(await request(split.port, `MSET ${keys.map((k) => `${k} 1`).join(' ')}\r\n`, '\r\n'), '+OK\r\n');
    const serverOf = new Map<string, number>();
    for (const [i, b] of backends.entries()) {
      for (const k of keys) if ((await request(b.port, resp('EXISTS', k), '\r\n')) === ':1\r\n') serverOf.set(k, i);
    }
    assert.deepEqual(CROSS_KEYS.map((k) => serverOf.get(k)).sort(), [0, 1, 2], 'one cross key on each server');
    assert.equal(new Set(['k1', 'k2', 'k3', 'k4', 'k5'].map((k) => serverOf.get(k))).size, 3, 'k1..k5 on all three servers');
    assert.notEqual(serverOf.get('big1'), serverOf.get('k1'), 'big1 and k1 on different servers');
  });

  after(async () => {
    await walnut?.stop();
    await Promise.all([direct?.stop(), ...(backends ?? []).map((b) => b.stop())]);
  });

  const reset = async (): Promise<void> => {
    const [a, ...b] = await Promise.all([
      request(direct.port, RESET_DIRECT, RESET_DIRECT_REPLY),
      ...backends.map((s) => request(s.port, RESET_BACKEND, RESET_BACKEND_REPLY)),
    ]);
    assert.equal(a, RESET_DIRECT_REPLY);
    for (const r of b) assert.equal(r, RESET_BACKEND_REPLY);
  };

  /** How often the pool's server connections have failed since Walnut started (see check 2). */
  const serverFailures = async (p: Pool): Promise<number> => {
    const s = (await walnut.stats()) as Stats;
    let sum = 0;
    for (const server of p.servers) {
      for (const name of ['server_err', 'server_eof', 'server_timedout']) sum += serverStat(s, p.name, server, name);
    }
    return sum;
  };

  const property = async (p: Pool, numRuns: number, seedOffset: number): Promise<void> => {
    let cases = 0;
    let refused = 0;
    let loose = 0;
    let retried = 0;
    let waited = 0;
    let failures = await serverFailures(p);
    assert.ok(Number.isFinite(failures), 'the stats name every server of the pool');
    const started = Date.now();
    await fc.assert(
      fc.asyncProperty(base, fc.array(edit, { minLength: 1, maxLength: 3 }), cuts, hangUp, async (b, edits, cutAt, hangUpMs) => {
        const input = mutate(b.map((i) => BASES[i]!).join(''), edits);
        const bytes = Buffer.from(input + SENTINEL, 'latin1');
        const run = async (quietMs: number): Promise<{ w: Exchange; d: Exchange; during: string; cross: string }> => {
          cases++;
          await reset();
          // Another client's requests while the case's are in flight, and after them.
          const [w, d, during] = await Promise.all([
            exchange(p.port, bytes, quietMs, cutAt, hangUpMs),
            hangUpMs === undefined ? exchange(direct.port, bytes, quietMs) : { text: '', closed: false, complete: false },
            request(p.port, CROSS, CROSS_REPLY),
          ]);
          const cross = await request(p.port, CROSS, CROSS_REPLY);
          return { w, d, during, cross };
        };
        const failuresBefore = failures;
        let r = await run(QUIET_MS);
        if (hangUpMs === undefined && ((!r.w.complete && !r.w.closed) || (!r.d.complete && !r.d.closed))) waited++;
        const judged = (): Verdict =>
          hangUpMs === undefined ? judge(input, r.w, r.d) : { ok: true, refused: false, loose: false };
        let verdict = judged();
        const cutShort = (e: Exchange): boolean => !e.complete && !e.closed;
        if (!verdict.ok && (cutShort(r.w) || cutShort(r.d))) {
          retried++;
          if (process.env['REDIS_FUZZ_VERBOSE'] !== undefined) {
            const why = verdict.why.slice(0, 300);
            console.log(`redis framing: run again with the long quiet time: ${why}; input ${JSON.stringify(input.slice(0, 300))}`);
          }
          r = await run(RETRY_QUIET_MS);
          verdict = judged();
        }
        if (process.env['REDIS_FUZZ_DEBUG'] !== undefined) {
          const row = { pool: p.name, input, cuts: cutAt, walnut: r.w, direct: r.d, verdict };
          appendFileSync(process.env['REDIS_FUZZ_DEBUG'], `${JSON.stringify(row)}\n`);
        }
        const show = (t: string): string => JSON.stringify(t.length > 3000 ? `${t.slice(0, 1500)}...${t.slice(-1500)}` : t);
        const cutNote =
          (cutAt.length > 0 ? ` (to Walnut cut at ${JSON.stringify(cutAt)} mod its length)` : '') +
          (hangUpMs === undefined ? '' : ` (closed ${hangUpMs} ms after the last byte)`);
        const what =
          `input ${show(input + SENTINEL)}${cutNote}\n` +
          `  redis-server: ${show(r.d.text)}${r.d.closed ? ' (closed)' : ''}\n` +
          `  Walnut:       ${show(r.w.text)}${r.w.closed ? ' (closed)' : ''}`;
        const other = (when: string, got: string): string =>
          `another client's requests ${when} this case got the wrong replies ${JSON.stringify(got)}: ${what}`;
        assert.equal(r.during, CROSS_REPLY, other('during', r.during));
        assert.equal(r.cross, CROSS_REPLY, other('after', r.cross));
        failures = await serverFailures(p);
        assert.equal(failures, failuresBefore, `Walnut dropped a server connection: ${what}`);
        if (!verdict.ok) assert.fail(`${verdict.why}: ${what}`);
        if (verdict.refused) refused++;
        if (verdict.loose) loose++;
      }),
      {
        includeErrorInReport: true,
        numRuns,
        ...(process.env['REDIS_FUZZ_SEED'] === undefined ? {} : { seed: Number(process.env['REDIS_FUZZ_SEED']) + seedOffset }),
      },
    );
    if (process.env['REDIS_FUZZ_VERBOSE'] !== undefined) {
      console.log(
        `redis framing (pool ${p.name}): ${cases} cases in ${Date.now() - started} ms, ${refused} with a Walnut refusal ` +
          `(${loose} compared by count after it), ${waited} waited for a quiet time, ${retried} run again with the long one`,
      );
    }
    // Most mutations leave requests both sides answer the same way: the comparison ran to the
    // end, it did not only excuse refusals.
    assert.ok(cases - refused >= numRuns / 2, `${cases - refused} of ${cases} cases compared to the end`);
  };

  const runs = Number(process.env['REDIS_FUZZ_RUNS'] ?? 300);
  const splitRuns = Number(process.env['REDIS_FUZZ_SPLIT_RUNS'] ?? Math.ceil(runs / 2));

  test('mutated requests, a pool of one server: connections stay in step, the client gets what redis-server sends', async () => {
    await property(single, runs, 0);
  });

  test('mutated requests, a pool of three servers (multi-key requests split): the same', async () => {
    await property(split, splitRuns, 1);
  });
});
