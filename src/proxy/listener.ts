/**
 * A pool's listening socket (TCP `host:port`, or a unix socket with its permission bits):
 * accepts clients and applies the pool's client limit. Mirrors twemproxy's nc_proxy.c.
 */
import cluster from 'node:cluster';
import { chmod, unlink } from 'node:fs/promises';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { log, LOG_INFO, LOG_WARN } from '../util/log.js';
import { ClientConn } from './client-conn.js';
import type { ServerPool } from './server-pool.js';

export class Listener {
  private readonly pool: ServerPool;
  private readonly server: NetServer;

  constructor(pool: ServerPool) {
    this.pool = pool;
    // allowHalfOpen: a client that shuts down its write side still gets its replies (spec 6.5).
    this.server = createServer({ allowHalfOpen: true, pauseOnConnect: false }, (socket) =>
      this.onConnection(socket),
    );
  }

  /** Where this pool listens, for messages. */
  get address(): string {
    return this.pool.config.listen.raw;
  }

  async listen(): Promise<void> {
    const listen = this.pool.config.listen;
    const server = this.server;
    if (listen.path !== null && !cluster.isWorker) {
      // twemproxy removes a stale socket file before binding (spec 2.3). Not in a --workers
      // worker: the primary binds the socket once for all of them and has removed a stale file
      // itself (WorkerPool.start), so here the file is the live socket the other workers serve.
      await unlink(listen.path).catch(() => undefined);
    }
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      const done = (): void => {
        server.off('error', onError);
        resolve();
      };
      if (listen.path !== null) {
        server.listen({ path: listen.path, backlog: this.pool.config.backlog }, done);
      } else {
        server.listen({ host: listen.address, port: listen.port, backlog: this.pool.config.backlog }, done);
      }
    });
    // Errors after a successful bind (accept failures) are logged; bind errors were rejected above.
    server.on('error', (err) => {
      if (log.level >= LOG_WARN) log.warn(`listener of pool ${this.pool.config.name}: ${err.message}`);
    });
    if (listen.path !== null && listen.mode !== 0) await chmod(listen.path, listen.mode);
    this.pool.counters.total++;
    this.pool.counters.current++;
  }

  private onConnection(socket: Socket): void {
    const pool = this.pool;
    const config = pool.config;
    if (config.clientConnections > 0 && pool.stats.client_connections >= config.clientConnections) {
      // twemproxy ignores client_connections; we refuse politely with a reply the client can read.
      if (log.level >= LOG_INFO) log.info(`pool ${config.name}: client limit ${config.clientConnections} reached`);
      socket.on('error', () => undefined);
      socket.end(pool.codec.errorReply('max number of clients reached'));
      return;
    }
    if (config.listen.path === null) socket.setNoDelay(true);
    if (config.tcpkeepalive) socket.setKeepAlive(true);
    new ClientConn(socket, pool);
  }

  /** Stop accepting new clients. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) {
        resolve();
        return;
      }
      this.pool.counters.current--;
      this.server.close(() => resolve());
    });
  }
}
