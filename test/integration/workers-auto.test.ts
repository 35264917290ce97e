// --workers auto: one worker process per core the process may use (os.availableParallelism()),
// each serving the pool; on a machine with one core, a single process and no workers.
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { startRedis, type Running, type RunningProxy } from '../../scripts/lib/processes.js';
import { startOnePoolWalnut, workerPids } from './support/workers.js';

describe('--workers auto', () => {
  let backend: Running;
  let walnut: RunningProxy;
  let port: number;

  before(async () => {
    backend = await startRedis();
    ({ walnut, port } = await startOnePoolWalnut(backend, ['--workers', 'auto']));
  });

  after(async () => {
    await walnut.stop();
    await backend.stop();
  });

  test('one worker per available core, and the requests are served', async () => {
    const cores = availableParallelism();
    const workers = workerPids(walnut.pid);
    assert.equal(workers.length, cores > 1 ? cores : 0, `${cores} cores, workers ${workers.join(',')}`);
    const c = new Redis({ port, host: '127.0.0.1', enableReadyCheck: false, maxRetriesPerRequest: 0 });
    try {
      assert.equal(await c.set('workers-auto:k', 'v'), 'OK');
      assert.equal(await c.get('workers-auto:k'), 'v');
      const served = Number(/process_id:(\d+)/.exec(await c.info())?.[1]);
      assert.ok(cores > 1 ? workers.includes(served) : served === walnut.pid, `served by ${served}`);
    } finally {
      c.disconnect();
    }
  });
});
