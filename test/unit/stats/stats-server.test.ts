// The stats listener over a real socket: document per connection, live values, input ignored,
// bind failure message, close.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { newPoolStats, newServerStats } from '../../../src/stats/metrics.js';
import type { StatsSnapshot } from '../../../src/stats/snapshot.js';
import { statsJson } from '../../../src/stats/stats-json.js';
import { STATS_BACKLOG, startStatsServer } from '../../../src/stats/stats-server.js';
import { log } from '../../../src/util/log.js';

/** A source whose numbers the test changes between reads. */
function makeSource(): { requests: number; snapshot(): StatsSnapshot } {
  return {
    requests: 0,
    snapshot(): StatsSnapshot {
      return {
        totalConnections: 2,
        currConnections: 1,
        pools: [
          {
            name: 'alpha',
            stats: newPoolStats(),
            servers: [{ name: '127.0.0.1:6379', stats: { ...newServerStats(), requests: this.requests } }],
          },
        ],
      };
    },
  };
}

/** Connects, optionally sends `input`, and returns everything received until the server closes. */
function readAll(port: number, input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    if (input !== undefined) socket.write(input);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

test('each connection gets the JSON document of a fresh snapshot, then the connection is closed', async () => {
  const source = makeSource();
  const stats = await startStatsServer(source, '127.0.0.1', 0);
  try {
    assert.ok(stats.port > 0);
    const before = Math.floor(Date.now() / 1000);
    const text = await readAll(stats.port);
    const after = Math.floor(Date.now() / 1000);
    const doc = JSON.parse(text) as Record<string, unknown>;
    assert.equal(doc['source'], hostname());
    assert.equal(doc['version'], '0.5.0');
    const timestamp = doc['timestamp'] as number;
    const uptime = doc['uptime'] as number;
    assert.ok(timestamp >= before && timestamp <= after);
    assert.ok(Number.isInteger(uptime) && uptime >= 0);
    // Everything but the header values is exactly statsJson of the snapshot.
    assert.equal(
      text,
      statsJson(source.snapshot(), { source: hostname(), version: '0.5.0', uptime, timestamp }),
    );

    // Live values: a change shows on the very next connection.
    source.requests = 41;
    const again = JSON.parse(await readAll(stats.port)) as Record<string, Record<string, Record<string, number>>>;
    assert.equal(again['alpha']!['127.0.0.1:6379']!['requests'], 41);
  } finally {
    await stats.close();
  }
});

test('input from the client is ignored', async () => {
  const stats = await startStatsServer(makeSource(), '127.0.0.1', 0);
  try {
    const text = await readAll(stats.port, 'GET / HTTP/1.0\r\n\r\nstats\r\n');
    assert.ok(text.startsWith('{"service":"nutcracker", '));
    assert.ok(text.endsWith('}}}\n'));
  } finally {
    await stats.close();
  }
});

test('bind failure rejects with the address in the message', async () => {
  const blocker: Server = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const address = blocker.address();
  assert.ok(address !== null && typeof address === 'object');
  try {
    await assert.rejects(startStatsServer(makeSource(), '127.0.0.1', address.port), {
      message: `stats server: cannot listen on '127.0.0.1:${address.port}': Address already in use`,
    });
  } finally {
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
  }
});

// nutcracker resolves -a with getaddrinfo, which knows neither an empty name nor one that is not
// ASCII, and then fails to start; listen() would have taken "" as every interface, and the
// full-width or soft-hyphened names as 127.0.0.1 and localhost.
for (const host of ['', '\uff11\uff12\uff17.\uff10.\uff10.\uff11', 'local\u00adhost']) {
  test(`a stats address getaddrinfo cannot resolve (${JSON.stringify(host)}) rejects, naming it`, async () => {
    const started = await startStatsServer(makeSource(), host, 0).then(
      async (stats) => {
        await stats.close();
        return null;
      },
      (err: unknown) => err,
    );
    assert.ok(started instanceof Error, `listening on ${JSON.stringify(host)}`);
    assert.equal(started.message, `stats server: cannot resolve '${host}' (-a): Name or service not known`);
  });
}

test('a stats address given as a name is served at the address it resolves to', async () => {
  const stats = await startStatsServer(makeSource(), 'localhost', 0);
  try {
    // localhost may resolve to ::1 first; readAll connects to 127.0.0.1, so ask the kernel.
    const text = await new Promise<string>((resolve, reject) => {
      const socket = connect({ port: stats.port, host: 'localhost' });
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('error', reject);
      socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
    assert.equal((JSON.parse(text) as Record<string, unknown>)['service'], 'nutcracker');
  } finally {
    await stats.close();
  }
});

// ss shows a listening socket's backlog in its Send-Q column.
const SOMAXCONN_FILE = '/proc/sys/net/core/somaxconn';
const hasSs = spawnSync('ss', ['-V']).status === 0 && existsSync(SOMAXCONN_FILE);
test('the listener has twemproxy\'s backlog, SOMAXCONN, as far as the kernel allows', { skip: !hasSs && 'needs ss and Linux' }, async () => {
  const stats = await startStatsServer(makeSource(), '127.0.0.1', 0);
  try {
    const out = spawnSync('ss', ['-ltnH', `sport = :${stats.port}`], { encoding: 'utf8' }).stdout;
    const fields = out.trim().split(/\s+/);
    const somaxconn = Number(readFileSync(SOMAXCONN_FILE, 'utf8'));
    assert.equal(Number(fields[2]), Math.min(STATS_BACKLOG, somaxconn), out);
  } finally {
    await stats.close();
  }
});

test('close stops listening', async () => {
  const stats = await startStatsServer(makeSource(), '127.0.0.1', 0);
  await stats.close();
  await assert.rejects(readAll(stats.port), { code: 'ECONNREFUSED' });
  // close is idempotent
  await stats.close();
});

test('a negative gauge is served as 0 and logged once as an accounting error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'walnut-stats-log-'));
  const logPath = join(dir, 'walnut.log');
  let connections = -1;
  const source = {
    snapshot(): StatsSnapshot {
      return {
        totalConnections: 1,
        currConnections: 1,
        pools: [
          {
            name: 'alpha',
            stats: newPoolStats(),
            servers: [{ name: 's1', stats: { ...newServerStats(), server_connections: connections } }],
          },
        ],
      };
    },
  };
  log.open(logPath);
  const stats = await startStatsServer(source, '127.0.0.1', 0);
  try {
    const doc = JSON.parse(await readAll(stats.port)) as Record<string, Record<string, Record<string, number>>>;
    assert.equal(doc['alpha']!['s1']!['server_connections'], 0);
    await readAll(stats.port);
    const lines = readFileSync(logPath, 'utf8').split('\n').filter((l) => l.includes('negative'));
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0]!, /stats: gauge alpha\.s1\.server_connections=-1 is negative/);
    // Back to normal: nothing more is logged.
    connections = 2;
    const later = JSON.parse(await readAll(stats.port)) as Record<string, Record<string, Record<string, number>>>;
    assert.equal(later['alpha']!['s1']!['server_connections'], 2);
    assert.equal(readFileSync(logPath, 'utf8').split('\n').filter((l) => l.includes('negative')).length, 1);
  } finally {
    await stats.close();
    log.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
