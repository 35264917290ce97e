// Runs Debian's redis-benchmark against one target and parses its --csv report (cf.
// twemproxy's own habit of measuring with redis-benchmark). No twemproxy source counterpart.
import { spawn } from 'node:child_process';

/** The redis tests of the benchmark, in the order they run (SET before GET fills the keys). */
export const REDIS_TESTS = ['SET', 'GET', 'INCR', 'LPUSH', 'LRANGE_100', 'MSET'] as const;
export type RedisTest = (typeof REDIS_TESTS)[number];

/** One line of redis-benchmark --csv. Latencies in milliseconds. */
export interface RedisBenchRow {
  test: string;
  rps: number;
  avgMs: number;
  minMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Splits one CSV line of double-quoted fields ("" inside a field is a quote). */
export function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    if (line[i] === '"') {
      let field = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) {
          field += line.slice(i);
          i = line.length;
          break;
        }
        field += line.slice(i, q);
        if (line[q + 1] === '"') {
          field += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      out.push(field);
      if (line[i] === ',') i++;
    } else {
      const c = line.indexOf(',', i);
      const end = c < 0 ? line.length : c;
      out.push(line.slice(i, end));
      i = c < 0 ? line.length : c + 1;
    }
  }
  return out;
}

/**
 * The result rows of `redis-benchmark --csv` output. Columns are found by the header's names
 * ("test","rps","avg_latency_ms",...), so older or newer column orders parse too; lines that
 * are not CSV rows (warnings, -e error lines) are ignored. A row without an rps is dropped.
 */
export function parseRedisBenchmarkCsv(text: string): RedisBenchRow[] {
  let header: string[] | null = null;
  const rows: RedisBenchRow[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line.startsWith('"')) continue;
    const fields = splitCsvLine(line);
    if (fields.includes('test') && fields.includes('rps')) {
      header = fields;
      continue;
    }
    const col = (name: string, fallback: number): number => {
      const idx = header === null ? fallback : header.indexOf(name);
      const v = idx < 0 ? undefined : fields[idx];
      return v === undefined || v === '' ? Number.NaN : Number(v);
    };
    const row: RedisBenchRow = {
      test: fields[header === null ? 0 : Math.max(0, header.indexOf('test'))] ?? '',
      rps: col('rps', 1),
      avgMs: col('avg_latency_ms', 2),
      minMs: col('min_latency_ms', 3),
      p50Ms: col('p50_latency_ms', 4),
      p95Ms: col('p95_latency_ms', 5),
      p99Ms: col('p99_latency_ms', 6),
      maxMs: col('max_latency_ms', 7),
    };
    if (Number.isFinite(row.rps)) rows.push(row);
  }
  return rows;
}

/** Lines redis-benchmark -e prints for error replies ("Error from server: ..."). */
export function countServerErrors(text: string): number {
  let n = 0;
  for (const line of text.split('\n')) if (line.startsWith('Error from server')) n++;
  return n;
}

export interface RedisBenchSpec {
  port: number;
  test: RedisTest;
  requests: number;
  clients: number;
  pipeline: number;
  /** -r: keyspace of __rand_int__ keys; 0 for none (every client uses the same key). */
  keyspace: number;
}

/**
 * redis-benchmark's arguments for one test. LRANGE_100 is sent as a plain command, because
 * `-t lrange_100` first runs as many LPUSHes as LRANGEs, which would pollute the CPU figure;
 * the harness fills `mylist` on every backend instead.
 */
export function redisBenchmarkArgs(spec: RedisBenchSpec): string[] {
  const args = ['-h', '127.0.0.1', '-p', String(spec.port), '-c', String(spec.clients)];
  args.push('-n', String(spec.requests), '-P', String(spec.pipeline), '--csv', '-e');
  if (spec.keyspace > 0) args.push('-r', String(spec.keyspace));
  if (spec.test === 'LRANGE_100') args.push('lrange', 'mylist', '0', '99');
  else args.push('-t', spec.test.toLowerCase());
  return args;
}

export interface RedisBenchRun {
  row: RedisBenchRow | null;
  /** Error replies reported by -e (at most one printed per second, so a lower bound). */
  serverErrors: number;
  /** Why there is no row (exit status, timeout, stderr), or ''. */
  failure: string;
}

/** Runs redis-benchmark once; never rejects. Killed after timeoutMs. */
export function runRedisBenchmark(spec: RedisBenchSpec, timeoutMs: number): Promise<RedisBenchRun> {
  return new Promise((resolve) => {
    const child = spawn('redis-benchmark', redisBenchmarkArgs(spec), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const finish = (failure: string): void => {
      clearTimeout(timer);
      const rows = parseRedisBenchmarkCsv(out);
      const row = rows[rows.length - 1] ?? null;
      const why = row !== null ? '' : failure !== '' ? failure : `no CSV row; stderr: ${err.trim().slice(0, 300)}`;
      resolve({ row, serverErrors: countServerErrors(out), failure: why });
    };
    child.once('error', (e) => finish(`cannot run redis-benchmark: ${e.message}`));
    child.once('close', (code, signal) => {
      if (timedOut) finish(`timed out after ${timeoutMs} ms`);
      else if (code !== 0) finish(`exit ${String(code ?? signal)}; stderr: ${err.trim().slice(0, 300)}`);
      else finish('');
    });
  });
}
