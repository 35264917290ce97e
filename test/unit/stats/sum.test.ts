// Worker snapshots add up field by field; the ejection timestamp keeps the latest.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newPoolStats, newServerStats } from '../../../src/stats/metrics.js';
import type { StatsSnapshot } from '../../../src/stats/snapshot.js';
import { retire, sumSnapshots } from '../../../src/stats/sum.js';

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

test('sumSnapshots takes its layout from a worker that has pools (one still starting has none)', () => {
  const starting: StatsSnapshot = { totalConnections: 1, currConnections: 1, pools: [] };
  const sum = sumSnapshots([starting, snapshot(2), snapshot(3)]);
  assert.deepEqual(sum.pools.map((p) => p.name), ['p']);
  assert.equal(sum.pools[0]!.stats.client_eof, 5);
  assert.equal(sum.currConnections, 6);
});

test('sumSnapshots matches servers by name, wherever they stand', () => {
  const four = snapshot(4);
  const pool = four.pools[0]!;
  const swapped: StatsSnapshot = { ...four, pools: [{ ...pool, servers: [pool.servers[1]!, pool.servers[0]!] }] };
  const sum = sumSnapshots([snapshot(1), swapped]);
  assert.equal(sum.pools[0]!.servers[0]!.stats.requests, 50);
  assert.equal(sum.pools[0]!.servers[1]!.stats.responses, 7);
});

test('retire keeps a dead worker\'s counters and timestamps, not its gauges, and adds up', () => {
  const once = retire(null, snapshot(2));
  assert.equal(once.currConnections, 0);
  assert.equal(once.totalConnections, 6);
  assert.equal(once.pools[0]!.stats.client_eof, 2);
  assert.equal(once.pools[0]!.stats.client_connections, 0);
  assert.equal(once.pools[0]!.servers[0]!.stats.server_ejected_at, 2000);
  const twice = retire(once, snapshot(3));
  assert.equal(twice.pools[0]!.stats.client_eof, 5);
  assert.equal(twice.pools[0]!.servers[0]!.stats.requests, 50);
  // Added to the live workers' snapshots, the sums only grow when a worker goes.
  const live = sumSnapshots([snapshot(1), snapshot(2), snapshot(3)]);
  const afterOneDied = sumSnapshots([snapshot(1), snapshot(3), retire(null, snapshot(2))]);
  assert.equal(afterOneDied.pools[0]!.stats.client_eof, live.pools[0]!.stats.client_eof);
  assert.equal(afterOneDied.pools[0]!.stats.client_connections, live.pools[0]!.stats.client_connections - 4);
});
