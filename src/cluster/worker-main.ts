/**
 * Entry point of a worker process (--workers N): runs one Proxy on the configuration the
 * primary validated, listening on sockets the primary shares, and answers the primary's
 * requests (stats, log level, shutdown). The primary owns signals, the pid file and the stats
 * port; a worker ignores the terminal's SIGINT and waits for the primary's word.
 */
import { loadConfig } from '../config/load.js';
import { Proxy } from '../proxy/proxy.js';
import { log } from '../util/log.js';
import { messageType, WORKER_ENV, type ToPrimary, type ToWorker, type WorkerSettings } from './messages.js';

function send(message: ToPrimary): void {
  process.send?.(message);
}

function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function main(): Promise<void> {
  const settings = JSON.parse(process.env[WORKER_ENV] ?? '{}') as WorkerSettings;
  log.open(settings.output);
  log.setLevel(settings.verbosity);
  let proxy: Proxy | null = null;
  let stopping = false;

  const stop = async (graceMs: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    if (proxy !== null) await proxy.close(graceMs);
    process.exit(0);
  };

  // Ctrl-C reaches the whole process group: the primary decides what happens.
  process.on('SIGINT', () => undefined);
  process.on('SIGHUP', () => undefined);
  process.on('SIGUSR1', () => undefined);
  process.on('SIGUSR2', () => undefined);
  process.on('SIGTERM', () => void stop(5000));
  // The primary is gone: nobody can stop us any more, so stop now.
  process.on('disconnect', () => void stop(1000));
  process.on('message', (message: unknown) => {
    switch (messageType(message)) {
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
    const config = await loadConfig(settings.confFile);
    proxy = await Proxy.start(config, {
      mbufSize: settings.mbufSize,
      onSocketPublished: (socket) => send({ type: 'published', ...socket }),
    });
  } catch (err) {
    send({ type: 'failed', reason: reasonOf(err) });
    process.exit(1);
  }
  send({ type: 'ready' });
}

void main();
