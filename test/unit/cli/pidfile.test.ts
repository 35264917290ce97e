// The pid file: decimal pid without newline, truncating an older file, quiet removal of our own.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { after, test } from 'node:test';
import { readPid, removePidFile, writePidFile } from '../../../src/cli/pidfile.js';

const dir = mkdtempSync(join(tmpdir(), 'walnut-pidfile-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('writes the decimal pid with no newline, rw for the owner, no execute bits', () => {
  const path = join(dir, 'a.pid');
  writePidFile(path, 4242);
  assert.equal(readFileSync(path, 'latin1'), '4242');
  const mode = statSync(path).mode & 0o777;
  assert.equal(mode & 0o600, 0o600);
  assert.equal(mode & 0o111, 0);
  assert.equal(mode & 0o022, 0);
});

test('defaults to this process id', () => {
  const path = join(dir, 'self.pid');
  writePidFile(path);
  assert.equal(readFileSync(path, 'latin1'), String(process.pid));
});

test('truncates a longer existing file', () => {
  const path = join(dir, 'b.pid');
  writeFileSync(path, '1234567890\n');
  writePidFile(path, 7);
  assert.equal(readFileSync(path, 'latin1'), '7');
});

test('throws the fs error when the file cannot be created', () => {
  assert.throws(() => writePidFile(join(dir, 'missing', 'c.pid'), 1), { code: 'ENOENT' });
});

test('removePidFile removes, and ignores a file that is not there', () => {
  const path = join(dir, 'd.pid');
  writePidFile(path, 1);
  removePidFile(path, 1);
  assert.equal(existsSync(path), false);
  assert.doesNotThrow(() => removePidFile(path, 1));
});

test('removePidFile leaves a file that another process has written its pid to since', () => {
  const path = join(dir, 'e.pid');
  writePidFile(path, 1);
  writePidFile(path, 2);
  removePidFile(path, 1);
  assert.equal(readFileSync(path, 'latin1'), '2');
});

test('removePidFile defaults to this process id', () => {
  const path = join(dir, 'f.pid');
  writePidFile(path);
  removePidFile(path);
  assert.equal(existsSync(path), false);
});

test('removePidFile puts back the pid the file held before, while that process runs', () => {
  const path = join(dir, 'g.pid');
  // Our pid stands at 4242 here; this test process is the one that was running before.
  writePidFile(path, 4242);
  removePidFile(path, 4242, process.pid);
  assert.equal(readFileSync(path, 'latin1'), String(process.pid));
});

test('removePidFile removes the file when the process it held before has gone', () => {
  const path = join(dir, 'h.pid');
  const gone = spawnSync(process.execPath, ['-e', '']).pid;
  assert.ok(gone !== undefined);
  writePidFile(path, 4242);
  removePidFile(path, 4242, gone);
  assert.equal(existsSync(path), false);
});

test('readPid: the decimal pid a file holds, else null', () => {
  const path = join(dir, 'i.pid');
  writeFileSync(path, '123');
  assert.equal(readPid(path), 123);
  writeFileSync(path, '12 3');
  assert.equal(readPid(path), null);
  assert.equal(readPid(join(dir, 'missing.pid')), null);
});
