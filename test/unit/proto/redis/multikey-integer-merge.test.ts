// DEL, UNLINK, TOUCH and EXISTS split over several servers answer the sum of the servers'
// integer replies. The framing reply parser takes a `:` line of digits and '-' in any order
// (twemproxy's rule; other bytes fail the server connection), so the merge itself must read
// the integer: a negative one is added as such, and a line that is not an integer (from a
// misbehaving server: `:`, `:-`, `:--1`, or below, bytes the framer would have refused) fails
// the request with twemproxy's `-ERR Invalid argument`, never a wrong sum. The same holds when
// one server answered for every key.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { KeyRouter } from '../../../../src/proto/codec.js';
import type { Msg } from '../../../../src/proto/message.js';
import { createRedisCodec } from '../../../../src/proto/redis/redis-codec.js';
import { latin1, parseRequests, req } from './redis-harness.js';

/** Keys starting with 'a' go to server 0, 'b' to server 1, and so on. */
const byFirstByte: KeyRouter = {
  serverIndexFor: (buf, start, end) => (end === start ? 0 : (buf[start]! - 97) % 8),
};

const codec = createRedisCodec({ redisAuth: null, redisDb: 0 });
const owner = {
  onMsgDone: (): void => {},
  acceptsReplyPieces: (): boolean => false,
  onReplyPiece: (): void => {},
  onReplyHeld: (): void => {},
  onReplyArriving: (): void => {},
};

/**
 * The merged reply to `request` when its fragments, in server order, get `replies` (set as
 * they are: the merge must not rely on the framer having checked them).
 */
function merged(request: Buffer, replies: readonly string[]): string {
  const msg: Msg = parseRequests([request]).msgs[0]!;
  msg.owner = owner;
  const frags = codec.fragment(msg, byFirstByte);
  assert.equal(frags.length, replies.length, 'one reply per fragment');
  for (const [i, r] of replies.entries()) {
    frags[i]!.reply = latin1(r);
    frags[i]!.done = true;
  }
  codec.coalesce(msg);
  return msg.reply!.toString('latin1');
}

describe('integer sums of split multi-key commands', () => {
  test('every integer counts, a negative one too', () => {
    assert.equal(merged(req('DEL', 'a1', 'b1', 'c1'), [':1\r\n', ':0\r\n', ':1\r\n']), ':2\r\n');
    assert.equal(merged(req('EXISTS', 'a1', 'b1'), [':2\r\n', ':-1\r\n']), ':1\r\n');
    assert.equal(merged(req('TOUCH', 'a1', 'b1'), [':-3\r\n', ':1\r\n']), ':-2\r\n');
    assert.equal(merged(req('UNLINK', 'a1', 'b1'), [':007\r\n', ':0\r\n']), ':7\r\n');
  });

  test('a sub-reply that is a `:` line but no integer fails the request', () => {
    for (const bad of [':1x\r\n', ':\r\n', ':-\r\n', ':+1\r\n', ':1 \r\n', ':--1\r\n']) {
      assert.equal(merged(req('DEL', 'a1', 'b1'), [':1\r\n', bad]), '-ERR Invalid argument\r\n', `DEL ← :1, ${JSON.stringify(bad)}`);
      assert.equal(merged(req('EXISTS', 'a1', 'b1'), [bad, ':1\r\n']), '-ERR Invalid argument\r\n', `EXISTS ← ${JSON.stringify(bad)}, :1`);
    }
  });

  test('one server for every key: its integer passes through, a malformed one fails', () => {
    assert.equal(merged(req('DEL', 'a1', 'a2'), [':-4\r\n']), ':-4\r\n');
    for (const bad of [':\r\n', ':-\r\n', ':4x\r\n']) {
      assert.equal(merged(req('DEL', 'a1', 'a2'), [bad]), '-ERR Invalid argument\r\n', JSON.stringify(bad));
    }
  });
});
