// Plain-text tables of the end-to-end benchmark (bench/e2e/report.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fmtFixed, fmtInt, formatChecks, formatDrift, formatTable } from '../../../../bench/e2e/report.js';
import type { Sample } from '../../../../bench/e2e/results.js';
import { aggregateCheck, check } from '../../../../bench/e2e/summary.js';

test('formatTable pads columns to their widest cell, left or right', () => {
  const lines = formatTable(
    [
      ['a', 'bb', 'c'],
      ['aaa', 'b', 'cc'],
    ],
    'lr',
  );
  assert.deepEqual(lines, ['a    bb   c', 'aaa   b  cc']);
});

test('numbers: thousands separators, fixed digits, dash for unknown', () => {
  assert.equal(fmtInt(1234567.6), '1,234,568');
  assert.equal(fmtInt(NaN), '-');
  assert.equal(fmtFixed(1.23456, 3), '1.235');
  assert.equal(fmtFixed(Infinity, 2), '-');
});

test('formatChecks says PASS, MISS or N/A with the margin', () => {
  const lines = formatChecks([check('fast', 'min', 1.5, 1.8), check('small', 'max', 4, 5), check('none', 'max', 2, NaN)]);
  assert.equal(lines.length, 4);
  assert.match(lines[1] ?? '', /^PASS +fast +1\.80 +\+20\.0%/);
  assert.match(lines[2] ?? '', /^MISS +small +5\.00 +-25\.0%/);
  assert.match(lines[3] ?? '', /^N\/A +none +- +n\/a/);
});

test('formatChecks ends the detail with the value of each round', () => {
  const lines = formatChecks([aggregateCheck('rps', 'min', 1, [{ label: 'a', value: 0.98 }], [0.98, 1.03, 0.97])]);
  assert.match(lines[1] ?? '', /^MISS +rps +0\.98 +-2\.0% +geomean of 1 tests; 0\/1 meet it alone, worst a 0\.98; by round 0\.980 1\.030 0\.970: 1 of 3 would pass: within the noise$/);
});

test("formatDrift shows twemproxy's fresh and warmed figures and the ratio of its CPU", () => {
  const sample = (rps: number, cpuUsPerReq: number): Sample => ({
    round: 0,
    rps,
    p50Ms: 1,
    p99Ms: 2,
    avgMs: 1,
    requests: 200_000,
    seconds: 1,
    cpuSeconds: (cpuUsPerReq * 200_000) / 1e6,
    cpuUsPerReq,
    loadCpuUsPerReq: 1,
    serverCpuUsPerReq: 1,
    pathCpuUsPerReq: 3,
    errors: 0,
    failure: '',
  });
  const lines = formatDrift([{ suite: 'redis-1', test: 'GET', pipeline: 16, fresh: sample(917_431, 1.1), warmed: sample(619_195, 1.6) }]);
  assert.equal(lines.length, 2);
  assert.match(lines[0] ?? '', /^suite +test +P +fresh req\/s +warmed req\/s +fresh cpu µs\/req +warmed cpu µs\/req +cpu warmed\/fresh$/);
  assert.match(lines[1] ?? '', /^redis-1 +GET +16 +917,431 +619,195 +1\.10 +1\.60 +1\.45$/);
});
