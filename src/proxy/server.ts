/**
 * One backend server of a pool: its connections (created lazily, used round-robin), its
 * counters, and its liveness state for auto_eject_hosts. Mirrors twemproxy's struct server and
 * server_conn / server_failure / server_ok in nc_server.c.
 */
import type { ServerConfig } from '../config/config.js';
import type { Msg } from '../proto/message.js';
import { newServerStats, type ServerStats } from '../stats/metrics.js';
import { ServerConn } from './server-conn.js';
import type { ServerPool } from './server-pool.js';

export class Server {
  readonly pool: ServerPool;
  /** Position in the pool's sorted server list (the modula slot order, the stats order). */
  readonly index: number;
  readonly config: ServerConfig;
  readonly stats: ServerStats = newServerStats();
  private conns: ServerConn[] = [];
  private nextConn = 0;
  /** Consecutive failures since the last success (auto_eject_hosts). */
  private failureCount = 0;
  /** When an ejected server may be tried again (ms since epoch); 0 = live. */
  nextRetry = 0;

  constructor(pool: ServerPool, index: number, config: ServerConfig) {
    this.pool = pool;
    this.index = index;
    this.config = config;
  }

  get live(): boolean {
    return this.nextRetry === 0;
  }

  /**
   * Queue a request on one of this server's connections. Until `server_connections` exist a
   * new one is opened; after that they are used in turn (twemproxy's server_conn).
   */
  send(msg: Msg): void {
    msg.serverIndex = this.index;
    this.pickConn().enqueue(msg);
  }

  /** Open one connection now (preconnect). */
  preconnect(): void {
    if (this.conns.length === 0) this.conns.push(new ServerConn(this));
  }

  private pickConn(): ServerConn {
    const conns = this.conns;
    if (conns.length < this.pool.config.serverConnections) {
      const conn = new ServerConn(this);
      conns.push(conn);
      return conn;
    }
    if (this.nextConn >= conns.length) this.nextConn = 0;
    return conns[this.nextConn++]!;
  }

  /** A reply matched a forwarded request: the server works. */
  onSuccess(): void {
    if (this.failureCount !== 0) this.failureCount = 0;
  }

  /** A connection closed ('' = by the server); every close counts as a failure (spec 7). */
  onConnClosed(conn: ServerConn, code: string): void {
    const i = this.conns.indexOf(conn);
    if (i >= 0) this.conns.splice(i, 1);
    if (code === '') this.stats.server_eof++;
    else if (code === 'ETIMEDOUT') this.stats.server_timedout++;
    else this.stats.server_err++;
    const pool = this.pool;
    if (!pool.config.autoEjectHosts || pool.closing) return;
    this.failureCount++;
    if (this.failureCount >= Math.max(1, pool.config.serverFailureLimit) && this.live) {
      this.failureCount = 0;
      const now = Date.now();
      this.stats.server_ejected_at = now * 1000;
      this.nextRetry = now + pool.config.serverRetryTimeout;
      pool.onEjected(this);
    }
  }

  /** Close every connection (shutdown, or the pool going away on reload). */
  closeAll(code: string): void {
    for (const conn of this.conns.slice()) conn.close(code);
  }
}
