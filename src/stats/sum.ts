/**
 * Adding up the snapshots of several worker processes that run the same configuration, so the
 * stats port reports one service. Counters and gauges add; `server_ejected_at` is a timestamp,
 * so the most recent one wins. Pools and servers are matched by name.
 */
import { POOL_METRICS, SERVER_METRICS, type PoolStats, type ServerStats } from './metrics.js';
import type { PoolSnapshot, StatsSnapshot } from './snapshot.js';

export function sumSnapshots(parts: readonly StatsSnapshot[]): StatsSnapshot {
  let total = 0;
  let current = 0;
  for (const p of parts) {
    total += p.totalConnections;
    current += p.currConnections;
  }
  // A worker still starting has no pools yet: the layout comes from one that has.
  const first = parts.find((p) => p.pools.length > 0);
  if (first === undefined) return { totalConnections: total, currConnections: current, pools: [] };
  const pools: PoolSnapshot[] = first.pools.map((pool, i) => {
    const stats = { ...pool.stats } as PoolStats;
    const servers = pool.servers.map((s) => ({ name: s.name, stats: { ...s.stats } as ServerStats }));
    for (const part of parts) {
      if (part === first) continue;
      const other = byName(part.pools, i, pool.name);
      if (other === undefined) continue;
      for (const [name] of POOL_METRICS) stats[name] += other.stats[name];
      for (let j = 0; j < other.servers.length; j++) {
        const os = other.servers[j]!;
        const mine = byName(servers, j, os.name);
        if (mine === undefined) continue;
        for (const [name, kind] of SERVER_METRICS) {
          mine.stats[name] = kind === 'timestamp' ? Math.max(mine.stats[name], os.stats[name]) : mine.stats[name] + os.stats[name];
        }
      }
    }
    return { name: pool.name, stats, servers };
  });
  return { totalConnections: total, currConnections: current, pools };
}

/** The entry named `name`, looked for first where it is in the same configuration: at `at`. */
function byName<T extends { name: string }>(list: readonly T[], at: number, name: string): T | undefined {
  const there = list[at];
  return there !== undefined && there.name === name ? there : list.find((x) => x.name === name);
}

/**
 * `retired` (null: nothing yet) plus the counters of a worker that has exited, from its last
 * snapshot: what it counted stays in the sums, so they never go back (a collector would read
 * that as a reset). Its gauges (connections, queues) went with it; its timestamps stay.
 */
export function retire(retired: StatsSnapshot | null, last: StatsSnapshot): StatsSnapshot {
  const gone: StatsSnapshot = {
    totalConnections: last.totalConnections,
    currConnections: 0,
    pools: last.pools.map((pool) => {
      const stats = { ...pool.stats } as PoolStats;
      for (const [name, kind] of POOL_METRICS) if (kind === 'gauge') stats[name] = 0;
      const servers = pool.servers.map((s) => {
        const ss = { ...s.stats } as ServerStats;
        for (const [name, kind] of SERVER_METRICS) if (kind === 'gauge') ss[name] = 0;
        return { name: s.name, stats: ss };
      });
      return { name: pool.name, stats, servers };
    }),
  };
  return retired === null ? gone : sumSnapshots([retired, gone]);
}
