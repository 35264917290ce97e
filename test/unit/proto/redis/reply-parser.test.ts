/**
 * Tests of the redis reply parser: a table of replies and framing errors run whole, byte by
 * byte and at random splits; properties over random nested replies and random garbage.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { STREAM_MIN_BYTES } from '../../../../src/proto/codec.js';
import { REPLY_ERROR, REPLY_TOO_LARGE, REPLY_TRANSIENT } from '../../../../src/proto/message.js';
import { RedisReplyParser } from '../../../../src/proto/redis/reply-parser.js';
import { chunkings, latin1, parseReplies, ReplyRecorder, splitAt, type ReplyEvent } from './redis-harness.js';

const E = REPLY_ERROR;
const T = REPLY_ERROR | REPLY_TRANSIENT;

interface Case {
  name: string;
  input: string;
  /** Replies expected, with their flags; 'error' for a framing error. */
  expect: ([string, number] | 'error')[];
}

const CASES: Case[] = [
  { name: 'status', input: '+OK\r\n', expect: [['+OK\r\n', 0]] },
  { name: 'integer', input: ':-42\r\n', expect: [[':-42\r\n', 0]] },
  { name: 'bulk', input: '$5\r\nhello\r\n', expect: [['$5\r\nhello\r\n', 0]] },
  { name: 'bulk holding CR LF', input: '$4\r\n\r\n\r\n\r\n', expect: [['$4\r\n\r\n\r\n\r\n', 0]] },
  { name: 'empty bulk', input: '$0\r\n\r\n', expect: [['$0\r\n\r\n', 0]] },
  { name: 'null bulk and null array', input: '$-1\r\n*-1\r\n', expect: [['$-1\r\n', 0], ['*-1\r\n', 0]] },
  { name: 'empty array', input: '*0\r\n', expect: [['*0\r\n', 0]] },
  { name: 'array of mixed elements', input: '*4\r\n$1\r\na\r\n$-1\r\n:3\r\n+x\r\n', expect: [['*4\r\n$1\r\na\r\n$-1\r\n:3\r\n+x\r\n', 0]] },
  {
    name: 'nested arrays',
    input: '*2\r\n*2\r\n*0\r\n*1\r\n$1\r\nz\r\n*-1\r\n:1\r\n',
    expect: [['*2\r\n*2\r\n*0\r\n*1\r\n$1\r\nz\r\n*-1\r\n', 0], [':1\r\n', 0]],
  },
  { name: 'array holding an error element is not an error reply', input: '*1\r\n-ERR x\r\n', expect: [['*1\r\n-ERR x\r\n', 0]] },
  { name: 'error reply', input: '-ERR bad thing\r\n', expect: [['-ERR bad thing\r\n', E]] },
  { name: 'WRONGTYPE and BUSYKEY are plain errors', input: '-WRONGTYPE x\r\n-BUSYKEY Target key name already exists.\r\n', expect: [['-WRONGTYPE x\r\n', E], ['-BUSYKEY Target key name already exists.\r\n', E]] },
  {
    name: 'OOM, BUSY and LOADING are transient',
    input: '-OOM command not allowed\r\n-BUSY Redis is busy\r\n-LOADING Redis is loading\r\n-LOADING\r\n',
    expect: [['-OOM command not allowed\r\n', T], ['-BUSY Redis is busy\r\n', T], ['-LOADING Redis is loading\r\n', T], ['-LOADING\r\n', T]],
  },
  { name: 'only the exact first words are transient', input: '-OOMX a\r\n-BUS y\r\n-loading z\r\n-ERR OOM\r\n', expect: [['-OOMX a\r\n', E], ['-BUS y\r\n', E], ['-loading z\r\n', E], ['-ERR OOM\r\n', E]] },
  // A line ends at its first CR, which must be followed by LF (twemproxy's redis_parse_rsp;
  // nutcracker 0.5.0 answers -ERR Invalid argument to all of these).
  { name: 'status holding a lone CR', input: '+a\rb\r\n', expect: ['error'] },
  { name: 'error reply holding a lone CR', input: '-ERR a\rb\r\n', expect: ['error'] },
  { name: 'line ending in CR CR LF', input: '+OK\r\r\n', expect: ['error'] },
  { name: 'array element holding a lone CR', input: '*1\r\n+O\rK\r\n', expect: ['error'] },
  // A top-level integer holds digits and '-' only, anywhere, as in twemproxy; one inside an
  // array is not checked there either.
  { name: 'integers as twemproxy takes them', input: ':\r\n:-\r\n:1-2\r\n:007\r\n', expect: [[':\r\n', 0], [':-\r\n', 0], [':1-2\r\n', 0], [':007\r\n', 0]] },
  { name: 'integer holding a letter', input: ':12x\r\n', expect: ['error'] },
  { name: 'integer holding a space', input: ':1 \r\n', expect: ['error'] },
  {
    name: 'a server out of step: half an integer reply, then the next reply',
    input: ':1+OK\r\n$1\r\nc\r\n',
    expect: ['error'],
  },
  { name: 'array element integers are not checked', input: '*2\r\n:1x\r\n+OK\r\n', expect: [['*2\r\n:1x\r\n+OK\r\n', 0]] },
  { name: 'RESP3 types are framing errors', input: '+OK\r\n_\r\n+OK\r\n', expect: [['+OK\r\n', 0], 'error'] },
  { name: 'RESP3 map', input: '%1\r\n', expect: ['error'] },
  { name: 'RESP3 element inside an array', input: '*2\r\n:1\r\n,1.5\r\n', expect: ['error'] },
  { name: 'line ending in a bare LF', input: '+OK\n', expect: ['error'] },
  { name: 'bad bulk length', input: '$x\r\n', expect: ['error'] },
  { name: 'bulk length without digits', input: '$\r\n', expect: ['error'] },
  { name: 'negative length other than -1', input: '$-2\r\n', expect: ['error'] },
  { name: 'negative array count other than -1', input: '*-3\r\n', expect: ['error'] },
  { name: 'length CR not followed by LF', input: '$1\rx', expect: ['error'] },
  { name: 'bulk not followed by CR LF', input: '$1\r\nab\r\n', expect: ['error'] },
  { name: 'huge length', input: '$99999999999\r\n', expect: ['error'] },
  { name: 'nothing after a framing error', input: '+A\r\n!\r\n+B\r\n', expect: [['+A\r\n', 0], 'error'] },
];

function toEvents(expect: Case['expect']): ReplyEvent[] {
  return expect.map((e) => (e === 'error' ? { kind: 'error' } : { kind: 'reply', reply: e[0], flags: e[1] }));
}

describe('redis reply parser: table of cases, whole / byte by byte / random splits', () => {
  for (const c of CASES) {
    test(c.name, () => {
      const input = latin1(c.input);
      const want = toEvents(c.expect);
      for (const [n, chunks] of chunkings(input).entries()) {
        assert.deepEqual(parseReplies(chunks).events, want, `chunking ${n} (${chunks.length} chunks)`);
      }
    });
  }

  test('a reply inside one chunk is a zero-copy view; one spanning chunks is joined once', () => {
    const chunk = latin1('+OK\r\n$3\r\nabc\r\n*1\r\n$2\r\nxy');
    const parser = new RedisReplyParser();
    const sink = new ReplyRecorder();
    parser.feed(chunk, sink);
    assert.equal(sink.replies.length, 2);
    for (const r of sink.replies) assert.equal(r.buffer, chunk.buffer);
    assert.equal(parser.pendingBytes, 10);
    parser.feed(latin1('\r\n'), sink);
    assert.equal(parser.pendingBytes, 0);
    assert.equal(sink.events[2]!.kind === 'reply' && sink.events[2]!.reply, '*1\r\n$2\r\nxy\r\n');
  });

  test('a 16 MiB bulk in 64 KiB chunks', () => {
    const value = Buffer.alloc(16 * 1024 * 1024, 7);
    const stream = Buffer.concat([latin1(`$${value.length}\r\n`), value, latin1('\r\n:1\r\n')]);
    const chunks: Buffer[] = [];
    for (let i = 0; i < stream.length; i += 65536) chunks.push(stream.subarray(i, i + 65536));
    const { replies } = parseReplies(chunks);
    assert.equal(replies.length, 2);
    assert.ok(replies[0]!.equals(stream.subarray(0, stream.length - 4)));
  });

  test('large replies are offered for streaming once, when incomplete at STREAM_MIN_BYTES; errors never', () => {
    const value = 'x'.repeat(200_000);
    const bulk = `$${value.length}\r\n${value}\r\n`;
    const error = `-ERR ${value}\r\n`;
    const stream = latin1(`+OK\r\n${bulk}${error}${bulk}`);
    const chunks: Buffer[] = [];
    for (let i = 0; i < stream.length; i += 65536) chunks.push(stream.subarray(i, i + 65536));
    const streamed = parseReplies(chunks, true);
    assert.deepEqual(streamed.events, parseReplies(chunks, false).events);
    assert.equal(streamed.streamed, 2, 'both bulks, not the error reply');
    // A large reply lying whole in one chunk is not streamed: it is a view of that chunk.
    assert.equal(parseReplies([stream], true).streamed, 0);
  });

  test('a streaming sink gets the head once, every piece in order, and the tail last', () => {
    const value = Buffer.alloc(100_000, 'q');
    const stream = Buffer.concat([latin1(`$${value.length}\r\n`), value, latin1('\r\n')]);
    const parser = new RedisReplyParser();
    const seen: string[] = [];
    const sink = {
      streamReply: (head: Buffer): boolean => (seen.push(`head ${head.length}`), true),
      onReplyPiece: (piece: Buffer): void => void seen.push(`piece ${piece.length}`),
      onReply: (tail: Buffer, flags: number): void => void seen.push(`tail ${tail.length} ${flags}`),
      onReplyFramingError: (reason: string): void => assert.fail(reason),
    };
    for (let i = 0; i < stream.length; i += 20_000) parser.feed(stream.subarray(i, i + 20_000), sink);
    // Pieces are kept up to 40,000 bytes (>= STREAM_MIN_BYTES), then passed on as they come.
    assert.equal(stream.length, 100_011);
    assert.deepEqual(seen, ['head 20000', ...Array<string>(5).fill('piece 20000'), 'tail 11 0']);
  });

  test('arrays nested 10,000 deep need no recursion', () => {
    const depth = 10000;
    const input = latin1('*1\r\n'.repeat(depth) + ':7\r\n');
    const { events } = parseReplies(splitAt(input, [3, 100, 20000]));
    assert.deepEqual(events, [{ kind: 'reply', reply: input.toString('latin1'), flags: 0 }]);
  });
});

// ---- properties

interface GenReply {
  bytes: string;
  flags: number;
}

/** A status line's text: any bytes but LF and CR (a line ends at its first CR). */
const lineArb = fc
  .uint8Array({ maxLength: 20 })
  .map((b) => Buffer.from(b.map((x) => (x === 10 || x === 13 ? 11 : x))).toString('latin1'));
const errorArb: fc.Arbitrary<GenReply> = fc
  .tuple(fc.constantFrom('ERR', 'OOM', 'BUSY', 'LOADING', 'BUSYKEY', 'NOAUTH', 'OOMS', 'MOVED'), fc.constantFrom('', ' some text', ' OOM'))
  .map(([word, rest]) => ({
    bytes: `-${word}${rest}\r\n`,
    flags: word === 'OOM' || word === 'BUSY' || word === 'LOADING' ? T : E,
  }));
const simpleArb: fc.Arbitrary<GenReply> = fc.oneof(
  lineArb.map((l) => ({ bytes: `+${l}\r\n`, flags: 0 })),
  fc.integer().map((n) => ({ bytes: `:${n}\r\n`, flags: 0 })),
  fc
    .uint8Array({ maxLength: 30 })
    .map((b) => Buffer.from(b).toString('latin1'))
    .map((s) => ({ bytes: `$${s.length}\r\n${s}\r\n`, flags: 0 })),
  fc.constantFrom('$-1\r\n', '*-1\r\n', '*0\r\n', '$0\r\n\r\n', '$2\r\n\r\n\r\n').map((bytes) => ({ bytes, flags: 0 })),
  errorArb,
);
const { reply: replyArb } = fc.letrec<{ reply: GenReply; array: GenReply }>((tie) => ({
  reply: fc.oneof({ depthSize: 'small', withCrossShrink: true }, simpleArb, tie('array')),
  array: fc
    .array(tie('reply'), { maxLength: 4 })
    .map((els) => ({ bytes: `*${els.length}\r\n${els.map((e) => e.bytes).join('')}`, flags: 0 })),
}));

const cutsArb = fc.array(fc.nat(), { maxLength: 12 });

describe('redis reply parser properties', () => {
  test('random nested replies are framed exactly, under any chunking', () => {
    fc.assert(
      fc.property(fc.array(replyArb, { minLength: 1, maxLength: 10 }), cutsArb, (replies, cuts) => {
        const stream = latin1(replies.map((r) => r.bytes).join(''));
        const want: ReplyEvent[] = replies.map((r) => ({ kind: 'reply', reply: r.bytes, flags: r.flags }));
        const whole = parseReplies([stream]);
        assert.deepEqual(whole.events, want);
        assert.equal(whole.pending, 0);
        const split = parseReplies(splitAt(stream, cuts.map((c) => c % (stream.length + 1))));
        assert.deepEqual(split.events, want);
      }),
      { numRuns: 400 },
    );
  });

  // Replies around STREAM_MIN_BYTES, so that some cross it while still incomplete.
  const bigArb: fc.Arbitrary<GenReply> = fc.oneof(
    fc.integer({ min: STREAM_MIN_BYTES - 64, max: 3 * STREAM_MIN_BYTES }).map((n) => ({ bytes: `$${n}\r\n${'v'.repeat(n)}\r\n`, flags: 0 })),
    fc
      .array(fc.integer({ min: 1000, max: STREAM_MIN_BYTES }), { minLength: 1, maxLength: 6 })
      .map((sizes) => ({ bytes: `*${sizes.length}\r\n${sizes.map((n) => `$${n}\r\n${'a'.repeat(n)}\r\n`).join('')}`, flags: 0 })),
    fc.integer({ min: STREAM_MIN_BYTES, max: 2 * STREAM_MIN_BYTES }).map((n) => ({ bytes: `-ERR ${'e'.repeat(n)}\r\n`, flags: E })),
  );

  test('streamed large replies reassemble to the same replies, under any chunking', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(replyArb, bigArb), { minLength: 1, maxLength: 6 }), cutsArb, (replies, cuts) => {
        const stream = latin1(replies.map((r) => r.bytes).join(''));
        const want: ReplyEvent[] = replies.map((r) => ({ kind: 'reply', reply: r.bytes, flags: r.flags }));
        const split = parseReplies(splitAt(stream, cuts.map((c) => c % (stream.length + 1))), true);
        assert.deepEqual(split.events, want);
        assert.equal(split.pending, 0);
      }),
      { numRuns: 200 },
    );
  });

  const garbageArb = fc
    .array(
      fc.oneof(
        fc.uint8Array({ maxLength: 30 }).map((b) => Buffer.from(b)),
        fc.constantFrom('*', '$', '\r\n', '*2\r\n', '$3\r\nabc\r\n', '$-1\r\n', ':1\r\n', '-ERR\r\n', '%', '_\r\n').map((s) => latin1(s)),
        replyArb.map((r) => latin1(r.bytes)),
      ),
      { maxLength: 12 },
    )
    .map((parts) => Buffer.concat(parts));

  test('garbage never throws, cuts do not matter, and nothing follows a framing error', () => {
    fc.assert(
      fc.property(garbageArb, cutsArb, (stream, cuts) => {
        const whole = parseReplies([stream]);
        const err = whole.events.findIndex((e) => e.kind === 'error');
        if (err >= 0) assert.equal(err, whole.events.length - 1, 'the framing error is the last event');
        const split = parseReplies(splitAt(stream, cuts.map((c) => c % (stream.length + 1))));
        assert.deepEqual(split.events, whole.events);
      }),
      { numRuns: 500 },
    );
  });
});

describe('redis reply parser: replies too large to gather (MAX_GATHERED_REPLY_BYTES)', () => {
  const CAP = 64;
  const TOO_LARGE: ReplyEvent = { kind: 'reply', reply: '', flags: REPLY_TOO_LARGE };

  test('a reply gathered past the bound is dropped and reported; the stream stays framed', () => {
    const big = `*3\r\n$50\r\n${'a'.repeat(50)}\r\n$-1\r\n$40\r\n${'b'.repeat(40)}\r\n`;
    const stream = latin1(`+A\r\n${big}:7\r\n`);
    for (const size of [1, 5, 10, 33]) {
      const parser = new RedisReplyParser(CAP);
      const sink = new ReplyRecorder();
      for (let at = 0; at < stream.length; at += size) parser.feed(stream.subarray(at, at + size), sink);
      assert.deepEqual(sink.events, [{ kind: 'reply', reply: '+A\r\n', flags: 0 }, TOO_LARGE, { kind: 'reply', reply: ':7\r\n', flags: 0 }], `chunks of ${size}`);
      assert.equal(parser.pendingBytes, 0);
    }
    // In one chunk nothing is gathered: the reply is whole.
    const whole = new ReplyRecorder();
    new RedisReplyParser(CAP).feed(stream, whole);
    assert.equal(whole.events[1]!.kind === 'reply' && whole.events[1]!.reply, big);
  });

  test('under any chunking every reply is whole or reported too large, never more than the bound kept', () => {
    fc.assert(
      fc.property(fc.array(replyArb, { minLength: 1, maxLength: 10 }), cutsArb, (replies, cuts) => {
        const stream = latin1(replies.map((r) => r.bytes).join(''));
        const parser = new RedisReplyParser(CAP);
        const sink = new ReplyRecorder();
        for (const c of splitAt(stream, cuts.map((x) => x % (stream.length + 1)))) {
          parser.feed(c, sink);
          assert.ok(parser.pendingBytes <= CAP, `kept ${parser.pendingBytes}`);
        }
        assert.equal(sink.events.length, replies.length);
        replies.forEach((r, i) => {
          const e = sink.events[i]!;
          if (r.bytes.length <= CAP) assert.deepEqual(e, { kind: 'reply', reply: r.bytes, flags: r.flags });
          else assert.ok(e.kind === 'reply' && ((e.reply === r.bytes && e.flags === r.flags) || (e.reply === '' && e.flags === REPLY_TOO_LARGE)));
        });
      }),
      { numRuns: 300 },
    );
  });
});
