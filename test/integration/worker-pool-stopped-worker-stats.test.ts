// The --workers primary's stats reading when a worker does not answer (stopped, or busy past
// the wait): the reading is not held up for ever, and the silent worker counts with its last
// answer, or not at all when it never answered. Run in this process on WorkerPool itself, with
// workers that are idle, so each worker's snapshot is the same: its listener (one connection).
import assert from 'node:assert/strict';
import cluster, { type Worker } from 'node:cluster';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort } from '../../scripts/lib/processes.js';
import type { WorkerSettings } from '../../src/cluster/messages.js';
import { WorkerPool } from '../../src/cluster/worker-pool.js';
import { parseConfig } from '../../src/config/load.js';
import { stopProcess } from './support/workers.js';

let dir = '';
let settings: WorkerSettings;
let configBytes: Buffer;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'walnut-pool-stats-'));
  const confFile = join(dir, 'walnut.yml');
  writeFileSync(confFile, `p:\n  listen: 127.0.0.1:${await freePort()}\n  redis: true\n  servers:\n   - 127.0.0.1:1:1\n`);
  settings = { confFile, output: join(dir, 'walnut.log'), verbosity: 5, clientMemory: { bytes: 0, label: '' }, statsPushMs: 3_600_000 };
  configBytes = readFileSync(confFile);
});

after(() => rmSync(dir, { recursive: true, force: true }));

function liveWorkers(): Worker[] {
  return Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.isConnected());
}

/** SIGSTOP a worker, returning once it is stopped. */
const stop = (worker: Worker): Promise<void> => stopProcess(worker.process.pid!);

test('a stopped worker: left out before its first answer, then counted with its last one', async () => {
  const pool = await WorkerPool.start(2, settings, configBytes, parseConfig(configBytes.toString('utf8'), settings.confFile));
  const [stopped] = liveWorkers();
  assert.ok(stopped);
  try {
    await stop(stopped);
    // Never answered: only the other worker's listener.
    const alone = await pool.snapshot();
    assert.deepEqual([alone.totalConnections, alone.currConnections], [1, 1]);
    assert.deepEqual(alone.pools.map((p) => p.name), ['p']);

    stopped.process.kill('SIGCONT');
    const both = await pool.snapshot();
    assert.deepEqual([both.totalConnections, both.currConnections], [2, 2]);

    // Stopped again: its previous answer stands in for it.
    await stop(stopped);
    const remembered = await pool.snapshot();
    assert.deepEqual([remembered.totalConnections, remembered.currConnections], [2, 2]);
  } finally {
    stopped.process.kill('SIGCONT');
    await pool.close(0);
  }
  // Node drops a worker from cluster.workers once both its exit and its disconnect are seen.
  for (let i = 0; i < 100 && liveWorkers().length > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(liveWorkers().length, 0);
});
