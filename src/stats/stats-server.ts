// The stats listener: every connection gets the stats JSON of a fresh snapshot, then is closed.
// Mirrors nc_stats.c (stats_listen, stats_send_rsp); values are live instead of aggregated
// every -i ms (spec 8.4 allows fresher values).
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { errorReason, strerror } from '../util/errno.js';
import { gaiText, resolveLikeGetaddrinfo } from '../util/host-lookup.js';
import { log, LOG_WARN } from '../util/log.js';
import type { StatsSnapshot, StatsSource } from './snapshot.js';
import { negativeGauges, statsJson, TWEMPROXY_VERSION } from './stats-json.js';

/**
 * nc_stats.c listens with SOMAXCONN (4096 in Linux headers; the kernel caps it at
 * net.core.somaxconn), not Node's default of 511, so a burst of collectors is queued alike.
 */
export const STATS_BACKLOG = 4096;

export interface StatsServer {
  /** The bound port (useful when 0 was asked for). */
  readonly port: number;
  /** Stops listening; the connections already accepted still get their documents. */
  stopListening(): void;
  /** Stops listening and drops any connection still open. */
  close(): Promise<void>;
}

/** `host:port` for messages, bracketing IPv6 literals (only: "[::1]" as given stays itself). */
function describeAddress(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Listens on host:port (SO_REUSEADDR, which libuv sets on every TCP listener) and serves the
 * stats document. Rejects with an Error naming the address when the listener cannot be
 * created.
 */
export async function startStatsServer(source: StatsSource, host: string, port: number): Promise<StatsServer> {
  const startedAt = Date.now();
  const sourceName = hostname();
  const sockets = new Set<Socket>();
  /** Gauges already reported negative: each is logged once, not on every stats read. */
  const reported = new Set<string>();

  const checkGauges = (snapshot: StatsSnapshot): void => {
    for (const entry of negativeGauges(snapshot)) {
      const path = entry.slice(0, entry.lastIndexOf('='));
      if (reported.has(path)) continue;
      reported.add(path);
      if (log.level >= LOG_WARN) log.warn(`stats: gauge ${entry} is negative (an accounting error), reported as 0`);
    }
  };

  const onConnection = (socket: Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    // A client vanishing before it reads its document is not our problem.
    socket.on('error', () => socket.destroy());
    // Input is ignored, but read and dropped so that unread bytes do not turn our close into
    // a reset that could discard the document before the client reads it.
    socket.resume();
    Promise.resolve(source.snapshot())
      .then((snapshot) => {
        checkGauges(snapshot);
        const now = Date.now();
        const text = statsJson(snapshot, {
          source: sourceName,
          version: TWEMPROXY_VERSION,
          uptime: Math.floor((now - startedAt) / 1000),
          timestamp: Math.floor(now / 1000),
        });
        // twemproxy closes right after writing; wait only until the bytes are handed to the kernel.
        socket.end(text, () => socket.destroy());
      })
      .catch((err: unknown) => {
        // No stats to give (a worker's reading failed), or a fault in forming the document:
        // this reader goes without, the proxy goes on.
        if (log.level >= LOG_WARN) log.warn(`stats: ${errorReason(err)}`);
        socket.destroy();
      });
  };

  // Resolved here, as nc_stats.c resolves -a with getaddrinfo, rather than by listen(): that
  // would take "" as every interface and convert a name that is not ASCII to IDNA, where
  // nutcracker fails to start.
  let address: string;
  try {
    address = await resolveLikeGetaddrinfo(host);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException | null)?.code ?? '';
    throw new Error(`stats server: cannot resolve '${host}' (-a): ${gaiText(code)}`);
  }

  // Half-open: a reader that ends its side at once (`nc -N … </dev/null`) still gets its
  // document. Node would otherwise end the connection on the reader's FIN, and with --workers
  // (or while Walnut starts) the document is only ready after that: the reader got nothing.
  const server: Server = createServer({ allowHalfOpen: true }, onConnection);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const text = strerror(err.code ?? '');
      const reason = text === 'unknown' ? err.message : text;
      reject(new Error(`stats server: cannot listen on '${describeAddress(host, port)}': ${reason}`));
    };
    server.once('error', onError);
    server.listen({ host: address, port, backlog: STATS_BACKLOG }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  // After a successful start, errors are per-connection (handled above) or accept failures,
  // which must not crash the proxy.
  server.on('error', () => undefined);

  const bound = server.address();
  const boundPort = bound !== null && typeof bound === 'object' ? bound.port : port;
  /** Resolves once the listener is closed and every connection with it. */
  let closing: Promise<void> | null = null;
  const stopListening = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => server.close(() => resolve()));
    return closing;
  };
  return {
    port: boundPort,
    stopListening(): void {
      void stopListening();
    },
    close(): Promise<void> {
      const closed = stopListening();
      for (const s of sockets) s.destroy();
      return closed;
    },
  };
}
