/**
 * A point-in-time copy of every metric, in twemproxy's order (pools and servers sorted as in
 * the configuration). The stats server serialises one; several worker processes each send
 * theirs and the primary adds them up (sumSnapshots).
 */
import type { PoolStats, ServerStats } from './metrics.js';

export interface ServerSnapshot {
  readonly name: string;
  readonly stats: ServerStats;
}

export interface PoolSnapshot {
  readonly name: string;
  readonly stats: PoolStats;
  readonly servers: readonly ServerSnapshot[];
}

export interface StatsSnapshot {
  /** Connection objects ever created: listeners, accepted clients, server connection attempts. */
  readonly totalConnections: number;
  /** Connection objects existing now. */
  readonly currConnections: number;
  readonly pools: readonly PoolSnapshot[];
}

/**
 * Anything that can report its metrics now: the running proxy (at once), or the primary of
 * several workers (after asking each of them).
 */
export interface StatsSource {
  snapshot(): StatsSnapshot | Promise<StatsSnapshot>;
}
