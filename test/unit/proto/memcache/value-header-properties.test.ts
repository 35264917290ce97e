/**
 * Property tests of how Walnut reads memcached's `VALUE <key> <flags> <bytes>[ <cas>]` header,
 * in both places that read it: the reply parser (framing, and the wording of its errors) and
 * the multi-get merge of the codec (which reads replies the parser has framed). Each is checked
 * against a reference written from the grammar with regular expressions and BigInt, on
 * adversarial headers (spacing, digit counts at and past the 32/64-bit limits, keys of 250 and
 * 251 bytes or holding CR, data lengths at MAX_VALUE_BYTES) inside streams of other replies
 * and garbage, cut into chunks at random so that both the whole-block fast path and the
 * line-by-line path are taken.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { REPLY_ERROR, ROUTE_FRAGMENT } from '../../../../src/proto/message.js';
import { createMemcacheCodec } from '../../../../src/proto/memcache/memcache-codec.js';
import { MC_EARLY_CHECK_BYTES } from '../../../../src/proto/memcache/reply-parser.js';
import type { ReplyEvent } from './memcache-harness.js';
import { LINE_CAP, U64_MAX, chunkings, latin1, modelHeader, modelMerge, parseReplies, parseRequests, splitAt } from './memcache-harness.js';

/** Flags of a reply line other than a VALUE header outside VALUE…END, or -1. */
function modelOtherLine(line: string): number {
  if (/^(STORED|NOT_STORED|EXISTS|NOT_FOUND|DELETED|TOUCHED) *$/.test(line) || line === 'END') return 0;
  if (/^ERROR *$/.test(line)) return REPLY_ERROR;
  if (/^[0-9]+ *$/.test(line) || /^VERSION( [\s\S]*)?$/.test(line)) return 0;
  if (/^(CLIENT_ERROR|SERVER_ERROR)( [\s\S]*)?$/.test(line)) return REPLY_ERROR;
  return -1;
}

/**
 * The starts of VALUE header lines (up to, not including, their LF) that some header of the
 * grammar begins with: the numbers' shapes, not their ranges.
 */
const BYTES_ON = String.raw`[0-9]+(?: *\r?| +\+| +\+?[0-9]+ *\r?)`;
const FLAGS_ON = String.raw`(?:\+|\+?[0-9]+(?: +(?:${BYTES_ON})?)?)`;
const VALUE_HEADER_START = new RegExp(String.raw`^VALUE +(?:[^ \n]{1,250}(?: +${FLAGS_ON}?)?)?$`);

/**
 * Where the excerpt of a line start the parser refuses before its LF ends (-1: not refused
 * yet), from the first MC_EARLY_CHECK_BYTES of the line as far as they have arrived: a number
 * ends at its first byte that is neither a digit nor a space; the first word must be one a
 * reply line starts with; after a word that takes only spaces nothing else may come before
 * the CR; a VALUE header ends at the first byte that no header has there.
 */
function modelBadStart(head: string, inValues: boolean): number {
  const cr = head.indexOf('\r');
  const stop = cr < 0 ? head.length : cr;
  const number = /^[0-9]+[^0-9 ]/.exec(head.slice(0, stop));
  if (!inValues && number !== null) return number[0].length;
  const sp = head.slice(0, stop).indexOf(' ');
  const i = sp < 0 ? stop : sp;
  if (i === head.length) return -1;
  const word = head.slice(0, i);
  const spaceAfter = head[i] === ' ';
  const wordBad = spaceAfter ? i + 1 : i;
  if (word === 'VALUE') {
    if (!spaceAfter) return wordBad;
    for (let n = i + 2; n <= head.length; n++) if (!VALUE_HEADER_START.test(head.slice(0, n))) return n;
    return -1;
  }
  if (inValues) return !spaceAfter && word === 'END' ? -1 : wordBad;
  if (word === 'END') return spaceAfter ? wordBad : -1;
  if (['VERSION', 'CLIENT_ERROR', 'SERVER_ERROR'].includes(word)) return -1;
  if (!/^([0-9]+|STORED|NOT_STORED|EXISTS|NOT_FOUND|DELETED|TOUCHED|ERROR)$/.test(word)) return wordBad;
  const other = /[^ ]/.exec(head.slice(i, stop));
  return other === null ? -1 : i + other.index + 1;
}

/** What the reply parser reports for the whole stream s (latin1), from the grammar. */
function modelReplies(s: string): ReplyEvent[] {
  const events: ReplyEvent[] = [];
  const fail = (reason: string): ReplyEvent[] => {
    events.push({ kind: 'error', reason: `memcache: ${reason}` });
    return events;
  };
  const excerpt = (start: number, end: number): string => JSON.stringify(s.slice(start, Math.min(end, start + 40)));
  let pos = 0;
  let inValues = false;
  let replyStart = 0;
  while (pos < s.length) {
    const c = s.charCodeAt(pos);
    if (!((c >= 65 && c <= 90) || (c >= 48 && c <= 57))) return fail(`unexpected reply byte 0x${c.toString(16).padStart(2, '0')}`);
    const lf = s.indexOf('\n', pos);
    const bad = modelBadStart(s.slice(pos, Math.min(lf < 0 ? s.length : lf, pos + MC_EARLY_CHECK_BYTES)), inValues);
    if (bad >= 0) return fail(inValues ? `expected VALUE or END, got ${excerpt(pos, pos + bad)}` : `unexpected reply line ${excerpt(pos, pos + bad)}`);
    if ((lf < 0 ? s.length : lf) - pos > LINE_CAP) return fail('reply line too long');
    if (lf < 0) return events;
    if (s[lf - 1] !== '\r') return fail(`reply line not terminated by CR LF: ${excerpt(pos, lf)}`);
    const line = s.slice(pos, lf - 1);
    if (!inValues) replyStart = pos;
    const h = modelHeader(line);
    if (h !== null) {
      const cr = lf + 1 + h.bytes;
      if ((cr < s.length && s[cr] !== '\r') || (cr + 1 < s.length && s[cr + 1] !== '\n')) {
        return fail('VALUE data block not terminated by CR LF');
      }
      if (cr + 2 > s.length) return events;
      pos = cr + 2;
      inValues = true;
      continue;
    }
    const flags = inValues ? (line === 'END' ? 0 : -1) : modelOtherLine(line);
    if (flags < 0) {
      return fail(inValues ? `expected VALUE or END, got ${excerpt(pos, lf - 1)}` : `unexpected reply line ${excerpt(pos, lf - 1)}`);
    }
    events.push({ kind: 'reply', reply: s.slice(replyStart, lf + 1), flags });
    inValues = false;
    pos = lf + 1;
  }
  return events;
}

const digits = (n: number, d = '9'): string => d.repeat(n);

/** A key: usually short and plain; at and over 250 bytes; holding CR, control bytes, or none. */
const keyArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 24, arbitrary: fc.constantFrom('a', 'k', 'key:1', 'foo') },
  {
    weight: 3,
    arbitrary: fc
      .uint8Array({ minLength: 1, maxLength: 12 })
      .map((b) => Buffer.from(b.map((c) => (c === 32 || c === 10 ? c + 1 : c))).toString('latin1')),
  },
  { weight: 2, arbitrary: fc.constantFrom(249, 250, 251, 300).map((n) => 'k'.repeat(n)) },
  { weight: 2, arbitrary: fc.constantFrom('k\r', 'a\rb', '\r', '\rk', 'k\r\r', 'k\t', 'k\x00', 'k\xff') },
  { weight: 1, arbitrary: fc.constant('') },
);

/** flags: in range, at and past 2^32 - 1, 9 and 10 digits, signs, leading zeros, not digits. */
const flagsArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 24, arbitrary: fc.integer({ min: 0, max: 70000 }).map(String) },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      '4294967295', '4294967296', '04294967295', digits(9), digits(10), digits(11), '0000000000', '0000000001',
      '+5', '+4294967295', '+4294967296', '+', '++1', '-1', '-0', 'x', '1x', '1\r', '\r', '0'.repeat(300) + '7',
    ),
  },
);

/**
 * <bytes> for data of length n: as written, with leading zeros, signed, or replaced by a value
 * that is no longer n (off by one, at and past MAX_VALUE_BYTES, 10 and 20 digits).
 */
const bytesFieldArb: fc.Arbitrary<(n: number) => string> = fc.oneof(
  { weight: 30, arbitrary: fc.constant((n: number) => String(n)) },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      (n: number) => `0${n}`,
      (n: number) => `${'0'.repeat(12)}${n}`,
      (n: number) => `+${n}`,
      (n: number) => String(n + 1),
      (n: number) => String(Math.max(0, n - 1)),
      (n: number) => `${n}x`,
      () => '',
      () => '2147483645',
      () => '2147483646',
      () => '02147483645',
      () => digits(9),
      () => digits(10),
      () => '1000000000',
      () => digits(20),
      () => '-1',
    ),
  },
);

/** [ <cas>]: none, in range, at and past 2^64 - 1, 19 to 21 digits, signs, CR inside, extras. */
const casArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 24, arbitrary: fc.constant('') },
  { weight: 8, arbitrary: fc.bigInt({ min: 0n, max: U64_MAX }).map((n) => ` ${n}`) },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      ' 18446744073709551615', ' 18446744073709551616', ' 018446744073709551615', ` ${digits(19)}`, ` ${digits(20)}`,
      ` ${digits(21)}`, ` ${'0'.repeat(25)}1`, ' +1', ' +', ' -1', ' x', ' 1\r2', ' 1 2', ' 1  2', '  7', ' 1 ',
    ),
  },
);

const spaceArb = fc.oneof({ weight: 30, arbitrary: fc.constant(' ') }, { weight: 2, arbitrary: fc.constantFrom('  ', '   ', '', '\t') });
const trailArb = fc.oneof({ weight: 30, arbitrary: fc.constant('') }, { weight: 2, arbitrary: fc.constantFrom(' ', '  ', ' x', '\r') });
const termArb = fc.oneof({ weight: 40, arbitrary: fc.constant('\r\n') }, { weight: 1, arbitrary: fc.constantFrom('\n', '\r\r\n', '\r') });
const dataArb = fc
  .array(
    fc.oneof(
      fc.constantFrom('\r\n', '\n', '\r', 'END\r\n', 'VALUE x 0 1\r\n'),
      fc.uint8Array({ maxLength: 20 }).map((b) => Buffer.from(b).toString('latin1')),
    ),
    { maxLength: 4 },
  )
  .map((p) => p.join(''));
const dataEndArb = fc.oneof({ weight: 40, arbitrary: fc.constant('\r\n') }, { weight: 1, arbitrary: fc.constantFrom('\n', '\r', 'x\r\n', '') });

/** A VALUE block: a header (often a near miss) and its data. */
const blockArb: fc.Arbitrary<string> = fc
  .record({
    word: fc.oneof({ weight: 60, arbitrary: fc.constant('VALUE') }, { weight: 1, arbitrary: fc.constantFrom('VALU', 'VALUEX', 'VALUe') }),
    s0: spaceArb,
    key: keyArb,
    s1: spaceArb,
    flags: flagsArb,
    s2: spaceArb,
    bytes: bytesFieldArb,
    cas: casArb,
    trail: trailArb,
    term: termArb,
    data: dataArb,
    dataEnd: dataEndArb,
  })
  .map((b) => {
    const n = Buffer.byteLength(b.data, 'latin1');
    return `${b.word}${b.s0}${b.key}${b.s1}${b.flags}${b.s2}${b.bytes(n)}${b.cas}${b.trail}${b.term}${b.data}${b.dataEnd}`;
  });

/** Streams of VALUE blocks among other replies, partial lines and garbage. */
const streamArb: fc.Arbitrary<Buffer> = fc
  .array(
    fc.oneof(
      { weight: 10, arbitrary: blockArb },
      { weight: 4, arbitrary: fc.constant('END\r\n') },
      {
        weight: 2,
        arbitrary: fc.constantFrom('STORED\r\n', 'NOT_FOUND  \r\n', '42\r\n', 'VERSION 1.6.21\r\n', 'SERVER_ERROR oops\r\n', 'ENDD\r\n', 'END \r\n', 'VALUE\r\n', 'VALUE \r\n', 'EN'),
      },
      { weight: 1, arbitrary: fc.constantFrom(`VALUE k 0 1${' '.repeat(LINE_CAP)}\r\nx\r\nEND\r\n`, `VALUE k ${'0'.repeat(LINE_CAP - 12)} 1\r\nx\r\n`) },
      // Header lines whose LF lies just inside, at and just past the line cap: where the fast
      // path's cap check and the line path's must agree, however the chunks are cut.
      { weight: 2, arbitrary: fc.integer({ min: LINE_CAP - 2, max: LINE_CAP + 2 }).map((lf) => `VALUE k 0 1${' '.repeat(lf - 12)}\r\nx\r\nEND\r\n`) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 10 }).map((b) => Buffer.from(b).toString('latin1')) },
    ),
    { minLength: 1, maxLength: 6 },
  )
  .map((parts) => latin1(parts.join('')));

const codec = createMemcacheCodec();

/** A header for `key` that the reply parser takes, in one of the shapes it takes. */
const goodHeaderArb: fc.Arbitrary<(key: string, n: number) => string> = fc.constantFrom(
  (k: string, n: number) => `VALUE ${k} 0 ${n}`,
  (k: string, n: number) => `VALUE ${k} 4294967295 ${n} 18446744073709551615`,
  (k: string, n: number) => `VALUE ${k} 999999999 ${n} ${digits(19)}`,
  (k: string, n: number) => `VALUE ${k}  +7   ${n}  +0  `,
  (k: string, n: number) => `VALUE ${k} 0000000000001 ${'0'.repeat(11)}${n}`,
  (k: string, n: number) => `VALUE ${k} 1 ${n} `,
  (k: string, n: number) => `VALUE  ${k} 0 ${n}`,
);

describe('VALUE headers: the reply parser', () => {
  it('frames adversarial streams as the grammar says, however they are cut, with the same error wording', () => {
    fc.assert(
      fc.property(streamArb, fc.integer(), (stream, seed) => {
        const want = modelReplies(stream.toString('latin1'));
        for (const { name, chunks } of chunkings(stream, seed, 3, stream.length < 600)) {
          assert.deepEqual(parseReplies(chunks).events, want, name);
        }
      }),
      { numRuns: 2500 },
    );
  });

  it('every header the grammar takes waits for its data; every other one fails at once', () => {
    fc.assert(
      fc.property(blockArb, fc.boolean(), (block, afterValue) => {
        const line = block.slice(0, block.indexOf('\n') + 1);
        const prefix = afterValue ? 'VALUE a 0 1\r\nx\r\n' : '';
        const stream = latin1(prefix + line);
        const want = modelReplies(stream.toString('latin1'));
        const got = parseReplies([stream]);
        assert.deepEqual(got.events, want);
        if (want.length === 0) assert.equal(got.pending, stream.length);
      }),
      { numRuns: 3000 },
    );
  });

  it('a header whose LF has not come fails at the first byte no header has there, else waits', () => {
    fc.assert(
      fc.property(blockArb, fc.boolean(), fc.double({ min: 0, max: 1, noNaN: true }), fc.integer(), (block, afterValue, at, seed) => {
        const line = block.slice(0, block.indexOf('\n'));
        const prefix = afterValue ? 'VALUE a 0 1\r\nx\r\n' : '';
        const stream = latin1(prefix + line.slice(0, 1 + Math.floor(at * line.length)));
        const want = modelReplies(stream.toString('latin1'));
        for (const { name, chunks } of chunkings(stream, seed, 2, true)) {
          const got = parseReplies(chunks);
          assert.deepEqual(got.events, want, name);
          if (want.length === 0) assert.equal(got.pending, stream.length, name);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('VALUE headers: the multi-get merge', () => {
  it('merges sub-replies the reply parser framed as the grammar says', () => {
    const askArb = fc.constantFrom('a', 'b', 'k', 'key:1', 'x'.repeat(250));
    const blockForArb = fc.record({ key: fc.oneof(askArb, fc.constantFrom('zz', 'a\r', 'b\x00')), head: goodHeaderArb, data: dataArb });
    fc.assert(
      fc.property(
        fc.array(askArb, { minLength: 2, maxLength: 10 }),
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.array(blockForArb, { maxLength: 6 }), { minLength: 3, maxLength: 3 }),
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 3, maxLength: 3 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 }),
        (keys, nservers, extra, modes, cuts) => {
          const { msgs } = parseRequests([latin1(`get ${keys.join(' ')}\r\n`)]);
          const msg = msgs[0]!;
          assert.equal(msg.route, ROUTE_FRAGMENT);
          const serverOf = (k: string): number => (k.length * 7 + k.charCodeAt(0)) % nservers;
          const frags = codec.fragment(msg, { serverIndexFor: (b, s, e) => serverOf(b.toString('latin1', s, e)) });
          const replies = frags.map((f, i) => {
            // A faithful answer (hits in request order) in one header shape, or random blocks.
            const asked = f.data.toString('latin1').trim().split(/ +/).slice(1);
            const mode = modes[i]!;
            const blocks =
              mode === 3
                ? extra[i]!
                : asked.filter((_, j) => (j + mode) % 2 === 0).map((key, j) => ({ key, head: extra[i]![j]?.head ?? goodHeaderArbDefault, data: `v:${key}` }));
            let r = '';
            for (const b of blocks) r += `${b.head(b.key, Buffer.byteLength(b.data, 'latin1'))}\r\n${b.data}\r\n`;
            return `${r}END\r\n`;
          });
          frags.forEach((f, i) => {
            const buf = latin1(replies[i]!);
            const framed = parseReplies(splitAt(buf, cuts.map((c) => Math.floor(c * buf.length))));
            assert.deepEqual(framed.events, [{ kind: 'reply', reply: replies[i], flags: 0 }], 'the reply parser frames the sub-reply');
            f.reply = Buffer.concat(framed.replies);
            f.replyFlags = 0;
            f.done = true;
          });
          codec.coalesce(msg);
          const slots = keys.map((k) => frags.findIndex((f) => f.serverIndex === serverOf(k)));
          const want = modelMerge(keys, slots, replies);
          assert.equal(msg.reply!.toString('latin1'), want);
          assert.equal(msg.replyFlags, want.startsWith('SERVER_ERROR') ? REPLY_ERROR : 0);
        },
      ),
      { numRuns: 1500 },
    );
  });
});

function goodHeaderArbDefault(k: string, n: number): string {
  return `VALUE ${k} 0 ${n}`;
}
