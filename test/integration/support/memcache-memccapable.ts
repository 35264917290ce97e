/**
 * Runs libmemcached's memccapable (Debian libmemcached-tools) against a host:port and reads its
 * per-test results, for the memccapable integration test and bench/memccapable.ts.
 *
 * memccapable prints each test name padded to 40 columns on stdout (flushed), then `[pass]` on
 * stdout or `[FAIL]` on stderr; with -v the failed assertion and any unexpected reply line
 * follow. Both streams go to one file so they stay in order, and the output is cut into one
 * segment per test at the padded names.
 */
import { spawn } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Debian installs it as memccapable (libmemcached's memcapable). */
export const memccapableBin: string = existsSync('/usr/bin/memccapable') ? '/usr/bin/memccapable' : 'memccapable';

export type Outcome = 'pass' | 'fail' | 'skip' | 'not run';

export interface TestResult {
  /** memccapable's test name, e.g. `ascii cas noreply`. */
  readonly name: string;
  readonly outcome: Outcome;
  /** What memccapable printed for the test besides its status (failed assertion, reply). */
  readonly detail: string;
}

export interface MemccapableRun {
  readonly results: TestResult[];
  /** Exit code (0: all passed), or null when it was killed. */
  readonly exitCode: number | null;
  /** It was still running after `killAfterMs` and was killed. */
  readonly killed: boolean;
  /** Everything it printed, stdout and stderr merged. */
  readonly output: string;
}

export interface MemccapableOptions {
  /** `-a` (ASCII, the default here) or `-b` (binary). */
  protocol?: 'ascii' | 'binary';
  /** `-t`: seconds each socket read/write may wait (memccapable fails the test after it). */
  ioTimeoutSec?: number;
  /** `-T`: run only this test. */
  only?: string;
  /** Kill memccapable after this long (a test a proxy cannot answer must not hang a run). */
  killAfterMs?: number;
}

const NAME_WIDTH = 40;
/** A test name as printed: `ascii`/`binary`, words, padded with spaces to 40 columns. */
const PADDED_NAME = /(?:ascii|binary)(?: [a-z]+)+ +/g;

/** Cuts memccapable's merged output into one result per test it started. */
export function parseMemccapableOutput(output: string): TestResult[] {
  const starts: { name: string; at: number }[] = [];
  PADDED_NAME.lastIndex = 0;
  for (let m = PADDED_NAME.exec(output); m !== null; m = PADDED_NAME.exec(output)) {
    if (m[0].length !== NAME_WIDTH) continue; // not a padded name field (e.g. inside a detail)
    starts.push({ name: m[0].trimEnd(), at: m.index });
  }
  const results: TestResult[] = [];
  for (const [i, s] of starts.entries()) {
    const end = i + 1 < starts.length ? starts[i + 1]!.at : output.length;
    let segment = output.slice(s.at + NAME_WIDTH, end);
    // The closing summary (stdout or stderr) can land before the last test's buffered detail.
    if (i + 1 === starts.length) segment = segment.replace(/All tests passed|\d+ of \d+ tests failed/g, '');
    const outcome: Outcome = segment.includes('[pass]') ? 'pass' : segment.includes('[skip]') ? 'skip' : 'fail';
    const detail = segment
      .replace(/\[(pass|skip|FAIL)\]/g, '')
      .replace(/\r/g, '\\r')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && line !== ']')
      .join(' | ');
    results.push({ name: s.name, outcome, detail });
  }
  return results;
}

/** Runs memccapable -v against 127.0.0.1:port and returns its per-test results. */
export async function runMemccapable(port: number, opts: MemccapableOptions = {}): Promise<MemccapableRun> {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-v', '-t', String(opts.ioTimeoutSec ?? 2)];
  args.push(opts.protocol === 'binary' ? '-b' : '-a');
  if (opts.only !== undefined) args.push('-T', opts.only);
  const dir = await mkdtemp(join(tmpdir(), 'walnut-memccapable-'));
  const outPath = join(dir, 'output.txt');
  const fd = openSync(outPath, 'a');
  try {
    let child;
    try {
      child = spawn(memccapableBin, args, { stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    let killed = false;
    const killAfterMs = opts.killAfterMs ?? 60_000;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, killAfterMs);
    const exitCode = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => resolve(code));
    });
    clearTimeout(timer);
    const output = readFileSync(outPath, 'latin1');
    const results = parseMemccapableOutput(output);
    const last = results.at(-1);
    if (killed && last !== undefined && !/\[(pass|skip|FAIL)\]/.test(output.slice(output.lastIndexOf(last.name)))) {
      // The test that was running when memccapable was killed: it hung.
      results[results.length - 1] = { name: last.name, outcome: 'fail', detail: `hung: killed after ${killAfterMs} ms` };
    }
    return { results, exitCode, killed, output };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The results keyed by test name, with tests of `all` that never started as 'not run'. */
export function outcomesByName(run: MemccapableRun, all: readonly string[]): Map<string, TestResult> {
  const map = new Map<string, TestResult>();
  for (const name of all) map.set(name, { name, outcome: 'not run', detail: '' });
  for (const r of run.results) map.set(r.name, r);
  return map;
}
