/**
 * The primary of --workers N: forks N worker processes (worker-main.ts) that share every pool's
 * listening socket, restarts a worker that dies, adds up their stats for the stats port, and
 * stops them together. twemproxy is single-threaded and its users run one instance per core
 * behind a load balancer; this gives the same in one service with one pid file and one stats
 * port.
 *
 * Scheduling is SCHED_NONE: each worker accepts from the shared socket itself, so the primary
 * never touches client traffic (Node's default round-robin would pass every connection
 * through the primary).
 */
import cluster, { type Worker } from 'node:cluster';
import { unlink } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/config.js';
import { removeSocket, stagingPath } from '../proxy/unix-socket.js';
import { retire, sumSnapshots } from '../stats/sum.js';
import type { StatsSnapshot, StatsSource } from '../stats/snapshot.js';
import { errorReason } from '../util/errno.js';
import { log, LOG_INFO, LOG_WARN } from '../util/log.js';
import { messageType, WORKER_ENV, type ToPrimary, type ToWorker, type WorkerSettings } from './messages.js';

/** A worker that does not answer a stats request in this time is left out of that reading. */
const STATS_WAIT_MS = 1000;
/**
 * Restarts beyond QUICK_RESTARTS within RESTART_WINDOW_MS wait, twice as long each time up to
 * MAX_RESTART_DELAY_MS: a worker that keeps dying (a crash loop) is not restarted in a tight
 * loop, yet the pool never gives a slot up. (It used to stop restarting after five, and a
 * replacement killed while starting was never replaced: a few quick deaths left a primary
 * with no worker, refusing every connection.)
 */
const QUICK_RESTARTS = 5;
/**
 * Deaths by these signals are crashes (V8 aborts when its heap is exhausted; a native fault):
 * a worker that crashes while starting would crash again, so the start fails with the reason.
 * Other signals (SIGKILL from an operator or the OOM killer, SIGTERM) are replaced.
 */
const CRASH_SIGNALS: ReadonlySet<string> = new Set(['SIGABRT', 'SIGSEGV', 'SIGBUS', 'SIGILL', 'SIGFPE', 'SIGSYS']);
const RESTART_WINDOW_MS = 60_000;
/** At shutdown, how long past the grace period a worker has to exit before it is killed (SIGKILL). */
export const STOP_WAIT_MS = 2000;
const MAX_RESTART_DELAY_MS = 30_000;

interface Slot {
  worker: Worker;
  /**
   * It has asked for its configuration, so it hears messages: a worker drops those that come
   * before its listener is attached (while it is still loading).
   */
  listening: boolean;
  /** Last snapshot received, used if the worker does not answer in time. */
  last: StatsSnapshot | null;
}

export class WorkerPool implements StatsSource {
  private readonly slots: Slot[] = [];
  private readonly settings: WorkerSettings;
  /** The configuration file as the primary read and validated it, base64: every worker runs it. */
  private readonly configData: string;
  /** Counters of workers that have exited (their last snapshot): the sums never go back. */
  private retired: StatsSnapshot | null = null;
  private closing = false;
  /** close()'s grace period, for workers that ask for their configuration after it began. */
  private graceMs = 0;
  /** Until start() has settled: workers killed while starting count against QUICK_RESTARTS. */
  private starting = true;
  private startupKills = 0;
  /** The unix sockets the workers published, by path: the primary removes them at exit. */
  private readonly publishedSockets = new Map<string, number>();
  private restarts: number[] = [];
  /** Restarts waiting for their back-off delay, with what settles each when the pool closes first. */
  private readonly restartTimers = new Map<NodeJS.Timeout, () => void>();
  private nextStatsId = 1;
  private readonly waiting = new Map<number, { pending: number; done: () => void }>();

  private constructor(settings: WorkerSettings, configBytes: Buffer) {
    this.settings = settings;
    this.configData = configBytes.toString('base64');
  }

  /**
   * Fork `count` workers and wait until each is listening. Rejects when a worker reports that it
   * cannot start (a bad config, a bind error), exits by itself or crashes before it is ready:
   * those would fail again. A worker killed by another signal while starting is replaced, as
   * after start, up to QUICK_RESTARTS times, so that the start always ends.
   */
  static async start(
    count: number,
    settings: WorkerSettings,
    configBytes: Buffer,
    /** configBytes as the primary parsed them (not parsed again here). */
    config: Config,
    /** Called with the pool before its first fork (the caller can reach the workers as they start). */
    onCreated: (pool: WorkerPool) => void = () => undefined,
  ): Promise<WorkerPool> {
    await removeStaleSockets(config.pools.flatMap((pool) => (pool.listen.path === null ? [] : [pool.listen.path])));
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({ exec: fileURLToPath(new URL('./worker-main.js', import.meta.url)), args: [] });
    const pool = new WorkerPool(settings, configBytes);
    onCreated(pool);
    try {
      await Promise.all(Array.from({ length: count }, () => pool.fork()));
    } catch (err) {
      await pool.close(0);
      throw err;
    } finally {
      pool.starting = false;
    }
    return pool;
  }

  /**
   * Fork a worker. Resolves once it listens; if it is killed before that, once its replacement
   * listens. Rejects if its process cannot be created, or if before that it reports a failure,
   * exits with a code, crashes (CRASH_SIGNALS), or is one kill too many while the pool starts.
   */
  private fork(): Promise<void> {
    let worker: Worker;
    try {
      worker = cluster.fork({ [WORKER_ENV]: JSON.stringify(this.settings) });
    } catch (err) {
      // fork(2) itself failed (ENOMEM and the like): Node throws rather than emitting.
      return Promise.reject(new Error(`cannot start a worker: ${errorReason(err)}`));
    }
    const slot: Slot = { worker, listening: false, last: null };
    this.slots.push(slot);
    return new Promise((resolve, reject) => {
      let started = false;
      /** It said why it cannot start: that rejection is its only replacement (no second at exit). */
      let reportedFailure = false;
      worker.on('message', (message: unknown) => {
        const type = messageType(message);
        if (type === 'need-config') {
          slot.listening = true;
          // Closing: a worker still loading missed the shutdown message; it gets it now instead.
          if (this.closing) worker.send({ type: 'shutdown', graceMs: this.graceMs } satisfies ToWorker);
          else worker.send({ type: 'config', data: this.configData, level: log.level } satisfies ToWorker);
        } else if (type === 'published') {
          // Sent as soon as the socket is at its path: a worker can die before it is ready, and
          // the socket it published (a new one when every worker had died) must still be removed.
          const { path, ino } = message as Extract<ToPrimary, { type: 'published' }>;
          this.publishedSockets.set(path, ino);
        } else if (type === 'ready' && !started) {
          started = true;
          resolve();
        } else if (type === 'failed' && !started) {
          started = true;
          reportedFailure = true;
          reject(new Error((message as Extract<ToPrimary, { type: 'failed' }>).reason));
        } else if (type === 'stats') {
          const reply = message as Extract<ToPrimary, { type: 'stats' }>;
          slot.last = reply.snapshot;
          const wait = this.waiting.get(reply.id);
          if (wait !== undefined && --wait.pending === 0) wait.done();
        }
      });
      worker.on('error', (err: NodeJS.ErrnoException) => {
        if (err.syscall?.startsWith('spawn') === true) {
          // The process could not be created (EMFILE, EAGAIN, ...): Node reports it as an
          // 'error' and no 'exit' follows, so this is the end of this worker; and Node, which
          // forgets a worker at its 'exit', would keep it in cluster.workers for ever.
          const at = this.slots.indexOf(slot);
          if (at >= 0) this.slots.splice(at, 1);
          if (cluster.workers !== undefined) delete cluster.workers[worker.id];
          if (!started) {
            started = true;
            reject(new Error(`cannot start a worker: ${err.message}`));
          }
          return;
        }
        // A message sent to a worker that has just died fails (EPIPE) after the send returned,
        // as an 'error' on the worker: without a listener that would end the primary. The
        // worker's 'exit' follows and is what counts.
        if (log.level >= LOG_INFO) log.info(`worker ${worker.process.pid ?? '?'}: ${err.message}`);
      });
      worker.on('exit', (code, signal) => {
        const at = this.slots.indexOf(slot);
        if (at >= 0) this.slots.splice(at, 1);
        if (slot.last !== null) this.retired = retire(this.retired, slot.last);
        if (reportedFailure) return;
        const pid = worker.process.pid ?? '?';
        if (!started) {
          started = true;
          // Stopped while starting (a stop signal during the start): not a failure to start.
          if (this.closing) {
            resolve();
            return;
          }
          const why = `worker ${pid} exited during startup (${signal ?? code})`;
          const replaceable =
            signal !== null && !CRASH_SIGNALS.has(signal) && !(this.starting && ++this.startupKills > QUICK_RESTARTS);
          if (replaceable) resolve(this.replace(why));
          else reject(new Error(why));
          return;
        }
        this.replaceForever(`worker ${pid} exited (${signal ?? code})`);
      });
    });
  }

  /**
   * Fork a replacement, after a back-off delay when workers have been dying quickly; settles
   * as the replacement's fork() does (at once when the pool is closing).
   */
  private replace(why: string): Promise<void> {
    if (this.closing) return Promise.resolve();
    const now = performance.now();
    this.restarts = this.restarts.filter((t) => now - t < RESTART_WINDOW_MS);
    const over = this.restarts.length - QUICK_RESTARTS;
    const delay = over < 0 ? 0 : Math.min(MAX_RESTART_DELAY_MS, 100 * 2 ** over);
    this.restarts.push(now);
    if (delay === 0) {
      if (log.level >= LOG_WARN) log.warn(`${why}, restarting it`);
    } else {
      log.error(`${why}, restarting it in ${delay} ms (${this.restarts.length} restarts in ${RESTART_WINDOW_MS / 1000} s)`);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.restartTimers.delete(timer);
        if (this.closing) resolve();
        else this.fork().then(resolve, reject);
      }, delay);
      this.restartTimers.set(timer, resolve);
    });
  }

  /** Once started, the pool never gives a slot up: a replacement that fails is replaced in turn. */
  private replaceForever(why: string): void {
    this.replace(why).catch((err: unknown) => {
      this.replaceForever(`restarting a worker failed: ${errorReason(err)}`);
    });
  }

  private broadcast(message: ToWorker): void {
    for (const slot of this.slots) if (slot.worker.isConnected()) slot.worker.send(message);
  }

  /** Ask every worker for its stats and add them up (a late worker's previous reading is used). */
  async snapshot(): Promise<StatsSnapshot> {
    // (A worker still loading would drop the request, and the reading would wait for it.)
    const slots = this.slots.filter((s) => s.listening && s.worker.isConnected());
    if (slots.length > 0) {
      const id = this.nextStatsId++;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, STATS_WAIT_MS);
        this.waiting.set(id, {
          pending: slots.length,
          done: () => {
            clearTimeout(timer);
            resolve();
          },
        });
        for (const slot of slots) slot.worker.send({ type: 'stats', id } satisfies ToWorker);
      });
      this.waiting.delete(id);
    }
    const parts = this.slots.flatMap((s) => (s.last === null ? [] : [s.last]));
    return sumSnapshots(this.retired === null ? parts : [...parts, this.retired]);
  }

  setLogLevel(level: number): void {
    this.broadcast({ type: 'log-level', level });
  }

  reopenLogs(): void {
    this.broadcast({ type: 'log-reopen' });
  }

  /**
   * End every worker now (SIGKILL), for a primary that exits at once: a worker whose primary is
   * gone would otherwise go on finishing its requests by itself.
   */
  kill(): void {
    for (const slot of this.slots) slot.worker.process.kill('SIGKILL');
  }

  /** Stop every worker: each stops accepting and finishes in-flight requests within graceMs. */
  async close(graceMs: number): Promise<void> {
    this.closing = true;
    this.graceMs = graceMs;
    for (const [timer, settle] of this.restartTimers) {
      clearTimeout(timer);
      settle();
    }
    this.restartTimers.clear();
    const exits = this.slots.map(
      (slot) => new Promise<void>((resolve) => {
        if (slot.worker.isDead()) resolve();
        else slot.worker.once('exit', () => resolve());
      }),
    );
    this.broadcast({ type: 'shutdown', graceMs });
    // A worker still there 2 s after its grace period is stopped (SIGSTOP) or stuck: killed, and
    // said so, since its clients lose their replies without its own shutdown line in the log.
    const killer = setTimeout(() => {
      for (const slot of this.slots) {
        log.error(`worker ${slot.worker.process.pid ?? '?'} has not stopped ${graceMs + STOP_WAIT_MS} ms after the shutdown began, killing it`);
        slot.worker.process.kill('SIGKILL');
      }
    }, graceMs + STOP_WAIT_MS);
    await Promise.all(exits);
    clearTimeout(killer);
    for (const [path, ino] of this.publishedSockets) await removeSocket(path, ino);
  }
}

/**
 * Clear the way for the workers' unix sockets, as a single process does before it binds
 * (Listener.listenUnix). The primary does it once, before forking: the workers all share the one
 * socket the primary binds, so a worker removing a file could take away the socket the others
 * are serving (and a restarted worker would do it at any time).
 */
async function removeStaleSockets(paths: readonly string[]): Promise<void> {
  for (const path of paths) {
    // With a staging name the stale file at the path is replaced atomically when the socket is
    // published; only a leftover staging file (this pid reused) is in the way of binding.
    await unlink(stagingPath(path, process.pid) ?? path).catch(() => undefined);
  }
}
