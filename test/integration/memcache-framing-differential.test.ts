// Property test: Walnut and memcached agree on the framing of every memcache ASCII request
// Walnut forwards. Walnut forwards each request's bytes to a memcached over a connection that
// many clients share and matches replies to requests in order: a request memcached frames
// differently (more or fewer commands, a data block of another length, a line ending
// elsewhere) hands every later reply on that connection to the wrong request, another
// client's. Well-formed requests, mutated by one to three edits with bytes that matter to
// framing, each followed by a well-formed SENTINEL request, go on fresh connections to one
// memcached directly and through Walnut to another (a pool of one server, so the two reply
// streams can be compared byte for byte); the bytes to Walnut are sometimes cut in pieces.
// Each case must pass three checks:
//
// 1. The shared server connection is still in step: afterwards ANOTHER client's request
//    through Walnut gets its own reply (a request memcached read as shorter or longer than
//    Walnut did leaves a reply over, or swallows the next request).
// 2. Walnut did not drop its server connection during the case (stats: server_err,
//    server_eof, server_timedout unchanged): a reply to nothing, or one it cannot frame,
//    closes it.
// 3. The client sees what memcached would have sent it, error texts aside (Walnut words some
//    errors itself), unless Walnut refused something: up to Walnut's first error reply (or
//    its closing the connection) the replies must be the same, and with no refusal they must
//    be the same to the end, the sentinel's reply included; nothing may follow the
//    sentinel's reply. After a refusal they may differ by design (see request-parser.ts):
//    Walnut validates more strictly than memcached (a CR inside a line, a bare LF, a tab or an
//    extra token after a number, a flags or length value memcached truncates), and after a
//    storage line it rejects (with a token count memcached takes for that command) it skips
//    the data block the client sent (memcached runs that block as commands), so later
//    requests of the same client can be framed otherwise than by memcached: the client had
//    already broken the protocol, and none of it reaches
//    the server connection, which checks 1 and 2 watch. A refused request with `noreply` is
//    refused silently, so when the input holds a `noreply` token a divergence is taken as such
//    a refusal. A SERVER_ERROR from Walnut (a failed server connection) is a failure.
//    Two habits of memcached 1.6.18 itself are allowed for: while it waits for the rest of a
//    data block it holds back the replies it owes for the requests before it, and a
//    retrieval line with a key over 250 bytes drops the replies it still held.
//
// State: each memcached is emptied (flush_all) and the sentinels set again before every case,
// so a mutated key that hits another case's key, or a set Walnut refused and memcached
// stored, cannot carry over. cas uniques (per-server counters) are masked.
//
// MC_FUZZ_SEED and MC_FUZZ_RUNS override fast-check's seed and the number of cases;
// MC_FUZZ_VERBOSE prints how many cases were refused, waited or run again.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { freePort, startMemcached, startWalnut, type Running, type RunningProxy } from '../../scripts/lib/processes.js';
import { exchangeCut, requestUntil, type Exchange } from './support/request-until.js';
import { serverStat, type Stats } from './support/stats.js';

/**
 * How long a stream that neither completed (its sentinel answered) nor closed is given after
 * its last byte: a request memcached or Walnut is still waiting on (a data block longer than
 * what was sent). Short, because about one case in ten ends that way; a case that fails with
 * a stream cut off by it is run again with RETRY_QUIET_MS, so a slow machine costs time, not
 * a false failure.
 */
const QUIET_MS = 60;
const RETRY_QUIET_MS = 2_000;
/** The other client's request: always answered at once unless the connection is out of step. */
const CROSS_TIMEOUT_MS = 3_000;

const SENTINEL = 'get sentinel\r\n';
const SENTINEL_REPLY = 'VALUE sentinel 7 8\r\nSENTINEL\r\nEND\r\n';
/** Another client's request through Walnut after each case (key only on Walnut's memcached). */
const CROSS = 'get xsentinel\r\n';
const CROSS_REPLY = 'VALUE xsentinel 9 6\r\nOTHERS\r\nEND\r\n';
const RESET_DIRECT = 'flush_all\r\nset sentinel 7 0 8\r\nSENTINEL\r\n';
const RESET_BACKEND = `${RESET_DIRECT}set xsentinel 9 0 6\r\nOTHERS\r\n`;

/** Key prefix of case n: the same length for every case, so that edits land alike. */
const prefixOf = (n: number): string => `p${n.toString(36).padStart(5, '0')}_`;
const PREFIX_LENGTH = prefixOf(0).length;
/** A key of exactly 250 bytes (memcached's longest) with the prefix. */
const LONGEST_KEY = `{p}${'k'.repeat(250 - PREFIX_LENGTH)}`;
const MANY_KEYS = Array.from({ length: 30 }, (_, i) => `{p}${i}`).join(' ');
/**
 * A get or gat line of many keys, at most 2048 bytes with its CR LF and at most 11 below:
 * edits take it past 2048, where Walnut rebuilds a line before forwarding it (a gat line; a
 * get line with a space first) and memcached would close a connection on a gat line that
 * arrives in more than one read.
 */
const NEAR_CAP_KEYS = (head: string): string => {
  const keyBytes = 1 + PREFIX_LENGTH + 3;
  const n = Math.floor((2048 - 2 - head.length) / keyBytes);
  return head + Array.from({ length: n }, (_, i) => ` {p}${i.toString().padStart(3, '0')}`).join('');
};

/**
 * Well-formed requests to mutate; `{p}` is the case's key prefix. Some store first so that
 * the mutated request after them finds a value (append, cas, incr, the multi-get). The value
 * incr reads has four digits: no three edits make it all whitespace, on which memcached
 * 1.6.18's incr reads past the item (see memcache-differential.test.ts).
 */
const BASES: readonly string[] = [
  'set {p}k 0 0 5\r\nhello\r\n',
  'set {p}k 0 0 5 noreply\r\nhello\r\n',
  'add {p}k 1 100 5\r\nhello\r\n',
  'set {p}k 0 0 1\r\nx\r\nappend {p}k 0 0 5\r\nhello\r\n',
  'prepend {p}k 0 0 5 noreply\r\nhello\r\n',
  'replace {p}k 0 0 5\r\nhello\r\n',
  'cas {p}k 0 0 5 12345\r\nhello\r\n',
  'set {p}k 0 0 1\r\nx\r\ncas {p}k 0 0 5 1 noreply\r\nhello\r\n',
  'set {p}k 0 0 0\r\n\r\n',
  'set {p}k 0 0 10\r\n0123456789\r\nget {p}k\r\n',
  'set {p}k 4294967295 -1 5\r\nhello\r\n',
  'set {p}k 0 2147483647 5\r\nhello\r\ngets {p}k\r\n',
  'cas {p}k 0 0 5 18446744073709551615 noreply\r\nhello\r\n',
  '  set  {p}k  0  0  5 \r\nhello\r\n',
  `set ${LONGEST_KEY} 0 0 1\r\nx\r\nget ${LONGEST_KEY}\r\n`,
  'get {p}k\r\n',
  'gets {p}k1 {p}k2\r\n',
  'set {p}k1 0 0 2\r\nab\r\nget {p}k1 {p}k2 {p}k1\r\n',
  `set {p}1 0 0 1\r\nx\r\nget ${MANY_KEYS}\r\n`,
  `${NEAR_CAP_KEYS('get')}\r\n`,
  `${NEAR_CAP_KEYS('gat 0')}\r\n`,
  'set {p}n 0 0 4\r\n1000\r\nincr {p}n 5\r\n',
  'set {p}n 0 0 4\r\n1000\r\ndecr {p}n 18446744073709551615\r\n',
  'decr {p}n 3 noreply\r\n',
  'delete {p}k\r\n',
  'delete {p}k noreply\r\n',
  'delete {p}k 0\r\n',
  'delete {p}k 0 noreply\r\n',
  'touch {p}k 100\r\n',
  'touch {p}k 100 noreply\r\n',
  'set {p}k 0 0 1\r\nx\r\ngat 100 {p}k\r\n',
  'gats 0 {p}k1 {p}k2\r\n',
  'version\r\n',
];

/**
 * What an edit writes: first the bytes that end or split tokens and lines (space, tab, CR, LF,
 * NUL) and digits; then signs, other control and high bytes, letters of command names and of
 * `noreply`; whole tokens (`noreply`, numbers at and past the 32- and 64-bit limits, a 251-byte
 * key); long runs (a line over memcached's 2048-byte limit, over 100 leading spaces, a get
 * line of many keys); and any byte at all.
 */
const SEPARATORS: readonly string[] = [' ', '\t', '\r', '\n', '\0', '\r\n', '  ', '0', '1', '5', '9'];
const BYTES: readonly string[] = [
  ...'2345678-+gestacdnorplyixuvV'.split(''),
  '\x0b', '\x0c', '\x7f', '\x80', '\xff',
];
const TOKENS: readonly string[] = [
  'noreply', ' noreply', ' 0', 'get ', ' x', '-1', '-0', '+0',
  '4294967295', '4294967296', '2147483647', '2147483648', '18446744073709551615', '18446744073709551616',
  '9'.repeat(30), '0'.repeat(300), 'k'.repeat(251),
  '0'.repeat(2100), ' '.repeat(120), ' k'.repeat(1100),
];

const piece = fc.oneof(
  { arbitrary: fc.constantFrom(...SEPARATORS), weight: 4 },
  { arbitrary: fc.constantFrom(...BYTES), weight: 2 },
  { arbitrary: fc.constantFrom(...TOKENS), weight: 2 },
  { arbitrary: fc.integer({ min: 0, max: 255 }).map((b) => String.fromCharCode(b)), weight: 1 },
);

interface Edit {
  /** Position, taken modulo the length of the text being edited (plus one). */
  at: number;
  piece: string;
  how: 'replace' | 'insert' | 'delete';
}

const edit: fc.Arbitrary<Edit> = fc.record({
  at: fc.nat(10_000),
  piece,
  how: fc.constantFrom('replace' as const, 'insert' as const, 'delete' as const),
});

/**
 * Where the bytes sent to Walnut are cut (most cases: nowhere). Walnut parses a request that
 * spans reads on other paths than one that came whole; memcached is sent the bytes whole, as
 * its own reading of a long line depends on how it arrives (see MC_LINE_CAP in
 * request-parser.ts).
 */
const cuts = fc.oneof(
  { arbitrary: fc.constant([]), weight: 2 },
  { arbitrary: fc.array(fc.nat(10_000), { minLength: 1, maxLength: 3 }), weight: 1 },
);

function mutate(base: string, edits: readonly Edit[]): string {
  let s = base;
  for (const e of edits) {
    const at = e.at % (s.length + 1);
    if (e.how === 'replace') s = s.slice(0, at) + e.piece + s.slice(at + 1);
    else if (e.how === 'insert') s = s.slice(0, at) + e.piece + s.slice(at);
    else s = s.slice(0, at) + s.slice(at + 1);
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Exchanges

interface Reply {
  text: string;
  error: boolean;
}

const ERROR_LINE = /^(ERROR|CLIENT_ERROR|SERVER_ERROR)( [^\r\n]*)?\r\n$/;

/**
 * The complete replies at the start of `text` (a VALUE or STAT list up to its END, or one
 * line), and what follows them (an unfinished reply, or bytes that are no text reply).
 */
function parseReplies(text: string): { replies: Reply[]; rest: string } {
  const replies: Reply[] = [];
  let pos = 0;
  for (;;) {
    let i = pos;
    let whole = false;
    for (;;) {
      const eol = text.indexOf('\r\n', i);
      if (eol < 0) break;
      const line = text.slice(i, eol);
      i = eol + 2;
      if (line.startsWith('VALUE ')) {
        const bytes = Number(line.split(' ')[3]);
        if (!Number.isSafeInteger(bytes) || bytes < 0 || text.length < i + bytes + 2) break;
        i += bytes + 2;
        continue;
      }
      if (line.startsWith('STAT ')) continue;
      whole = true;
      break;
    }
    if (!whole) break;
    const reply = text.slice(pos, i);
    replies.push({ text: reply, error: ERROR_LINE.test(reply) });
    pos = i;
  }
  return { replies, rest: text.slice(pos) };
}

/** A reply as compared: errors as one, cas uniques masked. */
function normal(r: Reply): string {
  return r.error ? 'ERROR' : r.text.replace(/^(VALUE \S+ \d+ \d+) \d+\r\n/gm, '$1 <cas>\r\n');
}

/** The stream ends with the sentinel's reply, the last one, and nothing after it. */
function sentinelAnswered(text: string): boolean {
  if (!text.endsWith(SENTINEL_REPLY)) return false;
  const p = parseReplies(text);
  return p.rest === '' && p.replies.at(-1)?.text === SENTINEL_REPLY;
}

const exchange = (port: number, bytes: Buffer, quietMs: number, cuts: readonly number[] = []): Promise<Exchange> =>
  exchangeCut(port, bytes, { quietMs, cuts, complete: sentinelAnswered });

/** Sends `req` on a fresh connection; what came back once it ends with `end` (or at timeout). */
const request = (port: number, req: string, end: string, timeoutMs = CROSS_TIMEOUT_MS): Promise<string> =>
  requestUntil(port, req, end, timeoutMs);

// ---------------------------------------------------------------------------------------------
// The verdict

/** Errors memcached itself sends as SERVER_ERROR (anything else from Walnut is a failure). */
const MEMCACHED_SERVER_ERRORS = /^SERVER_ERROR (object too large for cache|out of memory)/;

type Verdict = { ok: true; refused: boolean } | { ok: false; why: string };

/**
 * A get/gets/gat/gats line with a key over 250 bytes. memcached 1.6 answers it with
 * CLIENT_ERROR and drops the replies it still held for the requests before it on the
 * connection (process_get_command: "Kill any stacked responses we had"), here everything the
 * same read brought; Walnut answers it itself and sends those replies.
 */
const LONG_KEY_RETRIEVAL = /^ *(get|gets|gat|gats) ([^\n]* )?[^ \n]{251}/m;

function judgeReplies(
  input: string, w: Reply[], wRest: string, walnutClosed: boolean, d: Reply[], dRest: string, directWaits: boolean,
): Verdict {
  const nw = w.map(normal);
  const nd = d.map(normal);
  let i = 0;
  while (i < nw.length && i < nd.length && nw[i] === nd[i]) i++;
  if (i === nw.length && i === nd.length && wRest === dRest) return { ok: true, refused: false };
  // memcached waiting for the rest of a data block holds back the replies it owes for the
  // requests before it (it sends them once the block is complete): what it would send is not
  // known beyond the replies it sent.
  if (directWaits && i === nd.length && dRest === '') return { ok: true, refused: false };
  // The first difference is at i. Walnut refused something at or before it: an error reply
  // (a refusal may differ from memcached's error only in its text, so one at the same place
  // as memcached's counts too), its closing the connection (a framing error: a line too
  // long, a binary request), a silent refusal of a request with noreply, or a connection
  // whose first byte is 0x80: Walnut, like memcached, takes it for the binary protocol, and
  // answers nothing until a 24-byte header is in, then a binary refusal for each request.
  if (nw.slice(0, i + 1).includes('ERROR')) return { ok: true, refused: true };
  if (walnutClosed) return { ok: true, refused: true };
  if (/(^| )noreply( |\r|\n|$)/m.test(input)) return { ok: true, refused: true };
  if (input.startsWith('\x80')) return { ok: true, refused: true };
  return {
    ok: false,
    why: `reply ${i} differs (memcached ${JSON.stringify(nd[i] ?? '(none)')}, Walnut ${JSON.stringify(nw[i] ?? '(none)')}) with no refusal before it`,
  };
}

function judge(input: string, viaWalnut: Exchange, direct: Exchange): Verdict {
  const w = parseReplies(viaWalnut.text);
  const d = parseReplies(direct.text);
  const failure = w.replies.find((r) => r.text.startsWith('SERVER_ERROR') && !MEMCACHED_SERVER_ERRORS.test(r.text));
  if (failure !== undefined) return { ok: false, why: `Walnut answered ${JSON.stringify(failure.text)}` };
  // The sentinel is the last request: nothing answers anything after it.
  const sentinelAt = w.replies.findIndex((r) => r.text === SENTINEL_REPLY);
  if (sentinelAt >= 0 && (sentinelAt < w.replies.length - 1 || w.rest !== '')) {
    return { ok: false, why: 'Walnut sent more after the reply to the sentinel, the last request' };
  }
  const directWaits = !direct.complete && !direct.closed;
  const verdict = judgeReplies(input, w.replies, w.rest, viaWalnut.closed, d.replies, d.rest, directWaits);
  if (verdict.ok || !LONG_KEY_RETRIEVAL.test(input)) return verdict;
  // memcached may have dropped replies Walnut sent: the run of them just before an error.
  for (let k = 1; k < w.replies.length; k++) {
    if (!w.replies[k]!.error) continue;
    for (let j = 0; j < k; j++) {
      const kept = [...w.replies.slice(0, j), ...w.replies.slice(k)];
      const again = judgeReplies(input, kept, w.rest, viaWalnut.closed, d.replies, d.rest, directWaits);
      if (again.ok) return { ok: true, refused: true };
    }
  }
  return verdict;
}

// ---------------------------------------------------------------------------------------------

describe('memcache framing: Walnut and memcached agree', () => {
  let direct: Running;
  let backend: Running;
  let walnut: RunningProxy;
  let port: number;

  before(async () => {
    [direct, backend] = await Promise.all([startMemcached(), startMemcached()]);
    port = await freePort();
    const yaml = `mc:\n  listen: 127.0.0.1:${port}\n  servers:\n    - 127.0.0.1:${backend.port}:1 mc0\n`;
    walnut = await startWalnut(yaml, { listenPorts: [port] });
  });

  after(async () => {
    await walnut?.stop();
    await direct?.stop();
    await backend?.stop();
  });

  const reset = async (): Promise<void> => {
    const [a, b] = await Promise.all([
      request(direct.port, RESET_DIRECT, 'STORED\r\n'),
      request(backend.port, RESET_BACKEND, 'STORED\r\nSTORED\r\n'),
    ]);
    assert.equal(a, 'OK\r\nSTORED\r\n');
    assert.equal(b, 'OK\r\nSTORED\r\nSTORED\r\n');
  };

  /** How often the server connection has failed since Walnut started (see check 2). */
  const serverFailures = async (): Promise<number> => {
    const s = (await walnut.stats()) as Stats;
    return ['server_err', 'server_eof', 'server_timedout'].reduce((sum, name) => sum + serverStat(s, 'mc', 'mc0', name), 0);
  };

  test('mutated requests: the server connection stays in step, the client gets what memcached sends', async () => {
    let cases = 0;
    let refused = 0;
    let retried = 0;
    let waited = 0;
    let failures = await serverFailures();
    const numRuns = Number(process.env['MC_FUZZ_RUNS'] ?? 400);
    await fc.assert(
      fc.asyncProperty(fc.nat(BASES.length - 1), fc.array(edit, { minLength: 1, maxLength: 3 }), cuts, async (b, edits, cutAt) => {
        const base = BASES[b]!;
        const run = async (quietMs: number): Promise<{ input: string; w: Exchange; d: Exchange; cross: string }> => {
          const input = mutate(base.replaceAll('{p}', prefixOf(cases++)), edits);
          const bytes = Buffer.from(input + SENTINEL, 'latin1');
          await reset();
          const [w, d] = await Promise.all([exchange(port, bytes, quietMs, cutAt), exchange(direct.port, bytes, quietMs)]);
          const cross = await request(port, CROSS, CROSS_REPLY);
          return { input, w, d, cross };
        };
        const failuresBefore = failures;
        let r = await run(QUIET_MS);
        if (!r.w.complete || !r.d.complete) waited++;
        let verdict = judge(r.input, r.w, r.d);
        const cutShort = (e: Exchange): boolean => !e.complete && !e.closed;
        if (!verdict.ok && (cutShort(r.w) || cutShort(r.d))) {
          retried++;
          r = await run(RETRY_QUIET_MS);
          verdict = judge(r.input, r.w, r.d);
        }
        const cutNote = cutAt.length > 0 ? ` (to Walnut cut at ${JSON.stringify(cutAt)} mod its length)` : '';
        const what =
          `input ${JSON.stringify(r.input + SENTINEL)}${cutNote}\n` +
          `  memcached: ${JSON.stringify(r.d.text)}${r.d.closed ? ' (closed)' : ''}\n` +
          `  Walnut:    ${JSON.stringify(r.w.text)}${r.w.closed ? ' (closed)' : ''}`;
        assert.equal(r.cross, CROSS_REPLY, `another client's request after this one got the wrong reply: ${what}`);
        failures = await serverFailures();
        assert.equal(failures, failuresBefore, `Walnut dropped its server connection: ${what}`);
        if (!verdict.ok) assert.fail(`${verdict.why}: ${what}`);
        if (verdict.refused) refused++;
      }),
      {
        includeErrorInReport: true,
        numRuns,
        ...(process.env['MC_FUZZ_SEED'] === undefined ? {} : { seed: Number(process.env['MC_FUZZ_SEED']) }),
      },
    );
    if (process.env['MC_FUZZ_VERBOSE'] !== undefined) {
      console.log(
        `memcache framing: ${cases} cases, ${refused} with a Walnut refusal, ${waited} waited for a quiet time, ${retried} run again with the long one`,
      );
    }
    // Most mutations leave requests both sides answer the same way (about four in five): the
    // comparison ran to the end, it did not only excuse refusals.
    assert.ok(cases - refused >= numRuns / 2, `${cases - refused} of ${cases} cases compared to the end`);
  });
});
