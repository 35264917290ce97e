// A listener's accept failures (EMFILE and the like, which libuv reports through the listening
// handle) are logged and the proxy goes on, from the moment the socket accepts: a unix socket
// accepts while Walnut is still publishing it at its path (staging name, mode, rename). And a
// crowd of clients that takes every descriptor does not end the process.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort, startRedis, startWalnut, type Running } from '../../scripts/lib/processes.js';
import { requestUntil } from './support/request-until.js';

let backend: Running;
const dir = mkdtempSync(join(tmpdir(), 'walnut-accept-'));

before(async () => {
  backend = await startRedis();
});

after(async () => {
  await backend?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('an accept failure while the unix socket is being published is logged, not fatal', async () => {
  const sock = join(dir, 'walnut.sock');
  // Deliberate fault injection: one loop turn after a unix socket starts listening, call its
  // accept callback with UV_EMFILE, as libuv does when accept(2) fails.
  const preload = join(dir, 'accept-emfile.cjs');
  writeFileSync(
    preload,
    `const net = require('node:net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const o = args[0];
  if (o !== null && typeof o === 'object' && typeof o.path === 'string') {
    this.once('listening', () => setImmediate(() => this._handle?.onconnection(-24)));
  }
  return listen.apply(this, args);
};
`,
  );
  const saved = process.env['NODE_OPTIONS'];
  process.env['NODE_OPTIONS'] = `--require ${preload}`;
  const yaml = `u:\n  listen: ${sock}\n  redis: true\n  servers:\n    - 127.0.0.1:${backend.port}:1\n`;
  const walnut = await startWalnut(yaml, { listenPorts: [], listenPaths: [sock] }).finally(() => {
    if (saved === undefined) delete process.env['NODE_OPTIONS'];
    else process.env['NODE_OPTIONS'] = saved;
  });
  try {
    assert.equal(await requestUntil(sock, '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n', '\r\n', 5_000), '+OK\r\n');
    assert.match(readFileSync(walnut.logPath, 'utf8'), /listener of pool u: accept EMFILE/);
  } finally {
    await walnut.stop();
  }
});

test('clients beyond the open-files limit do not end the process', async () => {
  // The heap trimmer reads the RSS from /proc each second; at the limit that open fails with
  // EMFILE, which ended the process (found by the leak review).
  const port = await freePort();
  const yaml = `t:\n  listen: 127.0.0.1:${port}\n  redis: true\n  servers:\n    - 127.0.0.1:${backend.port}:1\n`;
  const walnut = await startWalnut(yaml, { listenPorts: [port], fdLimit: 64 });
  const crowd: ReturnType<typeof createConnection>[] = [];
  try {
    for (let i = 0; i < 120; i++) {
      const c = createConnection(port, '127.0.0.1');
      c.on('error', () => undefined);
      crowd.push(c);
    }
    // Two of the trimmer's looks with every descriptor taken.
    await new Promise((r) => setTimeout(r, 2_500));
    const open = readdirSync(`/proc/${walnut.pid}/fd`).length;
    assert.ok(open >= 60, `Walnut holds ${open} of its 64 descriptors`);
    for (const c of crowd) c.destroy();
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await requestUntil(port, '*1\r\n$4\r\nPING\r\n', '\r\n', 5_000), '+PONG\r\n');
  } finally {
    for (const c of crowd) c.destroy();
    await walnut.stop();
  }
});
