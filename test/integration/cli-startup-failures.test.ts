// Run-mode startup failures of the real executable that cli.test.ts leaves out: a pid file that
// cannot be created (-p), a --limit-client-memory too small to share among the workers, and a
// stats address (-a) that is an IPv6 literal, which the message must bracket to be readable.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../scripts/lib/processes.js';
import { withTakenPort } from './support/taken-port.js';

/** The CLI compiled next to this test (<out>/test/integration → <out>/src/cli.js). */
const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

const dir = mkdtempSync(join(tmpdir(), 'walnut-cli-startup-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to its exit; one that is still running after 10 s (it started) is killed. */
function run(args: string[]): Promise<Result> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    }),
  );
}

/** The messages of a log text, without their `[timestamp] ` prefix. */
function messages(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.replace(/^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] /, ''));
}

async function writeConf(name: string): Promise<{ conf: string; listenPort: number }> {
  const listenPort = await freePort();
  const conf = join(dir, name);
  writeFileSync(conf, `alpha:\n  listen: 127.0.0.1:${listenPort}\n  servers:\n    - 127.0.0.1:1:1\n`);
  return { conf, listenPort };
}

/** Whether something accepts connections on 127.0.0.1:port right now. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(true));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(false)));
  });
}

describe('a pid file that cannot be created', () => {
  test('with -o: the reason in the log and on stderr, exit 1, no pool listening', async () => {
    const { conf, listenPort } = await writeConf('pid-log.yml');
    const pidPath = join(dir, 'no-such-dir', 'walnut.pid');
    const logPath = join(dir, 'pid-log.log');
    const r = await run(['-c', conf, '-p', pidPath, '-o', logPath, '-a', '127.0.0.1', '-s', String(await freePort())]);
    const reason = `opening pid file '${pidPath}' failed: No such file or directory`;
    assert.deepEqual(r, { code: 1, stdout: '', stderr: `walnut: ${reason}\n` });
    // Checked before anything else is done: not even the start line is logged, only the last
    // line every exit logs, as nutcracker logs it after this failure too.
    assert.deepEqual(messages(readFileSync(logPath, 'utf8')), [reason, 'done, rabbit done']);
    assert.equal(await listening(listenPort), false);
  });

  test('without -o: the log is stderr, and the reason is written once', async () => {
    const { conf } = await writeConf('pid-stderr.yml');
    const pidPath = join(dir, 'no-such-dir', 'walnut.pid');
    const r = await run(['-c', conf, '-p', pidPath, '-a', '127.0.0.1', '-s', String(await freePort())]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.deepEqual(messages(r.stderr), [`opening pid file '${pidPath}' failed: No such file or directory`, 'done, rabbit done']);
  });
});

test('--limit-client-memory too small for its --workers: the reason in the log and on stderr, exit 1, no pool listening', async () => {
  const { conf, listenPort } = await writeConf('share.yml');
  const logPath = join(dir, 'share.log');
  const r = await run(['-c', conf, '-o', logPath, '--workers=4', '--limit-client-memory=1mb', '-a', '127.0.0.1', '-s', String(await freePort())]);
  const reason = '--limit-client-memory 1048576 shared by 4 workers is 262144 bytes each, below the least limit, 1mb';
  assert.deepEqual(r, { code: 1, stdout: '', stderr: `walnut: ${reason}\n` });
  assert.ok(messages(readFileSync(logPath, 'utf8')).includes(reason));
  assert.equal(await listening(listenPort), false);
});

describe('a stats address that is an IPv6 literal', () => {
  test('a port that cannot be bound is named "[::1]:<port>"', async (t) => {
    const blocker: Server = createServer();
    const bound = await new Promise<boolean>((resolve) => {
      blocker.once('error', () => resolve(false));
      blocker.listen(0, '::1', () => resolve(true));
    });
    if (!bound) {
      t.skip('no IPv6 loopback (::1) on this machine');
      return;
    }
    try {
      const address = blocker.address();
      assert.ok(address !== null && typeof address === 'object');
      const { conf } = await writeConf('stats-v6.yml');
      const r = await run(['-c', conf, '-a', '::1', '-s', String(address.port)]);
      assert.equal(r.code, 1);
      // Without -o the log is stderr.
      assert.ok(
        messages(r.stderr).includes(`stats server: cannot listen on '[::1]:${address.port}': Address already in use`),
        r.stderr,
      );
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });
});

describe('-v 0, where the log shows no errors', () => {
  // An operator who quiets the log with -v 0 must still be told why Walnut did not start: the
  // reason went only to the log, which drops errors at that level, so stderr said nothing
  // (or only the start and `done, rabbit done` lines) before exit 1.
  test('a pool that cannot bind: the reason on stderr', () =>
    withTakenPort(async (port) => {
      const conf = join(dir, 'v0-bind.yml');
      writeFileSync(conf, `quiet_pool:\n  listen: 127.0.0.1:${port}\n  servers:\n    - 127.0.0.1:1:1\n`);
      const r = await run(['-v', '0', '-c', conf, '-a', '127.0.0.1', '-s', String(await freePort())]);
      assert.equal(r.code, 1);
      assert.ok(
        r.stderr.includes(`walnut: pool 'quiet_pool': cannot listen on '127.0.0.1:${port}': Address already in use\n`),
        r.stderr,
      );
    }));

  test('a pid file that cannot be created: the reason on stderr', async () => {
    const { conf } = await writeConf('v0-pid.yml');
    const pidPath = join(dir, 'no-such-dir', 'walnut.pid');
    const r = await run(['-v', '0', '-c', conf, '-p', pidPath, '-a', '127.0.0.1', '-s', String(await freePort())]);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(`walnut: opening pid file '${pidPath}' failed: No such file or directory\n`), r.stderr);
  });
});

test('a pid file naming a running instance, and a start that fails (its port is taken): the file names that instance again', async () => {
  // A second `walnut -p` started by mistake next to the running one (same pool port) wrote its
  // pid over the running one's, failed to bind, and removed the file: the running instance was
  // left without one, so `kill -HUP $(cat …)` at the next log rotation failed (nutcracker does
  // the same). This test process stands for the running instance.
  await withTakenPort(async (port) => {
    const conf = join(dir, 'second.yml');
    writeFileSync(conf, `alpha:\n  listen: 127.0.0.1:${port}\n  servers:\n    - 127.0.0.1:1:1\n`);
    const pidPath = join(dir, 'running.pid');
    writeFileSync(pidPath, String(process.pid));
    const r = await run(['-c', conf, '-p', pidPath, '-a', '127.0.0.1', '-s', String(await freePort())]);
    assert.equal(r.code, 1);
    assert.equal(readFileSync(pidPath, 'latin1'), String(process.pid));
  });
});
