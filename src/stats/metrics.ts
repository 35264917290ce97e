/**
 * Every metric Walnut reports, once: name, kind and description (twemproxy's
 * STATS_POOL_CODEC / STATS_SERVER_CODEC). The stats JSON, `-D` and the counter objects are all
 * derived from these tables, so they cannot drift apart.
 */
export type MetricKind = 'counter' | 'gauge' | 'timestamp';

export const POOL_METRICS = [
  ['client_eof', 'counter', '# eof on client connections'],
  ['client_err', 'counter', '# errors on client connections'],
  ['client_connections', 'gauge', '# active client connections'],
  ['server_ejects', 'counter', '# times backend server was ejected'],
  ['forward_error', 'counter', '# times we encountered a forwarding error'],
  ['fragments', 'counter', '# fragments created from a multi-vector request'],
] as const satisfies readonly (readonly [string, MetricKind, string])[];

export const SERVER_METRICS = [
  ['server_eof', 'counter', '# eof on server connections'],
  ['server_err', 'counter', '# errors on server connections'],
  ['server_timedout', 'counter', '# timeouts on server connections'],
  ['server_connections', 'gauge', '# active server connections'],
  ['server_ejected_at', 'timestamp', 'timestamp when server was ejected in usec since epoch'],
  ['requests', 'counter', '# requests'],
  ['request_bytes', 'counter', 'total request bytes'],
  ['responses', 'counter', '# responses'],
  ['response_bytes', 'counter', 'total response bytes'],
  ['in_queue', 'gauge', '# requests in incoming queue'],
  ['in_queue_bytes', 'gauge', 'current request bytes in incoming queue'],
  ['out_queue', 'gauge', '# requests in outgoing queue'],
  ['out_queue_bytes', 'gauge', 'current request bytes in outgoing queue'],
] as const satisfies readonly (readonly [string, MetricKind, string])[];

export type PoolMetricName = (typeof POOL_METRICS)[number][0];
export type ServerMetricName = (typeof SERVER_METRICS)[number][0];

/** Live counters of one pool; fields named exactly as the metrics. */
export type PoolStats = Record<PoolMetricName, number>;
/** Live counters of one server. */
export type ServerStats = Record<ServerMetricName, number>;

export function newPoolStats(): PoolStats {
  return {
    client_eof: 0,
    client_err: 0,
    client_connections: 0,
    server_ejects: 0,
    forward_error: 0,
    fragments: 0,
  };
}

export function newServerStats(): ServerStats {
  return {
    server_eof: 0,
    server_err: 0,
    server_timedout: 0,
    server_connections: 0,
    server_ejected_at: 0,
    requests: 0,
    request_bytes: 0,
    responses: 0,
    response_bytes: 0,
    in_queue: 0,
    in_queue_bytes: 0,
    out_queue: 0,
    out_queue_bytes: 0,
  };
}
