/**
 * The process's count of connection objects (clients, server connections, listeners): the
 * stats' total_connections / curr_connections, shared by every pool, and the peak the heap
 * trimmer compares the current count with.
 */
export interface ConnectionCounters {
  total: number;
  current: number;
  /** Highest `current` since the heap trimmer last reset it (src/proxy/heap-trim.ts). */
  peak: number;
  /** Client connections of every pool (the sum of their client_connections). */
  clients: number;
  /** Refused clients still open, waiting for their refusal to be read (listener.ts). */
  refusing: number;
  /**
   * Most client connections of all pools together that the open-files limit leaves room for
   * (fd-limit.ts); Infinity until the listeners are bound, or when there is no such limit.
   */
  clientLimit: number;
}

export function newConnectionCounters(): ConnectionCounters {
  return { total: 0, current: 0, peak: 0, clients: 0, refusing: 0, clientLimit: Infinity };
}

/** A connection object has gone (closed, or a listener stopped). */
export function countConnectionClosed(counters: ConnectionCounters): void {
  counters.current--;
}

/** A connection object was created (a client, a server connection or a listener). */
export function countConnectionOpened(counters: ConnectionCounters): void {
  counters.total++;
  if (++counters.current > counters.peak) counters.peak = counters.current;
}
