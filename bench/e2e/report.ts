// Formats the end-to-end benchmark's results as plain-text tables for a person to read: one
// line per test and target with Walnut's ratios on its line, then bulk gets, idle memory and
// the targets. No twemproxy counterpart.
import { describeRounds, formatMargin, type Check } from './summary.js';
import { TARGETS, type BulkResult, type BurstResult, type IdleResult, type TestResult, type TwemproxyDrift } from './results.js';
import { WORKER_TARGETS, type WorkersResult } from './workers-scaling.js';

/**
 * Aligns the columns of a table: `align` has one letter per column, 'l' or 'r' (columns past
 * its end are right-aligned).
 */
export function formatTable(rows: ReadonlyArray<readonly string[]>, align: string): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) =>
    r
      .map((c, i) => (align[i] === 'l' ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

/** 123456.7 → "123,457"; NaN → "-". */
export function fmtInt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-';
}

export function fmtFixed(n: number, digits: number): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}


export function formatTests(tests: readonly TestResult[]): string[] {
  const rows: string[][] = [
    ['suite', 'test', 'P', 'target', 'req/s', 'p50 ms', 'p99 ms', 'cpu µs/req', 'path µs/req', '│', 'W/T req/s', 'W/D req/s', 'W/T p99', 'W/T cpu', 'W/T ceiling'],
  ];
  for (const t of tests) {
    TARGETS.forEach((target, i) => {
      const f = t.median[target];
      const samples = t.samples[target];
      const failures = samples.filter((s) => s.failure !== '').length;
      const errors = samples.reduce((a, s) => a + s.errors, 0);
      const note = (failures > 0 ? ` ${failures} failed` : '') + (errors > 0 ? ` ${errors} err` : '');
      const first = i === 0;
      const r = t.ratios;
      const walnut = target === 'walnut';
      rows.push([
        first ? t.suite : '',
        first ? t.test : '',
        first ? String(t.pipeline) : '',
        target + note,
        fmtInt(f.rps),
        fmtFixed(f.p50Ms, 3),
        fmtFixed(f.p99Ms, 3),
        target === 'direct' ? '-' : fmtFixed(f.cpuUsPerReq, 2),
        fmtFixed(f.pathCpuUsPerReq, 2),
        '│',
        walnut ? fmtFixed(r.rpsVsTwemproxy, 2) : '',
        walnut ? fmtFixed(r.rpsVsDirect, 2) : '',
        walnut ? fmtFixed(r.p99VsTwemproxy, 2) : '',
        walnut ? fmtFixed(r.cpuVsTwemproxy, 2) : '',
        walnut ? fmtFixed(r.rpsCeilingVsTwemproxy, 2) : '',
      ]);
    });
  }
  return formatTable(rows, 'llrl');
}

export function formatWorkers(workers: readonly WorkersResult[]): string[] {
  const rows: string[][] = [['suite', 'test', 'P', 'target', 'req/s', 'p50 ms', 'p99 ms', 'cpu µs/req', '│', '2w/1w req/s', '2w/T req/s', '2w/1w cpu']];
  for (const w of workers) {
    WORKER_TARGETS.forEach((target, i) => {
      const f = w.median[target];
      const failures = w.samples[target].filter((s) => s.failure !== '').length;
      const first = i === 0;
      const two = target === 'walnut-2w';
      rows.push([
        first ? w.suite : '',
        first ? w.test : '',
        first ? String(w.pipeline) : '',
        target + (failures > 0 ? ` ${failures} failed` : ''),
        fmtInt(f.rps),
        fmtFixed(f.p50Ms, 3),
        fmtFixed(f.p99Ms, 3),
        fmtFixed(f.cpuUsPerReq, 2),
        '│',
        two ? fmtFixed(w.scaling, 2) : '',
        two ? fmtFixed(w.twoWorkersVsTwemproxy, 2) : '',
        two ? fmtFixed(w.cpuScaling, 2) : '',
      ]);
    });
  }
  return formatTable(rows, 'llrl');
}

export function formatBulk(bulk: readonly BulkResult[]): string[] {
  const rows: string[][] = [['suite', 'keys', 'target', 'median ms', 'min ms', 'warm-up ms', 'cpu ms/req', 'reply', '│', 'W/D time', 'W/T time']];
  for (const b of bulk) {
    TARGETS.forEach((target, i) => {
      const trials = b.trialsMs[target];
      const walnut = target === 'walnut';
      rows.push([
        i === 0 ? b.suite : '',
        i === 0 ? String(b.keys) : '',
        target,
        fmtFixed(b.medianMs[target], 2),
        fmtFixed(trials.length > 0 ? Math.min(...trials) : Number.NaN, 2),
        fmtFixed(b.warmupMedianMs[target], 2),
        target === 'direct' ? '-' : fmtFixed(b.cpuMsPerReq[target], 2),
        trials.length === 0 ? '-' : b.replyMatches[target] ? 'same' : 'DIFFERS',
        '│',
        walnut ? fmtFixed(b.walnutVsDirect, 2) : '',
        walnut ? fmtFixed(b.walnutVsTwemproxy, 2) : '',
      ]);
    });
  }
  const lines = formatTable(rows, 'lrl');
  for (const b of bulk) if (b.failure !== '') lines.push(`${b.suite} failed: ${b.failure}`);
  return lines;
}

export function formatDrift(drift: readonly TwemproxyDrift[]): string[] {
  const rows: string[][] = [['suite', 'test', 'P', 'fresh req/s', 'warmed req/s', 'fresh cpu µs/req', 'warmed cpu µs/req', 'cpu warmed/fresh']];
  for (const d of drift) {
    rows.push([
      d.suite,
      d.test,
      String(d.pipeline),
      fmtInt(d.fresh.rps),
      fmtInt(d.warmed.rps),
      fmtFixed(d.fresh.cpuUsPerReq, 2),
      fmtFixed(d.warmed.cpuUsPerReq, 2),
      fmtFixed(d.warmed.cpuUsPerReq / d.fresh.cpuUsPerReq, 2),
    ]);
  }
  return formatTable(rows, 'll');
}

export function formatIdle(idle: readonly IdleResult[]): string[] {
  const rows: string[][] = [
    ['proxy', 'clients', 'failed', 'RSS before kB', 'with clients kB', '1 s after close', '5 s after close', '15 s after close', '2nd wave', 'after 2nd close', 'KB/client', 'memory returned 15 s after close'],
  ];
  for (const i of idle) {
    rows.push([
      i.proxy,
      String(i.clients),
      String(i.failed),
      fmtInt(i.rssBeforeKb),
      fmtInt(i.rssWithClientsKb),
      fmtInt(i.rssAfter1sKb),
      fmtInt(i.rssAfter5sKb),
      fmtInt(i.rssAfter15sKb),
      fmtInt(i.rssSecondWaveKb),
      fmtInt(i.rssAfterSecondCloseKb),
      fmtFixed(i.kbPerClient, 2),
      i.failure !== ''
        ? `failure: ${i.failure}`
        : `${i.returned ? 'yes' : 'no'} (${fmtFixed(i.retainedShare * 100, 0)}% of growth kept)`,
    ]);
  }
  return formatTable(rows, 'lrrrrrrrrrrl');
}

export function formatBurst(burst: readonly BurstResult[]): string[] {
  const rows: string[][] = [['proxy', 'MB of values', 'RSS before kB', 'peak kB', '1 s after', 'after settling', 'memory returned']];
  for (const b of burst) {
    rows.push([
      b.proxy,
      fmtInt(b.megabytes),
      fmtInt(b.rssBeforeKb),
      fmtInt(b.rssPeakKb),
      fmtInt(b.rssAfter1sKb),
      fmtInt(b.rssAfterSettleKb),
      b.failure !== '' ? `failure: ${b.failure}` : `${fmtFixed(b.retainedShare * 100, 0)}% of growth kept`,
    ]);
  }
  return formatTable(rows, 'lrrrrrl');
}

export function formatChecks(checks: readonly Check[]): string[] {
  const rows: string[][] = [['', 'target', 'value', 'margin', 'detail']];
  for (const c of checks) {
    rows.push([
      Number.isFinite(c.value) ? (c.pass ? 'PASS' : 'MISS') : 'N/A',
      c.name,
      fmtFixed(c.value, 2),
      formatMargin(c.margin),
      [c.detail, describeRounds(c)].filter((x) => x !== '').join('; '),
    ]);
  }
  return formatTable(rows, 'llrrl');
}
