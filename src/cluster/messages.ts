/**
 * What the primary and its workers say to each other over the cluster IPC channel (--workers).
 * Plain JSON objects with a `type` tag.
 */
import type { ClientMemoryShare } from '../proxy/client-memory.js';
import type { PublishedSocket } from '../proxy/unix-socket.js';
import type { StatsSnapshot } from '../stats/snapshot.js';

/** Everything a worker needs to start, passed in its environment (WORKER_ENV) as JSON. */
export interface WorkerSettings {
  readonly confFile: string;
  readonly output: string | null;
  readonly verbosity: number;
  /** This worker's share of --limit-client-memory. */
  readonly clientMemory: ClientMemoryShare;
  /**
   * How often it sends the primary its stats unasked: the primary adds up what a worker that
   * died had counted from its last snapshot, so this bounds what a SIGKILL loses.
   */
  readonly statsPushMs: number;
}

export const WORKER_ENV = 'WALNUT_WORKER_SETTINGS';

/** WorkerSettings.statsPushMs of a Walnut run from the command line. */
export const STATS_PUSH_MS = 1000;

export type ToWorker =
  /**
   * The configuration file's bytes as the primary read them (base64), and the log level now
   * (SIGTTIN/SIGTTOU may have changed it since the start), for 'need-config'.
   */
  | { readonly type: 'config'; readonly data: string; readonly level: number }
  | { readonly type: 'stats'; readonly id: number }
  | { readonly type: 'shutdown'; readonly graceMs: number }
  | { readonly type: 'log-level'; readonly level: number }
  | { readonly type: 'log-reopen' };

export type ToPrimary =
  /** Listening for the primary's messages: send the configuration. */
  | { readonly type: 'need-config' }
  | { readonly type: 'ready' }
  /** This worker put a unix socket at its path (the others sharing it found it there). */
  | ({ readonly type: 'published' } & PublishedSocket)
  | { readonly type: 'failed'; readonly reason: string }
  /** The answer to the primary's request `id`, or (id 0) sent unasked (statsPushMs). */
  | { readonly type: 'stats'; readonly id: number; readonly snapshot: StatsSnapshot };

/** Narrow an IPC message (unknown, from another process) by its tag. */
export function messageType(message: unknown): string | null {
  if (typeof message !== 'object' || message === null) return null;
  const type = (message as { type?: unknown }).type;
  return typeof type === 'string' ? type : null;
}
