/**
 * Entry point of a worker process (--workers N): runs one Proxy on the configuration the
 * primary read and validated (sent as bytes: the file may have changed since), listening on
 * sockets the primary shares, and answers the primary's requests (stats, log level,
 * shutdown). The primary owns signals, the pid file and the stats port; a worker ignores the
 * terminal's SIGINT and waits for the primary's word.
 */
import cluster from 'node:cluster';
import { configFromBytes } from '../config/load.js';
import { Proxy } from '../proxy/proxy.js';
import { errorReason } from '../util/errno.js';
import { log, LOG_INFO } from '../util/log.js';
import { messageType, WORKER_ENV, type ToPrimary, type ToWorker, type WorkerSettings } from './messages.js';

function send(message: ToPrimary): void {
  process.send?.(message);
}

/** This worker cannot start: say why to the primary (which logs it) and exit. */
function failStart(err: unknown): never {
  send({ type: 'failed', reason: errorReason(err) });
  process.exit(1);
}

async function main(): Promise<void> {
  // A message to a primary that has just gone fails (EPIPE) after the send returned, as an
  // 'error' on this worker's cluster.Worker: without a listener that would end the worker
  // before its graceful stop. The 'disconnect' that follows stops it.
  cluster.worker?.on('error', (err: Error) => {
    if (log.level >= LOG_INFO) log.info(`worker ${process.pid}: ${err.message}`);
  });
  const settings = JSON.parse(process.env[WORKER_ENV] ?? '{}') as WorkerSettings;
  try {
    // A replacement started after the log file became unwritable (rotated to another owner,
    // its directory gone) cannot log: the primary logs the reason for it.
    log.open(settings.output);
  } catch (err) {
    failStart(err);
  }
  log.setLevel(settings.verbosity);
  let proxy: Proxy | null = null;
  let stopping = false;

  const stop = async (graceMs: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    if (proxy !== null) await proxy.close(graceMs);
    process.exit(0);
  };

  // Ctrl-C reaches the whole process group: the primary decides what happens. So can the
  // other signals an operator sends (`kill -TTIN -- -<pgid>`, a `pkill` that matches the
  // workers too): the primary passes the log level and the reopen on. SIGTTIN and SIGTTOU
  // left at their default would stop the worker (in a process group that is not orphaned,
  // such as a job of a shell), with its clients, for good.
  process.on('SIGINT', () => undefined);
  process.on('SIGHUP', () => undefined);
  process.on('SIGUSR1', () => undefined);
  process.on('SIGUSR2', () => undefined);
  process.on('SIGTTIN', () => undefined);
  process.on('SIGTTOU', () => undefined);
  process.on('SIGTERM', () => void stop(5000));
  // The primary is gone: nobody can stop us any more, so stop now.
  process.on('disconnect', () => void stop(1000));
  // Node's cluster ends a worker at once when the channel to its primary closes unasked
  // (process.exit in its own 'disconnect' listener, which runs before the one above), cutting
  // the replies in flight: marked as expected, the disconnect leaves the stop above to us.
  if (cluster.worker !== undefined) cluster.worker.exitedAfterDisconnect = true;
  let gotConfig: (bytes: Buffer) => void = () => undefined;
  const configBytes = new Promise<Buffer>((resolve) => (gotConfig = resolve));
  process.on('message', (message: unknown) => {
    switch (messageType(message)) {
      case 'config': {
        const { data, level } = message as Extract<ToWorker, { type: 'config' }>;
        // A replacement logs at the level the operator has set by now, not the one at the start.
        log.setLevel(level);
        gotConfig(Buffer.from(data, 'base64'));
        return;
      }
      case 'stats': {
        const { id } = message as Extract<ToWorker, { type: 'stats' }>;
        send({ type: 'stats', id, snapshot: proxy?.snapshot() ?? { totalConnections: 0, currConnections: 0, pools: [] } });
        return;
      }
      case 'shutdown':
        void stop((message as Extract<ToWorker, { type: 'shutdown' }>).graceMs);
        return;
      case 'log-level':
        log.setLevel((message as Extract<ToWorker, { type: 'log-level' }>).level);
        return;
      case 'log-reopen':
        log.reopen();
        return;
    }
  });

  try {
    // Asked for once the listener above is attached: a message sent before could be lost.
    send({ type: 'need-config' });
    const config = await configFromBytes(await configBytes, settings.confFile);
    proxy = await Proxy.start(config, {
      clientMemory: settings.clientMemory,
      onSocketPublished: (socket) => send({ type: 'published', ...socket }),
    });
  } catch (err) {
    failStart(err);
  }
  send({ type: 'ready' });
  const running = proxy;
  setInterval(() => send({ type: 'stats', id: 0, snapshot: running.snapshot() }), settings.statsPushMs).unref();
}

main().catch(failStart);
