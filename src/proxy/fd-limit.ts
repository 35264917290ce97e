/**
 * The most client connections the open-files limit leaves room for, as twemproxy's
 * core_calc_connections computes it: RLIMIT_NOFILE (soft) less the server connections the
 * configuration allows, less RESERVED_FDS. Without it a crowd of clients takes every
 * descriptor, and then no server connection can be opened: every client accepted gets
 * `Too many open files`, healthy servers count the failures (and are ejected with
 * auto_eject_hosts), and the stats port closes its readers without a document.
 *
 * Node opens about twenty descriptors of its own (twemproxy about eight), so the descriptors
 * open once every listener is bound are set aside as well.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { PoolConfig } from '../config/config.js';
import { MAX_SERVER_CONNECTIONS, RESERVED_FDS } from './limits.js';

/** The soft RLIMIT_NOFILE from /proc/self/limits; null when unlimited or unknown (not Linux). */
export function openFilesLimit(limitsText: string): number | null {
  const m = /^Max open files\s+(\S+)/m.exec(limitsText);
  if (m === null) return null;
  const soft = Number(m[1]);
  return Number.isSafeInteger(soft) && soft > 0 ? soft : null;
}

/**
 * Server connections the pools may open together. (twemproxy adds one per pool for its
 * listener; here the listeners are among the descriptors open when the limit is computed.)
 */
export function serverConnectionsAllowed(pools: readonly PoolConfig[]): number {
  let n = 0;
  for (const p of pools) n += Math.min(p.serverConnections, MAX_SERVER_CONNECTIONS) * p.servers.length;
  return n;
}

export interface ClientFdLimit {
  /** Most client connections of all pools together; Infinity when there is no limit. */
  readonly clients: number;
  readonly openFiles: number | null;
  readonly serverConnections: number;
  readonly inUse: number;
}

/**
 * Computed once the listeners are bound (`inUse`: the descriptors open then). No limit when
 * the open-files limit is unknown, or when the reservations leave no room for any client
 * (twemproxy's unsigned subtraction wraps to no limit then too).
 */
export function clientFdLimit(pools: readonly PoolConfig[]): ClientFdLimit {
  let openFiles: number | null = null;
  let inUse = 0;
  try {
    openFiles = openFilesLimit(readFileSync('/proc/self/limits', 'latin1'));
    // Less one: the descriptor reading the directory.
    inUse = readdirSync('/proc/self/fd').length - 1;
  } catch {
    openFiles = null;
  }
  const serverConnections = serverConnectionsAllowed(pools);
  const room = openFiles === null ? 0 : openFiles - inUse - serverConnections - RESERVED_FDS;
  return { clients: room > 0 ? room : Infinity, openFiles, serverConnections, inUse };
}
