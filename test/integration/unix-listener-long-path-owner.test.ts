// A unix listener whose path is too long for `<path>.<pid>.binding` is staged under a short name
// in the same directory. Node (libuv's uv__pipe_close) unlinks a listening socket's bound name,
// by name, when the listener closes: a listener bound at the path itself removed, as it left,
// the socket of an instance that had taken the path over since (which kept running,
// unreachable). connections.test.ts checks the same sequence with a shorter path.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { startWalnut, type RunningProxy } from '../../scripts/lib/processes.js';
import { requestUntil } from './support/request-until.js';

describe('a unix listener path too long for a staging name beside it is removed only by its owner', () => {
  const dir = mkdtempSync(join(tmpdir(), 'walnut-long-owner-'));
  // 100 bytes: `<path>.<pid>.binding` does not fit in sockaddr_un's 108.
  const sock = join(dir, 'o'.repeat(100 - dir.length - 1));
  const yaml = `o:\n  listen: ${sock} 0640\n  redis: true\n  servers:\n    - 127.0.0.1:1:1\n`;
  const running: RunningProxy[] = [];

  after(async () => {
    await Promise.all(running.map((w) => w.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  test('a second instance takes the path over; the first one leaving does not remove it', async () => {
    assert.equal(Buffer.byteLength(sock), 100);
    const first = await startWalnut(yaml, { listenPorts: [], listenPaths: [sock] });
    running.push(first);
    const firstInode = statSync(sock).ino;

    const second = await startWalnut(yaml, { listenPorts: [], listenPaths: [sock] });
    running.push(second);
    for (let i = 0; i < 100 && statSync(sock).ino === firstInode; i++) await new Promise((r) => setTimeout(r, 50));
    assert.notEqual(statSync(sock).ino, firstInode, 'the path now names the second socket');
    first.kill('SIGTERM');
    assert.equal(await first.exited, 0);
    assert.equal(existsSync(sock), true, "the second instance's socket is still at the path");
    assert.equal(await requestUntil(sock, '*1\r\n$4\r\nPING\r\n', '\r\n', 5_000), '+PONG\r\n');

    second.kill('SIGTERM');
    assert.equal(await second.exited, 0);
    assert.equal(existsSync(sock), false, 'the owner removes its socket at exit');
  });
});
