/**
 * A pool's listening socket (TCP `host:port`, or a unix socket with its permission bits):
 * accepts clients and applies the pool's client limit. Mirrors twemproxy's nc_proxy.c.
 */
import cluster from 'node:cluster';
import { chmod, stat, unlink } from 'node:fs/promises';
import { createServer, type ListenOptions, type Server as NetServer } from 'node:net';
import { log, LOG_INFO, LOG_WARN } from '../util/log.js';
import { ClientConn } from './client-conn.js';
import { openClientStream, type StreamEvents } from './client-stream.js';
import { countConnectionClosed, countConnectionOpened } from './connection-counters.js';
import { MAX_REFUSALS_OPEN } from './limits.js';
import type { ServerPool } from './server-pool.js';
import { interceptAccepts, type AcceptedHandle } from './socket-read.js';
import { publishSocket, removeSocket, stagingPath, type PublishedSocket } from './unix-socket.js';

/** A --workers worker listens on sockets the primary binds and shares (and removes at exit). */
const SHARED_LISTENER = cluster.isWorker;

/**
 * A refused client's stream: its reply is written, then everything is dropped; `onClose`
 * gives back its place among the refusals open.
 */
function refusedEvents(onClose: () => void): StreamEvents {
  return {
    onData: () => undefined,
    onEnd: () => undefined,
    onError: () => undefined,
    onClose,
    onDrain: () => undefined,
  };
}

export class Listener {
  private readonly pool: ServerPool;
  private readonly server: NetServer;
  /**
   * The inode of the unix socket this listener serves, when it published it or bound it at the
   * path. A single process removes it again in close(); a --workers worker leaves that to the
   * primary, which learns it through `onPublished`.
   */
  private socketInode: number | null = null;
  private readonly onPublished: ((socket: PublishedSocket) => void) | null;
  /** Clients are being refused for the open-files limit (logged once per crowd). */
  private refusingForFds = false;

  constructor(pool: ServerPool, onPublished: ((socket: PublishedSocket) => void) | null) {
    this.pool = pool;
    this.onPublished = onPublished;
    // Accepted connections are taken over as soon as it listens (see bind()).
    this.server = createServer();
  }

  /** Where this pool listens, for messages. */
  get address(): string {
    return this.pool.config.listen.raw;
  }

  /** Node takes a backlog of 0 for "the default" (511): 1 is the closest to twemproxy's 0. */
  private get backlog(): number {
    return Math.max(1, this.pool.config.backlog);
  }

  async listen(): Promise<void> {
    const listen = this.pool.config.listen;
    if (listen.path !== null) await this.listenUnix(listen.path, listen.mode);
    else await this.bind({ host: listen.address, port: listen.port, backlog: this.backlog });
    countConnectionOpened(this.pool.counters);
  }

  /**
   * Bind the unix socket at a staging name and publish it at `path` with its mode (see
   * unix-socket.ts). In a --workers worker the primary binds once for all workers, so every
   * worker asks for the primary's staging name and whichever finishes first publishes it.
   */
  private async listenUnix(path: string, mode: number): Promise<void> {
    const shared = SHARED_LISTENER;
    const backlog = this.backlog;
    const staging = stagingPath(path, shared ? process.ppid : process.pid);
    if (staging === null) {
      // No room for a staging name: twemproxy's order, with its moment of umask permissions.
      // A worker leaves the path alone: the primary removed a stale file before forking.
      if (!shared) await unlink(path).catch(() => undefined);
      await this.bind({ path, backlog });
      await this.unbindOnFailure(shared ? null : path, async () => {
        if (mode !== 0) await chmod(path, mode);
        this.published(path, (await stat(path)).ino);
      });
      return;
    }
    if (!shared) await unlink(staging).catch(() => undefined);
    await this.bind({ path: staging, backlog });
    await this.unbindOnFailure(shared ? null : staging, async () => {
      const ino = await publishSocket(staging, path, mode, shared);
      // null: another worker sharing the socket published it.
      if (ino !== null) this.published(path, ino);
    });
  }

  /**
   * Bound but not yet listening as configured: if `step` fails, stop listening and remove the
   * socket file this process bound (`path`; null when it is shared), so that a failed start
   * leaves nothing behind.
   */
  private async unbindOnFailure(path: string | null, step: () => Promise<void>): Promise<void> {
    try {
      await step();
    } catch (err) {
      this.server.close();
      if (path !== null) await unlink(path).catch(() => undefined);
      throw err;
    }
  }

  private published(path: string, ino: number): void {
    this.socketInode = ino;
    this.onPublished?.({ path, ino });
  }

  private bind(options: ListenOptions): Promise<void> {
    const server = this.server;
    return new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.listen(options, () => {
        server.off('error', onError);
        // From now on an error is an accept failure: logged, never fatal. Attached here, not
        // once listen() is done: a unix socket accepts while it is still being published.
        server.on('error', (err) => {
          if (log.level >= LOG_WARN) log.warn(`listener of pool ${this.pool.config.name}: ${err.message}`);
        });
        // Now, in the callback: from the next turn of the loop the handle accepts, and a
        // connection net.Server wrapped itself would never be answered (a worker sharing a
        // unix socket accepts while it is still publishing the socket).
        try {
          interceptAccepts(server, (handle) => this.onConnection(handle));
        } catch (err) {
          server.close();
          reject(err as Error);
          return;
        }
        resolve();
      });
    });
  }

  private onConnection(handle: AcceptedHandle): void {
    const pool = this.pool;
    const config = pool.config;
    const counters = pool.counters;
    const poolFull = config.clientConnections > 0 && pool.stats.client_connections >= config.clientConnections;
    const fdsFull = counters.clients >= counters.clientLimit;
    if (!poolFull && !fdsFull) {
      if (this.refusingForFds) this.refusingForFds = false;
      const tcp = config.listen.path === null ? { noDelay: true, keepAlive: config.tcpkeepalive } : null;
      new ClientConn(handle, tcp, pool);
      return;
    }
    if (fdsFull && !this.refusingForFds) {
      // Once per crowd: logged again only after a client has been accepted since.
      this.refusingForFds = true;
      if (log.level >= LOG_WARN) {
        log.warn(`pool ${config.name}: ${counters.clients} clients, the most the open-files limit leaves room for: refusing clients`);
      }
    } else if (poolFull && log.level >= LOG_INFO) {
      // twemproxy ignores client_connections; we refuse politely with a reply the client can read.
      log.info(`pool ${config.name}: client limit ${config.clientConnections} reached`);
    }
    // Whatever the client sends is read and dropped, so that its close is seen. A refused
    // client holds a descriptor until it closes (or CLIENT_LINGER_MS): past MAX_REFUSALS_OPEN
    // of them near the descriptor limit, the refusal itself would take the descriptors kept for
    // server connections, so the client is closed at once, without a reply, as twemproxy does.
    const refused = openClientStream(handle, null, refusedEvents(() => counters.refusing--));
    counters.refusing++;
    if (fdsFull && counters.refusing > MAX_REFUSALS_OPEN) {
      refused.destroy();
      return;
    }
    refused.write(pool.codec.errorReply('max number of clients reached'));
    refused.end();
  }

  /**
   * Stop accepting new clients (and take a unix socket this process published off its path).
   * Clients already connected stay: the caller decides how long they get. (net.Server does
   * not know the connections taken over by interceptAccepts; the pool keeps them.)
   */
  async close(): Promise<void> {
    if (!this.server.listening) return;
    countConnectionClosed(this.pool.counters);
    this.server.close();
    const path = this.pool.config.listen.path;
    if (path !== null && this.socketInode !== null && !SHARED_LISTENER) await removeSocket(path, this.socketInode);
  }
}
