// A listener's accept failures (EMFILE and the like, which libuv reports through the listening
// handle) are logged and the proxy goes on, from the moment the socket accepts: a unix socket
// accepts while Walnut is still publishing it at its path (staging name, mode, rename). And a
// crowd of clients that takes every descriptor does not end the process, nor takes the
// descriptors server connections and the stats port need.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort, startRedis, startWalnut, type Running } from '../../scripts/lib/processes.js';
import { requestUntil } from './support/request-until.js';
import { poolStat, serverStat, type Stats } from './support/stats.js';

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
  // EMFILE, which ended the process (found by the leak review). server_connections: 64 leaves
  // no room under the limit for clients, so no client limit is derived from it (fd-limit.ts)
  // and the crowd can take every descriptor.
  const port = await freePort();
  const yaml = `t:\n  listen: 127.0.0.1:${port}\n  redis: true\n  server_connections: 64\n  servers:\n    - 127.0.0.1:${backend.port}:1\n`;
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

test('a crowd beyond the open-files limit leaves room for server connections and the stats port', async () => {
  // The crowd took every descriptor, so no server connection could be opened: every client
  // accepted got -ERR Too many open files, none was served, a healthy server counted the
  // failures (ejected, with auto_eject_hosts) and the stats port closed its readers without a
  // document (found by the resource-exhaustion campaign). As twemproxy does, Walnut now takes no
  // more clients than leave room for the server connections the configuration allows.
  const port = await freePort();
  const yaml =
    `t:\n  listen: 127.0.0.1:${port}\n  redis: true\n  auto_eject_hosts: true\n  server_failure_limit: 1\n` +
    `  servers:\n    - 127.0.0.1:${backend.port}:1 s\n`;
  const walnut = await startWalnut(yaml, { listenPorts: [port], fdLimit: 64 });
  const crowd: Socket[] = [];
  const get = '*2\r\n$3\r\nGET\r\n$16\r\nfd-crowd-missing\r\n';
  try {
    // Each client's first reply line, or 'closed' for one closed without a reply.
    const outcomes = await Promise.all(
      Array.from(
        { length: 120 },
        () =>
          new Promise<string>((resolve) => {
            const c = createConnection(port, '127.0.0.1');
            crowd.push(c);
            let got = '';
            c.on('error', () => undefined);
            c.on('data', (d: Buffer) => {
              got += d.toString('latin1');
              if (got.endsWith('\r\n')) resolve(got);
            });
            c.on('close', () => resolve(got === '' ? 'closed' : got));
            c.write(get);
          }),
      ),
    );
    const counts = new Map<string, number>();
    for (const o of outcomes) counts.set(o, (counts.get(o) ?? 0) + 1);
    const seen = JSON.stringify([...counts]);
    assert.ok(!outcomes.some((o) => o.includes('Too many open files')), seen);
    assert.ok(outcomes.includes('$-1\r\n'), `no client of the crowd was served: ${seen}`);
    assert.ok(outcomes.every((o) => ['$-1\r\n', '-ERR max number of clients reached\r\n', 'closed'].includes(o)), seen);
    // The crowd stays: the stats port still answers, and the server has not failed.
    const s = (await walnut.stats()) as Stats;
    assert.equal(serverStat(s, 't', 's', 'server_err'), 0);
    assert.equal(serverStat(s, 't', 's', 'server_ejected_at'), 0);
    // Once the crowd has gone, clients are served again.
    for (const c of crowd) c.destroy();
    for (let tries = 0; poolStat((await walnut.stats()) as Stats, 't', 'client_connections') !== 0; tries++) {
      assert.ok(tries < 100, 'the clients that left are still counted after 10 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(await requestUntil(port, get, '\r\n', 5_000), '$-1\r\n');
  } finally {
    for (const c of crowd) c.destroy();
    await walnut.stop();
  }
});
