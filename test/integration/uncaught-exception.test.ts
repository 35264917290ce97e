// The last line of defence in run mode: an exception nothing caught (a bug) is logged as
// "fatal: <stack>", the pid file is removed and Walnut exits 1, rather than dying silently or
// leaving a stale pid file. The exception is thrown by a preload (NODE_OPTIONS --require) when
// the test sends SIGUSR2, after Walnut has started.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { freePort, startWalnut } from '../../scripts/lib/processes.js';
import { logMessages, waitForLogMessage } from './support/log-file.js';

const dir = mkdtempSync(join(tmpdir(), 'walnut-uncaught-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('an uncaught exception: "fatal: <stack>" in the log, pid file removed, exit 1', async () => {
  const preload = join(dir, 'throw-on-usr2.cjs');
  writeFileSync(preload, "process.on('SIGUSR2', () => setImmediate(() => { throw new Error('walnut-test: boom'); }));\n");
  const pidFile = join(dir, 'walnut.pid');
  const port = await freePort();
  const yaml = `p:\n  listen: 127.0.0.1:${port}\n  redis: true\n  servers:\n    - 127.0.0.1:1:1\n`;
  const saved = process.env['NODE_OPTIONS'];
  process.env['NODE_OPTIONS'] = `--require ${preload}`;
  const walnut = await startWalnut(yaml, { listenPorts: [port], args: ['-p', pidFile] }).finally(() => {
    if (saved === undefined) delete process.env['NODE_OPTIONS'];
    else process.env['NODE_OPTIONS'] = saved;
  });
  try {
    assert.equal(readFileSync(pidFile, 'utf8'), String(walnut.pid));
    walnut.kill('SIGUSR2');
    assert.equal(await walnut.exited, 1);
    await waitForLogMessage(walnut.logPath, 'signal 12 (SIGUSR2) received');
    const fatal = logMessages(walnut.logPath).filter((m) => m.startsWith('fatal: '));
    assert.deepEqual(fatal, ['fatal: Error: walnut-test: boom'], 'one fatal line: the stack, its first line here');
    assert.match(readFileSync(walnut.logPath, 'utf8'), /fatal: Error: walnut-test: boom\n\s+at /, 'the stack follows');
    assert.equal(existsSync(pidFile), false, 'pid file removed');
  } finally {
    await walnut.stop();
  }
});
