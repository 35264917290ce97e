// The --workers primary (WorkerPool) run inside this test process, for what cannot be driven
// from outside: failures around the workers' processes and their IPC channel, which must
// neither end nor hang the primary (or a worker).
import assert from 'node:assert/strict';
import cluster, { type Worker } from 'node:cluster';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort } from '../../scripts/lib/processes.js';
import { WorkerPool } from '../../src/cluster/worker-pool.js';
import { parseConfig } from '../../src/config/load.js';
import type { WorkerSettings } from '../../src/cluster/messages.js';

let dir = '';
let settings: WorkerSettings;
let configBytes: Buffer;
let listenPort = 0;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'walnut-pool-'));
  const confFile = join(dir, 'walnut.yml');
  // No backend is needed: nothing is sent through the pool.
  listenPort = await freePort();
  writeFileSync(confFile, `p:\n  listen: 127.0.0.1:${listenPort}\n  redis: true\n  servers:\n   - 127.0.0.1:1:1\n`);
  configBytes = readFileSync(confFile);
  settings = { confFile, output: join(dir, 'walnut.log'), verbosity: 5, clientMemory: { bytes: 0, label: '' }, statsPushMs: 3_600_000 };
});

after(() => rmSync(dir, { recursive: true, force: true }));

function liveWorkers(): Worker[] {
  return Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.isConnected());
}

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !ok(); ) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a failed send to a worker (EPIPE: it has just died) does not end the primary', async () => {
  const pool = await WorkerPool.start(2, settings, configBytes, parseConfig(configBytes.toString('utf8'), settings.confFile));
  try {
    const workers = liveWorkers();
    assert.equal(workers.length, 2);
    for (const worker of workers) {
      // What Node does when a worker.send() finds the channel broken.
      const epipe = Object.assign(new Error('write EPIPE'), { code: 'EPIPE', errno: -32, syscall: 'write' });
      assert.doesNotThrow(() => worker.process.emit('error', epipe));
    }
    // The primary still talks to its workers and stops them.
    const snapshot = await pool.snapshot();
    assert.equal(typeof snapshot, 'object');
    pool.setLogLevel(5);
  } finally {
    await pool.close(0);
  }
  assert.equal(liveWorkers().length, 0);
});

test('a worker whose primary has gone finishes its stop even if its last message fails (EPIPE)', async () => {
  const pool = await WorkerPool.start(1, settings, configBytes, parseConfig(configBytes.toString('utf8'), settings.confFile));
  try {
    const [worker] = liveWorkers();
    assert.ok(worker);
    const exited = new Promise<number | null>((resolve) => worker.process.once('exit', (code) => resolve(code)));
    // The worker is stopped while a stats request waits for it and the channel is cut: when
    // it runs again it reads the request and answers into a closed channel, then sees the
    // disconnect. It must stop as after any disconnect (exit 0), not die of the failed send.
    worker.process.kill('SIGSTOP');
    void pool.snapshot();
    await new Promise((r) => setTimeout(r, 50));
    worker.process.disconnect();
    worker.process.kill('SIGCONT');
    assert.equal(await exited, 0);
  } finally {
    await pool.close(0);
  }
});

test('a worker that cannot be spawned fails the start with the reason instead of hanging it', async () => {
  // Node reports a spawn that fails with ENOENT (here: no such working directory; also
  // EMFILE, EAGAIN, ...) as an 'error' on the worker and never as an 'exit'.
  cluster.setupPrimary({ cwd: join(dir, 'no-such-directory') });
  try {
    const outcome = await Promise.race([
      WorkerPool.start(2, settings, configBytes, parseConfig(configBytes.toString('utf8'), settings.confFile)).then(
        async (pool) => {
          await pool.close(0);
          return 'started';
        },
        (err: unknown) => (err instanceof Error ? err.message : String(err)),
      ),
      new Promise<string>((resolve) => setTimeout(() => resolve('hung'), 10_000)),
    ]);
    assert.match(outcome, /^cannot start a worker: spawn \S+ ENOENT$/);
    // Node forgets a worker only at its 'exit': the pool must drop the one that never ran.
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(
      Object.values(cluster.workers ?? {}).filter((w) => w !== undefined && w.process.pid === undefined).length,
      0,
    );
  } finally {
    cluster.setupPrimary({ cwd: process.cwd() });
  }
});

test('a replacement whose fork throws (ENOMEM) is retried, and the primary lives on', async () => {
  const pool = await WorkerPool.start(1, settings, configBytes, parseConfig(configBytes.toString('utf8'), settings.confFile));
  const fork = cluster.fork;
  let attempts = 0;
  try {
    const [worker] = liveWorkers();
    assert.ok(worker);
    // fork(2) failing makes Node throw from cluster.fork(), here in the restart timer.
    cluster.fork = () => {
      attempts++;
      throw Object.assign(new Error('spawn ENOMEM'), { code: 'ENOMEM', syscall: 'spawn' });
    };
    worker.process.kill('SIGKILL');
    await until('three failed restarts', () => attempts >= 3);
    cluster.fork = fork;
    await until('a replacement worker', () => liveWorkers().length === 1);
    assert.notEqual(liveWorkers()[0]!.process.pid, worker.process.pid);
  } finally {
    cluster.fork = fork;
    await pool.close(0);
  }
});

test('a replacement worker runs the configuration the primary read, and the sums keep what the dead worker counted', async () => {
  const pool = await WorkerPool.start(1, settings, configBytes, parseConfig(configBytes.toString('utf8'), settings.confFile));
  try {
    // One client comes and goes: client_eof 1, seen by a snapshot before the worker dies.
    await new Promise<void>((resolve, reject) => {
      const s = connect(listenPort, '127.0.0.1', () => s.end());
      s.on('close', () => resolve());
      s.on('error', reject);
    });
    let before = await pool.snapshot();
    for (let i = 0; i < 100 && before.pools[0]?.stats.client_eof !== 1; i++) {
      await new Promise((r) => setTimeout(r, 20));
      before = await pool.snapshot();
    }
    assert.equal(before.pools[0]?.stats.client_eof, 1);
    // The file changes (another pool name and port), then the worker dies.
    writeFileSync(settings.confFile, `other:\n  listen: 127.0.0.1:${await freePort()}\n  redis: true\n  servers:\n   - 127.0.0.1:2:1\n`);
    const [worker] = liveWorkers();
    assert.ok(worker);
    const pid = worker.process.pid;
    worker.process.kill('SIGKILL');
    let after = await pool.snapshot();
    for (let i = 0; i < 200; i++) {
      const replaced = liveWorkers().some((w) => w.process.pid !== pid);
      after = await pool.snapshot();
      if (replaced && after.pools.length > 0 && after.currConnections > 0) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.deepEqual(after.pools.map((p) => p.name), ['p']);
    assert.equal(after.pools[0]?.servers[0]?.name, '127.0.0.1:1');
    assert.equal(after.pools[0]?.stats.client_eof, 1, 'the dead worker\'s count stays in the sum');
    assert.equal(after.pools[0]?.stats.client_connections, 0);
    // And it listens where the primary's configuration says.
    await new Promise<void>((resolve, reject) => {
      const s = connect(listenPort, '127.0.0.1', () => {
        s.destroy();
        resolve();
      });
      s.on('error', reject);
    });
  } finally {
    await pool.close(0);
  }
});
