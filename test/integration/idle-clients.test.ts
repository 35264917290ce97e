// 10,000 idle clients connected at once (twemproxy's reason to exist: many client connections
// funnelled into few server connections, nc_client.c / nc_proxy.c proxy_accept): Walnut keeps
// them all, counts them, serves new requests meanwhile, sees every one leave, and gives the
// memory back. It prints the resident memory each idle client costs; the benchmark, not this
// test, judges that figure.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { freePort, rssBytes, startRedis, startWalnut, type Running, type RunningProxy } from '../../scripts/lib/processes.js';
import { TRIM_CHECK_MS, TRIM_MIN_INTERVAL_MS } from '../../src/proxy/heap-trim.js';
import { RawClient } from './support/raw-client.js';

const CLIENTS = 10_000;
/** Open files for the process holding the idle clients, and for Walnut (clients + margin). */
const OPENER_FD_LIMIT = CLIENTS + 2_000;
const WALNUT_FD_LIMIT = CLIENTS + 6_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Stats = Record<string, unknown>;
const clientConnections = (s: Stats): number =>
  (s['idle'] as Record<string, number> | undefined)?.['client_connections'] ?? Number.NaN;

/**
 * The opener: a child process (its own fd limit, so this test process needs no more than it
 * has) that connects `count` sockets in batches, prints `open <n>` when all are connected and
 * `lost <code>` if any fails or is closed by the other side, and exits when its stdin ends.
 */
const OPENER = `
const net = require('net');
const port = Number(process.argv[1]);
const count = Number(process.argv[2]);
const BATCH = 500;
const sockets = [];
let leaving = false;
const lost = (why) => {
  if (leaving) return;
  process.stdout.write('lost ' + why + '\\n');
  process.exit(1);
};
process.stdin.on('end', () => {
  leaving = true;
  for (const s of sockets) s.destroy();
  process.exit(0);
});
process.stdin.resume();
(async () => {
  while (sockets.length < count) {
    const n = Math.min(BATCH, count - sockets.length);
    await Promise.all(Array.from({ length: n }, () => new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', resolve);
      s.on('error', (err) => lost(err.code || err.message));
      s.on('close', () => lost('closed'));
      sockets.push(s);
    })));
  }
  process.stdout.write('open ' + sockets.length + '\\n');
})();
`;

/** Starts the opener and resolves once it reports every connection open (or rejects). */
function openIdleClients(port: number, count: number): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(
    'bash',
    ['-c', `ulimit -n ${OPENER_FD_LIMIT} && exec "$@"`, 'bash', process.execPath, '-e', OPENER, String(port), String(count)],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the opener did not connect ${count} clients in time; output: ${out}`));
    }, 25_000);
    const check = (): void => {
      if (out.includes(`open ${count}\n`)) {
        clearTimeout(timer);
        resolve({ child, output: () => out });
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the opener exited (${code}) before connecting ${count} clients: ${out}`));
    });
  });
}

/** Reads Walnut's stats until `ok` holds or timeoutMs passes; returns the last reading. */
async function statsWhen(walnut: RunningProxy, ok: (s: Stats) => boolean, timeoutMs: number): Promise<Stats> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = (await walnut.stats()) as Stats;
    if (ok(s) || Date.now() > deadline) return s;
    await sleep(100);
  }
}

async function setAndGet(port: number, key: string): Promise<string> {
  const c = await RawClient.connect(port);
  try {
    c.command('SET', key, 'value');
    c.command('GET', key);
    return await c.readText('+OK\r\n$5\r\nvalue\r\n');
  } finally {
    c.destroy();
  }
}

describe(`${CLIENTS} concurrent idle clients`, () => {
  let backend: Running;
  let walnut: RunningProxy;
  let port: number;

  before(async () => {
    backend = await startRedis();
    port = await freePort();
    const yaml =
      `idle:\n  listen: 127.0.0.1:${port}\n  redis: true\n  backlog: 2048\n` +
      `  servers:\n    - 127.0.0.1:${backend.port}:1 r\n`;
    walnut = await startWalnut(yaml, { listenPorts: [port], fdLimit: WALNUT_FD_LIMIT });
  });

  after(async () => {
    await walnut?.stop();
    await backend?.stop();
  });

  test('all stay connected and counted, Walnut serves new requests meanwhile, and sees them leave', async (t) => {
    // Warm up (server connection open, code paths compiled) so the RSS difference is the clients'.
    assert.equal(await setAndGet(port, 'idle:warm'), '+OK\r\n$5\r\nvalue\r\n');
    await sleep(200);
    const rssBefore = rssBytes(walnut.pid);
    let rssHeld = rssBefore;

    const { child, output } = await openIdleClients(port, CLIENTS);
    try {
      const s = await statsWhen(walnut, (v) => clientConnections(v) === CLIENTS, 15_000);
      assert.equal(clientConnections(s), CLIENTS, 'stats client_connections');
      await sleep(200);
      rssHeld = rssBytes(walnut.pid);
      const perClient = (rssHeld - rssBefore) / CLIENTS;
      t.diagnostic(
        `Walnut RSS ${(rssBefore / 1048576).toFixed(1)} MiB -> ${(rssHeld / 1048576).toFixed(1)} MiB ` +
          `with ${CLIENTS} idle clients: ${perClient.toFixed(0)} bytes per idle client`,
      );

      // New clients are served while the 10k sit there.
      for (let i = 0; i < 5; i++) assert.equal(await setAndGet(port, `idle:live:${i}`), '+OK\r\n$5\r\nvalue\r\n');
      assert.doesNotThrow(() => process.kill(walnut.pid, 0), 'Walnut is running');
      const during = await statsWhen(walnut, (v) => clientConnections(v) === CLIENTS, 5_000);
      assert.equal(clientConnections(during), CLIENTS, 'the idle clients are all still there');
      assert.doesNotMatch(output(), /lost/, 'no idle client was dropped');
    } finally {
      child.stdin!.end();
      await new Promise((resolve) => {
        if (child.exitCode !== null) resolve(null);
        else child.once('exit', resolve);
      });
    }

    const s = await statsWhen(walnut, (v) => clientConnections(v) === 0, 15_000);
    assert.equal(clientConnections(s), 0, 'every departure noticed');
    assert.equal(await setAndGet(port, 'idle:after'), '+OK\r\n$5\r\nvalue\r\n');

    // The heap trimmer (src/proxy/heap-trim.ts) gives at least half of what the crowd added
    // back. Without it V8 keeps the pages and RSS stays at (or above) the crowd's level. If a
    // look falls mid-departure, the trim that finishes the job can wait out the minimum interval.
    const growth = rssHeld - rssBefore;
    const deadline = Date.now() + TRIM_MIN_INTERVAL_MS + 2 * TRIM_CHECK_MS + 1_000;
    let rssLeft = rssBytes(walnut.pid);
    while (rssLeft - rssBefore > growth / 2 && Date.now() < deadline) {
      await sleep(200);
      rssLeft = rssBytes(walnut.pid);
    }
    t.diagnostic(
      `Walnut RSS after they left: ${(rssLeft / 1048576).toFixed(1)} MiB ` +
        `(${((100 * (rssLeft - rssBefore)) / growth).toFixed(0)}% of the growth kept)`,
    );
    assert.ok(rssLeft - rssBefore <= growth / 2, `memory given back: ${rssLeft} bytes, ${rssBefore} before the clients`);
  });
});
