// The --workers primary (WorkerPool) run inside this test process, for what cannot be driven
// from outside: a message to a worker that has just died fails after send() returned, as an
// 'error' event on that worker, and the primary must live on.
import assert from 'node:assert/strict';
import cluster from 'node:cluster';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort } from '../../scripts/lib/processes.js';
import { WorkerPool } from '../../src/cluster/worker-pool.js';

test('a failed send to a worker (EPIPE: it has just died) does not end the primary', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'walnut-pool-'));
  const port = await freePort();
  const confFile = join(dir, 'walnut.yml');
  // No backend is needed: nothing is sent through the pool.
  writeFileSync(confFile, `p:\n  listen: 127.0.0.1:${port}\n  redis: true\n  servers:\n   - 127.0.0.1:1:1\n`);
  const pool = await WorkerPool.start(2, { confFile, output: join(dir, 'walnut.log'), verbosity: 5, mbufSize: 16384 });
  try {
    const workers = Object.values(cluster.workers ?? {});
    assert.equal(workers.length, 2);
    for (const worker of workers) {
      // What Node does when a worker.send() finds the channel broken.
      const epipe = Object.assign(new Error('write EPIPE'), { code: 'EPIPE', errno: -32, syscall: 'write' });
      assert.doesNotThrow(() => worker!.process.emit('error', epipe));
    }
    // The primary still talks to its workers and stops them.
    const snapshot = await pool.snapshot();
    assert.equal(typeof snapshot, 'object');
    pool.setLogLevel(5);
  } finally {
    await pool.close(0);
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(Object.keys(cluster.workers ?? {}).length, 0);
});
