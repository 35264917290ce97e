/**
 * Property tests of the redis request parser: random valid request streams parse to the Msgs
 * their model predicts, identically under any chunking; random garbage never throws, parses
 * the same however it is cut, and yields no Msg after a framing error.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ROUTE_FRAGMENT, ROUTE_KEY, ROUTE_LOCAL, ROUTE_QUIT } from '../../../../src/proto/message.js';
import { parseRequests, req, splitAt } from './redis-harness.js';

/** Binary argument bytes, often holding CR LF and protocol-looking text. */
const argArb: fc.Arbitrary<Buffer> = fc
  .array(
    fc.oneof(
      fc.constantFrom('\r\n', '\r', '\n', '*1\r\n', '$3\r\n', 'PING\r\n', '', ' '),
      fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b).toString('latin1')),
    ),
    { maxLength: 5 },
  )
  .map((parts) => Buffer.from(parts.join(''), 'latin1'));

interface Model {
  bytes: Buffer;
  /** Expected route, and the routing key when it is forwarded by key. */
  route: number;
  key: Buffer | null;
  /** Expected request bytes (the encoding itself for multi-bulk requests). */
  data: Buffer;
}

const requestArb: fc.Arbitrary<Model> = fc.oneof(
  // single-key commands in any letter case
  fc.tuple(fc.constantFrom('GET', 'get', 'Ttl', 'STRLEN'), argArb).map(([name, key]) => {
    const bytes = req(name, key);
    return { bytes, route: ROUTE_KEY, key, data: bytes };
  }),
  fc.tuple(fc.constantFrom('SET', 'HSET', 'lpush', 'SADD', 'ZADD'), argArb, fc.array(argArb, { minLength: 2, maxLength: 4 })).map(
    ([name, key, rest]) => {
      const bytes = req(name, key, ...rest);
      return { bytes, route: ROUTE_KEY, key, data: bytes };
    },
  ),
  // multi-key commands
  fc.tuple(fc.constantFrom('MGET', 'DEL', 'unlink', 'TOUCH', 'EXISTS'), fc.array(argArb, { minLength: 1, maxLength: 6 })).map(
    ([name, keys]) => {
      const bytes = req(name, ...keys);
      return { bytes, route: keys.length > 1 ? ROUTE_FRAGMENT : ROUTE_KEY, key: keys[0]!, data: bytes };
    },
  ),
  fc.array(fc.tuple(argArb, argArb), { minLength: 1, maxLength: 4 }).map((pairs) => {
    const bytes = req('MSET', ...pairs.flat());
    return { bytes, route: pairs.length > 1 ? ROUTE_FRAGMENT : ROUTE_KEY, key: pairs[0]![0], data: bytes };
  }),
  fc.tuple(argArb, fc.array(argArb, { minLength: 1, maxLength: 3 }), fc.array(argArb, { maxLength: 2 })).map(
    ([script, keys, args]) => {
      const bytes = req('EVAL', script, String(keys.length), ...keys, ...args);
      return { bytes, route: ROUTE_KEY, key: keys[0]!, data: bytes };
    },
  ),
  // local answers and errors
  fc.constantFrom(req('PING'), req('ECHO', 'x'), req('KEYS', '*'), req('NOSUCH'), req('GET'), req('SELECT', '0')).map((bytes) => ({
    bytes,
    route: ROUTE_LOCAL,
    key: null,
    data: bytes,
  })),
  fc.constant(req('quit')).map((bytes) => ({ bytes, route: ROUTE_QUIT, key: null, data: bytes })),
  // inline commands: words without blanks, quotes, NUL or LF (inline.test.ts has the rest)
  fc
    .tuple(
      fc.constantFrom('GET', 'get', 'TTL'),
      fc
        .uint8Array({ minLength: 1, maxLength: 12 })
        .map((b) => Buffer.from(b.map((x) => ([0, 9, 10, 11, 12, 13, 32, 34, 39].includes(x) ? 65 : x)))),
      fc.constantFrom(' ', '  ', '\t'),
      fc.constantFrom('\r\n', '\n', ' \r\n'),
    )
    .map(([name, key, sep, end]) => ({
      bytes: Buffer.concat([Buffer.from(name + sep, 'latin1'), key, Buffer.from(end, 'latin1')]),
      route: ROUTE_KEY,
      key,
      data: req(name, key),
    })),
);

const cutsArb = fc.array(fc.nat(), { maxLength: 12 });

describe('redis request parser properties', () => {
  test('valid requests give their model Msgs, the same under any chunking', () => {
    fc.assert(
      fc.property(fc.array(requestArb, { minLength: 1, maxLength: 12 }), cutsArb, (models, cuts) => {
        const stream = Buffer.concat(models.map((m) => m.bytes));
        const whole = parseRequests([stream]);
        assert.equal(whole.msgs.length, models.length);
        assert.equal(whole.pending, 0);
        for (const [i, m] of models.entries()) {
          const msg = whole.msgs[i]!;
          assert.equal(msg.route, m.route, `request ${i} route`);
          assert.ok(msg.data.equals(m.data), `request ${i} data`);
          if (m.key !== null) assert.ok(msg.keyBuf.subarray(msg.keyStart, msg.keyEnd).equals(m.key), `request ${i} key`);
        }
        const scaled = cuts.map((c) => c % (stream.length + 1));
        const split = parseRequests(splitAt(stream, scaled));
        assert.deepEqual(split.events, whole.events);
      }),
      { numRuns: 300 },
    );
  });

  const garbageArb = fc
    .array(
      fc.oneof(
        fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
        fc.constantFrom('*', '$', '\r\n', '*2\r\n', '$3\r\nGET\r\n', '$-1\r\n', '*0\r\n', 'PING\r\n', '$99999999999\r\n').map((s) =>
          Buffer.from(s, 'latin1'),
        ),
        requestArb.map((m) => m.bytes),
      ),
      { maxLength: 12 },
    )
    .map((parts) => Buffer.concat(parts));

  test('garbage never throws, cuts do not matter, and nothing follows a framing error', () => {
    fc.assert(
      fc.property(garbageArb, cutsArb, (stream, cuts) => {
        const whole = parseRequests([stream]);
        const framing = whole.events.findIndex((e) => e.kind === 'framing');
        if (framing >= 0) assert.equal(framing, whole.events.length - 1, 'the framing error is the last event');
        const split = parseRequests(splitAt(stream, cuts.map((c) => c % (stream.length + 1))));
        assert.deepEqual(split.events, whole.events);
      }),
      { numRuns: 500 },
    );
  });

  test('with a password, the auth state is the same under any chunking', () => {
    const authArb = fc.constantFrom(req('AUTH', 'pw'), req('AUTH', 'bad'), req('GET', 'k'), req('PING'), req('AUTH', 'default', 'pw'));
    fc.assert(
      fc.property(fc.array(authArb, { maxLength: 10 }), cutsArb, (reqs, cuts) => {
        const stream = Buffer.concat(reqs);
        const whole = parseRequests([stream], 'pw');
        const split = parseRequests(splitAt(stream, cuts.map((c) => c % (stream.length + 1))), 'pw');
        assert.deepEqual(split.events, whole.events);
      }),
      { numRuns: 200 },
    );
  });
});
