// --workers 2: SIGTERM while a worker is stopped (SIGSTOP) or stuck. The primary kills it
// STOP_WAIT_MS past the grace period and exits 0; the log says which worker was killed (it used
// to be killed without a word, its clients' lost replies nowhere in the log). A worker stuck
// before it was ready used to hold the start, and with it the SIGTERM, for ever.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startRedis, type Running, type RunningProxy } from '../../scripts/lib/processes.js';
import { SHUTDOWN_GRACE_MS } from '../../src/cli/run.js';
import { STOP_WAIT_MS } from '../../src/cluster/worker-pool.js';
import { logMessages } from './support/log-file.js';
import { startOnePoolWalnut, stopProcess, withWorkerPreload, workerPids } from './support/workers.js';

const dir = mkdtempSync(join(tmpdir(), 'walnut-stopped-at-shutdown-'));
const pidFile = join(dir, 'walnut.pid');
let backend: Running;

before(async () => {
  backend = await startRedis();
});

after(async () => {
  await backend.stop();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Preload code: the first worker to load takes `marker` (writes its pid there) and blocks for
 * `ms` (for good without), before it can listen; the others go on.
 */
function firstWorkerWaits(marker: string, ms?: number): string {
  const wait = `Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0${ms === undefined ? '' : `, ${ms}`});`;
  return `try { require('fs').writeFileSync(${JSON.stringify(marker)}, String(process.pid), { flag: 'wx' }); ${wait} } catch {}`;
}

/** The kill's line in the log. */
function killedLine(pid: number): string {
  return `worker ${pid} has not stopped ${SHUTDOWN_GRACE_MS + STOP_WAIT_MS} ms after the shutdown began, killing it`;
}

describe('--workers 2, both ready, one stopped (SIGSTOP)', () => {
  let walnut: RunningProxy;

  before(async () => {
    ({ walnut } = await startOnePoolWalnut(backend, ['--workers', '2', '-p', pidFile]));
    // Both workers ready: the stats port reports their listeners (before that, none).
    for (let i = 0; ; i++) {
      const stats = (await walnut.stats()) as { curr_connections: number };
      if (stats.curr_connections === 2) break;
      assert.ok(i < 200, 'both workers start');
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  after(() => walnut.stop());

  test('a stopped worker is killed after the grace period, the log says so, and Walnut exits 0', { timeout: 30_000 }, async () => {
    const workers = workerPids(walnut.pid);
    assert.equal(workers.length, 2);
    const [stuck, other] = workers as [number, number];
    await stopProcess(stuck);
    const began = Date.now();
    walnut.kill('SIGTERM');
    assert.equal(await walnut.exited, 0);
    const took = Date.now() - began;
    assert.ok(took >= SHUTDOWN_GRACE_MS + STOP_WAIT_MS - 100, `exited after ${took} ms`);
    assert.equal(existsSync(pidFile), false);
    for (const pid of workers) assert.throws(() => process.kill(pid, 0), `worker ${pid} is gone`);
    const lines = logMessages(walnut.logPath);
    assert.ok(lines.includes(killedLine(stuck)), lines.join('\n'));
    assert.ok(!lines.some((l) => l.startsWith(`worker ${other} `)), 'the worker that stopped in time is not named');
  });
});

describe('--workers 2, one worker stuck while loading (never ready)', () => {
  let walnut: RunningProxy;
  const marker = join(dir, 'stuck');

  before(async () => {
    // One worker blocks for good; the other starts. Ready as soon as one worker serves the port.
    ({ walnut } = await withWorkerPreload(
      dir,
      firstWorkerWaits(marker),
      () => startOnePoolWalnut(backend, ['--workers', '2', '-p', pidFile]),
    ));
  });

  after(() => walnut.stop());

  test('SIGTERM ends the start: the stuck worker is killed after the grace period, Walnut exits 0', { timeout: 30_000 }, async () => {
    for (let i = 0; !existsSync(marker); i++) {
      assert.ok(i < 200, 'a worker is stuck');
      await new Promise((r) => setTimeout(r, 50));
    }
    const stuck = Number(readFileSync(marker, 'utf8'));
    const workers = workerPids(walnut.pid);
    assert.ok(workers.includes(stuck));
    walnut.kill('SIGTERM');
    const code = await Promise.race([walnut.exited, new Promise((r) => setTimeout(() => r('still running'), 15_000))]);
    assert.equal(code, 0);
    assert.equal(existsSync(pidFile), false);
    for (const pid of workers) assert.throws(() => process.kill(pid, 0), `worker ${pid} is gone`);
    const lines = logMessages(walnut.logPath);
    assert.ok(lines.includes(killedLine(stuck)), lines.join('\n'));
    assert.ok(!lines.some((l) => /exited during startup|cannot start/.test(l)), `no start failure: ${lines.join('\n')}`);
  });
});

describe('--workers 2, one worker slow to load (1.5 s)', () => {
  let walnut: RunningProxy;
  const marker = join(dir, 'slow');

  before(async () => {
    ({ walnut } = await withWorkerPreload(
      dir,
      firstWorkerWaits(marker, 1500),
      () => startOnePoolWalnut(backend, ['--workers', '2', '-p', pidFile]),
    ));
  });

  after(() => walnut.stop());

  test('SIGTERM before it is ready: it gets the shutdown when it listens, and Walnut exits 0, not as a failed start', async () => {
    walnut.kill('SIGTERM');
    assert.equal(await walnut.exited, 0);
    assert.equal(existsSync(pidFile), false);
    const lines = logMessages(walnut.logPath);
    assert.ok(!lines.some((l) => /exited during startup|killing it/.test(l)), lines.join('\n'));
  });
});
