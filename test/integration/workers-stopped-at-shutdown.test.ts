// --workers 2: SIGTERM while a worker is stopped (SIGSTOP) or stuck. The primary kills it
// STOP_WAIT_MS past the grace period and exits 0; the log says which worker was killed (it used
// to be killed without a word, its clients' lost replies nowhere in the log). A worker stuck
// before it was ready used to hold the start, and with it the SIGTERM, for ever.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startRedis, type Running, type RunningProxy } from '../../scripts/lib/processes.js';
import { SHUTDOWN_GRACE_MS } from '../../src/cli/run.js';
import { WORKER_ENV } from '../../src/cluster/messages.js';
import { STOP_WAIT_MS } from '../../src/cluster/worker-pool.js';
import { logMessages } from './support/log-file.js';
import { startOnePoolWalnut, workerPids } from './support/workers.js';

/** SIGSTOP, returning once every thread of the process is stopped (state 'T'). */
async function stop(pid: number): Promise<void> {
  process.kill(pid, 'SIGSTOP');
  const stopped = (): boolean =>
    readdirSync(`/proc/${pid}/task`).every((tid) => {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'T';
    });
  for (let i = 0; !stopped(); i++) {
    assert.ok(i < 500, 'the worker stops');
    await new Promise((r) => setTimeout(r, 5));
  }
}

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
    await stop(stuck);
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
  const preload = join(dir, 'stuck-preload.cjs');

  before(async () => {
    // The first worker to load takes the marker and blocks for good; the other starts.
    writeFileSync(
      preload,
      `if (process.env.${WORKER_ENV} !== undefined) { try { require('fs').writeFileSync(${JSON.stringify(marker)}, String(process.pid), { flag: 'wx' }); Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); } catch {} }\n`,
    );
    const saved = process.env['NODE_OPTIONS'];
    process.env['NODE_OPTIONS'] = `--require ${preload}`;
    try {
      // Ready as soon as one worker serves the port.
      ({ walnut } = await startOnePoolWalnut(backend, ['--workers', '2', '-p', pidFile]));
    } finally {
      if (saved === undefined) delete process.env['NODE_OPTIONS'];
      else process.env['NODE_OPTIONS'] = saved;
    }
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
  const preload = join(dir, 'slow-preload.cjs');

  before(async () => {
    writeFileSync(
      preload,
      `if (process.env.${WORKER_ENV} !== undefined) { try { require('fs').writeFileSync(${JSON.stringify(marker)}, String(process.pid), { flag: 'wx' }); Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500); } catch {} }\n`,
    );
    const saved = process.env['NODE_OPTIONS'];
    process.env['NODE_OPTIONS'] = `--require ${preload}`;
    try {
      ({ walnut } = await startOnePoolWalnut(backend, ['--workers', '2', '-p', pidFile]));
    } finally {
      if (saved === undefined) delete process.env['NODE_OPTIONS'];
      else process.env['NODE_OPTIONS'] = saved;
    }
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
