// Parsing redis-benchmark --csv output and building its command line (bench/e2e/redis-benchmark.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  countServerErrors,
  parseRedisBenchmarkCsv,
  redisBenchmarkArgs,
  splitCsvLine,
} from '../../../../bench/e2e/redis-benchmark.js';

// Verbatim redis-benchmark 7.0.15 output with a warning nutcracker causes, and -e error lines.
const OUTPUT = [
  'WARNING: Could not fetch server CONFIG',
  '"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"',
  'Error from server: ERR unknown command',
  '"SET","266666.66","2.084","0.568","1.823","3.639","9.431","9.767"',
  '"MSET (10 keys)","163934.42","4.270","0.768","4.191","7.263","7.903","8.183"',
  '"lrange mylist 0 99","25220.68","1.231","0.432","1.167","1.927","2.287","7.055"',
  '',
].join('\n');

test('parses every row with its columns', () => {
  const rows = parseRedisBenchmarkCsv(OUTPUT);
  assert.deepEqual(
    rows.map((r) => r.test),
    ['SET', 'MSET (10 keys)', 'lrange mylist 0 99'],
  );
  assert.deepEqual(rows[0], {
    test: 'SET',
    rps: 266666.66,
    avgMs: 2.084,
    minMs: 0.568,
    p50Ms: 1.823,
    p95Ms: 3.639,
    p99Ms: 9.431,
    maxMs: 9.767,
  });
  assert.equal(countServerErrors(OUTPUT), 1);
});

test('columns are found by header name, and rows without rps are dropped', () => {
  const text = ['"p99_latency_ms","test","rps"', '"3.5","GET","1000"', '"1","PING",""'].join('\r\n');
  const rows = parseRedisBenchmarkCsv(text);
  assert.equal(rows.length, 1);
  assert.equal(rows[0]?.test, 'GET');
  assert.equal(rows[0]?.rps, 1000);
  assert.equal(rows[0]?.p99Ms, 3.5);
  assert.ok(Number.isNaN(rows[0]?.p50Ms));
});

test('splitCsvLine handles quotes, doubled quotes, commas inside and bare fields', () => {
  assert.deepEqual(splitCsvLine('"a,b","say ""hi""",3,'), ['a,b', 'say "hi"', '3']);
  assert.deepEqual(splitCsvLine('"x"'), ['x']);
  assert.deepEqual(splitCsvLine('1,,2'), ['1', '', '2']);
});

test('arguments: -t for plain tests, a literal LRANGE, -r only with a keyspace', () => {
  const base = { port: 7000, requests: 1000, clients: 50, pipeline: 16 };
  const get = redisBenchmarkArgs({ ...base, test: 'GET', keyspace: 100000 });
  assert.deepEqual(get, ['-h', '127.0.0.1', '-p', '7000', '-c', '50', '-n', '1000', '-P', '16', '--csv', '-e', '-r', '100000', '-t', 'get']);
  const lrange = redisBenchmarkArgs({ ...base, test: 'LRANGE_100', keyspace: 0 });
  assert.ok(!lrange.includes('-r'));
  assert.ok(!lrange.includes('-t'));
  assert.deepEqual(lrange.slice(-4), ['lrange', 'mylist', '0', '99']);
});
