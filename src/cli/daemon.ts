// -d: run detached in the background. Node cannot fork, so instead of twemproxy's
// double fork + setsid (nc.c nc_daemonize) we re-spawn ourselves detached and let the parent exit
// once the daemon has started (or has gone).
import { spawn } from 'node:child_process';
import { argvWithoutDaemonize } from './args.js';

/** Set in the environment of the re-spawned child so it knows it is the daemon. */
export const DAEMON_ENV = 'WALNUT_DAEMON_CHILD';

/** The pid of the parent that waits for the daemon to start, in the daemon's environment. */
export const DAEMON_PARENT_ENV = 'WALNUT_DAEMON_PARENT';

/**
 * The signal the daemon sends its waiting parent once it has started: one whose default action
 * is to ignore it, so that it can never kill the parent, and that neither run mode handles
 * (the parent keeps their default actions, see startup-signals.ts) nor a terminal sends.
 */
const STARTED_SIGNAL = 'SIGURG';

/**
 * How long the parent waits for the daemon to start before it exits anyway (the daemon goes on
 * starting): a start held up by DNS or a stuck worker must not hold up the shell for ever.
 */
export const DAEMON_START_WAIT_MS = 10_000;

/** In the daemon: the parent still waiting for its start signal, or null once signalled. */
let waitingParent: number | null = null;

/** True in the process started by spawnDaemon. */
export function isDaemonChild(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[DAEMON_ENV] === '1';
}

/**
 * Starts this same program again (same node, node flags, script and arguments minus -d) in a
 * new session (`detached` makes libuv call setsid), with stdin/stdout/stderr on /dev/null and
 * the current directory kept, as twemproxy's daemon keeps it. Resolves once the daemon has
 * started (its pid file written, its ports listening), has exited, or DAEMON_START_WAIT_MS
 * have passed; the caller then exits 0, as nutcracker's parent does. nutcracker's parent exits
 * at once, but its daemon is up about a millisecond later; a new Node process takes 150 ms or
 * more, and scripts that read the pid file or connect right after `-d` returns would fail.
 */
export function spawnDaemon(argv: readonly string[]): Promise<number> {
  const script = process.argv[1];
  if (script === undefined) return Promise.reject(new Error('cannot find the script to re-run'));
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | null = null;
    // Installed before the daemon exists, so that its signal cannot find the default action
    // (which would kill this parent).
    const onStarted = (): void => done();
    process.on(STARTED_SIGNAL, onStarted);
    const child = spawn(process.execPath, [...process.execArgv, script, ...argvWithoutDaemonize(argv)], {
      detached: true,
      stdio: 'ignore',
      cwd: process.cwd(),
      env: { ...process.env, [DAEMON_ENV]: '1', [DAEMON_PARENT_ENV]: String(process.pid) },
    });
    const done = (): void => {
      if (timer !== null) clearTimeout(timer);
      process.removeListener(STARTED_SIGNAL, onStarted);
      child.removeListener('exit', done);
      child.unref();
      resolve(child.pid ?? 0);
    };
    child.once('error', (err) => {
      process.removeListener(STARTED_SIGNAL, onStarted);
      reject(err);
    });
    child.once('spawn', () => {
      child.once('exit', done);
      timer = setTimeout(done, DAEMON_START_WAIT_MS);
    });
  });
}

/**
 * In the daemon child: umask(0) as twemproxy's daemon does (so a unix listener without a
 * configured permission is 0777), note the parent to tell once started, and forget the markers
 * so processes we start are not confused.
 */
export function enterDaemonChild(): void {
  process.umask(0);
  const parent = Number(process.env[DAEMON_PARENT_ENV]);
  waitingParent = Number.isSafeInteger(parent) && parent > 1 ? parent : null;
  delete process.env[DAEMON_ENV];
  delete process.env[DAEMON_PARENT_ENV];
}

/**
 * In the daemon child, once it has started: lets the waiting parent exit. Only while that
 * process is still our parent: after its wait ran out it is gone, and its pid may name another
 * process by now.
 */
export function notifyDaemonStarted(): void {
  const parent = waitingParent;
  waitingParent = null;
  if (parent === null || process.ppid !== parent) return;
  try {
    process.kill(parent, STARTED_SIGNAL);
  } catch {
    // gone meanwhile: nobody is waiting
  }
}
