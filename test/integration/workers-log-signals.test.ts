// --workers 2: the primary passes the log signals on to its workers. SIGTTIN and SIGTTOU change
// the level the workers log at, and SIGHUP makes them reopen the log file (log rotation), like
// the primary itself (cli.test.ts checks the primary alone). What a worker logs is observed
// through an info-level message (level 6): a client that closes with an incomplete request.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  freePort,
  startRedis,
  startWalnut,
  WALNUT_NODE_FLAGS,
  walnutCli,
  type Running,
  type RunningProxy,
} from '../../scripts/lib/processes.js';
import { WORKER_ENV } from '../../src/cluster/messages.js';
import { logMessages, waitForLogMessage } from './support/log-file.js';
import { startOnePoolWalnut, workerPids } from './support/workers.js';

/** The start of a GET: 15 bytes, never a whole request. */
const INCOMPLETE = '*2\r\n$3\r\nGET\r\n$1';

/**
 * A client that sends an incomplete request and half-closes; resolves with its local port once
 * Walnut has closed the connection (after logging about it, when its level allows).
 */
function incompleteClient(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let localPort = 0;
    const s = connect(port, '127.0.0.1', () => {
      localPort = s.localPort ?? 0;
      s.end(INCOMPLETE);
    });
    s.resume();
    s.on('error', reject);
    s.on('close', () => resolve(localPort));
  });
}

/** Clients so many that, with two workers taking turns at accepting, both serve some. */
const CLIENTS = 12;

async function incompleteClients(port: number): Promise<string[]> {
  const lines: string[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    lines.push(`eof c 127.0.0.1:${await incompleteClient(port)} discarding incomplete req len ${INCOMPLETE.length}`);
  }
  return lines;
}

describe('--workers 2: SIGTTIN, SIGTTOU and SIGHUP reach the workers', () => {
  let backend: Running;
  let walnut: RunningProxy;
  let port: number;

  before(async () => {
    backend = await startRedis();
    ({ walnut, port } = await startOnePoolWalnut(backend, ['--workers', '2']));
    // The port accepts once one worker listens; the stats name the pool once every worker has
    // started (before, a stats reading does not wait for the workers: see workersCaughtUp).
    for (let i = 0; i < 200 && !('w' in ((await walnut.stats()) as object)); i++) await new Promise((r) => setTimeout(r, 25));
  });

  after(async () => {
    await walnut.stop();
    await backend.stop();
  });

  /**
   * Every message the primary sent its workers before this call has been handled: a stats
   * reading waits for each worker's answer, sent over the same ordered channel.
   */
  const workersCaughtUp = async (): Promise<void> => {
    await walnut.stats();
  };

  test('SIGTTIN raises the workers\' level to info, SIGTTOU lowers it again', async () => {
    const quiet = await incompleteClients(port);
    for (const line of quiet) assert.ok(!logMessages(walnut.logPath).includes(line), `not at level 5: ${line}`);

    walnut.kill('SIGTTIN');
    await waitForLogMessage(walnut.logPath, 'up log level to 6');
    await workersCaughtUp();
    const loud = await incompleteClients(port);
    const messages = logMessages(walnut.logPath);
    for (const line of loud) assert.ok(messages.includes(line), `logged at level 6: ${line}`);

    walnut.kill('SIGTTOU');
    await waitForLogMessage(walnut.logPath, 'down log level to 5');
    await workersCaughtUp();
    const quietAgain = await incompleteClients(port);
    const after = logMessages(walnut.logPath);
    for (const line of quietAgain) assert.ok(!after.includes(line), `not at level 5 again: ${line}`);
  });

  test('SIGHUP: after the log file is renamed, the workers write to a new file at the path', async () => {
    const ups = logMessages(walnut.logPath).filter((m) => m === 'up log level to 6').length;
    walnut.kill('SIGTTIN');
    await waitForLogMessage(walnut.logPath, 'up log level to 6', ups + 1);
    await workersCaughtUp();
    const rotated = `${walnut.logPath}.1`;
    renameSync(walnut.logPath, rotated);
    walnut.kill('SIGHUP');
    await waitForLogMessage(rotated, 'signal 1 (SIGHUP) received, reopening log file');
    await workersCaughtUp();

    const lines = await incompleteClients(port);
    const fresh = logMessages(walnut.logPath);
    const old = logMessages(rotated);
    for (const line of lines) {
      assert.ok(fresh.includes(line), `in the new file: ${line}`);
      assert.ok(!old.includes(line), `not in the rotated file: ${line}`);
    }
  });

  test('a replacement worker logs at the level set since the start (6 here), not the starting one', async () => {
    const workers = (): number[] => workerPids(walnut.pid);
    const [victim] = workers();
    assert.ok(victim !== undefined);
    process.kill(victim, 'SIGKILL');
    for (let i = 0; i < 200 && (workers().includes(victim) || workers().length < 2); i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(workers().filter((p) => p !== victim).length, 2, 'replaced');
    // Both workers serve by now once the replacement has answered a stats reading.
    await workersCaughtUp();
    const lines = await incompleteClients(port);
    const messages = logMessages(walnut.logPath);
    for (const line of lines) assert.ok(messages.includes(line), `logged at level 6: ${line}`);
  });
});

describe('--workers 2: a log signal while the workers are still starting', () => {
  let backend: Running;
  let walnut: RunningProxy | null = null;
  const dir = mkdtempSync(join(tmpdir(), 'walnut-slow-worker-'));

  before(async () => {
    backend = await startRedis();
  });

  after(async () => {
    await walnut?.stop();
    await backend.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('SIGTTIN reaches both workers: the one already serving and the one still starting', async () => {
    const port = await freePort();
    // The first worker starts at once; the second sleeps 3 s before it runs any of Walnut's
    // code, so Walnut is still starting (its port already served) when the signal comes.
    const marker = join(dir, 'first');
    const preload = join(dir, 'slow-second-worker.cjs');
    writeFileSync(
      preload,
      `if (process.env.${WORKER_ENV} !== undefined) { try { require('fs').writeFileSync(${JSON.stringify(marker)}, '', { flag: 'wx' }); } catch { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3000); } }\n`,
    );
    const saved = process.env['NODE_OPTIONS'];
    process.env['NODE_OPTIONS'] = `--require ${preload}`;
    try {
      const yaml = `w:\n  listen: 127.0.0.1:${port}\n  redis: true\n  servers:\n    - 127.0.0.1:${backend.port}:1\n`;
      walnut = await startWalnut(yaml, { listenPorts: [port], args: ['--workers', '2'] });
    } finally {
      if (saved === undefined) delete process.env['NODE_OPTIONS'];
      else process.env['NODE_OPTIONS'] = saved;
    }
    const w = walnut;
    // Still starting: a stats reading waits for the start (the document has the pools).
    const reading = w.stats().then(
      () => true,
      () => true,
    );
    assert.equal(await Promise.race([reading, new Promise<false>((r) => setTimeout(() => r(false), 300))]), false, 'still starting');
    w.kill('SIGTTIN');
    await waitForLogMessage(w.logPath, 'up log level to 6');
    for (let i = 0; i < 400 && !('w' in ((await w.stats()) as object)); i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal('w' in ((await w.stats()) as object), true, 'started');
    const lines = await incompleteClients(port);
    const messages = logMessages(w.logPath);
    for (const line of lines) assert.ok(messages.includes(line), `logged at level 6: ${line}`);
  });
});

describe('--workers 2 in a job of a shell: SIGTTIN / SIGTTOU sent to the whole process group', () => {
  // startWalnut starts a session of its own, whose process group the kernel takes as orphaned:
  // there SIGTTIN and SIGTTOU do not stop a process that leaves them at their default. In a
  // job of a shell with job control (`walnut --workers 2 &`, or `set -m` as here) they do, so
  // `kill -TTIN -- -<pgid>` or a `pkill -TTIN` that also matched the workers (twemproxy's way of
  // raising the log level, meant for the primary) stopped every worker: the primary, which
  // handles the signal, went on, and every client waited for ever.
  let backend: Running;
  let shell: ChildProcess | null = null;
  let primary = 0;
  const dir = mkdtempSync(join(tmpdir(), 'walnut-job-'));
  const logPath = join(dir, 'walnut.log');

  before(async () => {
    backend = await startRedis();
  });

  after(async () => {
    for (const pid of primary === 0 ? [] : [primary, ...workerPids(primary)]) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // gone
      }
    }
    if (primary !== 0) {
      try {
        process.kill(primary, 'SIGTERM');
      } catch {
        // gone
      }
    }
    if (shell !== null && shell.exitCode === null) await new Promise((resolve) => shell!.once('exit', resolve));
    await backend.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the workers ignore them (the primary passes the level on) and go on serving', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const statsPort = await freePort();
    const conf = join(dir, 'walnut.yml');
    writeFileSync(conf, `w:\n  listen: 127.0.0.1:${port}\n  redis: true\n  servers:\n    - 127.0.0.1:${backend.port}:1\n`);
    const pidFile = join(dir, 'primary.pid');
    // bash with job control puts the background job in a process group of its own, whose parent
    // (bash) is in another group of the same session: a group that is not orphaned.
    const args = [...WALNUT_NODE_FLAGS, walnutCli, '-c', conf, '-s', String(statsPort), '-o', logPath, '--workers', '2'];
    shell = spawn('bash', ['-c', 'set -m; "$@" & echo $! > "$PIDFILE"; wait', 'bash', process.execPath, ...args], {
      detached: true,
      stdio: 'ignore',
      env: { ...process.env, PIDFILE: pidFile },
    });
    for (let i = 0; i < 400 && workerPids(primary).length < 2; i++) {
      await new Promise((r) => setTimeout(r, 25));
      try {
        primary = Number(readFileSync(pidFile, 'latin1').trim());
      } catch {
        // not written yet
      }
    }
    assert.ok(primary > 0 && workerPids(primary).length === 2, 'started with two workers');
    // A worker takes its signals once it has set its handlers: SIGHUP and SIGUSR2 are set just
    // before SIGTTIN and SIGTTOU, and Node catches neither by itself (SigCgt: bit n-1 of signal n).
    const handlesItsSignals = (pid: number): boolean => {
      const status = readFileSync(`/proc/${pid}/status`, 'latin1');
      const caught = BigInt(`0x${/^SigCgt:\s*([0-9a-f]+)$/m.exec(status)![1]!}`);
      return (caught & (1n << 0n)) !== 0n && (caught & (1n << 11n)) !== 0n;
    };
    const ready = (): boolean => workerPids(primary).every(handlesItsSignals);
    for (let i = 0; i < 400 && !ready(); i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(ready(), 'both workers handle their signals');

    process.kill(-primary, 'SIGTTIN');
    await waitForLogMessage(logPath, 'up log level to 6');
    process.kill(-primary, 'SIGTTOU');
    await waitForLogMessage(logPath, 'down log level to 5');

    // With both workers stopped, no connection would be answered.
    for (let i = 0; i < CLIENTS; i++) {
      const reply = await new Promise<string>((resolve, reject) => {
        const s = connect(port, '127.0.0.1', () => s.write('PING\r\n'));
        let got = '';
        s.on('data', (d: Buffer) => {
          got += d.toString('latin1');
          if (got.endsWith('\r\n')) {
            s.destroy();
            resolve(got);
          }
        });
        s.on('error', reject);
      });
      assert.equal(reply, '+PONG\r\n');
    }
  });
});
