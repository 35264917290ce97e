/**
 * Tests of the redis Codec: multi-key fragment (byte-exact wire encoding, server order, first
 * keys), coalesce (merge order with duplicates and missing values, sums, error precedence),
 * errorReply and the AUTH / SELECT preamble.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { KeyRouter } from '../../../../src/proto/codec.js';
import { Msg, ROUTE_FRAGMENT, ROUTE_KEY } from '../../../../src/proto/message.js';
import { createRedisCodec } from '../../../../src/proto/redis/redis-codec.js';
import { latin1, parseRequests, parseReplies, req } from './redis-harness.js';

/** Routes a key by its first byte: 'a' → 0, 'b' → 1, ...; `dead` keys (starting with '!') → -1. */
class FirstByteRouter implements KeyRouter {
  calls = 0;
  serverIndexFor(buf: Buffer, start: number, end: number): number {
    this.calls++;
    if (end === start) return 0;
    const b = buf[start]!;
    if (b === 33) return -1;
    return (b - 97) % 8;
  }
}

const codec = createRedisCodec({ redisAuth: null, redisDb: 0 });
const owner = {
  onMsgDone: (): void => {},
  acceptsReplyPieces: (): boolean => false,
  onReplyPiece: (): void => {},
  onReplyHeld: (): void => {},
  onReplyArriving: (): void => {},
};

/** Parse one request and fragment it. */
function split(request: Buffer, router: KeyRouter = new FirstByteRouter()): { msg: Msg; frags: Msg[] } {
  const { msgs } = parseRequests([request]);
  assert.equal(msgs.length, 1);
  const msg = msgs[0]!;
  assert.equal(msg.route, ROUTE_FRAGMENT);
  msg.owner = owner;
  const frags = codec.fragment(msg, router);
  return { msg, frags };
}

/** Give each fragment its reply (framed through the reply parser, as the core would). */
function answer(frags: readonly Msg[], replies: readonly (string | { error: string })[]): void {
  assert.equal(frags.length, replies.length);
  for (const [i, r] of replies.entries()) {
    const f = frags[i]!;
    if (typeof r === 'string') {
      const framed = parseReplies([latin1(r)]);
      assert.equal(framed.replies.length, 1, `reply ${i} is one complete reply`);
      f.reply = framed.replies[0]!;
      f.replyFlags = framed.events[0]!.kind === 'reply' ? framed.events[0]!.flags : 0;
    } else {
      f.errorCode = r.error;
    }
    f.done = true;
  }
}

function coalesced(msg: Msg): string {
  codec.coalesce(msg);
  assert.equal(msg.closeAfter, false, 'the client is never closed by a fragmented command');
  return msg.reply!.toString('latin1');
}

describe('redis fragment', () => {
  test('MGET: one sub-request per server, ascending, lower-case name, keys in order, duplicates kept', () => {
    const { msg, frags } = split(req('MGET', 'c1', 'a1', 'c2', 'a1', 'b1'));
    assert.deepEqual(
      frags.map((f) => [f.serverIndex, f.data.toString('latin1')]),
      [
        [0, '*3\r\n$4\r\nmget\r\n$2\r\na1\r\n$2\r\na1\r\n'],
        [1, '*2\r\n$4\r\nmget\r\n$2\r\nb1\r\n'],
        [2, '*3\r\n$4\r\nmget\r\n$2\r\nc1\r\n$2\r\nc2\r\n'],
      ],
    );
    for (const f of frags) {
      assert.equal(f.route, ROUTE_KEY);
      assert.equal(f.parent, msg);
      assert.equal(f.owner, owner);
      assert.equal(f.cmd, msg.cmd);
    }
    assert.deepEqual(
      frags.map((f) => f.keyBuf.toString('latin1', f.keyStart, f.keyEnd)),
      ['a1', 'b1', 'c1'],
    );
    assert.equal(msg.fragments, frags);
    assert.equal(msg.pending, 3);
  });

  test('each sub-request parses back as the same command with its keys', () => {
    const keys = ['a', 'bb', '', 'a\r\n$1\r\nx', 'c'.repeat(300), 'b'];
    const { frags } = split(req('DEL', ...keys));
    const seen: string[] = [];
    for (const f of frags) {
      const { events } = parseRequests([f.data]);
      assert.equal(events.length, 1);
      const e = events[0]!;
      assert.ok(e.kind === 'req');
      assert.ok(e.data.startsWith('*') && e.data.includes('$3\r\ndel\r\n'));
      seen.push(...(e.keys ?? [e.key]));
    }
    assert.deepEqual(seen.sort(), [...keys].sort());
  });

  test('DEL, UNLINK, TOUCH and EXISTS use their own lower-case names', () => {
    for (const [name, lower] of [['DEL', '$3\r\ndel'], ['Unlink', '$6\r\nunlink'], ['TOUCH', '$5\r\ntouch'], ['exists', '$6\r\nexists']]) {
      const { frags } = split(req(name!, 'a', 'b'));
      assert.deepEqual(
        frags.map((f) => f.data.toString('latin1')),
        [`*2\r\n${lower}\r\n$1\r\na\r\n`, `*2\r\n${lower}\r\n$1\r\nb\r\n`],
      );
    }
  });

  test('MSET copies each key with its value', () => {
    const { frags } = split(req('MSET', 'b1', 'v\r\n1', 'a1', '', 'b2', 'value-2'));
    assert.deepEqual(
      frags.map((f) => [f.serverIndex, f.data.toString('latin1')]),
      [
        [0, '*3\r\n$4\r\nmset\r\n$2\r\na1\r\n$0\r\n\r\n'],
        [1, '*5\r\n$4\r\nmset\r\n$2\r\nb1\r\n$4\r\nv\r\n1\r\n$2\r\nb2\r\n$7\r\nvalue-2\r\n'],
      ],
    );
    assert.deepEqual(
      frags.map((f) => f.keyBuf.toString('latin1', f.keyStart, f.keyEnd)),
      ['a1', 'b1'],
    );
  });

  test('keys of one server still make one fragment; keys with no live server go to index -1 first', () => {
    assert.equal(split(req('MGET', 'a1', 'a2', 'a3')).frags.length, 1);
    const { frags } = split(req('MGET', 'b', '!x', 'a', '!y'));
    assert.deepEqual(
      frags.map((f) => [f.serverIndex, f.data.toString('latin1')]),
      [
        [-1, '*3\r\n$4\r\nmget\r\n$2\r\n!x\r\n$2\r\n!y\r\n'],
        [0, '*2\r\n$4\r\nmget\r\n$1\r\na\r\n'],
        [1, '*2\r\n$4\r\nmget\r\n$1\r\nb\r\n'],
      ],
    );
  });
});

describe('redis: every key on one server', () => {
  test('the request is sent as the client wrote it (no copy) and keys point into it', () => {
    for (const request of [req('MGET', 'a1', 'a2', 'a1'), req('Del', 'a', 'ab'), req('MSET', 'a', '1', 'ab', '2')]) {
      const { msg, frags } = split(request);
      assert.equal(frags.length, 1);
      const f = frags[0]!;
      assert.equal(f.data, msg.data, 'the same Buffer, not a re-encoding');
      assert.equal(f.serverIndex, 0);
      assert.equal(f.parent, msg);
      assert.equal(msg.pending, 1);
      assert.equal(f.data.toString('latin1', f.keyStart, f.keyEnd), 'a' + (request.includes('a1') ? '1' : ''));
    }
  });

  test('its reply passes through when it has the merged shape, else -ERR Invalid argument', () => {
    const cases: [Buffer, string, string][] = [
      [req('MGET', 'a1', 'a2', 'a1'), '*3\r\n$1\r\nx\r\n$-1\r\n$1\r\nx\r\n', '*3\r\n$1\r\nx\r\n$-1\r\n$1\r\nx\r\n'],
      [req('MGET', 'a1', 'a2'), '*1\r\n$1\r\nx\r\n', '-ERR Invalid argument\r\n'],
      [req('MGET', 'a1', 'a2'), '-NOPERM no\r\n', '-ERR Invalid argument\r\n'],
      [req('DEL', 'a1', 'a2'), ':2\r\n', ':2\r\n'],
      [req('EXISTS', 'a1', 'a2'), '+OK\r\n', '-ERR Invalid argument\r\n'],
      [req('MSET', 'a', '1', 'ab', '2'), '+OK\r\n', '+OK\r\n'],
      [req('MSET', 'a', '1', 'ab', '2'), '-READONLY no\r\n', '-ERR Invalid argument\r\n'],
      // twemproxy, which always merges, answers +OK to any status: so does the one server's.
      [req('MSET', 'a', '1', 'ab', '2'), '+QUEUED\r\n', '+OK\r\n'],
      // twemproxy sends EXISTS whole to one server and passes its error on.
      [req('EXISTS', 'a1', 'a2'), '-NOAUTH Authentication required.\r\n', '-NOAUTH Authentication required.\r\n'],
    ];
    for (const [request, reply, want] of cases) {
      const { msg, frags } = split(request);
      answer(frags, [reply]);
      assert.equal(coalesced(msg), want, `${request.toString('latin1')} ← ${reply}`);
    }
  });

  test('a transport failure of the one server gives its error reply', () => {
    const { msg, frags } = split(req('MGET', 'a', 'ab'));
    answer(frags, [{ error: 'ECONNRESET' }]);
    assert.equal(coalesced(msg), '-ERR Connection reset by peer\r\n');
  });
});

describe('redis coalesce', () => {
  test('MGET merges in request order with duplicates and missing values', () => {
    const { msg, frags } = split(req('MGET', 'c1', 'a1', 'c2', 'a1', 'b1', 'a2'));
    // server 0 got a1 a1 a2, server 1 b1, server 2 c1 c2
    answer(frags, ['*3\r\n$2\r\nA1\r\n$2\r\nA1\r\n$-1\r\n', '*1\r\n$-1\r\n', '*2\r\n$5\r\nC\r\n1!\r\n$2\r\nC2\r\n']);
    assert.equal(coalesced(msg), '*6\r\n$5\r\nC\r\n1!\r\n$2\r\nA1\r\n$2\r\nC2\r\n$2\r\nA1\r\n$-1\r\n$-1\r\n');
  });

  test('DEL, UNLINK, TOUCH and EXISTS sum the integers', () => {
    for (const name of ['DEL', 'UNLINK', 'TOUCH', 'EXISTS']) {
      const { msg, frags } = split(req(name, 'a', 'b', 'c', 'a'));
      answer(frags, [':2\r\n', ':0\r\n', ':1\r\n']);
      assert.equal(coalesced(msg), ':3\r\n', name);
    }
  });

  test('MSET answers +OK', () => {
    const { msg, frags } = split(req('MSET', 'a', '1', 'b', '2'));
    answer(frags, ['+OK\r\n', '+OK\r\n']);
    assert.equal(coalesced(msg), '+OK\r\n');
  });

  test('the first failed fragment in server index order gives the error, as twemproxy picks it', () => {
    // An unexpected sub-reply counts as twemproxy's EINVAL where it stands.
    const first = split(req('MGET', 'a', 'b', 'c'));
    answer(first.frags, ['-ERR wrong\r\n', { error: 'ETIMEDOUT' }, { error: 'ECONNREFUSED' }]);
    assert.equal(coalesced(first.msg), '-ERR Invalid argument\r\n');
    const second = split(req('MGET', 'a', 'b', 'c'));
    answer(second.frags, ['*1\r\n$1\r\nx\r\n', { error: 'ETIMEDOUT' }, '-ERR wrong\r\n']);
    assert.equal(coalesced(second.msg), '-ERR Connection timed out\r\n');
    // A server that only closed the connection is passed over for a later fragment's cause
    // (one server closing, the other down: twemproxy says Connection refused).
    const closed = split(req('DEL', 'a', 'b'));
    answer(closed.frags, [{ error: '' }, { error: 'ECONNREFUSED' }]);
    assert.equal(coalesced(closed.msg), '-ERR Connection refused\r\n');
  });

  test("EXISTS passes on the error reply of its first key's server, as twemproxy, which asks that server only", () => {
    // b's server (fragment 1) answers the error: it is the reply, whatever the others say.
    const firstKey = split(req('EXISTS', 'b', 'a', 'c'));
    answer(firstKey.frags, [':1\r\n', '-NOAUTH Authentication required.\r\n', ':1\r\n']);
    assert.equal(coalesced(firstKey.msg), '-NOAUTH Authentication required.\r\n');
    // An error from another key's server, or a transport failure of the first key's, is a
    // failed fragment as for DEL.
    const other = split(req('EXISTS', 'a', 'b'));
    answer(other.frags, [':1\r\n', '-NOAUTH Authentication required.\r\n']);
    assert.equal(coalesced(other.msg), '-ERR Invalid argument\r\n');
    const down = split(req('EXISTS', 'a', 'b'));
    answer(down.frags, [{ error: 'ECONNREFUSED' }, '-NOAUTH Authentication required.\r\n']);
    assert.equal(coalesced(down.msg), '-ERR Connection refused\r\n');
  });

  test('a server that closed the connection gives -ERR unknown', () => {
    const { msg, frags } = split(req('DEL', 'a', 'b'));
    answer(frags, [':1\r\n', { error: '' }]);
    assert.equal(coalesced(msg), '-ERR unknown\r\n');
  });

  test('an unexpected sub-reply gives -ERR Invalid argument', () => {
    const bad: [Buffer, string[]][] = [
      [req('MGET', 'a', 'b'), ['*1\r\n$1\r\nx\r\n', '-READONLY You can\'t write against a read only replica.\r\n']],
      [req('MGET', 'a', 'b'), ['*1\r\n$1\r\nx\r\n', '$1\r\nx\r\n']],
      [req('MGET', 'a', 'a', 'b'), ['*1\r\n$1\r\nx\r\n', '*1\r\n$1\r\ny\r\n']],
      [req('MGET', 'a', 'b'), ['*-1\r\n', '*1\r\n$1\r\ny\r\n']],
      [req('DEL', 'a', 'b'), [':1\r\n', '+OK\r\n']],
      [req('DEL', 'a', 'b'), [':1\r\n', '-READONLY no\r\n']],
      [req('EXISTS', 'a', 'b'), [':1\r\n', '$1\r\n1\r\n']],
      [req('MSET', 'a', '1', 'b', '2'), ['+OK\r\n', '-OOM no\r\n']],
      [req('MSET', 'a', '1', 'b', '2'), [':1\r\n', '+OK\r\n']],
    ];
    for (const [request, replies] of bad) {
      const { msg, frags } = split(request);
      answer(frags, replies);
      assert.equal(coalesced(msg), '-ERR Invalid argument\r\n', `${request.toString('latin1')} ← ${replies.join(' ')}`);
    }
  });

  test('MGET elements may themselves be arrays or errors and are copied whole', () => {
    const { msg, frags } = split(req('MGET', 'b', 'a'));
    answer(frags, ['*1\r\n*2\r\n:1\r\n$1\r\nz\r\n', '*1\r\n-ERR odd\r\n']);
    assert.equal(coalesced(msg), '*2\r\n-ERR odd\r\n*2\r\n:1\r\n$1\r\nz\r\n');
  });

  test('a 10,000-key MGET over 8 servers round-trips in order', () => {
    const letters = 'abcdefgh';
    const keys = Array.from({ length: 10000 }, (_, i) => `${letters[(i * 7) % 8]}${i % 3000}`);
    const router = new FirstByteRouter();
    const { msg, frags } = split(req('MGET', ...keys), router);
    assert.equal(router.calls, keys.length);
    assert.equal(frags.length, 8);
    // Each server answers with the value `v:<key>` for every key it was asked, except keys ending in 7.
    const replies = frags.map((f) => {
      const { events } = parseRequests([f.data]);
      const e = events[0]!;
      assert.ok(e.kind === 'req' && e.keys !== null);
      const asked = e.keys;
      return `*${asked.length}\r\n${asked.map((k) => (k.endsWith('7') ? '$-1\r\n' : `$${k.length + 2}\r\nv:${k}\r\n`)).join('')}`;
    });
    answer(frags, replies);
    const merged = latin1(coalesced(msg));
    const expected = `*${keys.length}\r\n${keys.map((k) => (k.endsWith('7') ? '$-1\r\n' : `$${k.length + 2}\r\nv:${k}\r\n`)).join('')}`;
    assert.equal(merged.toString('latin1'), expected);
  });
});

/** The arguments of one multi-bulk request, read by their lengths. */
function multiBulkArgs(data: Buffer): string[] {
  const text = data.toString('latin1');
  let at = text.indexOf('\r\n') + 2;
  const count = Number(text.slice(1, at - 2));
  const args: string[] = [];
  for (let i = 0; i < count; i++) {
    const lineEnd = text.indexOf('\r\n', at);
    const len = Number(text.slice(at + 1, lineEnd));
    args.push(text.slice(lineEnd + 2, lineEnd + 2 + len));
    at = lineEnd + 2 + len + 2;
  }
  assert.equal(at, text.length, 'nothing after the last argument');
  return args;
}

describe('redis fragment and coalesce, property', () => {
  // Keys a..h land on servers 0..7 and '!' keys on -1 (no live server); MGET, DEL and MSET of
  // random keys, duplicates included, one after another so that scratch state carries over.
  const key = fc.tuple(fc.constantFrom(...'abcdefgh!'), fc.string({ maxLength: 20 })).map(([c, rest]) => c + rest);
  const command = fc.record({
    name: fc.constantFrom('MGET', 'DEL', 'MSET'),
    keys: fc.array(key, { minLength: 2, maxLength: 60 }),
  });

  test('fragments are ascending by server, hold their keys in request order, and merge back', () => {
    fc.assert(
      fc.property(fc.array(command, { minLength: 1, maxLength: 8 }), (commands) => {
        for (const { name, keys } of commands) {
          const router = new FirstByteRouter();
          const args = name === 'MSET' ? keys.flatMap((k, i) => [k, `v${i}`]) : keys;
          const { msg, frags } = split(req(name, ...args), router);
          const serverOf = (k: string): number => router.serverIndexFor(latin1(k), 0, k.length);
          const servers = [...new Set(keys.map(serverOf))].sort((a, b) => a - b);
          if (servers.length === 1) {
            assert.equal(frags.length, 1);
            continue;
          }
          assert.deepEqual(
            frags.map((f) => f.serverIndex),
            servers,
          );
          const replies = frags.map((f, i) => {
            const mine = keys.map((k, j) => [k, j] as const).filter(([k]) => serverOf(k) === servers[i]);
            const expectedArgs = name === 'MSET' ? mine.flatMap(([k, j]) => [k, `v${j}`]) : mine.map(([k]) => k);
            assert.deepEqual(multiBulkArgs(f.data), [name.toLowerCase(), ...expectedArgs]);
            // Routing key: the fragment's first key.
            assert.equal(f.keyBuf.toString('latin1', f.keyStart, f.keyEnd), mine[0]![0]);
            if (name === 'MGET') return `*${mine.length}\r\n${mine.map(([k]) => `$${k.length + 1}\r\n=${k}\r\n`).join('')}`;
            if (name === 'DEL') return `:${mine.length}\r\n`;
            return '+OK\r\n';
          });
          answer(frags, replies);
          const merged = coalesced(msg);
          if (name === 'MGET') assert.equal(merged, `*${keys.length}\r\n${keys.map((k) => `$${k.length + 1}\r\n=${k}\r\n`).join('')}`);
          else if (name === 'DEL') assert.equal(merged, `:${keys.length}\r\n`);
          else assert.equal(merged, '+OK\r\n');
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('redis codec basics', () => {
  test('errorReply', () => {
    assert.equal(codec.errorReply('Connection refused').toString('latin1'), '-ERR Connection refused\r\n');
    assert.equal(codec.protocol, 'redis');
  });

  test('fenceRequest: none (every redis request has a reply)', () => {
    assert.equal(codec.fenceRequest(), null);
  });

  test('connectPreamble: nothing, AUTH, SELECT, or AUTH then SELECT', () => {
    const wire = (redisAuth: string | null, redisDb: number): string[][] =>
      createRedisCodec({ redisAuth, redisDb })
        .connectPreamble()
        .map((m) => {
          assert.equal(m.internal, true);
          return [m.data.toString('latin1')];
        });
    assert.deepEqual(wire(null, 0), []);
    assert.deepEqual(wire('pw', 0), [['*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n']]);
    assert.deepEqual(wire(null, 12), [['*2\r\n$6\r\nSELECT\r\n$2\r\n12\r\n']]);
    assert.deepEqual(wire('sécret', 3), [['*2\r\n$4\r\nAUTH\r\n$7\r\ns\xc3\xa9cret\r\n'], ['*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n']]);
    const c = createRedisCodec({ redisAuth: 'pw', redisDb: 1 });
    const first = c.connectPreamble();
    const second = c.connectPreamble();
    assert.notEqual(first[0], second[0], 'every connection gets its own Msgs');
  });

  test('the request parser of a codec with redis_auth requires AUTH', () => {
    const c = createRedisCodec({ redisAuth: 'pw', redisDb: 0 });
    const parser = c.newRequestParser();
    const got: string[] = [];
    const sink = {
      onRequest: (m: Msg): void => {
        got.push(m.reply === null ? 'forward' : m.reply.toString('latin1'));
      },
      onFramingError: (): void => {},
    };
    parser.feed(Buffer.concat([req('GET', 'k'), req('AUTH', 'pw'), req('GET', 'k')]), sink);
    assert.deepEqual(got, ['-NOAUTH Authentication required\r\n', '+OK\r\n', 'forward']);
    // Authentication is per client: a new parser starts unauthenticated.
    const other = c.newRequestParser();
    got.length = 0;
    other.feed(req('GET', 'k'), sink);
    assert.deepEqual(got, ['-NOAUTH Authentication required\r\n']);
  });
});
