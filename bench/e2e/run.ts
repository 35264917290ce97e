// `npm run bench`: Walnut side by side with C twemproxy (nutcracker) and with the servers
// themselves, on the same pools: redis-benchmark and a memcached load interleaved round by
// round, 10,000-key MGET / multi-get, memory per idle client; prints tables and PASS/MISS per
// target of the issue and writes bench/results/<time>.json. No twemproxy counterpart.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { isAbsolute, join } from 'node:path';
import { repoRoot, walnutCli, nutcrackerBin } from '../../scripts/lib/processes.js';
import { runBulk } from './bulk-get.js';
import { runConnectChurn } from './connect-churn.js';
import { respCommand } from './raw-client.js';
import { BURST_SETTLE_MS, measureBurst } from './burst-memory.js';
import { measureIdle } from './idle-memory.js';
import { benchKey, MEMCACHE_TESTS, runMemcacheLoad, type MemcacheTest } from './memcache-load.js';
import { parseBenchArgs, requestCount, USAGE, type BenchOptions } from './options.js';
import { cpuSeconds, cpuSecondsOf, reapedChildrenCpuSeconds } from './proc-stats.js';
import { REDIS_TESTS, runRedisBenchmark, type RedisTest } from './redis-benchmark.js';
import { formatBulk, formatBurst, formatChecks, formatDrift, formatIdle, formatTests, formatWorkers } from './report.js';
import { roundOrder } from './summary.js';
import {
  evaluateTargets,
  summariseTest,
  testLabel,
  TARGETS,
  type BulkResult,
  type BurstResult,
  type IdleResult,
  type Sample,
  type TargetName,
  type TestResult,
  type TwemproxyDrift,
} from './results.js';
import {
  fillMemcached,
  fillRedis,
  ownFdLimit,
  sanityCheck,
  startBed,
  startProxy,
  VALUE_SIZE,
  PROXY_ARGS,
  type Bed,
  type Suite,
} from './setup.js';
import { summariseWorkers, WORKER_TARGETS, WORKER_TESTS, type WorkerTarget, type WorkersResult } from './workers-scaling.js';

const CLIENTS = 50;
const PIPELINES = [1, 16] as const;
const RUN_TIMEOUT_MS = 120_000;
/**
 * Requests per run before weights and --scale, per pipeline depth: about a second each on a
 * 2-core machine. Shorter runs let the 50 connections' set-up weigh on p99 (1% of a 40,000-
 * request run is the first 8 requests of each client) and leave CPU time a few 10 ms ticks.
 */
const REDIS_BASE: Record<number, number> = { 1: 80_000, 16: 600_000 };
const MEMCACHE_BASE: Record<number, number> = { 1: 80_000, 16: 300_000 };
/** Heavier commands get fewer requests so every run takes about as long. */
const REDIS_WEIGHT: Record<number, Partial<Record<RedisTest, number>>> = {
  1: { LRANGE_100: 0.5, MSET: 0.7 },
  16: { LRANGE_100: 0.1, MSET: 0.3 },
};
const MEMCACHE_WEIGHT: Partial<Record<MemcacheTest, number>> = { MGET_10: 0.5 };
/** Short-lived connections per run: about a second each. */
const CONNECT_BASE = 10_000;
/** The pools the short-lived connections test (one server behind each proxy is enough). */
const CONNECT_SUITES = ['redis-1', 'memcache-2'];
const BULK_TRIALS = { full: 21, quick: 9 };
/**
 * twemproxy's GET -P 16 on each redis pool before and after the warm-up, this many requests
 * each time: the warm-up's MSETs and multi-gets leave its malloc heap fragmented, which raises
 * its CPU per request for the rest of its life (bench/README.md). Not scaled by --scale: CPU
 * time comes in 10 ms ticks, 0.05 µs per request at this count.
 */
const DRIFT_REQUESTS = 200_000;
// Walnut needs about a hundred 10,000-key requests before its times settle: the JIT optimises
// the 10,000-iteration loops, and the heap and malloc arenas grow to their working size (the
// first requests spend as much time in page faults as in JavaScript). A long-running proxy is
// always past that, so the trials measure the warm state; the warm-up median is reported too.
const BULK_WARMUPS = 100;

// ---------------------------------------------------------------------------------------------
// Progress on stderr

class Progress {
  private done = 0;
  private readonly t0 = Date.now();
  private readonly tty = process.stderr.isTTY === true;
  total = 0;

  step(what: string): void {
    this.done++;
    this.show(what);
  }

  note(what: string): void {
    this.show(what);
  }

  private show(what: string): void {
    const elapsed = (Date.now() - this.t0) / 1000;
    const pct = this.total > 0 ? Math.min(100, Math.floor((this.done / this.total) * 100)) : 0;
    const eta = this.done > 0 && this.total > 0 ? (elapsed / this.done) * (this.total - this.done) : NaN;
    const line = `bench [${this.done}/${this.total} ${pct}%] ${clock(elapsed)}${Number.isFinite(eta) ? ` eta ${clock(eta)}` : ''}  ${what}`;
    if (this.tty) process.stderr.write(`\r\x1b[K${line.slice(0, (process.stderr.columns ?? 120) - 1)}`);
    else process.stderr.write(`${line}\n`);
  }

  end(): void {
    if (this.tty) process.stderr.write('\r\x1b[K');
  }
}

function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

// ---------------------------------------------------------------------------------------------
// One measured run

function proxyPid(bed: Bed, target: TargetName): number {
  return target === 'direct' ? 0 : bed.proxies[target].pid;
}

function failedSample(round: number, failure: string): Sample {
  return {
    round,
    rps: NaN,
    p50Ms: NaN,
    p99Ms: NaN,
    avgMs: NaN,
    requests: 0,
    seconds: NaN,
    cpuSeconds: NaN,
    cpuUsPerReq: NaN,
    loadCpuUsPerReq: NaN,
    serverCpuUsPerReq: NaN,
    pathCpuUsPerReq: NaN,
    errors: 0,
    failure,
  };
}

/**
 * CPU per request of the load generator, the backends and the whole path, from CPU seconds
 * measured over one run (`proxy` NaN: no proxy on the path).
 */
function pathCpu(requests: number, load: number, servers: number, proxy: number): Pick<Sample, 'loadCpuUsPerReq' | 'serverCpuUsPerReq' | 'pathCpuUsPerReq'> {
  const us = (seconds: number): number => (seconds * 1e6) / requests;
  return {
    loadCpuUsPerReq: us(load),
    serverCpuUsPerReq: us(servers),
    pathCpuUsPerReq: us(load + servers + (Number.isNaN(proxy) ? 0 : proxy)),
  };
}

async function redisSample(
  bed: Bed,
  suite: Suite,
  target: TargetName,
  test: RedisTest,
  pipeline: number,
  requests: number,
  round: number,
): Promise<Sample> {
  return redisSampleAt(suite.ports[target], proxyPid(bed, target), suite, test, pipeline, requests, round);
}

/**
 * redis-benchmark against `port`; `pid` is the proxy whose CPU is counted (0: none), and
 * `suite` names the backends whose CPU counts in the whole path.
 */
async function redisSampleAt(
  port: number,
  pid: number,
  suite: Pick<Suite, 'keyspace' | 'serverPids'>,
  test: RedisTest,
  pipeline: number,
  requests: number,
  round: number,
): Promise<Sample> {
  const t0 = performance.now();
  const cpu0 = pid > 0 ? cpuSeconds(pid) : NaN;
  const load0 = reapedChildrenCpuSeconds();
  const servers0 = cpuSecondsOf(suite.serverPids);
  const run = await runRedisBenchmark(
    { port, test, requests, clients: CLIENTS, pipeline, keyspace: suite.keyspace },
    RUN_TIMEOUT_MS,
  );
  const cpu = pid > 0 ? cpuSeconds(pid) - cpu0 : NaN;
  const servers = cpuSecondsOf(suite.serverPids) - servers0;
  const load = reapedChildrenCpuSeconds() - load0;
  const seconds = (performance.now() - t0) / 1000;
  if (run.row === null) return failedSample(round, run.failure);
  return {
    round,
    rps: run.row.rps,
    p50Ms: run.row.p50Ms,
    p99Ms: run.row.p99Ms,
    avgMs: run.row.avgMs,
    requests,
    seconds,
    cpuSeconds: cpu,
    cpuUsPerReq: (cpu * 1e6) / requests,
    ...pathCpu(requests, load, servers, cpu),
    errors: run.serverErrors,
    failure: '',
  };
}

/** What a load generator running in this process reports for one run. */
interface InProcessLoad {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  avgMs: number;
  requests: number;
  errors: number;
  failure: string;
}

/**
 * One run of a load generator that runs in this process (the memcached load, the short-lived
 * connections) against `target`: its CPU is this process's.
 */
async function inProcessSample(
  bed: Bed,
  suite: Suite,
  target: TargetName,
  round: number,
  runLoad: (port: number) => Promise<InProcessLoad>,
): Promise<Sample> {
  const pid = proxyPid(bed, target);
  const t0 = performance.now();
  const cpu0 = pid > 0 ? cpuSeconds(pid) : NaN;
  const load0 = process.cpuUsage();
  const servers0 = cpuSecondsOf(suite.serverPids);
  const r = await runLoad(suite.ports[target]);
  // First, before the /proc reads below add their own CPU to this process's.
  const loadUsage = process.cpuUsage(load0);
  const cpu = pid > 0 ? cpuSeconds(pid) - cpu0 : NaN;
  const servers = cpuSecondsOf(suite.serverPids) - servers0;
  const load = (loadUsage.user + loadUsage.system) / 1e6;
  const seconds = (performance.now() - t0) / 1000;
  if (r.failure !== '' || r.requests === 0) return failedSample(round, r.failure || 'no replies');
  return {
    round,
    rps: r.rps,
    p50Ms: r.p50Ms,
    p99Ms: r.p99Ms,
    avgMs: r.avgMs,
    requests: r.requests,
    seconds,
    cpuSeconds: cpu,
    cpuUsPerReq: (cpu * 1e6) / r.requests,
    ...pathCpu(r.requests, load, servers, cpu),
    errors: r.errors,
    failure: '',
  };
}

/** The memcached load the bench runs: CLIENTS connections, batches of `pipeline` requests. */
function memcacheLoad(port: number, suite: Suite, test: MemcacheTest, pipeline: number, requests: number): Promise<InProcessLoad> {
  return runMemcacheLoad({
    port,
    test,
    requests,
    connections: CLIENTS,
    depth: pipeline,
    keyspace: suite.keyspace,
    valueSize: VALUE_SIZE,
    timeoutMs: RUN_TIMEOUT_MS,
  });
}

function memcacheSample(
  bed: Bed,
  suite: Suite,
  target: TargetName,
  test: MemcacheTest,
  pipeline: number,
  requests: number,
  round: number,
): Promise<Sample> {
  return inProcessSample(bed, suite, target, round, (port) => memcacheLoad(port, suite, test, pipeline, requests));
}

/** One GET of a key every backend holds, and the exact reply to it. */
function connectExchange(protocol: Suite['protocol']): { request: Buffer; reply: Buffer } {
  const key = benchKey(1);
  const value = 'x'.repeat(VALUE_SIZE);
  return protocol === 'redis'
    ? { request: Buffer.from(respCommand(['GET', key])), reply: Buffer.from(`$${VALUE_SIZE}\r\n${value}\r\n`) }
    : { request: Buffer.from(`get ${key}\r\n`), reply: Buffer.from(`VALUE ${key} 0 ${VALUE_SIZE}\r\n${value}\r\nEND\r\n`) };
}

/** `connections` short-lived connections, CLIENTS at a time; per-request figures are per connection. */
function connectSample(bed: Bed, suite: Suite, target: TargetName, connections: number, round: number): Promise<Sample> {
  return inProcessSample(bed, suite, target, round, async (port) => {
    const r = await runConnectChurn({
      port,
      connections,
      parallel: CLIENTS,
      ...connectExchange(suite.protocol),
      timeoutMs: RUN_TIMEOUT_MS,
    });
    return { ...r, requests: r.completed };
  });
}

// ---------------------------------------------------------------------------------------------
// The plan: every (suite, test, depth) with its request count, run for every target each round

interface Planned {
  /** Short-lived connections: reported apart, and not part of the request-rate targets. */
  connect: boolean;
  suite: Suite;
  test: string;
  pipeline: number;
  requests: number;
  run: (target: TargetName, round: number) => Promise<Sample>;
}

/** `tests` less those --skip leaves out (of the warm-up, the rounds and the workers section alike). */
function notSkipped<T extends string>(tests: readonly T[], opts: BenchOptions): T[] {
  return tests.filter((test) => !opts.skip.has(test));
}

function plan(bed: Bed, opts: BenchOptions): Planned[] {
  const out: Planned[] = [];
  for (const suite of bed.suites) {
    if (suite.protocol === 'redis' && opts.sections.has('redis')) {
      for (const pipeline of PIPELINES) {
        for (const test of notSkipped(REDIS_TESTS, opts)) {
          const weight = REDIS_WEIGHT[pipeline]?.[test] ?? 1;
          const requests = requestCount(REDIS_BASE[pipeline] ?? 0, weight, opts.scale, CLIENTS, pipeline);
          out.push({
            connect: false,
            suite,
            test,
            pipeline,
            requests,
            run: (target, round) => redisSample(bed, suite, target, test, pipeline, requests, round),
          });
        }
      }
    }
    if (suite.protocol === 'memcache' && opts.sections.has('memcache')) {
      for (const pipeline of PIPELINES) {
        for (const test of notSkipped(MEMCACHE_TESTS, opts)) {
          const weight = MEMCACHE_WEIGHT[test] ?? 1;
          const requests = requestCount(MEMCACHE_BASE[pipeline] ?? 0, weight, opts.scale, CLIENTS, pipeline);
          out.push({
            connect: false,
            suite,
            test,
            pipeline,
            requests,
            run: (target, round) => memcacheSample(bed, suite, target, test, pipeline, requests, round),
          });
        }
      }
    }
    if (opts.sections.has('connect') && CONNECT_SUITES.includes(suite.name)) {
      const connections = requestCount(CONNECT_BASE, 1, opts.scale, CLIENTS, 1);
      out.push({
        connect: true,
        suite,
        test: 'CONNECT',
        pipeline: 1,
        requests: connections,
        run: (target, round) => connectSample(bed, suite, target, connections, round),
      });
    }
  }
  return out;
}

/**
 * twemproxy's GET -P 16 on `suite`: one unmeasured run (a fresh twemproxy's first requests
 * grow its free lists), then the run of median CPU per request out of three (its req/s goes
 * with it). A run with error replies fails the probe: its CPU would be for errors.
 */
async function twemproxyGet(bed: Bed, suite: Suite): Promise<Sample> {
  await redisSample(bed, suite, 'twemproxy', 'GET', 16, DRIFT_REQUESTS, 0);
  const runs: Sample[] = [];
  for (let i = 0; i < 3; i++) {
    const s = await redisSample(bed, suite, 'twemproxy', 'GET', 16, DRIFT_REQUESTS, 0);
    if (s.failure !== '') return s;
    if (s.errors > 0) return { ...s, failure: `${s.errors} error replies` };
    runs.push(s);
  }
  runs.sort((a, b) => a.cpuUsPerReq - b.cpuUsPerReq);
  return runs[1] as Sample;
}

/**
 * Untimed load of every test through every target first, so Walnut's JIT has compiled each
 * hot path (array replies, fragmenting) before anything is measured: a long-running proxy
 * has, and twemproxy's C needs no warming.
 */
async function warmUp(bed: Bed, opts: BenchOptions, progress: Progress): Promise<void> {
  for (const suite of bed.suites) {
    const redis = suite.protocol === 'redis';
    const used = opts.sections.has(redis ? 'redis' : 'memcache') || opts.sections.has('bulk') || (redis && opts.sections.has('workers'));
    const churn = opts.sections.has('connect') && CONNECT_SUITES.includes(suite.name);
    if (!used && !churn) continue;
    for (const target of TARGETS) {
      progress.note(`warm-up ${suite.name} ${target}`);
      if (churn) {
        const exchange = connectExchange(suite.protocol);
        await runConnectChurn({ port: suite.ports[target], connections: 5_000, parallel: CLIENTS, ...exchange, timeoutMs: RUN_TIMEOUT_MS });
      }
      if (!used) continue;
      for (const pipeline of PIPELINES) {
        const requests = pipeline === 1 ? 2_000 : 20_000;
        if (redis) {
          for (const test of notSkipped(REDIS_TESTS, opts)) {
            const n = test === 'LRANGE_100' || test === 'MSET' ? requests / 4 : requests;
            const spec = { port: suite.ports[target], test, requests: n, clients: CLIENTS, pipeline, keyspace: suite.keyspace };
            await runRedisBenchmark(spec, RUN_TIMEOUT_MS);
          }
        } else {
          for (const test of notSkipped(MEMCACHE_TESTS, opts)) {
            await memcacheLoad(suite.ports[target], suite, test, pipeline, requests);
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Workers: a Walnut with --workers 2 beside the bed's one-process Walnut and twemproxy

/** The workers section's tests, less those --skip leaves out (the warm-up skips them too). */
function workerTests(opts: BenchOptions): typeof WORKER_TESTS {
  return WORKER_TESTS.filter(({ test }) => !opts.skip.has(test));
}

async function runWorkers(bed: Bed, opts: BenchOptions, progress: Progress, notes: string[]): Promise<WorkersResult[]> {
  const { proxy: twoWorkers, ports } = await startProxy('walnut', bed.yaml, [...opts.walnutArgs, '--workers', '2']);
  try {
    const planned = workerTests(opts).flatMap(({ suite: name, test }) => {
      const suite = bed.suites.find((x) => x.name === name);
      if (suite === undefined) throw new Error(`workers section: no suite ${name}`);
      const port: Record<WorkerTarget, number> = {
        twemproxy: suite.ports.twemproxy,
        walnut: suite.ports.walnut,
        'walnut-2w': name === 'redis-1' ? ports.redis1 : ports.redis4,
      };
      const pid: Record<WorkerTarget, number> = {
        twemproxy: bed.proxies.twemproxy.pid,
        walnut: bed.proxies.walnut.pid,
        'walnut-2w': twoWorkers.pid,
      };
      return PIPELINES.map((pipeline) => {
        const requests = requestCount(REDIS_BASE[pipeline] ?? 0, 1, opts.scale, CLIENTS, pipeline);
        const run = (target: WorkerTarget, round: number, n = requests): Promise<Sample> =>
          redisSampleAt(port[target], pid[target], suite, test, pipeline, n, round);
        const samples: Record<WorkerTarget, Sample[]> = { twemproxy: [], walnut: [], 'walnut-2w': [] };
        return { suite: name, test, pipeline, requests, run, samples };
      });
    });
    // Each worker compiles its own hot paths: an unmeasured run of every test first (the
    // kernel spreads the connections, so both workers get some of each).
    progress.note('warm-up walnut --workers 2');
    for (const p of planned) await p.run('walnut-2w', 0, p.pipeline === 1 ? 4_000 : 40_000);
    for (let round = 1; round <= opts.rounds; round++) {
      for (const p of planned) {
        for (const target of roundOrder(WORKER_TARGETS, round)) {
          progress.step(`round ${round}/${opts.rounds} workers ${p.suite} ${p.test} -P ${p.pipeline} ${target}`);
          const sample = await p.run(target, round);
          if (sample.failure !== '') notes.push(`round ${round} workers ${p.suite} ${p.test} -P ${p.pipeline} ${target}: ${sample.failure}`);
          p.samples[target].push(sample);
        }
      }
    }
    return planned.map((p) => summariseWorkers({ suite: p.suite, test: p.test, pipeline: p.pipeline, requests: p.requests, samples: p.samples }));
  } finally {
    await twoWorkers.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// --pin

/** Every thread of `pid` on `cpus` (a taskset list such as "0" or "1-3"); false if taskset failed. */
function taskset(pid: number, cpus: string): boolean {
  return spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore', timeout: 5_000 }).status === 0;
}

/** This process (and so whatever it starts from now on) on CPUs 1..n-1; false when not possible. */
function pinSelf(notes: string[]): boolean {
  const n = cpus().length;
  if (n < 2) {
    notes.push(`--pin ignored: ${n} CPU`);
    return false;
  }
  const rest = n === 2 ? '1' : `1-${n - 1}`;
  if (!taskset(process.pid, rest)) {
    notes.push('--pin ignored: taskset failed');
    return false;
  }
  notes.push(`--pin: proxies on CPU 0, servers and load generators on CPU ${rest}`);
  return true;
}

/** A proxy and its worker processes, every thread, on CPU 0. */
function pinToCpu0(pid: number): void {
  taskset(pid, '0');
  let children = '';
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8');
  } catch {
    return;
  }
  for (const child of children.split(/\s+/)) if (child !== '') pinToCpu0(Number(child));
}

// ---------------------------------------------------------------------------------------------
// Facts about the machine and tools, for the JSON

function commandOutput(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5_000 });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] ?? '';
}

function environment(): Record<string, unknown> {
  return {
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? '',
    walnut: commandOutput(process.execPath, [walnutCli, '-V']),
    nutcracker: commandOutput(nutcrackerBin, ['-V']),
    redisServer: commandOutput('redis-server', ['--version']),
    redisBenchmark: commandOutput('redis-benchmark', ['--version']),
    memcached: commandOutput('memcached', ['-V']),
    // Whether Walnut had its malloc_trim addon (the memory-after-a-crowd check depends on it).
    walnutNativeAddon: nativeAddonStatus(),
  };
}

/** What scripts/build.sh wrote of the addon: "built" or "skipped: <why>". */
function nativeAddonStatus(): string {
  try {
    return readFileSync(join(repoRoot, 'dist', 'native', 'malloc_trim.status'), 'utf8').trim();
  } catch {
    return 'unknown (no dist/native/malloc_trim.status)';
  }
}

/**
 * Measured fractions to 4 significant digits: the rounds differ by percents, and the float
 * noise of a division (19.374999999999975) made up a third of a result file.
 */
function roundMeasured(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isInteger(value) && Number.isFinite(value)
    ? Number(value.toPrecision(4))
    : value;
}

/**
 * A results file: one line per top-level section, each written compactly. Indented, with a
 * line per sample field, a full run took 240 KB; this way about 110 KB, and `jq` reads both.
 */
function writeJson(dir: string, name: string, data: Record<string, unknown>): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  const tmp = `${path}.tmp`;
  const sections = Object.entries(data).map(([key, value]) => `${JSON.stringify(key)}: ${JSON.stringify(value, roundMeasured)}`);
  writeFileSync(tmp, `{\n${sections.join(',\n')}\n}\n`);
  renameSync(tmp, path);
  return path;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  let opts: BenchOptions;
  try {
    opts = parseBenchArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n\n${USAGE}`);
    return 2;
  }
  if (opts.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const started = new Date();
  const loadStart = loadavg();
  const progress = new Progress();
  const notes: string[] = [];

  // Our end of the idle connections needs descriptors too; Node raised the soft limit to the
  // hard one at startup, scripts/bench.sh raised the hard one if it could.
  let idleClients = opts.idleClients;
  const ownLimit = ownFdLimit();
  if (opts.sections.has('idle') && Number.isFinite(ownLimit) && ownLimit < idleClients + 500) {
    idleClients = Math.max(100, ownLimit - 500);
    notes.push(`descriptor limit ${ownLimit}: idle test uses ${idleClients} clients instead of ${opts.idleClients}`);
  }

  // With --walnut-args setting --workers the bed's Walnut is no longer the one-process Walnut
  // the section compares two workers with.
  const workersSection = opts.sections.has('workers') && !opts.walnutArgs.some((a) => a.startsWith('--workers'));
  if (opts.sections.has('workers') && !workersSection) notes.push('workers section skipped: --walnut-args sets --workers');

  // Pinning: this process first, so that every server and load generator it starts inherits
  // CPUs 1..n-1; then the proxies move to CPU 0.
  const pinned = opts.pin ? pinSelf(notes) : false;
  const workersRun = workersSection && !pinned;
  if (workersSection && pinned) notes.push('workers section skipped: --pin gives the proxies one CPU');

  progress.note('starting redis ×5, memcached ×2, nutcracker, walnut');
  const proxyArgs = { walnut: opts.walnutArgs, twemproxy: opts.twemproxyArgs };
  const bed = await startBed(proxyArgs);
  if (pinned) for (const proxy of Object.values(bed.proxies)) pinToCpu0(proxy.pid);
  const tests: TestResult[] = [];
  const connects: TestResult[] = [];
  const bulk: BulkResult[] = [];
  const idle: IdleResult[] = [];
  const burst: BurstResult[] = [];
  let workers: WorkersResult[] = [];
  const drift: TwemproxyDrift[] = [];
  if (opts.skip.size > 0) notes.push(`left out (--skip): ${[...opts.skip].join(', ')}`);
  try {
    for (const [which, limit] of Object.entries(bed.fdLimits)) {
      if (limit < idleClients + 100) notes.push(`${which} runs with a descriptor limit of ${limit}`);
    }
    progress.note('filling backends');
    await Promise.all([...bed.redis.map((r) => fillRedis(r.port)), ...bed.memcached.map((m) => fillMemcached(m.port))]);
    for (const suite of bed.suites) {
      for (const target of TARGETS) await sanityCheck(suite.protocol, suite.ports[target], `${suite.name} via ${target}`);
    }

    const planned = plan(bed, opts);
    const bulkSuites = opts.sections.has('bulk') ? bed.suites : [];
    const bulkTrials = opts.quick ? BULK_TRIALS.quick : BULK_TRIALS.full;
    const workerRuns = workersRun ? workerTests(opts).length * PIPELINES.length * WORKER_TARGETS.length * opts.rounds : 0;
    progress.total =
      planned.length * TARGETS.length * opts.rounds + bulkSuites.length * bulkTrials + workerRuns + (opts.sections.has('idle') ? 4 : 0);

    const driftSuites = opts.sections.has('redis') ? bed.suites.filter((suite) => suite.protocol === 'redis') : [];
    const fresh: Sample[] = [];
    for (const suite of driftSuites) {
      progress.note(`twemproxy before the warm-up: ${suite.name} GET -P 16`);
      fresh.push(await twemproxyGet(bed, suite));
    }

    await warmUp(bed, opts, progress);

    for (const [i, suite] of driftSuites.entries()) {
      const before = fresh[i] as Sample;
      if (before.failure !== '') {
        notes.push(`twemproxy before the warm-up on ${suite.name} (GET -P 16): ${before.failure}`);
        continue;
      }
      progress.note(`twemproxy after the warm-up: ${suite.name} GET -P 16`);
      const after = await twemproxyGet(bed, suite);
      if (after.failure !== '') notes.push(`twemproxy after the warm-up on ${suite.name} (GET -P 16): ${after.failure}`);
      else drift.push({ suite: suite.name, test: 'GET', pipeline: 16, fresh: before, warmed: after });
    }

    const samples = new Map<Planned, Record<TargetName, Sample[]>>();
    for (const p of planned) samples.set(p, { direct: [], twemproxy: [], walnut: [] });
    for (let round = 1; round <= opts.rounds; round++) {
      for (const p of planned) {
        for (const target of roundOrder(TARGETS, round)) {
          progress.step(`round ${round}/${opts.rounds} ${testLabel({ suite: p.suite.name, test: p.test, pipeline: p.pipeline })} ${target}`);
          const s = await p.run(target, round);
          if (s.failure !== '') notes.push(`round ${round} ${p.suite.name} ${p.test} -P ${p.pipeline} ${target}: ${s.failure}`);
          (samples.get(p) as Record<TargetName, Sample[]>)[target].push(s);
        }
      }
    }
    for (const p of planned) {
      (p.connect ? connects : tests).push(
        summariseTest({
          suite: p.suite.name,
          test: p.test,
          pipeline: p.pipeline,
          requests: p.requests,
          samples: samples.get(p) as Record<TargetName, Sample[]>,
        }, cpus().length),
      );
    }

    const pids = { twemproxy: bed.proxies.twemproxy.pid, walnut: bed.proxies.walnut.pid };
    for (const suite of bulkSuites) {
      bulk.push(await runBulk(suite, pids, bulkTrials, BULK_WARMUPS, () => progress.step(`${suite.name} ${10_000}-key get`)));
    }

    if (workersRun) workers = await runWorkers(bed, opts, progress, notes);

    // Fresh proxies on the same backends, one at a time.
    if (opts.sections.has('idle')) {
      for (const which of ['twemproxy', 'walnut'] as const) {
        progress.step(`${which} with ${idleClients} idle clients`);
        idle.push(await measureIdle(which, bed.yaml, idleClients, proxyArgs[which]));
        progress.step(`${which} after a burst of 1 MB values (${BURST_SETTLE_MS / 1000} s to settle)`);
        burst.push(await measureBurst(which, bed.yaml, proxyArgs[which]));
      }
    }
  } finally {
    await bed.stop();
  }

  progress.end();

  const checks = evaluateTargets(tests, bulk, idle, cpus().length, burst);
  const finished = new Date();
  const result = {
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    seconds: (finished.getTime() - started.getTime()) / 1000,
    options: { ...opts, sections: [...opts.sections], skip: [...opts.skip], idleClients },
    environment: { ...environment(), loadavgStart: loadStart, loadavgEnd: loadavg(), fdLimits: bed.fdLimits },
    setup: {
      clients: CLIENTS,
      pipelines: PIPELINES,
      proxyArgs: PROXY_ARGS.join(' '),
      walnutArgs: opts.walnutArgs.join(' '),
      twemproxyArgs: opts.twemproxyArgs.join(' '),
      serverConnections: 1,
      note: 'direct = the first server of the pool; figures are medians over rounds; cpu = proxy utime+stime per request',
    },
    tests,
    twemproxyDrift: drift,
    connects,
    bulk,
    workers,
    idle,
    burst,
    checks,
    notes,
  };

  const lines: string[] = [];
  lines.push(
    `Walnut vs twemproxy vs direct: ${opts.rounds} round(s), -c ${CLIENTS}, medians over rounds; ` +
      `W/T = Walnut/twemproxy, W/D = Walnut/direct (req/s: higher is better; p99, cpu: lower is better)`,
  );
  const load = (l: number[]): string => l.map((x) => x.toFixed(2)).join(' ');
  lines.push(
    `${cpus().length} CPUs, load average ${load(loadStart)} at start, ${load(loadavg())} at end; ` +
      `descriptor limits: harness ${ownLimit}, twemproxy ${bed.fdLimits.twemproxy}, walnut ${bed.fdLimits.walnut}`,
  );
  lines.push(
    `arguments: twemproxy ${[...PROXY_ARGS, ...opts.twemproxyArgs].join(' ')}; walnut ${[...PROXY_ARGS, ...opts.walnutArgs].join(' ')}`,
  );
  if (tests.length > 0) lines.push('', ...formatTests(tests));
  if (drift.length > 0) {
    lines.push(
      '',
      'twemproxy before the warm-up (fresh) and after it (warmed), GET -P 16, the run of median CPU out of three each: its CPU per',
      'request rises once MSETs and multi-gets have fragmented its malloc heap, and the rounds above measure the warmed state',
      '(bench/README.md, "twemproxy\'s heap")',
      ...formatDrift(drift),
    );
  }
  if (connects.length > 0) {
    lines.push(
      '',
      `Short-lived connections: connect, one GET, close, ${CLIENTS} at a time (req/s = connections/s; latency, cpu and path per connection)`,
      ...formatTests(connects),
    );
  }
  if (bulk.length > 0) lines.push('', ...formatBulk(bulk));
  if (workers.length > 0) lines.push('', ...formatWorkers(workers));
  if (idle.length > 0) lines.push('', ...formatIdle(idle));
  if (burst.length > 0) lines.push('', 'A burst of 1 MB values (20 clients pipelining SETs and GETs for 5 s) through a fresh proxy, then nothing', ...formatBurst(burst));
  if (checks.length > 0) lines.push('', 'Targets (margin: headroom to the limit, negative = missed by that much)', ...formatChecks(checks));
  if (notes.length > 0) lines.push('', 'Notes:', ...notes.map((n) => `  ${n}`));

  const outDir = isAbsolute(opts.outDir) ? opts.outDir : join(repoRoot, opts.outDir);
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const path = writeJson(outDir, `${stamp}.json`, result);
  writeJson(outDir, 'latest.json', result);
  lines.push('', `Took ${clock(result.seconds)}. Results: ${path} (and latest.json)`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`\nbench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
