// -d: run detached in the background. Node cannot fork, so instead of twemproxy's
// double fork + setsid (nc.c nc_daemonize) we re-spawn ourselves detached and let the parent exit.
import { spawn } from 'node:child_process';
import { argvWithoutDaemonize } from './args.js';

/** Set in the environment of the re-spawned child so it knows it is the daemon. */
export const DAEMON_ENV = 'WALNUT_DAEMON_CHILD';

/** True in the process started by spawnDaemon. */
export function isDaemonChild(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[DAEMON_ENV] === '1';
}

/**
 * Starts this same program again (same node, node flags, script and arguments minus -d) in a
 * new session (`detached` makes libuv call setsid), with stdin/stdout/stderr on /dev/null and
 * the current directory kept, as twemproxy's daemon keeps it. Resolves once the child exists;
 * the caller then exits 0 at once, as nutcracker's parent does.
 */
export function spawnDaemon(argv: readonly string[]): Promise<number> {
  const script = process.argv[1];
  if (script === undefined) return Promise.reject(new Error('cannot find the script to re-run'));
  const child = spawn(process.execPath, [...process.execArgv, script, ...argvWithoutDaemonize(argv)], {
    detached: true,
    stdio: 'ignore',
    cwd: process.cwd(),
    env: { ...process.env, [DAEMON_ENV]: '1' },
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('spawn', () => {
      child.unref();
      resolve(child.pid ?? 0);
    });
  });
}

/**
 * In the daemon child: umask(0) as twemproxy's daemon does (so a unix listener without a
 * configured permission is 0777), and forget the marker so processes we start are not confused.
 */
export function enterDaemonChild(): void {
  process.umask(0);
  delete process.env[DAEMON_ENV];
}
