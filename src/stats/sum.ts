/**
 * Adding up the snapshots of several worker processes that run the same configuration, so the
 * stats port reports one service. Counters and gauges add; `server_ejected_at` is a timestamp,
 * so the most recent one wins.
 */
import { POOL_METRICS, SERVER_METRICS, type PoolStats, type ServerStats } from './metrics.js';
import type { PoolSnapshot, StatsSnapshot } from './snapshot.js';

export function sumSnapshots(parts: readonly StatsSnapshot[]): StatsSnapshot {
  const first = parts[0];
  if (first === undefined) return { totalConnections: 0, currConnections: 0, pools: [] };
  let total = 0;
  let current = 0;
  for (const p of parts) {
    total += p.totalConnections;
    current += p.currConnections;
  }
  const pools: PoolSnapshot[] = first.pools.map((pool, i) => {
    const stats = { ...pool.stats } as PoolStats;
    const servers = pool.servers.map((s) => ({ name: s.name, stats: { ...s.stats } as ServerStats }));
    for (const part of parts.slice(1)) {
      const other = part.pools[i];
      if (other === undefined) continue;
      for (const [name] of POOL_METRICS) stats[name] += other.stats[name];
      other.servers.forEach((os, j) => {
        const mine = servers[j];
        if (mine === undefined) return;
        for (const [name, kind] of SERVER_METRICS) {
          mine.stats[name] = kind === 'timestamp' ? Math.max(mine.stats[name], os.stats[name]) : mine.stats[name] + os.stats[name];
        }
      });
    }
    return { name: pool.name, stats, servers };
  });
  return { totalConnections: total, currConnections: current, pools };
}
