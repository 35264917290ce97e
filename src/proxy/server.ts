/**
 * One backend server of a pool: its connections (opened lazily, one per client affinity slot), its
 * counters, and its liveness state for auto_eject_hosts. Mirrors twemproxy's struct server and
 * server_conn / server_failure / server_ok in nc_server.c.
 */
import type { ServerConfig } from '../config/config.js';
import type { Msg } from '../proto/message.js';
import { newServerStats, type ServerStats } from '../stats/metrics.js';
import { MAX_SERVER_CONNECTIONS, MAX_SERVER_QUEUED_BYTES } from './limits.js';
import { ServerConn, type Feeder } from './server-conn.js';
import type { ServerPool } from './server-pool.js';

export class Server {
  readonly pool: ServerPool;
  /** Position in the pool's sorted server list (the modula slot order, the stats order). */
  readonly index: number;
  readonly config: ServerConfig;
  readonly stats: ServerStats = newServerStats();
  /**
   * Connection slots, `server_connections` of them, opened lazily. A client always uses the
   * same slot (its affinity modulo the slot count), so its requests to this server stay in
   * order on one connection and it reads its own writes; twemproxy picks connections
   * round-robin per request and gives no such guarantee.
   */
  private readonly slots: (ServerConn | null)[];
  /** Consecutive failures since the last success (auto_eject_hosts). */
  private failureCount = 0;
  /** When an ejected server may be tried again (performance.now() ms); 0 = live. */
  nextRetry = 0;

  constructor(pool: ServerPool, index: number, config: ServerConfig) {
    this.pool = pool;
    this.index = index;
    this.config = config;
    const slots = Math.min(MAX_SERVER_CONNECTIONS, Math.max(1, pool.config.serverConnections));
    this.slots = new Array<ServerConn | null>(slots).fill(null);
  }

  get live(): boolean {
    return this.nextRetry === 0;
  }

  /**
   * Queue a request on the connection of the sending client's slot (opened if needed); the
   * sender is held back while that connection is congested.
   */
  send(msg: Msg, affinity: number, feeder: Feeder | null): void {
    msg.serverIndex = this.index;
    const slot = affinity % this.slots.length;
    let conn = this.slots[slot]!;
    if (conn === null) {
      conn = new ServerConn(this);
      this.slots[slot] = conn;
    }
    // (congested first: fields only, where queuedBytes asks the socket.) Past half the bound
    // only feeders that waited their turn are queued: newcomers cannot take all the room.
    if (
      conn.congested &&
      (conn.queuedBytes >= MAX_SERVER_QUEUED_BYTES ||
        (conn.queuedBytes >= MAX_SERVER_QUEUED_BYTES / 2 && !conn.waited(feeder)))
    ) {
      // Its feeders are paused already; what still comes fails now rather than grow the queue.
      conn.noteRefused();
      if (feeder !== null) conn.hold(feeder, true);
      this.pool.fail(msg, 'ENOBUFS');
      return;
    }
    conn.enqueue(msg);
    if (feeder !== null && conn.congested) conn.hold(feeder);
  }

  /** Open one connection now (preconnect: one per server, as twemproxy). */
  preconnect(): void {
    if (this.slots[0] === null) this.slots[0] = new ServerConn(this);
  }

  /** A reply matched a forwarded request: the server works. */
  onSuccess(): void {
    if (this.failureCount !== 0) this.failureCount = 0;
  }

  /**
   * A connection closed ('' = by the server; `idle`: nothing was sent on it for a while, or is
   * awaited). Every close counts as a failure (spec 7) but one: the server ending an idle
   * connection, which is what Redis's `timeout` does. twemproxy counts that too, so a healthy
   * server was ejected (its keys moved) for having been idle.
   */
  onConnClosed(conn: ServerConn, code: string, idle: boolean): void {
    const i = this.slots.indexOf(conn);
    if (i >= 0) this.slots[i] = null;
    if (code === '') this.stats.server_eof++;
    else if (code === 'ETIMEDOUT') this.stats.server_timedout++;
    else this.stats.server_err++;
    const pool = this.pool;
    if (!pool.config.autoEjectHosts || pool.closing || (idle && code === '')) return;
    this.failureCount++;
    // Also when it is ejected already (more connections failed than the limit needs): as
    // twemproxy, ejected again, with a later retry time and the count back to 0, so that once
    // re-admitted it takes server_failure_limit new failures to go, as it did the first time.
    if (this.failureCount >= Math.max(1, pool.config.serverFailureLimit)) {
      this.failureCount = 0;
      // Wall clock for the stats (twemproxy reports µs since the epoch); a monotonic one for
      // the retry, so that a clock step neither keeps a server out nor lets it back early.
      this.stats.server_ejected_at = Date.now() * 1000;
      this.nextRetry = performance.now() + pool.config.serverRetryTimeout;
      pool.onEjected(this);
    }
  }

  /** Bring in_queue / out_queue up to what the kernel has taken (ServerConn.syncQueueGauges). */
  syncQueueGauges(): void {
    for (const conn of this.slots) conn?.syncQueueGauges();
  }

  /** Shutdown: every connection makes sure its server has read what it was sent. */
  fence(): void {
    for (const conn of this.slots) conn?.fence();
  }

  /** Every connection has handed over its requests and heard back (ServerConn.settled). */
  get settled(): boolean {
    return this.slots.every((conn) => conn === null || conn.settled);
  }

  /** Close every connection (shutdown, or the pool going away on reload). */
  closeAll(code: string): void {
    for (const conn of this.slots) conn?.close(code);
  }
}
