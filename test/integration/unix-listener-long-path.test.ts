// A unix socket listener whose path is too long for any staging name (neither
// `<path>.<pid>.binding` nor a short name in its directory fits in sockaddr_un's 108 bytes):
// Walnut binds at the path itself, as twemproxy does, replacing a stale file there, then applies
// the mode. The socket serves requests and is removed at exit.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startRedis, startWalnut, type Running, type RunningProxy } from '../../scripts/lib/processes.js';
import { stagingPath } from '../../src/proxy/unix-socket.js';
import { requestUntil } from './support/request-until.js';

/**
 * A path of exactly `length` bytes ending in a 4-byte file name, in a fresh directory (`dir`,
 * removed after) whose subdirectory's name pads it out: the directory is what makes it long.
 */
function socketPathOfLength(prefix: string, length: number): { dir: string; path: string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const sub = join(dir, 'd'.repeat(length - dir.length - 2 - 4));
  assert.ok(sub.length > dir.length + 1, `${dir} leaves no room for a ${length}-byte path`);
  mkdirSync(sub);
  return { dir, path: join(sub, 'ssss') };
}

describe('a unix listener path too long for a staging name (100 bytes)', () => {
  const { dir, path } = socketPathOfLength('walnut-long-unix-', 100);
  let redis: Running;
  let walnut: RunningProxy;

  before(async () => {
    assert.equal(Buffer.byteLength(path), 100);
    assert.equal(stagingPath(path, 4_000_000), null, 'no staging name fits');
    redis = await startRedis();
    // A stale regular file where the socket goes.
    writeFileSync(path, 'left over from an earlier run');
    const yaml = `long:\n  listen: ${path} 0600\n  redis: true\n  servers:\n    - 127.0.0.1:${redis.port}:1\n`;
    walnut = await startWalnut(yaml, { listenPorts: [], listenPaths: [path] });
    // Bound at the path itself, the socket is there (with the umask's mode) a moment before
    // its mode is set: startWalnut returns as soon as it is there.
    for (let i = 0; i < 200 && (statSync(path).mode & 0o777) !== 0o600; i++) await new Promise((r) => setTimeout(r, 10));
  });

  after(async () => {
    await walnut.stop();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the stale file is replaced by the socket, with exactly the mode asked for', () => {
    const st = statSync(path);
    assert.ok(st.isSocket(), 'a socket at the path');
    assert.equal(st.mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dirname(path)), ['ssss'], 'nothing else in the directory');
  });

  test('requests over the socket reach the server', async () => {
    const set = '*3\r\n$3\r\nSET\r\n$7\r\nlong:k1\r\n$2\r\nv1\r\n';
    const get = '*2\r\n$3\r\nGET\r\n$7\r\nlong:k1\r\n';
    assert.equal(await requestUntil(path, set + get, '$2\r\nv1\r\n', 5_000), '+OK\r\n$2\r\nv1\r\n');
  });

  test('SIGTERM: exit 0, and the socket is removed', async () => {
    walnut.kill('SIGTERM');
    assert.equal(await walnut.exited, 0);
    assert.deepEqual(readdirSync(dirname(path)), []);
  });
});
