// A server whose host name does not resolve (the reserved .invalid domain never does, RFC 6761):
// Walnut resolves server names on every new connection, and a failure there reaches clients as
// twemproxy's EHOSTDOWN ("Host is down"), whatever the resolver's own code (ENOTFOUND,
// EAI_AGAIN without a network). Each reply is compared byte for byte with nutcracker's.
import assert from 'node:assert/strict';
import { lookup } from 'node:dns/promises';
import { after, before, describe, test } from 'node:test';
import { freePort, startNutcracker, startRedis, startWalnut, type Running, type RunningProxy } from '../../scripts/lib/processes.js';
import { requestUntil } from './support/request-until.js';
import { poolStat, serverStat, type Stats } from './support/stats.js';

const HOST = 'walnut-test-no-such-host.invalid';

const REDIS_REQUESTS =
  '*2\r\n$3\r\nGET\r\n$1\r\nk\r\n' + '*3\r\n$4\r\nMGET\r\n$1\r\na\r\n$1\r\nb\r\n' + '*1\r\n$4\r\nPING\r\n';
const REDIS_REPLIES = '-ERR Host is down\r\n-ERR Host is down\r\n+PONG\r\n';
const MC_REQUESTS = 'get k\r\nget a b\r\nset k 0 0 1\r\nx\r\nversion\r\n';
const MC_REPLIES = 'SERVER_ERROR Host is down\r\n'.repeat(4);

describe(`a server named ${HOST}`, () => {
  const proxies: Record<string, RunningProxy> = {};
  const ports: Record<string, { redis: number; mc: number }> = {};
  /** Set when this machine's resolver answers for the name after all (a hijacking resolver). */
  let skipReason: string | null = null;

  before(async () => {
    const resolved = await lookup(HOST).then(
      (r) => r.address,
      () => null,
    );
    if (resolved !== null) {
      skipReason = `${HOST} resolves to ${resolved} here`;
      return;
    }
    for (const [name, start] of [['walnut', startWalnut], ['nutcracker', startNutcracker]] as const) {
      const p = { redis: await freePort(), mc: await freePort() };
      ports[name] = p;
      const yaml = [
        'r:',
        `  listen: 127.0.0.1:${p.redis}`,
        '  redis: true',
        '  servers:',
        `    - ${HOST}:6379:1 x`,
        'm:',
        `  listen: 127.0.0.1:${p.mc}`,
        '  servers:',
        `    - ${HOST}:11211:1 x`,
        '',
      ].join('\n');
      proxies[name] = await start(yaml, { listenPorts: [p.redis, p.mc] });
    }
  });

  after(async () => {
    await Promise.all(Object.values(proxies).map((p) => p.stop()));
  });

  test('redis: every request for it gets -ERR Host is down, as from nutcracker', async (t) => {
    if (skipReason !== null) return t.skip(skipReason);
    for (const name of ['walnut', 'nutcracker']) {
      const got = await requestUntil(ports[name]!.redis, REDIS_REQUESTS, '+PONG\r\n', 30_000);
      assert.equal(got, REDIS_REPLIES, name);
    }
    const s = (await proxies['walnut']!.stats()) as Stats;
    assert.equal(poolStat(s, 'r', 'forward_error'), 2);
    assert.ok(serverStat(s, 'r', 'x', 'server_err') >= 1, 'the failed connection counts as a server error');
    assert.equal(serverStat(s, 'r', 'x', 'server_connections'), 0);
    assert.equal(serverStat(s, 'r', 'x', 'in_queue') + serverStat(s, 'r', 'x', 'out_queue'), 0);
  });

  test('memcache: every request for it gets SERVER_ERROR Host is down, as from nutcracker', async (t) => {
    if (skipReason !== null) return t.skip(skipReason);
    for (const name of ['walnut', 'nutcracker']) {
      const got = await requestUntil(ports[name]!.mc, MC_REQUESTS, MC_REPLIES, 30_000);
      assert.equal(got, MC_REPLIES, name);
    }
    const s = (await proxies['walnut']!.stats()) as Stats;
    assert.equal(poolStat(s, 'm', 'forward_error'), 4);
    assert.ok(serverStat(s, 'm', 'x', 'server_err') >= 1);
    assert.equal(serverStat(s, 'm', 'x', 'in_queue') + serverStat(s, 'm', 'x', 'out_queue'), 0);
  });
});

// A host name that is not ASCII: Node's resolver would look up its IDNA form (full-width
// "ｌｏｃａｌｈｏｓｔ" is localhost) and reach the server; twemproxy's getaddrinfo knows no such name.
describe('a server named in full-width characters (ｌｏｃａｌｈｏｓｔ)', () => {
  hostIsDown('ｌｏｃａｌｈｏｓｔ', 'though localhost serves them');
});

// A server with an empty host (":6379:1", e.g. from a template whose host variable was empty):
// twemproxy's getaddrinfo("") fails, so its requests get "Host is down". net.connect takes an
// empty host for localhost, so Walnut used to send them to whatever served that port here.
describe('a server with an empty host (":<port>:1")', () => {
  hostIsDown('', 'though localhost serves that port');
});

/**
 * Walnut and nutcracker with one server, `host`:<a live redis's port>: every request gets
 * `-ERR Host is down` from both.
 */
function hostIsDown(host: string, why: string): void {
  let redis: Running;
  const proxies: Record<string, { proxy: RunningProxy; port: number }> = {};

  before(async () => {
    redis = await startRedis();
    for (const [name, start] of [['walnut', startWalnut], ['nutcracker', startNutcracker]] as const) {
      const port = await freePort();
      const yaml = ['r:', `  listen: 127.0.0.1:${port}`, '  redis: true', '  servers:', `    - ${host}:${redis.port}:1 x`, ''].join('\n');
      proxies[name] = { proxy: await start(yaml, { listenPorts: [port] }), port };
    }
  });

  after(async () => {
    await Promise.all(Object.values(proxies).map((p) => p.proxy.stop()));
    await redis?.stop();
  });

  test(`requests get -ERR Host is down, as from nutcracker, ${why}`, async () => {
    for (const name of ['walnut', 'nutcracker']) {
      const got = await requestUntil(proxies[name]!.port, REDIS_REQUESTS, '+PONG\r\n', 30_000);
      assert.equal(got, REDIS_REPLIES, name);
    }
  });
}
