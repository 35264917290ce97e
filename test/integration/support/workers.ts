// The worker processes of a Walnut started with --workers: starting one in front of a redis,
// which workers there are, which one serves a connection, stopping one (SIGSTOP), and making
// them misbehave on purpose (a preload).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, startWalnut, type Running, type RunningProxy } from '../../../scripts/lib/processes.js';
import { WORKER_ENV } from '../../../src/cluster/messages.js';

/** The YAML of one redis pool `w` listening on 127.0.0.1:`port`, in front of `backend`. */
export function onePoolYaml(port: number, backend: Running): string {
  return `w:\n  listen: 127.0.0.1:${port}\n  redis: true\n  servers:\n    - 127.0.0.1:${backend.port}:1\n`;
}

/** Walnut with `args` (--workers N, ...) serving onePoolYaml on a free port. */
export async function startOnePoolWalnut(backend: Running, args: string[]): Promise<{ walnut: RunningProxy; port: number }> {
  const port = await freePort();
  const walnut = await startWalnut(onePoolYaml(port, backend), { listenPorts: [port], args });
  return { walnut, port };
}

/** Pids of the processes whose parent is `primary` (its workers). */
export function workerPids(primary: number): number[] {
  try {
    return execFileSync('ps', ['--ppid', String(primary), '-o', 'pid='])
      .toString()
      .split('\n')
      .map((l) => Number(l.trim()))
      .filter((n) => n > 0);
  } catch {
    return []; // ps exits 1 when there are none
  }
}

/** The pid of the worker that serves a new connection to `port` (from Walnut's INFO). */
export async function pidServing(port: number): Promise<number> {
  // No reconnecting: a client left retrying would keep the test process alive after a failure.
  const c = new Redis({
    port,
    host: '127.0.0.1',
    enableReadyCheck: false,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // The failure reaches the caller as the rejection; without a listener ioredis also prints it.
  c.on('error', () => {});
  try {
    await c.connect();
    const info = await c.info();
    return Number(/process_id:(\d+)/.exec(info)?.[1]);
  } finally {
    c.disconnect();
  }
}

/**
 * SIGSTOP, returning once every thread of the process is stopped (state 'T' in each thread's
 * stat): kill(2) returns before then, and a message read meanwhile would still be answered.
 */
export async function stopProcess(pid: number): Promise<void> {
  process.kill(pid, 'SIGSTOP');
  const stopped = (): boolean =>
    readdirSync(`/proc/${pid}/task`).every((tid) => {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'T';
    });
  for (let i = 0; !stopped(); i++) {
    assert.ok(i < 500, 'the process stops');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Runs `start` with NODE_OPTIONS requiring a preload (written in `dir`) that runs `code` in every
 * worker process and not in the primary: a deliberate misbehaviour for a test. NODE_OPTIONS is
 * restored once `start` settles; the processes it started keep it.
 */
export function withWorkerPreload<T>(dir: string, code: string, start: () => Promise<T>): Promise<T> {
  const preload = join(dir, 'worker-preload.cjs');
  writeFileSync(preload, `if (process.env.${WORKER_ENV} !== undefined) { ${code} }\n`);
  const saved = process.env['NODE_OPTIONS'];
  process.env['NODE_OPTIONS'] = `--require ${preload}`;
  return start().finally(() => {
    if (saved === undefined) delete process.env['NODE_OPTIONS'];
    else process.env['NODE_OPTIONS'] = saved;
  });
}
