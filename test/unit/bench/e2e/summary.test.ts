// Medians, nearest-rank quantiles, geometric means and PASS/MISS verdicts of the end-to-end
// benchmark (bench/e2e/summary.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  aggregateCheck,
  check,
  describeRounds,
  formatMargin,
  geomean,
  median,
  quantileSorted,
  ratio,
  ratios,
  roundOrder,
  roundsAgainst,
} from '../../../../bench/e2e/summary.js';

test('median of odd and even counts, ignoring NaN', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([NaN, 5, NaN]), 5);
  assert.ok(Number.isNaN(median([])));
  assert.ok(Number.isNaN(median([NaN])));
});

test('median: at least half the values are at or below it and at least half at or above', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: -1000, max: 1000 }), { minLength: 1, maxLength: 40 }), (xs) => {
      const m = median(xs);
      assert.ok(xs.filter((x) => x <= m).length * 2 >= xs.length);
      assert.ok(xs.filter((x) => x >= m).length * 2 >= xs.length);
    }),
  );
});

test('quantileSorted is the nearest-rank quantile', () => {
  const sorted = Float64Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(quantileSorted(sorted, 100, 0.5), 50);
  assert.equal(quantileSorted(sorted, 100, 0.99), 99);
  assert.equal(quantileSorted(sorted, 100, 1), 100);
  assert.equal(quantileSorted(sorted, 100, 0), 1);
  // Only the first `count` values count.
  assert.equal(quantileSorted(sorted, 10, 0.99), 10);
  assert.ok(Number.isNaN(quantileSorted(sorted, 0, 0.5)));
  fc.assert(
    fc.property(
      fc.array(fc.double({ min: 0, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 200 }),
      fc.double({ min: 0.001, max: 1, noNaN: true }),
      (xs, q) => {
        const s = Float64Array.from(xs).sort();
        const v = quantileSorted(s, s.length, q);
        assert.ok(xs.filter((x) => x <= v).length >= q * xs.length);
        assert.ok(xs.filter((x) => x < v).length < q * xs.length);
      },
    ),
  );
});

test('ratio and geomean treat missing figures as unknown', () => {
  assert.equal(ratio(3, 2), 1.5);
  assert.ok(Number.isNaN(ratio(3, 0)));
  assert.ok(Number.isNaN(ratio(NaN, 2)));
  assert.ok(Math.abs(geomean([2, 8]) - 4) < 1e-12);
  assert.ok(Math.abs(geomean([0.5, 2, NaN]) - 1) < 1e-12);
  assert.ok(Number.isNaN(geomean([NaN, 0])));
});

test('ratios are Walnut over twemproxy and over direct', () => {
  const r = ratios(
    { rps: 100, p50Ms: 1, p99Ms: 2, cpuUsPerReq: NaN, pathCpuUsPerReq: 2 },
    { rps: 50, p50Ms: 2, p99Ms: 8, cpuUsPerReq: 4, pathCpuUsPerReq: 6 },
    { rps: 75, p50Ms: 1, p99Ms: 2, cpuUsPerReq: 3, pathCpuUsPerReq: 4 },
    2,
  );
  assert.deepEqual(r, {
    rpsVsTwemproxy: 1.5,
    rpsVsDirect: 0.75,
    p50VsTwemproxy: 0.5,
    p99VsTwemproxy: 0.25,
    cpuVsTwemproxy: 0.75,
    // 2 cores / 4 µs per request = 500,000 req/s for Walnut's path, against twemproxy's 50.
    rpsCeilingVsTwemproxy: 10_000,
  });
});

test('check: pass side and signed margin for upper and lower limits', () => {
  const under = check('cpu', 'max', 1, 0.8);
  assert.equal(under.pass, true);
  assert.ok(Math.abs(under.margin - 0.2) < 1e-12);
  const over = check('cpu', 'max', 4, 5);
  assert.equal(over.pass, false);
  assert.ok(Math.abs(over.margin + 0.25) < 1e-12);
  const enough = check('rps', 'min', 1.5, 1.8);
  assert.equal(enough.pass, true);
  assert.ok(Math.abs(enough.margin - 0.2) < 1e-12);
  assert.equal(check('rps', 'min', 1.5, 1.5).pass, true);
  const unknown = check('rps', 'min', 1.5, NaN);
  assert.equal(unknown.pass, false);
  assert.ok(Number.isNaN(unknown.margin));
  assert.equal(formatMargin(0.123), '+12.3%');
  assert.equal(formatMargin(-0.04), '-4.0%');
  assert.equal(formatMargin(NaN), 'n/a');
});

test('aggregateCheck judges the geometric mean and names the worst test', () => {
  const c = aggregateCheck('rps', 'min', 1, [
    { label: 'a', value: 2 },
    { label: 'b', value: 0.5 },
    { label: 'c', value: 4 },
    { label: 'd', value: NaN },
  ]);
  assert.ok(Math.abs(c.value - Math.cbrt(4)) < 1e-9);
  assert.equal(c.pass, true);
  assert.match(c.detail, /geomean of 3 tests; 2\/3 meet it alone, worst b 0\.50, 1 not measured/);
  const m = aggregateCheck('cpu', 'max', 1, [
    { label: 'x', value: 1.2 },
    { label: 'y', value: 0.9 },
  ]);
  assert.match(m.detail, /worst x 1\.20/);
  assert.equal(m.pass, false);
  assert.equal(aggregateCheck('none', 'max', 1, []).pass, false);
});

test('roundOrder rotates the targets by one each round, so each takes every place once', () => {
  const targets = ['direct', 'twemproxy', 'walnut'] as const;
  assert.deepEqual(roundOrder(targets, 1), ['direct', 'twemproxy', 'walnut']);
  assert.deepEqual(roundOrder(targets, 2), ['twemproxy', 'walnut', 'direct']);
  assert.deepEqual(roundOrder(targets, 3), ['walnut', 'direct', 'twemproxy']);
  assert.deepEqual(roundOrder(targets, 4), ['direct', 'twemproxy', 'walnut']);
  for (let place = 0; place < 3; place++) {
    const seen = [1, 2, 3].map((round) => roundOrder(targets, round)[place]);
    assert.deepEqual([...seen].sort(), [...targets].sort(), `place ${place}`);
  }
  assert.deepEqual(roundOrder([], 2), []);
});

test('describeRounds says whether every round alone gives the verdict', () => {
  const miss = aggregateCheck('rps', 'min', 1, [{ label: 'a', value: 0.99 }], [0.97, 1.02, 0.99]);
  assert.equal(miss.pass, false);
  assert.equal(roundsAgainst(miss), 1);
  assert.equal(describeRounds(miss), 'by round 0.970 1.020 0.990: 1 of 3 would pass: within the noise');
  const pass = aggregateCheck('cpu', 'max', 1, [{ label: 'a', value: 0.7 }], [0.69, 0.66, NaN, 0.7]);
  assert.equal(roundsAgainst(pass), 0);
  assert.equal(describeRounds(pass), 'by round 0.690 0.660 0.700: all agree');
  // A limit met exactly counts as met, as in the verdict.
  const edge = aggregateCheck('cpu', 'max', 1, [{ label: 'a', value: 1.1 }], [1, 1.2]);
  assert.equal(describeRounds(edge), 'by round 1.000 1.200: 1 of 2 would pass: within the noise');
  // One round, or none measured, says nothing.
  assert.equal(describeRounds(aggregateCheck('x', 'max', 1, [{ label: 'a', value: 1 }], [1])), '');
  assert.equal(describeRounds(check('y', 'max', 1, 0.5)), '');
});
