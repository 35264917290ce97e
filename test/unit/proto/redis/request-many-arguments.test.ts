// A request with more arguments than the parser sizes its offset arrays for from the `*N`
// header alone (65,536): past that it grows them while reading, on the fast path (whole
// elements in one read) and on the byte-by-byte path (elements cut across reads). Every key
// must come out, in order, however the bytes arrive.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ROUTE_FRAGMENT } from '../../../../src/proto/message.js';
import { parseRequests, req, splitAt } from './redis-harness.js';

const N = 70_000;
const keys = Array.from({ length: N }, (_, i) => `key:${i}`);
const request = req('MGET', ...keys);

function keysParsed(chunks: Buffer[]): string[] {
  const { events, pending } = parseRequests(chunks);
  assert.equal(pending, 0);
  assert.equal(events.length, 1);
  const e = events[0]!;
  assert.ok(e.kind === 'req' && e.route === ROUTE_FRAGMENT);
  return e.keys ?? [];
}

test(`MGET with ${N} keys in one read`, () => {
  assert.deepEqual(keysParsed([request]), keys);
});

test(`MGET with ${N} keys in reads of 7 bytes (every element cut across reads)`, () => {
  const cuts: number[] = [];
  for (let at = 7; at < request.length; at += 7) cuts.push(at);
  assert.deepEqual(keysParsed(splitAt(request, cuts)), keys);
});

test(`MGET with ${N} keys, whole elements up to the 65,536th, then each one cut after its $`, () => {
  // Up to there the fast path fills the presized arrays; past it every element is read on the
  // byte-by-byte path, which must grow them.
  const starts: number[] = [];
  let at = request.indexOf('\r\n') + 2 + `$4\r\nMGET\r\n`.length;
  for (const k of keys) {
    starts.push(at);
    at += `$${k.length}\r\n${k}\r\n`.length;
  }
  assert.equal(at, request.length);
  // The request's elements are MGET and the keys: key i is element i + 1.
  const cuts = starts.slice(65_535).map((s) => s + 1);
  assert.deepEqual(keysParsed(splitAt(request, cuts)), keys);
});
