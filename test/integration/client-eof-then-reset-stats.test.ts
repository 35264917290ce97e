// A client that sends its requests and closes its socket without reading the replies (a
// fire-and-forget batch, `nc -q0`) ends the connection first: the proxy reads its FIN. Writing
// the replies that come back after that makes the client's kernel answer with a reset, and the
// next write fails (EPIPE). twemproxy counts such a client in client_eof, whatever error
// follows the end of file (client_close_stats: eof first); Walnut counted it in client_err, so
// an alert on client_err fired for clients that had done nothing wrong. Checked against
// Debian's nutcracker: two servers, each request a script that takes a while, so that the two
// replies reach the client in two writes after it has gone.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startRedis, type Running, type RunningProxy } from '../../scripts/lib/processes.js';
import { encodeCommand, RawClient } from './support/raw-client.js';
import { startBoth } from './support/side-by-side.js';
import { poolStat, type Stats } from './support/stats.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A script that keeps its server busy for `ms` milliseconds, then returns 1. */
const busy = (ms: number): string =>
  `local t0 = redis.call('TIME') local s = t0[1] * 1000000 + t0[2] ` +
  `while true do local t = redis.call('TIME') if t[1] * 1000000 + t[2] - s > ${ms * 1000} then break end end return 1`;

describe('a client gone before its replies counts in client_eof, as in nutcracker', () => {
  let servers: Running[] = [];
  const proxies: Record<'walnut' | 'nutcracker', { proxy: RunningProxy; port: number }> = {} as never;
  /** A key on each server. */
  const keys: string[] = [];

  before(async () => {
    servers = await Promise.all([startRedis(), startRedis()]);
    const yaml = (port: number): string =>
      [
        'gone:',
        `  listen: 127.0.0.1:${port}`,
        '  redis: true',
        '  hash: murmur',
        '  servers:',
        `    - 127.0.0.1:${servers[0]!.port}:1 s0`,
        `    - 127.0.0.1:${servers[1]!.port}:1 s1`,
        '',
      ].join('\n');
    Object.assign(proxies, await startBoth(yaml));
    // Which server holds which key: write through Walnut, then ask each server.
    const client = await RawClient.connect(proxies.walnut.port);
    const candidates = Array.from({ length: 32 }, (_, i) => `gone-${i * 7919}-${i}`);
    for (const k of candidates) client.command('SET', k, 'v');
    await client.readText('+OK\r\n'.repeat(candidates.length));
    client.destroy();
    for (const s of servers) {
      const direct = await RawClient.connect(s.port);
      for (const k of candidates) {
        direct.command('EXISTS', k);
        const held = (await direct.readLine()).toString() === ':1\r\n';
        if (held && keys.length === servers.indexOf(s)) keys.push(k);
      }
      direct.destroy();
    }
    assert.equal(keys.length, 2, 'a key on each server');
  });

  after(async () => {
    for (const p of Object.values(proxies)) await p.proxy.stop();
    await Promise.all(servers.map((s) => s.stop()));
  });

  test('the same client_eof and client_err', async () => {
    // Let the readiness probes' closes be counted (nutcracker: -i 100) before the baseline.
    await sleep(300);
    const base = await Promise.all([proxies.walnut.proxy.stats(), proxies.nutcracker.proxy.stats()]);
    await Promise.all(
      [proxies.walnut, proxies.nutcracker].map(async ({ port }) => {
        const client = await RawClient.connect(port);
        // One reply comes back after 150 ms, the other after 400 ms: two writes to a client
        // that closed at 30 ms.
        await client.send(
          Buffer.concat([
            encodeCommand(['EVAL', busy(150), '1', keys[0]!]),
            encodeCommand(['EVAL', busy(400), '1', keys[1]!]),
          ]),
        );
        await sleep(30);
        client.destroy();
      }),
    );
    // Both replies written (or failed) and nutcracker's stats caught up.
    await sleep(900);
    const now = await Promise.all([proxies.walnut.proxy.stats(), proxies.nutcracker.proxy.stats()]);
    const delta = (i: number, name: string): number =>
      poolStat(now[i] as Stats, 'gone', name) - poolStat(base[i] as Stats, 'gone', name);
    assert.deepEqual(
      { client_eof: delta(1, 'client_eof'), client_err: delta(1, 'client_err') },
      { client_eof: 1, client_err: 0 },
      'nutcracker counts the client in client_eof',
    );
    assert.deepEqual(
      { client_eof: delta(0, 'client_eof'), client_err: delta(0, 'client_err') },
      { client_eof: 1, client_err: 0 },
      'Walnut counts it as nutcracker does',
    );
  });
});
