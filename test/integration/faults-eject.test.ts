// auto_eject_hosts with server_failure_limit 2 and server_retry_timeout 1000, run step by step
// against Walnut and Debian's nutcracker on the same configuration and the same backends: the
// replies of every step must be identical (spec 7: two refusals, keys remapped to the live
// server, retry after the timeout, all servers out → refused without connecting).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startRedis, type Running, type RunningProxy } from '../../scripts/lib/processes.js';
import { RawClient } from './support/raw-client.js';
import { startBoth } from './support/side-by-side.js';

const RETRY_MS = 1000;
/** GET replies from server a and server b for the probe keys (each server has them all). */
const ON_A = '$4\r\non-0\r\n';
const ON_B = '$4\r\non-1\r\n';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Read one reply (status, error, integer, bulk or nil; no arrays) as text. */
async function readReply(c: RawClient): Promise<string> {
  let line = '';
  while (!line.endsWith('\r\n')) line += (await c.read(1)).toString('latin1');
  if (line.startsWith('$') && line !== '$-1\r\n') {
    line += (await c.read(Number(line.slice(1, -2)) + 2)).toString('latin1');
  }
  return line;
}

/** A pool of redis-a and redis-b with auto_eject_hosts, a failure limit of 2 and RETRY_MS. */
function ejectingPool(pool: string, port: number, servers: readonly Running[], extra: readonly string[] = []): string {
  return [
    `${pool}:`,
    `  listen: 127.0.0.1:${port}`,
    '  redis: true',
    '  auto_eject_hosts: true',
    '  server_failure_limit: 2',
    `  server_retry_timeout: ${RETRY_MS}`,
    ...extra,
    '  servers:',
    `    - 127.0.0.1:${servers[0]!.port}:1 redis-a`,
    `    - 127.0.0.1:${servers[1]!.port}:1 redis-b`,
    '',
  ].join('\n');
}

/** Each server holds every key with its own value (on-0, on-1 ...), so a GET tells where a key lives. */
async function storeEverywhere(servers: readonly Running[], keys: readonly string[]): Promise<void> {
  const direct = await Promise.all(servers.map((s) => RawClient.connect(s.port)));
  for (const key of keys) direct.forEach((d, s) => d.command('SET', key, `on-${s}`));
  for (const d of direct) for (let i = 0; i < keys.length; i++) await readReply(d);
  for (const d of direct) d.destroy();
}

interface Side {
  proxy: RunningProxy;
  port: number;
  client: RawClient;
  /** Every reply of this side, step by step. */
  replies: string[];
}

describe('auto_eject_hosts: Walnut and nutcracker give the same replies step by step', () => {
  const servers: Running[] = [];
  const sides: Record<'walnut' | 'nutcracker', Side> = {} as Record<'walnut' | 'nutcracker', Side>;
  /** A key on server `a` and one on server `b`. */
  let keyA = '';
  let keyB = '';

  before(async () => {
    servers.push(...(await Promise.all([startRedis(), startRedis()])));
    const both = await startBoth((port) => ejectingPool('eject', port, servers));
    for (const [name, { proxy, port }] of Object.entries(both) as ['walnut' | 'nutcracker', { proxy: RunningProxy; port: number }][]) {
      sides[name] = { proxy, port, client: await RawClient.connect(port), replies: [] };
    }
    await storeEverywhere(servers, Array.from({ length: 40 }, (_, i) => `${i}:probe:${(i * 7919) % 1000}`));
  });

  after(async () => {
    for (const s of Object.values(sides)) {
      s.client.destroy();
      await s.proxy.stop();
    }
    await Promise.all(servers.map((s) => s.stop()));
  });

  /** One step: the same command through both proxies; returns both replies. */
  const step = async (...args: string[]): Promise<[string, string]> => {
    const out: string[] = [];
    for (const side of [sides.walnut, sides.nutcracker]) {
      side.client.command(...args);
      const reply = await readReply(side.client);
      side.replies.push(`${args.join(' ')} -> ${reply.trimEnd()}`);
      out.push(reply);
    }
    return [out[0]!, out[1]!];
  };

  const connectionsNow = async (side: Side): Promise<number> =>
    (await side.proxy.stats() as { total_connections: number }).total_connections;

  test('the ejection sequence', async (t) => {
    for (let i = 0; i < 40 && (keyA === '' || keyB === ''); i++) {
      const [r] = await step('GET', `${i}:probe:${(i * 7919) % 1000}`);
      if (r === ON_A && keyA === '') keyA = `${i}:probe:${(i * 7919) % 1000}`;
      if (r === ON_B && keyB === '') keyB = `${i}:probe:${(i * 7919) % 1000}`;
    }
    assert.ok(keyA !== '' && keyB !== '', `a key on each server: ${JSON.stringify(sides.walnut.replies)}`);
    // Both servers up: every key on its own server.
    assert.deepEqual(await step('GET', keyA), [ON_A, ON_A]);
    assert.deepEqual(await step('GET', keyB), [ON_B, ON_B]);

    // `a` dies: its connections close (one failure each), then requests are refused until
    // the limit ejects it and its keys move to `b`.
    const portA = servers[0]!.port;
    servers[0]!.kill('SIGKILL');
    await servers[0]!.exited;
    // Both proxies have seen the connection close (nutcracker's stats lag up to its -i 100).
    const closesSeen = async (side: Side): Promise<number> => {
      const a = ((await side.proxy.stats()) as Record<string, Record<string, Record<string, number>>>)['eject']?.['redis-a'];
      return (a?.['server_eof'] ?? 0) + (a?.['server_err'] ?? 0);
    };
    for (let i = 0; !((await closesSeen(sides.walnut)) > 0) || !((await closesSeen(sides.nutcracker)) > 0); i++) {
      assert.ok(i < 250, 'both proxies see redis-a go');
      await sleep(20);
    }
    for (let i = 0; i < 4; i++) await step('GET', keyA);
    assert.deepEqual(await step('GET', keyA), [ON_B, ON_B], 'remapped to b');
    assert.deepEqual(await step('GET', keyB), [ON_B, ON_B]);

    // After the retry timeout `a` is tried again: refused again until ejected again.
    await sleep(RETRY_MS + 100);
    for (let i = 0; i < 3; i++) await step('GET', keyA);
    assert.deepEqual(await step('GET', keyA), [ON_B, ON_B], 'remapped to b again');

    // `b` dies too: once it is ejected nothing is live, and requests are refused without any
    // connection attempt.
    servers[1]!.kill('SIGKILL');
    await servers[1]!.exited;
    await sleep(200);
    for (let i = 0; i < 3; i++) await step('GET', keyB);
    await sleep(300); // let nutcracker's stats catch up
    const before = await Promise.all([connectionsNow(sides.walnut), connectionsNow(sides.nutcracker)]);
    const refused = '-ERR Connection refused\r\n';
    assert.deepEqual(await step('GET', keyA), [refused, refused]);
    assert.deepEqual(await step('GET', keyB), [refused, refused]);
    assert.deepEqual(await step('SET', 'new', 'x'), [refused, refused]);
    await sleep(300);
    const after = await Promise.all([connectionsNow(sides.walnut), connectionsNow(sides.nutcracker)]);
    assert.deepEqual(after, before, 'no connection attempt while every server is ejected');

    // `a` comes back on its port; after the retry timeout it serves again.
    servers[0] = await startRedis({ port: portA });
    await sleep(RETRY_MS + 100);
    for (let i = 0; i < 2; i++) await step('GET', keyA);

    t.diagnostic(sides.walnut.replies.filter((r) => !r.includes(':probe:') || r.includes(keyA) || r.includes(keyB)).join(' | '));
    assert.deepEqual(sides.walnut.replies, sides.nutcracker.replies);
    assert.ok(sides.walnut.replies.some((r) => r.endsWith('-ERR Connection refused')));
  });

  test('stats: server_ejects and server_ejected_at agree', async () => {
    await sleep(300);
    type EjectStats = Record<string, number | Record<string, number>>;
    const w = ((await sides.walnut.proxy.stats()) as Record<string, EjectStats>)['eject']!;
    const n = ((await sides.nutcracker.proxy.stats()) as Record<string, EjectStats>)['eject']!;
    assert.ok((w['server_ejects'] as number) >= 3);
    assert.equal(w['server_ejects'], n['server_ejects']);
    for (const s of ['redis-a', 'redis-b']) {
      const ws = w[s] as Record<string, number>;
      const ns = n[s] as Record<string, number>;
      assert.ok(ws['server_ejected_at']! > 0, `${s} ejected_at`);
      // Both are µs since the epoch, taken within the same few milliseconds.
      assert.ok(Math.abs(ws['server_ejected_at']! - ns['server_ejected_at']!) < 5_000_000, `${s} ejected_at close`);
      for (const k of ['server_err', 'server_eof', 'server_timedout', 'requests', 'responses']) {
        assert.equal(ws[k], ns[k], `${s} ${k}`);
      }
    }
  });
});

// Redis's `timeout` closes a client connection idle for that many seconds. twemproxy counts
// that close as a server failure, so with auto_eject_hosts a healthy, idle server is ejected and
// its keys move; Walnut does not count the close of a connection idle for a second or more.
describe('a server closing an idle connection (Redis timeout) is not a failure', () => {
  let redis: Running;
  let proxies: Record<'walnut' | 'nutcracker', { proxy: RunningProxy; port: number }>;

  before(async () => {
    redis = await startRedis({ args: ['--timeout', '1'] });
    const config = (port: number): string =>
      [
        'idle:',
        `  listen: 127.0.0.1:${port}`,
        '  redis: true',
        '  auto_eject_hosts: true',
        '  server_failure_limit: 1',
        '  server_retry_timeout: 30000',
        '  servers:',
        `    - 127.0.0.1:${redis.port}:1 only`,
        '',
      ].join('\n');
    proxies = await startBoth(config);
  });

  after(async () => {
    await Promise.all(Object.values(proxies).map((p) => p.proxy.stop()));
    await redis?.stop();
  });

  test('after Redis has closed the idle server connection, the next request is served', async () => {
    const serverEof = async (proxy: RunningProxy): Promise<number> =>
      ((await proxy.stats()) as Record<string, Record<string, Record<string, number>>>)['idle']?.['only']?.['server_eof'] ?? 0;
    const get = async (port: number): Promise<string> => {
      const c = await RawClient.connect(port);
      c.command('GET', 'idle-key');
      const reply = await readReply(c);
      c.destroy();
      return reply;
    };
    for (const p of Object.values(proxies)) assert.equal(await get(p.port), '$-1\r\n');
    // Redis checks its clients' idle time a few times a second: the closes come within seconds.
    for (let i = 0; i < 100 && ((await serverEof(proxies.walnut.proxy)) === 0 || (await serverEof(proxies.nutcracker.proxy)) === 0); i++) {
      await sleep(100);
    }
    assert.equal(await serverEof(proxies.walnut.proxy), 1);
    assert.equal(await get(proxies.walnut.port), '$-1\r\n');
    const stats = (await proxies.walnut.proxy.stats()) as Record<string, Record<string, number>>;
    assert.equal(stats['idle']?.['server_ejects'], 0);
    // twemproxy counted the close as a failure and ejected its only server.
    assert.equal(await get(proxies.nutcracker.port), '-ERR Connection refused\r\n');
  });
});

// Failures that reach server_failure_limit while the server is already ejected eject it again
// (twemproxy's server_failure: server_ejects + 1, a new retry time, the count back to 0). With
// several connections to a server that dies, more of them close than the limit needs; had the
// extra failures been kept in the count, the server would be ejected again after a single
// refusal once re-admitted, where twemproxy gives server_failure_limit refusals.
describe('failures while a server is ejected: counted and ejecting again, as twemproxy', () => {
  const servers: Running[] = [];
  let sides: Record<'walnut' | 'nutcracker', { proxy: RunningProxy; port: number }>;

  before(async () => {
    servers.push(...(await Promise.all([startRedis(), startRedis()])));
    sides = await startBoth((port) => ejectingPool('again', port, servers, ['  server_connections: 4']));
    await storeEverywhere(servers, Array.from({ length: 40 }, (_, i) => `${i}:again`));
  });

  after(async () => {
    await Promise.all(Object.values(sides).map((s) => s.proxy.stop()));
    await Promise.all(servers.map((s) => s.stop()));
  });

  test('four connections fail with a limit of 2: two ejections, then two refusals after the retry', async () => {
    type PoolStats = Record<string, number | Record<string, number>>;
    const poolStats = async (proxy: RunningProxy): Promise<PoolStats> =>
      ((await proxy.stats()) as Record<string, PoolStats>)['again']!;
    const get = async (c: RawClient, key: string): Promise<string> => {
      c.command('GET', key);
      return readReply(c);
    };
    const probe = await RawClient.connect(sides.walnut.port);
    let keyA = '';
    for (let i = 0; i < 40 && keyA === ''; i++) if ((await get(probe, `${i}:again`)) === ON_A) keyA = `${i}:again`;
    probe.destroy();
    assert.ok(keyA !== '', 'a key on redis-a');

    // redis-a hangs: four clients each send a GET for its key, so each proxy opens all four
    // connections (nutcracker one per request up to the limit, Walnut one per client slot).
    await servers[0]!.pause();
    const clients: Record<'walnut' | 'nutcracker', RawClient[]> = { walnut: [], nutcracker: [] };
    for (const [name, side] of Object.entries(sides) as ['walnut' | 'nutcracker', { port: number }][]) {
      for (let i = 0; i < 4; i++) {
        const c = await RawClient.connect(side.port);
        c.command('GET', keyA);
        clients[name].push(c);
      }
    }
    const openToA = async (proxy: RunningProxy): Promise<number> =>
      ((await poolStats(proxy))['redis-a'] as Record<string, number>)['server_connections'] ?? 0;
    for (let i = 0; (await openToA(sides.walnut.proxy)) < 4 || (await openToA(sides.nutcracker.proxy)) < 4; i++) {
      assert.ok(i < 250, 'both proxies open four connections to redis-a');
      await sleep(20);
    }
    // It dies with the requests unread: every connection is reset, four failures.
    servers[0]!.kill('SIGKILL');
    await servers[0]!.exited;
    const failed: Record<string, string[]> = {};
    for (const name of ['walnut', 'nutcracker'] as const) {
      failed[name] = await Promise.all(clients[name].map((c) => readReply(c)));
      for (const c of clients[name]) c.destroy();
    }
    assert.deepEqual(failed['walnut'], failed['nutcracker']);
    const closes = async (proxy: RunningProxy): Promise<number> => {
      const a = (await poolStats(proxy))['redis-a'] as Record<string, number>;
      return (a['server_eof'] ?? 0) + (a['server_err'] ?? 0);
    };
    for (let i = 0; (await closes(sides.walnut.proxy)) < 4 || (await closes(sides.nutcracker.proxy)) < 4; i++) {
      assert.ok(i < 250, 'both proxies see the four connections close');
      await sleep(20);
    }
    const ejects = async (proxy: RunningProxy): Promise<number> => (await poolStats(proxy))['server_ejects'] as number;
    assert.equal(await ejects(sides.nutcracker.proxy), 2);
    assert.equal(await ejects(sides.walnut.proxy), 2);

    // Re-admitted after the retry time, still dead: refused twice, then ejected and remapped.
    await sleep(RETRY_MS + 100);
    const replies: Record<string, string[]> = {};
    for (const [name, side] of Object.entries(sides)) {
      const c = await RawClient.connect(side.port);
      replies[name] = [];
      for (let i = 0; i < 3; i++) replies[name]!.push(await get(c, keyA));
      c.destroy();
    }
    const refused = '-ERR Connection refused\r\n';
    assert.deepEqual(replies['nutcracker'], [refused, refused, ON_B]);
    assert.deepEqual(replies['walnut'], replies['nutcracker']);
  });
});
