// The workers section of the end-to-end benchmark: medians and ratios of two workers against
// one and against twemproxy (bench/e2e/workers-scaling.ts), and their table (report.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatWorkers } from '../../../../bench/e2e/report.js';
import type { Sample } from '../../../../bench/e2e/results.js';
import { summariseWorkers } from '../../../../bench/e2e/workers-scaling.js';

function sample(round: number, rps: number, cpuUsPerReq: number, failure = ''): Sample {
  return {
    round,
    rps,
    p50Ms: 0.5,
    p99Ms: 1,
    avgMs: 0.5,
    requests: 1000,
    seconds: 1,
    cpuSeconds: 0,
    cpuUsPerReq,
    loadCpuUsPerReq: NaN,
    serverCpuUsPerReq: NaN,
    pathCpuUsPerReq: NaN,
    errors: 0,
    failure,
  };
}

test('summariseWorkers: medians over rounds (failed runs left out), 2w/1w and 2w/twemproxy ratios', () => {
  const w = summariseWorkers({
    suite: 'redis-1',
    test: 'GET',
    pipeline: 16,
    requests: 1000,
    samples: {
      twemproxy: [sample(1, 500, 2), sample(2, 700, 2), sample(3, 600, 2)],
      walnut: [sample(1, 800, 1), sample(2, 900, 1.2), sample(3, 1000, 1.1)],
      'walnut-2w': [sample(1, 1200, 1.5), sample(2, 0, 0, 'redis-benchmark failed'), sample(3, 1400, 1.7)],
    },
  });
  assert.equal(w.median.walnut.rps, 900);
  assert.equal(w.median['walnut-2w'].rps, 1300);
  assert.equal(w.scaling, 1300 / 900);
  assert.equal(w.twoWorkersVsTwemproxy, 1300 / 600);
  assert.equal(w.cpuScaling, 1.6 / 1.1);

  const lines = formatWorkers([w]);
  assert.equal(lines.length, 4);
  assert.match(lines[3] ?? '', /^ +walnut-2w 1 failed +1,300 .* │ +1\.44 +2\.17 +1\.45$/);
});
