// The worker processes of a Walnut started with --workers: starting one in front of a redis,
// which workers there are, and which one serves a connection.
import { execFileSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort, startWalnut, type Running, type RunningProxy } from '../../../scripts/lib/processes.js';

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
