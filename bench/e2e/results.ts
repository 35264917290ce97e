// The shape of the end-to-end benchmark's results (also the JSON written to bench/results/),
// how per-round samples become medians and ratios, and how the targets are judged.
// No twemproxy counterpart.
import { aggregateCheck, check, geomean, median, ratio, ratios, type Check, type Figures, type Ratios } from './summary.js';

export const TARGETS = ['direct', 'twemproxy', 'walnut'] as const;
export type TargetName = (typeof TARGETS)[number];
export type ProxyName = Exclude<TargetName, 'direct'>;

/**
 * twemproxy on one test before the warm-up (a fresh process) and right after it: its CPU per
 * request rises once multi-key commands have fragmented its malloc heap, and every figure the
 * rounds take of it is of the warmed state (bench/README.md, "twemproxy's heap").
 */
export interface TwemproxyDrift {
  suite: string;
  test: string;
  pipeline: number;
  fresh: Sample;
  warmed: Sample;
}

/** One run of one test against one target. */
export interface Sample {
  round: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  avgMs: number;
  /** Requests the run completed. */
  requests: number;
  /** Wall time of the run, seconds (including the load generator's start). */
  seconds: number;
  /** Proxy CPU time (user + system) during the run, seconds; NaN for direct. */
  cpuSeconds: number;
  /** cpuSeconds / requests in µs; NaN for direct. */
  cpuUsPerReq: number;
  /**
   * CPU per request in µs of the load generator (redis-benchmark, or this process for the
   * memcached load) and of the pool's backends during the run; NaN where not measured.
   */
  loadCpuUsPerReq: number;
  serverCpuUsPerReq: number;
  /** The whole path: load generator + backends + proxy (none for direct). */
  pathCpuUsPerReq: number;
  /** Error replies seen (a lower bound for redis-benchmark, which prints at most one a second). */
  errors: number;
  /** Why the run produced no figures, or ''. */
  failure: string;
}

/** One test at one pipeline depth, run against each of the targets `T` round by round. */
export interface TestRuns<T extends string> {
  /** 'redis-1', 'redis-4', 'memcache-2': protocol and backend count. */
  suite: string;
  test: string;
  pipeline: number;
  requests: number;
  samples: Record<T, Sample[]>;
  median: Record<T, Figures>;
}

export interface TestResult extends TestRuns<TargetName> {
  ratios: Ratios;
}

export function testLabel(t: Pick<TestResult, 'suite' | 'test' | 'pipeline'>): string {
  return `${t.suite} ${t.test} -P ${t.pipeline}`;
}

/** Medians over rounds of each figure separately, for one target. */
export function medianFigures(samples: readonly Sample[]): Figures {
  const ok = samples.filter((s) => s.failure === '');
  return {
    rps: median(ok.map((s) => s.rps)),
    p50Ms: median(ok.map((s) => s.p50Ms)),
    p99Ms: median(ok.map((s) => s.p99Ms)),
    cpuUsPerReq: median(ok.map((s) => s.cpuUsPerReq)),
    pathCpuUsPerReq: median(ok.map((s) => s.pathCpuUsPerReq)),
  };
}

/** Fills `median` and `ratios` of a test from its samples, on a machine with `cores` cores. */
export function summariseTest(t: Omit<TestResult, 'median' | 'ratios'>, cores: number): TestResult {
  const med = {
    direct: medianFigures(t.samples.direct),
    twemproxy: medianFigures(t.samples.twemproxy),
    walnut: medianFigures(t.samples.walnut),
  };
  return { ...t, median: med, ratios: ratios(med.direct, med.twemproxy, med.walnut, cores) };
}

/** Walnut's ratios from the samples of one round alone (NaN where a target has none that round). */
export function roundRatios(t: TestResult, round: number): Ratios {
  const of = (list: readonly Sample[]): Figures => medianFigures(list.filter((s) => s.round === round));
  // The ceiling needs the core count and means nothing for one round: left NaN.
  return ratios(of(t.samples.direct), of(t.samples.twemproxy), of(t.samples.walnut), Number.NaN);
}

/** The measured rounds (1, 2, ...) of some tests. */
function roundsOf(tests: readonly TestResult[]): number[] {
  const rounds = new Set<number>();
  for (const t of tests) for (const list of Object.values(t.samples)) for (const s of list) if (s.round > 0) rounds.add(s.round);
  return [...rounds].sort((a, b) => a - b);
}

/** A 10,000-key MGET / multi-get timed through each target. */
export interface BulkResult {
  suite: string;
  keys: number;
  /** Milliseconds per request of each trial. */
  trialsMs: Record<TargetName, number[]>;
  medianMs: Record<TargetName, number>;
  /** Median of the unmeasured warm-up requests: the cost before the JIT and heap settle. */
  warmupMedianMs: Record<TargetName, number>;
  /** Proxy CPU ms per bulk request (NaN for direct). */
  cpuMsPerReq: Record<TargetName, number>;
  /** Whether the reply equalled the one the server itself sends. */
  replyMatches: Record<TargetName, boolean>;
  walnutVsDirect: number;
  walnutVsTwemproxy: number;
  failure: string;
}

/** Memory of one proxy holding idle client connections. */
export interface IdleResult {
  proxy: ProxyName;
  clients: number;
  /** Connections that could not be opened. */
  failed: number;
  rssBeforeKb: number;
  rssWithClientsKb: number;
  /** RSS after all clients closed: 1 s, 5 s and 15 s later. */
  rssAfter1sKb: number;
  rssAfter5sKb: number;
  rssAfter15sKb: number;
  /** A second wave of as many idle clients: RSS while they are held, and 1 s after they left. */
  rssSecondWaveKb: number;
  rssAfterSecondCloseKb: number;
  /** (rssWithClientsKb − rssBeforeKb) / clients. */
  kbPerClient: number;
  /**
   * Share of the growth still held 15 s after the clients left (0 = all returned). Not 5 s:
   * V8 shrinks its young generation back only when its memory reducer runs, about 8 s after
   * the last full collection.
   */
  retainedShare: number;
  /** Whether RSS came back near its start: within 10% of the growth (the target's test). */
  returned: boolean;
  fdLimit: number;
  failure: string;
}

/** A burst of large values through a fresh proxy, and its RSS after (burst-memory.ts). */
export interface BurstResult {
  proxy: ProxyName;
  /** Megabytes of values sent and received through the proxy. */
  megabytes: number;
  rssBeforeKb: number;
  /** The highest RSS sampled during the burst. */
  rssPeakKb: number;
  rssAfter1sKb: number;
  rssAfterSettleKb: number;
  /** Share of the growth to the peak still held BURST_SETTLE_MS after the burst (0 = all returned). */
  retainedShare: number;
  failure: string;
}

export function idleSummary(
  proxy: ProxyName,
  clients: number,
  failed: number,
  rss: {
    before: number;
    withClients: number;
    after1s: number;
    after5s: number;
    after15s: number;
    secondWave: number;
    afterSecondClose: number;
  },
  fdLimit: number,
  failure: string,
): IdleResult {
  const growth = rss.withClients - rss.before;
  const retained = rss.after15s - rss.before;
  const opened = clients - failed;
  return {
    proxy,
    clients,
    failed,
    rssBeforeKb: rss.before,
    rssWithClientsKb: rss.withClients,
    rssAfter1sKb: rss.after1s,
    rssAfter5sKb: rss.after5s,
    rssAfter15sKb: rss.after15s,
    rssSecondWaveKb: rss.secondWave,
    rssAfterSecondCloseKb: rss.afterSecondClose,
    kbPerClient: opened > 0 ? growth / opened : Number.NaN,
    retainedShare: ratio(retained, growth),
    returned: retained <= growth * 0.1,
    fdLimit,
    failure,
  };
}

/**
 * The share of its measured CPU per request Walnut would have to get down to for the geomean
 * of W/T req/s over `tests` to reach `target`, if the machine stayed as busy as it was (each
 * test's req/s × whole-path CPU per request held constant): 1 when already reached, 0 when not
 * even a proxy costing nothing would reach it, NaN without path figures. Says how much of a
 * miss is Walnut's own cost and how much is the load generator's and the servers'.
 */
export function walnutCpuShareFor(tests: readonly TestResult[], target: number): number {
  const rpsAt = (share: number): number =>
    geomean(
      tests.map((t) => {
        const w = t.median.walnut;
        const path = w.pathCpuUsPerReq - (1 - share) * w.cpuUsPerReq;
        return (w.rps * w.pathCpuUsPerReq) / path / t.median.twemproxy.rps;
      }),
    );
  if (!Number.isFinite(rpsAt(1)) || !Number.isFinite(rpsAt(0))) return Number.NaN;
  if (rpsAt(1) >= target) return 1;
  if (rpsAt(0) < target) return 0;
  // rpsAt falls as the share grows: bisect.
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 40; i++) {
    const mid = (lo + hi) / 2;
    if (rpsAt(mid) >= target) lo = mid;
    else hi = mid;
  }
  return lo;
}

/**
 * How busy the machine's `cores` were on each target's path (load generator, backends, proxy),
 * the mean over `tests` of req/s × path CPU per request ÷ cores: below 1, some of the time no
 * process on the path could run, the requests in flight were waiting on one another. NaN
 * without path figures.
 */
export function coresBusy(tests: readonly TestResult[], cores: number): Record<TargetName, number> {
  const busy = (target: TargetName): number =>
    tests.reduce((sum, t) => sum + (t.median[target].rps * t.median[target].pathCpuUsPerReq) / (cores * 1e6), 0) /
    tests.length;
  return { direct: busy('direct'), twemproxy: busy('twemproxy'), walnut: busy('walnut') };
}

/**
 * The targets, judged on the results that were measured (absent sections: n/a), on a
 * machine with `cores` cores.
 */
export function evaluateTargets(
  tests: readonly TestResult[],
  bulk: readonly BulkResult[],
  idle: readonly IdleResult[],
  cores: number,
  burst: readonly BurstResult[] = [],
): Check[] {
  const at = (p: number): TestResult[] => tests.filter((t) => t.pipeline === p);
  // Each test's ratio of medians, and the same geomean formed from each round alone.
  const over = (
    name: string,
    kind: 'max' | 'min',
    limit: number,
    list: readonly TestResult[],
    pick: (r: Ratios) => number,
  ): Check =>
    aggregateCheck(
      name,
      kind,
      limit,
      list.map((t) => ({ label: testLabel(t), value: pick(t.ratios) })),
      roundsOf(list).map((round) => geomean(list.map((t) => pick(roundRatios(t, round))))),
    );
  const checks: Check[] = [];
  if (tests.length > 0) {
    checks.push(over('CPU/request ≤ twemproxy at -P 1 (W/T)', 'max', 1, at(1), (r) => r.cpuVsTwemproxy));
    checks.push(over('CPU/request ≤ twemproxy at -P 16 (W/T)', 'max', 1, at(16), (r) => r.cpuVsTwemproxy));
    const rps16 = over('req/s at -P 16 ≥ 1.5× twemproxy (W/T)', 'min', 1.5, at(16), (r) => r.rpsVsTwemproxy);
    // Say how far the machine itself lets Walnut go: the ceiling its whole path's CPU sets.
    const ceiling = geomean(at(16).map((t) => t.ratios.rpsCeilingVsTwemproxy));
    if (Number.isFinite(ceiling)) rps16.detail += `; ceiling ${ceiling.toFixed(2)} (all cores busy on Walnut's path)`;
    const share = walnutCpuShareFor(at(16), rps16.limit);
    if (share === 0) rps16.detail += `; out of reach at this run's core use even if Walnut cost no CPU`;
    else if (share < 1) rps16.detail += `; at this run's core use it needs Walnut's CPU per request ×${share.toFixed(2)}`;
    const busy = coresBusy(at(16), cores);
    if (Number.isFinite(busy.walnut)) {
      const pct = (x: number): string => `${Math.round(x * 100)}%`;
      rps16.detail += `; cores busy on the path: direct ${pct(busy.direct)}, twemproxy ${pct(busy.twemproxy)}, walnut ${pct(busy.walnut)}`;
    }
    checks.push(rps16);
    checks.push(over('req/s at -P 16 ≥ 0.6× direct (W/D)', 'min', 0.6, at(16), (r) => r.rpsVsDirect));
    checks.push(over('req/s at -P 1 ≥ 1.0× twemproxy (W/T)', 'min', 1, at(1), (r) => r.rpsVsTwemproxy));
    checks.push(over('p99 ≤ twemproxy at -P 1 (W/T)', 'max', 1, at(1), (r) => r.p99VsTwemproxy));
    checks.push(over('p99 ≤ twemproxy at -P 16 (W/T)', 'max', 1, at(16), (r) => r.p99VsTwemproxy));
  }
  for (const b of bulk) {
    const what = b.suite.startsWith('memcache') ? 'multi-get' : 'MGET';
    checks.push(
      check(
        `${b.keys}-key ${what} on ${b.suite} within 2× direct (W/D time)`,
        'max',
        2,
        b.walnutVsDirect,
        `median ${fmtMs(b.medianMs.walnut)} vs ${fmtMs(b.medianMs.direct)} direct, twemproxy ${fmtMs(b.medianMs.twemproxy)}`,
      ),
    );
  }
  for (const i of idle.filter((x) => x.proxy === 'walnut')) {
    checks.push(
      check(
        `RSS per idle client ≤ 4 KB (${i.clients} clients)`,
        'max',
        4,
        i.kbPerClient,
        `${i.rssBeforeKb} → ${i.rssWithClientsKb} kB`,
      ),
    );
    // "Memory returns to near its start after a burst": near = within a tenth of the growth.
    checks.push(
      check(
        `memory back near its start 15 s after ${i.clients} clients left (share of growth kept)`,
        'max',
        0.1,
        i.retainedShare,
        `${i.rssBeforeKb} → ${i.rssWithClientsKb} → ${i.rssAfter15sKb} kB; a second wave: ${i.rssSecondWaveKb} kB, ${i.rssAfterSecondCloseKb} kB 1 s after it left`,
      ),
    );
  }
  for (const b of burst.filter((x) => x.proxy === 'walnut')) {
    checks.push(
      check(
        'memory back near its start after a burst of 1 MB values (share of growth kept)',
        'max',
        0.1,
        b.failure === '' ? b.retainedShare : Number.NaN,
        b.failure === '' ? `${b.rssBeforeKb} → ${b.rssPeakKb} → ${b.rssAfterSettleKb} kB` : `failure: ${b.failure}`,
      ),
    );
  }
  return checks;
}

function fmtMs(ms: number): string {
  return Number.isFinite(ms) ? `${ms.toFixed(2)} ms` : 'n/a';
}
