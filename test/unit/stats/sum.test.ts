// Worker snapshots add up field by field; the ejection timestamp keeps the latest.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newPoolStats, newServerStats } from '../../../src/stats/metrics.js';
import type { StatsSnapshot } from '../../../src/stats/snapshot.js';
import { sumSnapshots } from '../../../src/stats/sum.js';

function snapshot(seed: number): StatsSnapshot {
  const pool = newPoolStats();
  pool.client_eof = seed;
  pool.client_connections = seed * 2;
  const a = newServerStats();
  a.requests = seed * 10;
  a.server_ejected_at = seed * 1000;
  const b = newServerStats();
  b.responses = seed + 1;
  return {
    totalConnections: seed * 3,
    currConnections: seed,
    pools: [{ name: 'p', stats: pool, servers: [{ name: 'a', stats: a }, { name: 'b', stats: b }] }],
  };
}

test('sumSnapshots adds counters and gauges and keeps the latest timestamp', () => {
  const sum = sumSnapshots([snapshot(1), snapshot(5), snapshot(2)]);
  assert.equal(sum.totalConnections, 24);
  assert.equal(sum.currConnections, 8);
  const pool = sum.pools[0]!;
  assert.equal(pool.stats.client_eof, 8);
  assert.equal(pool.stats.client_connections, 16);
  assert.equal(pool.servers[0]!.stats.requests, 80);
  assert.equal(pool.servers[0]!.stats.server_ejected_at, 5000);
  assert.equal(pool.servers[1]!.stats.responses, 11);
  assert.deepEqual(pool.servers.map((s) => s.name), ['a', 'b']);
});

test('sumSnapshots leaves its inputs untouched and handles none', () => {
  const one = snapshot(3);
  const copy = JSON.parse(JSON.stringify(one)) as StatsSnapshot;
  sumSnapshots([one, snapshot(4)]);
  assert.deepEqual(one, copy);
  assert.deepEqual(sumSnapshots([]), { totalConnections: 0, currConnections: 0, pools: [] });
});
