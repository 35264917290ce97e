// A log file (-o) or pid file (-p) that cannot be opened is reported with strerror's text, as
// twemproxy does ("opening log file '<path>' failed: Is a directory"), not Node's message (which
// used to come out for the codes missing from src/util/errno.ts's table: "failed: EISDIR:
// illegal operation on a directory, open '<path>'", the path said twice).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, nutcrackerBin } from '../../scripts/lib/processes.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'walnut-cli-errtext-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Result {
  code: number | null;
  stderr: string;
}

/** Runs a command to its exit (killed after 10 s: it started instead of failing). */
function run(command: string, args: string[]): Promise<Result> {
  const child = spawn(command, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stderr });
    }),
  );
}

/** The messages of a log text, without their `[timestamp] ` prefix and twemproxy's `file:line `. */
function messages(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.replace(/^\[[^\]]*\] /, '').replace(/^nc\w*\.c:\d+ /, ''));
}

async function conf(name: string): Promise<string> {
  const path = join(dir, name);
  writeFileSync(path, `alpha:\n  listen: 127.0.0.1:${await freePort()}\n  servers:\n    - 127.0.0.1:1:1\n`);
  return path;
}

describe('file errors are worded with strerror', () => {
  test('-o naming a directory: "Is a directory", as nutcracker says it', async () => {
    const logDir = join(dir, 'a-directory');
    mkdirSync(logDir);
    const file = await conf('o-dir.yml');
    const walnut = await run(process.execPath, [CLI, '-c', file, '-o', logDir]);
    const nutcracker = await run(nutcrackerBin, ['-c', file, '-o', logDir]);
    const want = `opening log file '${logDir}' failed: Is a directory\n`;
    assert.equal(nutcracker.stderr, want, 'nutcracker');
    assert.deepEqual(walnut, { code: 1, stderr: want });
  });

  test('-o through a regular file: "Not a directory"', async () => {
    const file = await conf('o-notdir.yml');
    const logPath = join(file, 'walnut.log');
    const walnut = await run(process.execPath, [CLI, '-c', file, '-o', logPath]);
    assert.deepEqual(walnut, { code: 1, stderr: `opening log file '${logPath}' failed: Not a directory\n` });
  });

  test('-p naming a directory: "Is a directory"', async () => {
    const pidDir = join(dir, 'pid-directory');
    mkdirSync(pidDir);
    const file = await conf('p-dir.yml');
    const walnut = await run(process.execPath, [CLI, '-c', file, '-p', pidDir, '-a', '127.0.0.1', '-s', String(await freePort())]);
    assert.equal(walnut.code, 1);
    assert.deepEqual(messages(walnut.stderr), [`opening pid file '${pidDir}' failed: Is a directory`, 'done, rabbit done']);
  });
});
