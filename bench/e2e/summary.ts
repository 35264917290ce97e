// Pure arithmetic of the end-to-end benchmark: medians over rounds, percentiles of recorded
// latencies, Walnut/twemproxy and Walnut/direct ratios, and the targets as PASS/MISS
// verdicts with their margin. No twemproxy counterpart.

/** Median of the finite values; NaN when there are none. */
export function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const n = v.length;
  if (n === 0) return Number.NaN;
  const mid = n >> 1;
  return n % 2 === 1 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
}

/**
 * The q-quantile (0..1) of an ascending array of `count` values: the smallest value with at
 * least q·count values at or below it (nearest rank), as latency reports use. NaN when empty.
 */
export function quantileSorted(sorted: ArrayLike<number>, count: number, q: number): number {
  if (count <= 0) return Number.NaN;
  const rank = Math.min(count, Math.max(1, Math.ceil(q * count)));
  return sorted[rank - 1] as number;
}

/** a / b, or NaN when either is missing or b is 0. */
export function ratio(a: number, b: number): number {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return Number.NaN;
  return a / b;
}

/** Geometric mean of the positive finite values (the average of ratios); NaN when none. */
export function geomean(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x) && x > 0);
  if (v.length === 0) return Number.NaN;
  let logSum = 0;
  for (const x of v) logSum += Math.log(x);
  return Math.exp(logSum / v.length);
}

/** One figure per target of a test, medians over rounds; NaN where not measured. */
export interface Figures {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Proxy CPU time per request in µs (NaN for direct). */
  cpuUsPerReq: number;
  /** CPU per request of every process on the path: load generator, backends, proxy. */
  pathCpuUsPerReq: number;
}

/** Ratios of Walnut's figures to twemproxy's (W/T) and to direct (W/D). */
export interface Ratios {
  rpsVsTwemproxy: number;
  rpsVsDirect: number;
  p50VsTwemproxy: number;
  p99VsTwemproxy: number;
  cpuVsTwemproxy: number;
  /**
   * The most W/T req/s could be on this machine: Walnut's req/s if its whole path (load
   * generator, backends, Walnut) kept every core busy, cores ÷ path CPU per request, over
   * twemproxy's measured req/s. Past it, only less CPU per request anywhere on the path helps.
   */
  rpsCeilingVsTwemproxy: number;
}

/** Walnut's ratios; `cores`: the machine's, for the ceiling. */
export function ratios(direct: Figures, twemproxy: Figures, walnut: Figures, cores: number): Ratios {
  return {
    rpsVsTwemproxy: ratio(walnut.rps, twemproxy.rps),
    rpsVsDirect: ratio(walnut.rps, direct.rps),
    p50VsTwemproxy: ratio(walnut.p50Ms, twemproxy.p50Ms),
    p99VsTwemproxy: ratio(walnut.p99Ms, twemproxy.p99Ms),
    cpuVsTwemproxy: ratio(walnut.cpuUsPerReq, twemproxy.cpuUsPerReq),
    rpsCeilingVsTwemproxy: ratio(ratio(cores * 1e6, walnut.pathCpuUsPerReq), twemproxy.rps),
  };
}

/** A target of the issue: `value` (a ratio or a figure) must be at most or at least `limit`. */
export interface Check {
  name: string;
  /** 'max': value ≤ limit passes; 'min': value ≥ limit passes. */
  kind: 'max' | 'min';
  limit: number;
  value: number;
  pass: boolean;
  /** Headroom as a fraction of the limit: positive when passing, negative when missing. */
  margin: number;
  /** Extra words for the report (how the value was formed, the worst test, ...). */
  detail: string;
  /**
   * The value from each round's samples alone (rounds run every target back to back), empty
   * where the value is not formed by rounds. When some round falls on the other side of the
   * limit, the verdict is within the round-to-round noise of the machine.
   */
  perRound: number[];
}

export function check(name: string, kind: 'max' | 'min', limit: number, value: number, detail = ''): Check {
  const measured = Number.isFinite(value);
  const pass = measured && (kind === 'max' ? value <= limit : value >= limit);
  const margin = !measured ? Number.NaN : kind === 'max' ? (limit - value) / limit : (value - limit) / limit;
  return { name, kind, limit, value, pass, margin, detail, perRound: [] };
}

/** Whether `value` meets the limit of `c`. */
function meets(c: Pick<Check, 'kind' | 'limit'>, value: number): boolean {
  return c.kind === 'max' ? value <= c.limit : value >= c.limit;
}

/** How many of the check's rounds fall on the other side of the limit from its verdict. */
export function roundsAgainst(c: Check): number {
  return c.perRound.filter((v) => Number.isFinite(v) && meets(c, v) !== c.pass).length;
}

/** "by round 0.990 1.010 1.020: 1 of 3 would pass: within the noise" / "by round ...: all agree"; empty without rounds. */
export function describeRounds(c: Check): string {
  const rounds = c.perRound.filter((v) => Number.isFinite(v));
  if (rounds.length < 2 || !Number.isFinite(c.value)) return '';
  const against = roundsAgainst(c);
  const values = rounds.map((v) => v.toFixed(3)).join(' ');
  const verdict =
    against === 0 ? 'all agree' : `${against} of ${rounds.length} would ${c.pass ? 'miss' : 'pass'}: within the noise`;
  return `by round ${values}: ${verdict}`;
}

/**
 * The order in which round `round` (1-based) runs the targets: rotated by one each round, so
 * that no target always runs first or last (after the same neighbour, on a machine warmed or
 * loaded by the run before it). Three rounds of three targets put each target once in each
 * place.
 */
export function roundOrder<T>(targets: readonly T[], round: number): T[] {
  const n = targets.length;
  if (n === 0) return [];
  const shift = (((round - 1) % n) + n) % n;
  return [...targets.slice(shift), ...targets.slice(0, shift)];
}

/** "+12.3%" / "-4.0%" / "n/a". */
export function formatMargin(margin: number): string {
  if (!Number.isFinite(margin)) return 'n/a';
  const pct = margin * 100;
  return `${pct >= 0 ? '+' : ''}${pct.toFixed(1)}%`;
}

/**
 * A check over many tests: the geometric mean of the per-test ratios against the limit, with
 * how many tests meet the limit on their own and which one is furthest from it.
 */
export function aggregateCheck(
  name: string,
  kind: 'max' | 'min',
  limit: number,
  perTest: ReadonlyArray<{ label: string; value: number }>,
  perRound: readonly number[] = [],
): Check {
  const measured = perTest.filter((t) => Number.isFinite(t.value) && t.value > 0);
  const g = geomean(measured.map((t) => t.value));
  const meeting = measured.filter((t) => (kind === 'max' ? t.value <= limit : t.value >= limit)).length;
  let worst: { label: string; value: number } | undefined;
  for (const t of measured) {
    if (worst === undefined || (kind === 'max' ? t.value > worst.value : t.value < worst.value)) worst = t;
  }
  const worstText = worst === undefined ? '' : `, worst ${worst.label} ${worst.value.toFixed(2)}`;
  const missing = perTest.length - measured.length;
  const missingText = missing > 0 ? `, ${missing} not measured` : '';
  const c = check(
    name,
    kind,
    limit,
    g,
    `geomean of ${measured.length} tests; ${meeting}/${measured.length} meet it alone${worstText}${missingText}`,
  );
  c.perRound = [...perRound];
  return c;
}
