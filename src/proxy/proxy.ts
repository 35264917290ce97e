/**
 * The running proxy: one ServerPool and Listener per configured pool, sharing connection
 * counters, reporting stats, and shutting down gracefully. Mirrors twemproxy's nc_core.c
 * (core_start / core_stop). Pools are self-contained objects so that a reload can later build
 * new ones beside the old and move listeners over without dropping clients.
 */
import type { Config, PoolConfig } from '../config/config.js';
import type { Codec } from '../proto/codec.js';
import { createMemcacheCodec } from '../proto/memcache/memcache-codec.js';
import { createRedisCodec } from '../proto/redis/redis-codec.js';
import type { StatsSnapshot, StatsSource } from '../stats/snapshot.js';
import { strerror } from '../util/errno.js';
import { log, LOG_INFO, LOG_WARN } from '../util/log.js';
import { ClientMemory, type ClientMemoryShare } from './client-memory.js';
import { newConnectionCounters, type ConnectionCounters } from './connection-counters.js';
import { clientFdLimit } from './fd-limit.js';
import { exposedGc, HeapTrimmer, loadMallocTrim } from './heap-trim.js';
import { SHUTDOWN_QUIET_MS } from './limits.js';
import { Listener } from './listener.js';
import { ServerPool } from './server-pool.js';
import type { PublishedSocket } from './unix-socket.js';

export interface ProxyOptions {
  /**
   * This process's --limit-client-memory (bytes 0 for none): past it, the clients holding the
   * most are closed (client-memory.ts).
   */
  readonly clientMemory: ClientMemoryShare;
  /**
   * Told of each unix socket this process puts at its path, as soon as it is there (a --workers
   * worker tells the primary, which removes the socket at exit).
   */
  readonly onSocketPublished?: (socket: PublishedSocket) => void;
}

function codecFor(pool: PoolConfig): Codec {
  return pool.redis
    ? createRedisCodec({ redisAuth: pool.redisAuth, redisDb: pool.redisDb })
    : createMemcacheCodec();
}

export class Proxy implements StatsSource {
  private readonly counters: ConnectionCounters = newConnectionCounters();
  private readonly memory: ClientMemory;
  private readonly pools: ServerPool[];
  private readonly listeners: Listener[];
  /** Returns memory after a crowd of clients leaves; null when node lacks --expose-gc. */
  private readonly trimmer: HeapTrimmer | null;

  private constructor(config: Config, options: ProxyOptions) {
    this.memory = new ClientMemory(options.clientMemory.bytes, options.clientMemory.label);
    this.pools = config.pools.map((p) => new ServerPool(p, codecFor(p), this.counters, this.memory));
    this.listeners = this.pools.map((p) => new Listener(p, options.onSocketPublished ?? null));
    const gc = exposedGc();
    this.trimmer = gc === null ? null : new HeapTrimmer(this.counters, gc, loadMallocTrim(), () => this.memory.held);
  }

  /** Bind every pool's listener (in pool order) and pre-connect where configured. */
  static async start(config: Config, options: ProxyOptions): Promise<Proxy> {
    const proxy = new Proxy(config, options);
    for (let i = 0; i < proxy.listeners.length; i++) {
      const listener = proxy.listeners[i]!;
      try {
        await listener.listen();
      } catch (err) {
        await Promise.all(proxy.listeners.slice(0, i).map((l) => l.close()));
        const code = (err as NodeJS.ErrnoException).code;
        const reason = typeof code === 'string' ? strerror(code) : String(err);
        throw new Error(`pool '${proxy.pools[i]!.config.name}': cannot listen on '${listener.address}': ${reason}`);
      }
    }
    // Now that the listeners hold their descriptors: what is left for clients.
    const fds = clientFdLimit(config.pools);
    proxy.counters.clientLimit = fds.clients;
    if (log.level >= LOG_INFO) {
      log.info(`max fds ${fds.openFiles ?? 'unknown'} max client conns ${fds.clients} max server conns ${fds.serverConnections} (${fds.inUse} open at start)`);
    }
    for (const pool of proxy.pools) if (pool.config.preconnect) pool.preconnect();
    proxy.trimmer?.start();
    return proxy;
  }

  /** Bytes all clients hold now, as --limit-client-memory counts them (client-memory.ts). */
  get clientMemoryHeld(): number {
    return this.memory.held;
  }

  snapshot(): StatsSnapshot {
    return {
      totalConnections: this.counters.total,
      currConnections: this.counters.current,
      pools: this.pools.map((p) => p.snapshot()),
    };
  }

  /**
   * Stop accepting, stop reading requests, give clients up to graceMs to receive the replies
   * they are owed (to the last byte: a large reply to a slow reader included) and the servers
   * to take every request accepted (memcached `noreply` ones and those of clients gone
   * included), then close every connection.
   *
   * A client counts as done once its connection is closed (it ended its side after the FIN
   * that follows its last reply, or the linger of client-stream.ts gave up on it), or once it
   * has sent nothing for SHUTDOWN_QUIET_MS after that FIN; not as soon as the FIN is queued.
   * Closing a socket while the client is still sending (a pipeline behind the requests
   * accepted) resets it: the client's kernel drops the replies it has not read yet, and the
   * client saw a reply cut off mid-value.
   */
  async close(graceMs: number): Promise<void> {
    this.trimmer?.stop();
    await Promise.all(this.listeners.map((l) => l.close()));
    for (const pool of this.pools) {
      for (const client of pool.clients) client.shutdown();
      pool.fence();
    }
    const deadline = performance.now() + graceMs;
    /** Clients of `pool` not yet done (see above), counting at most `upTo`. */
    const unsettled = (pool: ServerPool, now: number, upTo: number): number => {
      let n = 0;
      for (const c of pool.clients) if (!c.quietFor(SHUTDOWN_QUIET_MS, now) && ++n === upTo) break;
      return n;
    };
    const busy = (p: ServerPool, now: number): boolean => unsettled(p, now, 1) > 0 || !p.serversSettled;
    let now: number;
    while ((now = performance.now()) < deadline && this.pools.some((p) => busy(p, now))) {
      await new Promise((r) => setTimeout(r, 10));
    }
    if (log.level >= LOG_WARN) {
      const open = this.pools.reduce((n, p) => n + unsettled(p, now, Infinity), 0);
      const servers = this.pools.filter((p) => !p.serversSettled).map((p) => p.config.name);
      if (open > 0) log.warn(`shutdown: ${open === 1 ? '1 client' : `${open} clients`} still owed replies or still sending after ${graceMs} ms: closing ${open === 1 ? 'it' : 'them'}`);
      if (servers.length > 0) log.warn(`shutdown: servers of pool ${servers.join(', ')} still had requests to take or answer after ${graceMs} ms`);
    }
    for (const pool of this.pools) {
      for (const client of pool.clients) client.destroy();
      pool.close();
    }
  }
}
