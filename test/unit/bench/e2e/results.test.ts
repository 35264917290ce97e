// Medians over rounds, idle-memory arithmetic and the issue's targets (bench/e2e/results.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  coresBusy,
  evaluateTargets,
  idleSummary,
  summariseTest,
  walnutCpuShareFor,
  type BulkResult,
  type BurstResult,
  type Sample,
  type TargetName,
} from '../../../../bench/e2e/results.js';
import type { Check } from '../../../../bench/e2e/summary.js';

function sample(round: number, rps: number, p99Ms: number, cpuUsPerReq: number, failure = '', pathCpuUsPerReq = NaN): Sample {
  return {
    round,
    rps,
    p50Ms: p99Ms / 2,
    p99Ms,
    avgMs: p99Ms / 2,
    requests: 1000,
    seconds: 1,
    cpuSeconds: cpuUsPerReq / 1000,
    cpuUsPerReq,
    loadCpuUsPerReq: NaN,
    serverCpuUsPerReq: NaN,
    pathCpuUsPerReq,
    errors: 0,
    failure,
  };
}

/** [req/s, p99 ms, proxy cpu µs/req, whole-path cpu µs/req (optional)] per target. */
type Figs = [number, number, number, number?];

function makeTest(pipeline: number, figs: Record<TargetName, Figs>) {
  const samples = {
    direct: [sample(1, figs.direct[0], figs.direct[1], NaN, '', figs.direct[3])],
    twemproxy: [sample(1, figs.twemproxy[0], figs.twemproxy[1], figs.twemproxy[2], '', figs.twemproxy[3])],
    walnut: [sample(1, figs.walnut[0], figs.walnut[1], figs.walnut[2], '', figs.walnut[3])],
  };
  return summariseTest({ suite: 'redis-1', test: 'GET', pipeline, requests: 1000, samples }, 2);
}

test('summariseTest takes per-figure medians and skips failed rounds', () => {
  const t = summariseTest({
    suite: 'redis-4',
    test: 'SET',
    pipeline: 16,
    requests: 1000,
    samples: {
      direct: [sample(1, 100, 1, NaN), sample(2, 300, 3, NaN), sample(3, 200, 9, NaN)],
      twemproxy: [sample(1, 50, 4, 2, '', 6), sample(2, 0, NaN, NaN, 'timed out', 1), sample(3, 70, 6, 4, '', 8)],
      walnut: [sample(1, 90, 2, 1, '', 5), sample(2, 80, 2, 1, '', 4), sample(3, 85, 2, 3, '', 6)],
    },
  }, 2);
  assert.equal(t.median.direct.rps, 200);
  assert.equal(t.median.direct.p99Ms, 3);
  assert.equal(t.median.twemproxy.rps, 60);
  assert.equal(t.median.twemproxy.cpuUsPerReq, 3);
  assert.equal(t.median.walnut.rps, 85);
  assert.ok(Number.isNaN(t.median.direct.cpuUsPerReq));
  assert.ok(Math.abs(t.ratios.rpsVsTwemproxy - 85 / 60) < 1e-12);
  assert.ok(Math.abs(t.ratios.rpsVsDirect - 85 / 200) < 1e-12);
  assert.ok(Math.abs(t.ratios.p99VsTwemproxy - 2 / 5) < 1e-12);
  assert.ok(Math.abs(t.ratios.cpuVsTwemproxy - 1 / 3) < 1e-12);
  // Whole-path CPU: medians 7 (the failed round's 1 left out) and 5 µs. On 2 cores Walnut's
  // path could carry 2 / 5 µs = 400,000 req/s, against twemproxy's 60: the ceiling.
  assert.equal(t.median.twemproxy.pathCpuUsPerReq, 7);
  assert.equal(t.median.walnut.pathCpuUsPerReq, 5);
  assert.ok(Number.isNaN(t.median.direct.pathCpuUsPerReq));
  assert.ok(Math.abs(t.ratios.rpsCeilingVsTwemproxy - 400_000 / 60) < 1e-6);
});

test('idleSummary: KB per opened client and whether memory came back', () => {
  const kept = idleSummary('walnut', 10_000, 0, { before: 50_000, withClients: 100_000, after1s: 100_000, after5s: 92_000, after15s: 90_000, secondWave: 95_000, afterSecondClose: 91_000 }, 20_000, '');
  assert.equal(kept.kbPerClient, 5);
  assert.equal(kept.retainedShare, 0.8);
  assert.equal(kept.returned, false);
  const back = idleSummary('twemproxy', 1_000, 500, { before: 2_000, withClients: 3_000, after1s: 2_900, after5s: 2_900, after15s: 2_900, secondWave: 3_000, afterSecondClose: 2_900 }, 20_000, '');
  assert.equal(back.kbPerClient, 2);
  // 900 of 1,000 kB kept
  assert.equal(back.returned, false);
  const near = idleSummary('walnut', 1_000, 0, { before: 2_000, withClients: 3_000, after1s: 2_500, after5s: 2_200, after15s: 2_100, secondWave: 3_000, afterSecondClose: 2_100 }, 20_000, '');
  assert.equal(near.returned, true, '100 of 1,000 kB kept: at the limit');
});

test('evaluateTargets applies each target to the right depth and figure', () => {
  const p1 = makeTest(1, { direct: [100, 1, NaN], twemproxy: [80, 2, 10], walnut: [90, 1.5, 9] });
  const p16 = makeTest(16, { direct: [1000, 5, NaN, 2], twemproxy: [400, 10, 3, 6], walnut: [500, 12, 2, 5] });
  const bulk: BulkResult = {
    suite: 'redis-4',
    keys: 10_000,
    trialsMs: { direct: [4], twemproxy: [6], walnut: [10] },
    medianMs: { direct: 4, twemproxy: 6, walnut: 10 },
    warmupMedianMs: { direct: 5, twemproxy: 7, walnut: 30 },
    cpuMsPerReq: { direct: NaN, twemproxy: 2, walnut: 3 },
    replyMatches: { direct: true, twemproxy: true, walnut: true },
    walnutVsDirect: 2.5,
    walnutVsTwemproxy: 10 / 6,
    failure: '',
  };
  const idle = [
    idleSummary('twemproxy', 100, 0, { before: 0, withClients: 100, after1s: 0, after5s: 0, after15s: 0, secondWave: 0, afterSecondClose: 0 }, 1, ''),
    idleSummary('walnut', 100, 0, { before: 0, withClients: 300, after1s: 0, after5s: 0, after15s: 0, secondWave: 0, afterSecondClose: 0 }, 1, ''),
  ];
  const checks = evaluateTargets([p1, p16], [bulk], idle, 2);
  const byName = new Map(checks.map((c) => [c.name, c]));
  const get = (prefix: string) => {
    const c = checks.find((x) => x.name.startsWith(prefix));
    assert.ok(c, prefix);
    return c;
  };
  assert.equal(byName.size, checks.length);
  assert.equal(get('CPU/request ≤ twemproxy at -P 1 ').value, 0.9);
  assert.equal(get('CPU/request ≤ twemproxy at -P 1 ').pass, true);
  assert.ok(Math.abs(get('CPU/request ≤ twemproxy at -P 16').value - 2 / 3) < 1e-12);
  assert.equal(get('req/s at -P 16 ≥ 1.5× twemproxy').value, 1.25);
  assert.equal(get('req/s at -P 16 ≥ 1.5× twemproxy').pass, false);
  // Its detail gives the ceiling Walnut's whole path sets: 2 cores / 5 µs = 400,000 req/s
  // against twemproxy's 400 req/s.
  // And the Walnut CPU per request that 1.5× needs with the path as busy as measured:
  // 500 × 5 / (5 − (1 − s) × 2) / 400 = 1.5 at s = 7 / 12.
  assert.match(
    get('req/s at -P 16 ≥ 1.5× twemproxy').detail,
    /; ceiling 1000\.00 \(all cores busy on Walnut's path\); at this run's core use it needs Walnut's CPU per request ×0\.58; cores busy on the path: direct 0%, twemproxy 0%, walnut 0%$/,
  );
  assert.doesNotMatch(get('req/s at -P 1 ≥ 1.0× twemproxy').detail, /ceiling/);
  assert.equal(get('req/s at -P 16 ≥ 0.6× direct').value, 0.5);
  assert.equal(get('req/s at -P 1 ≥ 1.0× twemproxy').value, 1.125);
  assert.equal(get('p99 ≤ twemproxy at -P 1 ').value, 0.75);
  assert.equal(get('p99 ≤ twemproxy at -P 16').value, 1.2);
  assert.equal(get('p99 ≤ twemproxy at -P 16').pass, false);
  assert.equal(get('10000-key MGET on redis-4').value, 2.5);
  assert.equal(get('10000-key MGET on redis-4').pass, false);
  // Only Walnut's idle memory is a target: 3 KB per client.
  assert.equal(get('RSS per idle client').value, 3);
  assert.equal(get('RSS per idle client').pass, true);
  assert.equal(checks.filter((c) => c.name.startsWith('RSS')).length, 1);
  // All 300 kB of growth came back (after15s = before): nothing kept.
  assert.equal(get('memory back near its start').value, 0);
  assert.equal(get('memory back near its start').pass, true);
  assert.equal(checks.filter((c) => c.name.startsWith('memory back')).length, 1);
  assert.deepEqual(evaluateTargets([], [], [], 2), []);
});

test("evaluateTargets judges Walnut's memory after a burst of large values, not twemproxy's", () => {
  const burst = (proxy: 'walnut' | 'twemproxy', after: number, failure = ''): BurstResult => ({
    proxy,
    megabytes: 2000,
    rssBeforeKb: 60_000,
    rssPeakKb: 260_000,
    rssAfter1sKb: 250_000,
    rssAfterSettleKb: after,
    retainedShare: (after - 60_000) / 200_000,
    failure,
  });
  const named = (checks: Check[]): Check[] => checks.filter((c) => c.name.includes('burst of 1 MB values'));
  const kept = named(evaluateTargets([], [], [], 2, [burst('twemproxy', 260_000), burst('walnut', 70_000)]));
  assert.equal(kept.length, 1, 'one check, for Walnut');
  assert.equal(kept[0]!.value, 0.05);
  assert.equal(kept[0]!.pass, true);
  assert.equal(named(evaluateTargets([], [], [], 2, [burst('walnut', 90_000)]))[0]!.pass, false, '15% kept');
  const failed = named(evaluateTargets([], [], [], 2, [burst('walnut', 70_000, 'connect refused')]))[0]!;
  assert.ok(Number.isNaN(failed.value));
  assert.match(failed.detail, /connect refused/);
});

test('evaluateTargets forms each aggregate target from every round alone too', () => {
  // Two tests at -P 1, three rounds. Medians: twemproxy 100 and 200 req/s, Walnut 110 and 180,
  // so W/T = 1.1 and 0.9 (geomean 0.995: a miss). Round by round the geomean is
  // sqrt(1.2·0.8), sqrt(1.1·0.9) and sqrt(1.0·1.0): one round alone would pass.
  const t = (name: string, tw: number[], w: number[]) =>
    summariseTest(
      {
        suite: 'redis-1',
        test: name,
        pipeline: 1,
        requests: 1000,
        samples: {
          direct: tw.map((_, i) => sample(i + 1, 1000, 1, NaN)),
          twemproxy: tw.map((rps, i) => sample(i + 1, rps, 1, 10)),
          walnut: w.map((rps, i) => sample(i + 1, rps, 1, 10)),
        },
      },
      2,
    );
  const a = t('GET', [100, 100, 100], [120, 110, 100]);
  const b = t('SET', [200, 200, 200], [160, 180, 200]);
  const rps = evaluateTargets([a, b], [], [], 2).find((c) => c.name.startsWith('req/s at -P 1 '));
  assert.ok(rps);
  assert.ok(Math.abs(rps.value - Math.sqrt(1.1 * 0.9)) < 1e-12);
  assert.equal(rps.pass, false);
  assert.equal(rps.perRound.length, 3);
  assert.ok(Math.abs((rps.perRound[0] ?? NaN) - Math.sqrt(1.2 * 0.8)) < 1e-12);
  assert.ok(Math.abs((rps.perRound[1] ?? NaN) - Math.sqrt(1.1 * 0.9)) < 1e-12);
  assert.ok(Math.abs((rps.perRound[2] ?? NaN) - 1) < 1e-12);
  // A round where one target failed has no ratio for that test; the others still count.
  const c = t('INCR', [100, 100, 100], [100, 100, 100]);
  c.samples.walnut[1] = sample(2, 0, NaN, NaN, 'timed out');
  const cpu = evaluateTargets([c], [], [], 2).find((x) => x.name.startsWith('CPU/request ≤ twemproxy at -P 1 '));
  assert.ok(cpu);
  assert.deepEqual(cpu.perRound.map((v) => Number.isNaN(v)), [false, true, false]);
  // Checks not formed by rounds have none.
  const bulkAndIdle = evaluateTargets([], [], [idleSummary('walnut', 10, 0, { before: 0, withClients: 10, after1s: 0, after5s: 0, after15s: 0, secondWave: 0, afterSecondClose: 0 }, 1, '')], 2);
  assert.ok(bulkAndIdle.length > 0);
  for (const x of bulkAndIdle) assert.deepEqual(x.perRound, []);
});

test('walnutCpuShareFor: the share of Walnut\'s CPU per request a req/s target needs at the measured core use', () => {
  // W/T 1.25 with Walnut 2 of a 5 µs path: 1.5× needs 7/12 of Walnut's CPU (see above).
  const missed = makeTest(16, { direct: [1000, 5, NaN, 2], twemproxy: [400, 10, 3, 6], walnut: [500, 12, 2, 5] });
  assert.ok(Math.abs(walnutCpuShareFor([missed], 1.5) - 7 / 12) < 1e-9);
  // Already at 1.25: nothing to cut.
  assert.equal(walnutCpuShareFor([missed], 1.25), 1);
  // Even a Walnut costing nothing (path 3 µs) would give 500 × 5 / 3 / 400 = 2.08 only.
  assert.equal(walnutCpuShareFor([missed], 2.1), 0);
  // Two tests: the geomean is what must reach the target.
  const other = makeTest(16, { direct: [1000, 5, NaN, 2], twemproxy: [400, 10, 3, 6], walnut: [800, 12, 2, 5] });
  const share = walnutCpuShareFor([missed, other], 1.8);
  const wt = (rps: number) => (rps * 5) / (5 - (1 - share) * 2) / 400;
  assert.ok(Math.abs(Math.sqrt(wt(500) * wt(800)) - 1.8) < 1e-9);
  // Without whole-path figures there is nothing to say.
  const noPath = makeTest(16, { direct: [1000, 5, NaN], twemproxy: [400, 10, 3], walnut: [500, 12, 2] });
  assert.ok(Number.isNaN(walnutCpuShareFor([noPath], 1.5)));
});

test('coresBusy: each target\'s req/s × path CPU per request over the cores, averaged over the tests', () => {
  // On 2 cores: 1,000,000 req/s × 1.8 µs = 1.8 cores busy of 2 (90%); 500,000 × 3.2 µs = 80%.
  const a = makeTest(16, { direct: [1_000_000, 1, NaN, 1.8], twemproxy: [500_000, 2, 1.5, 3.2], walnut: [800_000, 1, 0.9, 2.25] });
  // 60%, 70%, 50%.
  const b = makeTest(16, { direct: [600_000, 1, NaN, 2], twemproxy: [350_000, 2, 1.5, 4], walnut: [400_000, 1, 0.9, 2.5] });
  const busy = coresBusy([a, b], 2);
  assert.ok(Math.abs(busy.direct - 0.75) < 1e-12, String(busy.direct));
  assert.ok(Math.abs(busy.twemproxy - 0.75) < 1e-12, String(busy.twemproxy));
  assert.ok(Math.abs(busy.walnut - 0.7) < 1e-12, String(busy.walnut));
  const detail = evaluateTargets([a, b], [], [], 2).find((c) => c.name.startsWith('req/s at -P 16 ≥ 1.5×'))?.detail ?? '';
  assert.match(detail, /; cores busy on the path: direct 75%, twemproxy 75%, walnut 70%$/);
  // Without path figures there is nothing to say.
  const noPath = makeTest(16, { direct: [1, 1, NaN], twemproxy: [1, 1, 1], walnut: [1, 1, 1] });
  assert.ok(Number.isNaN(coresBusy([noPath], 2).walnut));
  assert.doesNotMatch(evaluateTargets([noPath], [], [], 2).find((c) => c.name.startsWith('req/s at -P 16'))?.detail ?? '', /busy/);
});
