// Command-line options of `npm run bench` and request counts (bench/e2e/options.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseBenchArgs, requestCount, SECTIONS } from '../../../../bench/e2e/options.js';

test('defaults, --quick and explicit values', () => {
  const d = parseBenchArgs([]);
  assert.equal(d.rounds, 3);
  assert.equal(d.scale, 1);
  assert.equal(d.quick, false);
  assert.deepEqual([...d.sections], [...SECTIONS]);
  assert.equal(d.idleClients, 10_000);
  assert.equal(d.pin, false);
  assert.equal(parseBenchArgs(['--pin']).pin, true);
  const q = parseBenchArgs(['--quick']);
  assert.equal(q.rounds, 1);
  assert.equal(q.scale, 0.25);
  const e = parseBenchArgs(['--quick', '--rounds', '2', '--scale=0.5', '--only', 'redis,idle', '--walnut-args', ' --workers  2 ']);
  assert.equal(e.rounds, 2);
  assert.equal(e.scale, 0.5);
  assert.deepEqual([...e.sections], ['redis', 'idle']);
  assert.deepEqual(e.walnutArgs, ['--workers', '2']);
  assert.deepEqual(e.twemproxyArgs, []);
  assert.deepEqual(parseBenchArgs(['--twemproxy-args=-v 5']).twemproxyArgs, ['-v', '5']);
  assert.deepEqual(parseBenchArgs(['--twemproxy-args', ' -v  5 -m 512 ']).twemproxyArgs, ['-v', '5', '-m', '512']);
  assert.equal(parseBenchArgs(['-h']).help, true);
  assert.deepEqual([...d.skip], []);
  assert.deepEqual([...parseBenchArgs(['--skip', 'mset, MGET_10,']).skip], ['MSET', 'MGET_10']);
  assert.deepEqual([...parseBenchArgs(['--skip=LRANGE_100']).skip], ['LRANGE_100']);
});

test('bad input is an error naming the option', () => {
  assert.throws(() => parseBenchArgs(['--rounds', '0']), /--rounds: not a positive integer/);
  assert.throws(() => parseBenchArgs(['--rounds']), /--rounds needs a value/);
  assert.throws(() => parseBenchArgs(['--twemproxy-args']), /--twemproxy-args needs a value/);
  assert.throws(() => parseBenchArgs(['--scale', 'x']), /--scale/);
  assert.throws(() => parseBenchArgs(['--only', 'redis,disk']), /unknown section disk/);
  assert.throws(() => parseBenchArgs(['--fast']), /unknown option --fast/);
  assert.throws(() => parseBenchArgs(['--skip', 'MSET,HSET']), /--skip: unknown test HSET \(tests: SET, GET, INCR, LPUSH, LRANGE_100, MSET, MGET_10\)/);
  assert.throws(() => parseBenchArgs(['--skip']), /--skip needs a value/);
  assert.throws(() => parseBenchArgs(['--skip=']), /--skip: no test given/);
  assert.throws(() => parseBenchArgs(['--skip', ' , ']), /--skip: no test given/);
});

test('requestCount scales, rounds to thousands and keeps a floor of batches per client', () => {
  assert.equal(requestCount(40_000, 1, 1, 50, 1), 40_000);
  assert.equal(requestCount(300_000, 0.1, 0.25, 50, 16), 8_000);
  assert.equal(requestCount(300_000, 0.01, 0.01, 50, 16), 50 * 16 * 4);
});
