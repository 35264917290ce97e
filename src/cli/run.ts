// Run mode: log, daemon, signals, pid file, configuration, stats server, proxy, and an orderly
// shutdown. Mirrors twemproxy's nc.c (nc_pre_run, nc_run, nc_post_run) and nc_signal.c.
import { availableParallelism, constants } from 'node:os';
import type { Config } from '../config/config.js';
import { configFromBytes, readConfigFile } from '../config/load.js';
import { WorkerPool } from '../cluster/worker-pool.js';
import { STATS_PUSH_MS } from '../cluster/messages.js';
import { Proxy } from '../proxy/proxy.js';
import { DIRECT_HANDLES_AVAILABLE } from '../proxy/stream-handle.js';
import { startStatsServer, type StatsServer } from '../stats/stats-server.js';
import { errorReason, strerror } from '../util/errno.js';
import { log, LOG_ALERT, writeStderr } from '../util/log.js';
import { PROGRAM, type CliOptions } from './args.js';
import { clientMemoryShare } from './client-memory-limit.js';
import { enterDaemonChild, isDaemonChild, notifyDaemonStarted, spawnDaemon } from './daemon.js';
import { readPid, removePidFile, writePidFile } from './pidfile.js';
import type { HeldSignals } from './startup-signals.js';
import { invalidConfText } from './test-conf.js';
import { walnutVersion } from '../version.js';

/** How long in-flight requests may take to finish after SIGINT/SIGTERM. */
export const SHUTDOWN_GRACE_MS = 5000;

/** `signal 15 (SIGTERM) received`, numbered as the platform numbers it. */
function signalReceived(name: NodeJS.Signals): string {
  return `signal ${constants.signals[name]} (${name}) received`;
}

function errnoText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (typeof code === 'string') {
    const text = strerror(code);
    if (text !== 'unknown') return text;
  }
  return errorReason(err);
}

/**
 * Runs the proxy until SIGINT or SIGTERM. Resolves with the exit status: 1 when startup
 * fails, 0 after an orderly shutdown (and at once in the parent of -d). `argv` is the original
 * argument list, re-used for the daemon child; `confNote` says how a default configuration path
 * was chosen, for when it cannot be read; `startupSignals`, what arrived while this code was
 * loading, delivered once the handlers below are installed.
 */
export async function runProxy(
  options: CliOptions,
  confFile: string,
  argv: readonly string[],
  confNote: string | null = null,
  startupSignals: HeldSignals | null = null,
): Promise<number> {
  const daemonChild = isDaemonChild();

  // Opened first, and in the parent of -d too, so that a bad -o is reported on the terminal.
  try {
    log.open(options.output);
  } catch (err) {
    writeStderr(`opening log file '${options.output ?? ''}' failed: ${errnoText(err)}\n`);
    // No handler will be installed: a signal held meanwhile gets its default action.
    startupSignals?.release();
    return 1;
  }
  log.setLevel(options.verbosity);

  if (options.daemonize && !daemonChild) {
    // The parent of -d installs no handler for these (nutcracker's parent has none either; it
    // only listens for the daemon's SIGURG, see daemon.ts): a signal held while this code
    // loaded, or one arriving from now on, gets its default action here, before the daemon
    // exists (once it exists, it kills only this parent waiting for it). Held to the end, a
    // SIGTERM sent to the starting parent was dropped and the daemon started anyway, its
    // parent exiting 0.
    startupSignals?.release();
    log.close();
    try {
      await spawnDaemon(argv);
    } catch (err) {
      writeStderr(`${PROGRAM}: cannot daemonize: ${errnoText(err)}\n`);
      return 1;
    }
    return 0;
  }
  if (daemonChild) enterDaemonChild();

  /** The running service: one Proxy in this process, or the workers' pool (--workers > 1). */
  let proxy: Proxy | WorkerPool | null = null;
  /**
   * The workers' pool from its first fork (`proxy` is set once every worker has started), so
   * that the log signals reach workers that are still starting.
   */
  let workerPool: WorkerPool | null = null;
  let stats: StatsServer | null = null;
  let pidFile: string | null = null;
  /** Set by the first SIGINT/SIGTERM. */
  let stopping = false;
  /** Startup finished: a stop signal must start the shutdown itself. */
  let running = false;
  let finish: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => {
    finish = resolve;
  });
  /**
   * Resolves with the service once it has started. The stats port listens before it (where
   * nutcracker binds it, so that a port in use is reported in nutcracker's order), and a reader
   * until then waits for the document with the pools rather than getting one with none: a
   * collector would see every pool vanish at each restart. A start that fails closes the stats
   * port, and the reader's connection with it.
   */
  let serviceStarted: (service: Proxy | WorkerPool) => void = () => undefined;
  const started = new Promise<Proxy | WorkerPool>((resolve) => {
    serviceStarted = resolve;
  });

  /** What the pid file held before we wrote ours, given back at exit while it runs. */
  let previousPid: number | null = null;

  const cleanup = (): void => {
    if (pidFile !== null) removePidFile(pidFile, process.pid, previousPid);
    pidFile = null;
  };

  const shutdown = async (): Promise<number> => {
    // The stats port is let go at once, as the pool listeners are (proxy.close), so that a
    // replacement started while this one drains can bind both (nutcracker, killed at once by
    // SIGTERM, holds nothing); readers already connected still get their documents.
    stats?.stopListening();
    if (proxy !== null) await proxy.close(SHUTDOWN_GRACE_MS);
    if (stats !== null) await stats.close();
    log.always('done, rabbit done');
    cleanup();
    return 0;
  };

  /**
   * Logs why Walnut cannot start, and writes it on stderr too unless the log line went there:
   * the log may be a file, or at -v 0 drop errors, and the operator must still be told why.
   */
  const reportFailure = (reason: string): void => {
    log.error(reason);
    if (log.file !== null || log.level < LOG_ALERT) writeStderr(`${PROGRAM}: ${reason}\n`);
  };

  /** A startup failure: reason in the log and on stderr (see reportFailure), exit 1. */
  const fail = async (reason: string): Promise<number> => {
    reportFailure(reason);
    if (stats !== null) await stats.close();
    log.always('done, rabbit done');
    cleanup();
    return 1;
  };

  const onStop = (name: NodeJS.Signals): void => {
    if (stopping) {
      // The operator insists: no more waiting for clients.
      log.always(`${signalReceived(name)} again, exiting now`);
      workerPool?.kill();
      cleanup();
      process.exit(1);
    }
    stopping = true;
    log.always(`${signalReceived(name)}, exiting`);
    if (running) void shutdown().then(finish);
    // Still starting: the start waits for every worker to be ready, and one stopped (SIGSTOP) or
    // stuck while loading would hold it, and so this stop, for ever. Stop the workers now: the
    // start then ends (shutdown() below it finds them gone).
    else void workerPool?.close(SHUTDOWN_GRACE_MS);
  };
  process.on('SIGINT', onStop);
  process.on('SIGTERM', onStop);
  process.on('SIGHUP', () => {
    log.always(`${signalReceived('SIGHUP')}, reopening log file`);
    log.reopen();
    workerPool?.reopenLogs();
  });
  process.on('SIGTTIN', () => {
    log.always(`${signalReceived('SIGTTIN')}, up logging level`);
    if (log.levelUp()) log.always(`up log level to ${log.level}`);
    workerPool?.setLogLevel(log.level);
  });
  process.on('SIGTTOU', () => {
    log.always(`${signalReceived('SIGTTOU')}, down logging level`);
    if (log.levelDown()) log.always(`down log level to ${log.level}`);
    workerPool?.setLogLevel(log.level);
  });
  // No reload exists (as in twemproxy); handling them keeps them from killing the process,
  // and the listener on SIGUSR1 also keeps Node from starting its inspector.
  process.on('SIGUSR1', () => log.always(signalReceived('SIGUSR1')));
  process.on('SIGUSR2', () => log.always(signalReceived('SIGUSR2')));
  process.on('uncaughtException', (err) => {
    log.always(`fatal: ${err.stack ?? err.message}`);
    cleanup();
    process.exit(1);
  });
  startupSignals?.release();

  if (options.pidFile !== null) {
    previousPid = readPid(options.pidFile);
    try {
      writePidFile(options.pidFile);
    } catch (err) {
      reportFailure(`opening pid file '${options.pidFile}' failed: ${errnoText(err)}`);
      // Every exit ends the log with this line, as nutcracker's does here too: a watcher of the
      // log waiting for it would otherwise wait for ever.
      log.always('done, rabbit done');
      return 1;
    }
    pidFile = options.pidFile;
  }

  log.always(`${PROGRAM}-${walnutVersion()} started on pid ${process.pid}`);
  if (!DIRECT_HANDLES_AVAILABLE) {
    log.warn(`node ${process.version} has no stream_wrap binding: connections go through net.Socket (slower)`);
  }

  let config: Config;
  let configBytes: Buffer;
  try {
    configBytes = await readConfigFile(confFile, confNote);
    config = await configFromBytes(configBytes, confFile);
  } catch (err) {
    const reason = errorReason(err);
    log.error(reason);
    writeStderr(invalidConfText(confFile, reason));
    log.always('done, rabbit done');
    cleanup();
    return 1;
  }
  if (stopping) return shutdown();

  const workers = options.workers === 'auto' ? availableParallelism() : options.workers;
  const clientMemory = clientMemoryShare(options.limitClientMemory, workers);
  if ('error' in clientMemory) return fail(clientMemory.error);

  try {
    stats = await startStatsServer(
      { snapshot: () => (proxy === null ? started.then((service) => service.snapshot()) : proxy.snapshot()) },
      options.statsAddr,
      options.statsPort,
    );
  } catch (err) {
    return fail(errorReason(err));
  }
  if (stopping) return shutdown();

  try {
    proxy =
      workers > 1
        ? await WorkerPool.start(workers, {
            confFile,
            output: options.output,
            verbosity: log.level,
            clientMemory,
            statsPushMs: STATS_PUSH_MS,
          }, configBytes, config, (pool) => (workerPool = pool))
        : await Proxy.start(config, { clientMemory });
  } catch (err) {
    return fail(errorReason(err));
  }
  serviceStarted(proxy);

  if (stopping) return shutdown();

  running = true;
  // -d: the parent waits for this (or for our exit) before it returns to the shell.
  notifyDaemonStarted();
  return finished;
}
