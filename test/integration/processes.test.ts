// Tests the process helpers of scripts/lib/processes.ts (cf. twemproxy's
// tests/lib/server_modules.py): real redis-server, memcached, nutcracker and Walnut.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { describe, test } from 'node:test';
import {
  freePort,
  startMemcached,
  startNutcracker,
  startRedis,
  startWalnut,
  type Running,
  type RunningProxy,
} from '../../scripts/lib/processes.js';
import { RawClient } from './support/raw-client.js';

/** Resolves with the connect error code (e.g. ECONNREFUSED), or null when the connect succeeds. */
function connectError(port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(null);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/** The one-letter scheduler state from /proc/<pid>/stat ('T' = stopped), or null off Linux. */
function procState(pid: number): string | null {
  const path = `/proc/${pid}/stat`;
  if (!existsSync(path)) return null;
  const stat = readFileSync(path, 'latin1');
  // The command name is in parentheses and may contain spaces; the state follows it.
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

async function waitForState(pid: number, want: string): Promise<void> {
  for (let i = 0; i < 250 && procState(pid) !== want; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(procState(pid), want);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Polls a proxy's stats until `pick` returns a value, so aggregation intervals do not matter. */
async function pollStats<T>(proxy: RunningProxy, pick: (s: Record<string, unknown>) => T | undefined): Promise<T> {
  let last: unknown;
  for (let i = 0; i < 250; i++) {
    last = await proxy.stats();
    if (isRecord(last)) {
      const v = pick(last);
      if (v !== undefined) return v;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`stats never matched; last: ${JSON.stringify(last)}`);
}

const poolYaml = (name: string, listenPort: number, backend: Running): string =>
  [
    `${name}:`,
    `  listen: 127.0.0.1:${listenPort}`,
    '  redis: true',
    '  hash: fnv1a_64',
    '  distribution: ketama',
    '  servers:',
    `    - 127.0.0.1:${backend.port}:1 backend`,
    '',
  ].join('\n');

test('freePort returns a port that can be bound on 127.0.0.1', async () => {
  const port = await freePort();
  assert.ok(Number.isInteger(port) && port > 0 && port < 65536);
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('startRedis', () => {
  test('answers PING, pauses and resumes, and refuses connections once stopped', async () => {
    const redis = await startRedis();
    try {
      assert.ok(redis.pid > 0);
      const client = await RawClient.connect(redis.port);
      client.send('PING\r\n');
      assert.equal(await client.readText('+PONG\r\n'), '+PONG\r\n');

      await redis.pause();
      const state = procState(redis.pid);
      if (state !== null) await waitForState(redis.pid, 'T');
      client.send('PING\r\n');
      redis.resume();
      if (state !== null) assert.notEqual(procState(redis.pid), 'T');
      // The PING sent while stopped is answered once the server runs again.
      assert.equal(await client.readText('+PONG\r\n'), '+PONG\r\n');
      client.destroy();
    } finally {
      await redis.stop();
    }
    assert.equal(await connectError(redis.port), 'ECONNREFUSED');
    assert.equal(await redis.exited, 0);
  });

  test('requires AUTH when started with a password', async () => {
    const redis = await startRedis({ password: 's3cret' });
    try {
      const client = await RawClient.connect(redis.port);
      client.send('GET k\r\n');
      const noauth = '-NOAUTH Authentication required.\r\n';
      assert.equal(await client.readText(noauth), noauth);
      client.send('AUTH s3cret\r\nPING\r\n');
      assert.equal(await client.readText('+OK\r\n+PONG\r\n'), '+OK\r\n+PONG\r\n');
      client.destroy();
    } finally {
      await redis.stop();
    }
  });

  test('stop() also ends a paused server', async () => {
    const redis = await startRedis();
    await redis.pause();
    await redis.stop();
    assert.equal(await connectError(redis.port), 'ECONNREFUSED');
  });

  test('kill() delivers the signal and exited reports it', async () => {
    const redis = await startRedis();
    redis.kill('SIGKILL');
    assert.equal(await redis.exited, null);
    await redis.stop();
    assert.equal(await connectError(redis.port), 'ECONNREFUSED');
  });
});

describe('startMemcached', () => {
  test('answers version and refuses connections once stopped', async () => {
    const mc = await startMemcached();
    try {
      const client = await RawClient.connect(mc.port);
      client.send('version\r\n');
      const head = (await client.read(8)).toString('latin1');
      assert.equal(head, 'VERSION ');
      client.send('set k 0 0 1\r\nv\r\nget k\r\n');
      const expected = 'STORED\r\nVALUE k 0 1\r\nv\r\nEND\r\n';
      // Skip the rest of the version line first.
      let rest = '';
      while (!rest.endsWith('\r\n')) rest += (await client.read(1)).toString('latin1');
      assert.match(rest, /^\d+\.\d+\.\d+\r\n$/);
      assert.equal(await client.readText(expected), expected);
      client.destroy();
    } finally {
      await mc.stop();
    }
    assert.equal(await connectError(mc.port), 'ECONNREFUSED');
  });
});

describe('startNutcracker', () => {
  test('proxies SET/GET to redis and serves stats as JSON', async () => {
    const redis = await startRedis();
    const port = await freePort();
    const proxy = await startNutcracker(poolYaml('alpha', port, redis), { listenPorts: [port] });
    try {
      assert.equal(proxy.port, port);
      assert.ok(existsSync(proxy.configPath));
      const client = await RawClient.connect(port);
      client.command('SET', 'greeting', 'hello');
      assert.equal(await client.readText('+OK\r\n'), '+OK\r\n');
      client.command('GET', 'greeting');
      assert.equal(await client.readText('$5\r\nhello\r\n'), '$5\r\nhello\r\n');
      client.destroy();

      // The value really is on the backend.
      const direct = await RawClient.connect(redis.port);
      direct.command('GET', 'greeting');
      assert.equal(await direct.readText('$5\r\nhello\r\n'), '$5\r\nhello\r\n');
      direct.destroy();

      const stats = await proxy.stats();
      assert.ok(isRecord(stats));
      assert.equal(stats['service'], 'nutcracker');
      const requests = await pollStats(proxy, (s) => {
        const pool = s['alpha'];
        const server = isRecord(pool) ? pool['backend'] : undefined;
        const n = isRecord(server) ? server['requests'] : undefined;
        return typeof n === 'number' && n >= 2 ? n : undefined;
      });
      assert.equal(requests, 2);
    } finally {
      await proxy.stop();
      await redis.stop();
    }
    assert.equal(await connectError(port), 'ECONNREFUSED');
  });

  test('a proxy that cannot start rejects with its log', async () => {
    const port = await freePort();
    const bad = `alpha:\n  listen: 127.0.0.1:${port}\n  hash: no_such_hash\n  servers:\n    - 127.0.0.1:1:1\n`;
    await assert.rejects(startNutcracker(bad, { listenPorts: [port] }), (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.match(err.message, /nutcracker exited/);
      assert.match(err.message, /not a valid hash/);
      return true;
    });
  });
});

// Walnut can only be started once the proxy core is built beside this test.
if (existsSync(new URL('../../src/proxy/proxy.js', import.meta.url))) {
  describe('startWalnut', () => {
    test('proxies SET/GET to redis and serves stats as JSON', async () => {
      const redis = await startRedis();
      const port = await freePort();
      let walnut: RunningProxy | undefined;
      try {
        walnut = await startWalnut(poolYaml('alpha', port, redis), { listenPorts: [port] });
        const client = await RawClient.connect(port);
        client.command('SET', 'greeting', 'hello');
        assert.equal(await client.readText('+OK\r\n'), '+OK\r\n');
        client.command('GET', 'greeting');
        assert.equal(await client.readText('$5\r\nhello\r\n'), '$5\r\nhello\r\n');
        client.destroy();

        const direct = await RawClient.connect(redis.port);
        direct.command('GET', 'greeting');
        assert.equal(await direct.readText('$5\r\nhello\r\n'), '$5\r\nhello\r\n');
        direct.destroy();

        const stats = await walnut.stats();
        assert.ok(isRecord(stats));
        assert.equal(typeof stats['service'], 'string');
        assert.ok(isRecord(stats['alpha']), `pool "alpha" missing from stats: ${JSON.stringify(stats)}`);
      } finally {
        await walnut?.stop();
        await redis.stop();
      }
      assert.equal(await connectError(port), 'ECONNREFUSED');
    });
  });
}
