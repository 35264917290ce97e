// The memcached reply counter and request batches of the load generator (bench/e2e/memcache-load.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { benchKey, buildBatch, MGET_KEYS, ReplyCounter } from '../../../../bench/e2e/memcache-load.js';

// Values hold bytes that look like reply lines, so only skipping by length counts right.
const STREAM = Buffer.from(
  [
    'STORED\r\n',
    'VALUE k1 0 7\r\nEND\r\nXY\r\n',
    'END\r\n',
    'VALUE a 5 0\r\n\r\nVALUE b 0 10\r\nSTORED\r\nEN\r\n',
    'END\r\n',
    'SERVER_ERROR out of memory\r\n',
    'END\r\n',
    'NOT_STORED\r\n',
    'CLIENT_ERROR bad data chunk\r\n',
    'ERROR\r\n',
    'EXISTS\r\n',
  ].join(''),
  'latin1',
);
const REPLIES = 9;
const ERRORS = 3;

test('counts replies and errors of a whole stream', () => {
  const c = new ReplyCounter();
  assert.equal(c.feed(STREAM), REPLIES);
  assert.equal(c.replies, REPLIES);
  assert.equal(c.errors, ERRORS);
});

test('the same counts however the stream is cut into chunks', () => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 1, max: STREAM.length - 1 }), { maxLength: 20 }), (cuts) => {
      const points = [0, ...cuts.sort((a, b) => a - b), STREAM.length];
      const c = new ReplyCounter();
      let total = 0;
      for (let i = 1; i < points.length; i++) total += c.feed(STREAM.subarray(points[i - 1], points[i]));
      assert.equal(total, REPLIES);
      assert.equal(c.errors, ERRORS);
    }),
  );
});

test('buildBatch writes depth requests of the right shape', () => {
  let n = 0;
  const next = (): number => n++;
  const value = Buffer.from('abc');
  const set = buildBatch('SET', 2, 100, value, next).toString('latin1');
  assert.equal(set, `set ${benchKey(0)} 0 0 3\r\nabc\r\nset ${benchKey(1)} 0 0 3\r\nabc\r\n`);
  const get = buildBatch('GET', 3, 2, value, next).toString('latin1');
  assert.equal(get, `get ${benchKey(0)}\r\nget ${benchKey(1)}\r\nget ${benchKey(0)}\r\n`);
  const mget = buildBatch('MGET_10', 1, 1000, value, next).toString('latin1');
  assert.equal(mget.split(' ').length, MGET_KEYS + 1);
  assert.ok(mget.startsWith('get key:') && mget.endsWith('\r\n'));
  assert.equal(benchKey(12345), 'key:000000012345');
});
