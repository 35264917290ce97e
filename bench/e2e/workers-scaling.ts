// The `workers` section: Walnut with `--workers 2` beside the bed's one-process Walnut and
// twemproxy, on the same redis pools, interleaved round by round, so the table shows what a
// second worker process buys on this machine. No twemproxy counterpart (twemproxy is
// single-threaded; its users run one instance per core).
import { medianFigures, type TestRuns } from './results.js';
import { ratio } from './summary.js';

/** The targets of the section: twemproxy, Walnut in one process, Walnut with two workers. */
export const WORKER_TARGETS = ['twemproxy', 'walnut', 'walnut-2w'] as const;
export type WorkerTarget = (typeof WORKER_TARGETS)[number];

/** What the section runs: the cheapest and a write command, where the proxy's share is largest. */
export const WORKER_TESTS: ReadonlyArray<{ suite: string; test: 'GET' | 'SET' }> = [
  { suite: 'redis-1', test: 'GET' },
  { suite: 'redis-1', test: 'SET' },
  { suite: 'redis-4', test: 'GET' },
];

export interface WorkersResult extends TestRuns<WorkerTarget> {
  /** req/s with two workers over req/s with one. */
  scaling: number;
  /** req/s with two workers over twemproxy's. */
  twoWorkersVsTwemproxy: number;
  /** CPU per request with two workers over one (all processes of each). */
  cpuScaling: number;
}

export function summariseWorkers(t: Omit<WorkersResult, 'median' | 'scaling' | 'twoWorkersVsTwemproxy' | 'cpuScaling'>): WorkersResult {
  const median = {
    twemproxy: medianFigures(t.samples.twemproxy),
    walnut: medianFigures(t.samples.walnut),
    'walnut-2w': medianFigures(t.samples['walnut-2w']),
  };
  return {
    ...t,
    median,
    scaling: ratio(median['walnut-2w'].rps, median.walnut.rps),
    twoWorkersVsTwemproxy: ratio(median['walnut-2w'].rps, median.twemproxy.rps),
    cpuScaling: ratio(median['walnut-2w'].cpuUsPerReq, median.walnut.cpuUsPerReq),
  };
}
