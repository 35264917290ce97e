// The stats document sent on the stats port, byte for byte in twemproxy's layout.
// Mirrors nc_stats.c (stats_make_rsp, stats_add_header, stats_begin/end_nesting, stats_add_num).
import { POOL_METRICS, SERVER_METRICS, type MetricKind } from './metrics.js';
import type { StatsSnapshot } from './snapshot.js';

/** The twemproxy release whose behaviour Walnut reproduces, reported as the stats `version`. */
export const TWEMPROXY_VERSION = '0.5.0';

/** The header fields other than the metrics. */
export interface StatsInfo {
  /** The host name (twemproxy's gethostname()). */
  readonly source: string;
  /** Reported version: '0.5.0', so collectors written for twemproxy keep working. */
  readonly version: string;
  /** Seconds since the stats module started. */
  readonly uptime: number;
  /** Now, in seconds since the epoch. */
  readonly timestamp: number;
}

/**
 * A JSON string literal. twemproxy prints names raw (a `"` in a pool name breaks its JSON);
 * JSON.stringify escapes only `"`, `\`, control characters and lone surrogates, so every
 * ordinary name comes out byte-identical to twemproxy's and the odd one is still valid JSON.
 */
function quote(name: string): string {
  return JSON.stringify(name);
}

/**
 * A metric value as an integer. Gauges are clamped at 0: twemproxy can print a negative
 * server_connections (spec 8.3), which no collector expects.
 */
function value(kind: MetricKind, n: number): string {
  const v = Math.trunc(n);
  return `${kind === 'gauge' && v < 0 ? 0 : v}`;
}

/**
 * Every gauge of the snapshot that is below zero, as `path=value` (`curr_connections=-1`,
 * `alpha.client_connections=-1`, `alpha.r1.in_queue=-2`). The JSON prints these as 0; a negative
 * gauge is an accounting error in the proxy, which the stats server reports in the log rather
 * than hiding it.
 */
export function negativeGauges(snapshot: StatsSnapshot): string[] {
  const out: string[] = [];
  if (snapshot.currConnections < 0) out.push(`curr_connections=${snapshot.currConnections}`);
  for (const pool of snapshot.pools) {
    for (const [name, kind] of POOL_METRICS) {
      const v = pool.stats[name];
      if (kind === 'gauge' && v < 0) out.push(`${pool.name}.${name}=${v}`);
    }
    for (const server of pool.servers) {
      for (const [name, kind] of SERVER_METRICS) {
        const v = server.stats[name];
        if (kind === 'gauge' && v < 0) out.push(`${pool.name}.${server.name}.${name}=${v}`);
      }
    }
  }
  return out;
}

/**
 * Serialises a snapshot as twemproxy does: one line ending in `\n`, `, ` between members,
 * `": {` before a nested object and `},` (no space) after one, pools and servers in snapshot
 * order, metrics in table order.
 */
export function statsJson(snapshot: StatsSnapshot, info: StatsInfo): string {
  let out =
    `{"service":"nutcracker", "source":${quote(info.source)}, "version":${quote(info.version)}, ` +
    `"uptime":${Math.trunc(info.uptime)}, "timestamp":${Math.trunc(info.timestamp)}, ` +
    `"total_connections":${Math.trunc(snapshot.totalConnections)}, ` +
    `"curr_connections":${value('gauge', snapshot.currConnections)}`;
  let afterObject = false;
  for (const pool of snapshot.pools) {
    out += afterObject ? ',' : ', ';
    out += `${quote(pool.name)}: {`;
    let sep = '';
    for (const [name, kind] of POOL_METRICS) {
      out += `${sep}"${name}":${value(kind, pool.stats[name])}`;
      sep = ', ';
    }
    let serverAfterObject = false;
    for (const server of pool.servers) {
      out += serverAfterObject ? ',' : ', ';
      out += `${quote(server.name)}: {`;
      let ssep = '';
      for (const [name, kind] of SERVER_METRICS) {
        out += `${ssep}"${name}":${value(kind, server.stats[name])}`;
        ssep = ', ';
      }
      out += '}';
      serverAfterObject = true;
    }
    out += '}';
    afterObject = true;
  }
  return `${out}}\n`;
}
