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
}

export function newConnectionCounters(): ConnectionCounters {
  return { total: 0, current: 0, peak: 0 };
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
