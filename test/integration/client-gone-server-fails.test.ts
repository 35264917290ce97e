// Requests of a client that has gone, still in flight when their server connection fails (the
// server dies): each is completed with the connection's error and dropped, since nobody is left
// to answer. Like twemproxy, such errors are not counted as forward_error (that counts error
// replies a client receives), and the proxy goes on serving. The whole request and the multi-key
// request (whose only fragment fails) take different paths through ServerPool.complete.
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { freePort, startMemcached, startRedis, startWalnut, type Running, type RunningProxy } from '../../scripts/lib/processes.js';
import { encodeCommand, openSocket, RawClient } from './support/raw-client.js';
import { poolStat, serverStat, type Stats } from './support/stats.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Reads stats until `ok` holds (fails the test after 5 s). */
async function statsWhen(walnut: RunningProxy, what: string, ok: (s: Stats) => boolean): Promise<Stats> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const s = (await walnut.stats()) as Stats;
    if (ok(s)) return s;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}: ${JSON.stringify(s)}`);
    await sleep(20);
  }
}

interface Case {
  pool: string;
  /** A request for one key that is not fragmented. */
  whole: string;
  /** A multi-key request: one fragment, since the pool has one server. */
  multi: string;
  /** The first reply to `whole` on an empty server. */
  miss: string;
  /** What a client gets for a request once the server is down. */
  refused: string;
}

const CASES: Case[] = [
  {
    pool: 'rpool',
    whole: encodeCommand(['GET', 'gone:a']).toString('latin1'),
    multi: encodeCommand(['MGET', 'gone:a', 'gone:b']).toString('latin1'),
    miss: '$-1\r\n',
    refused: '-ERR Connection refused\r\n',
  },
  {
    pool: 'mpool',
    whole: 'get gone:a\r\n',
    multi: 'get gone:a gone:b\r\n',
    miss: 'END\r\n',
    refused: 'SERVER_ERROR Connection refused\r\n',
  },
];

describe('requests of a client that left, when their server then fails', () => {
  let redis: Running;
  let memcached: Running;
  let walnut: RunningProxy;
  const ports: Record<string, number> = {};
  const backends: Record<string, Running> = {};

  before(async () => {
    [redis, memcached] = await Promise.all([startRedis(), startMemcached()]);
    backends['rpool'] = redis;
    backends['mpool'] = memcached;
    ports['rpool'] = await freePort();
    ports['mpool'] = await freePort();
    const yaml = [
      'rpool:',
      `  listen: 127.0.0.1:${ports['rpool']}`,
      '  redis: true',
      '  servers:',
      `    - 127.0.0.1:${redis.port}:1 b0`,
      'mpool:',
      `  listen: 127.0.0.1:${ports['mpool']}`,
      '  servers:',
      `    - 127.0.0.1:${memcached.port}:1 b0`,
      '',
    ].join('\n');
    walnut = await startWalnut(yaml, { listenPorts: [ports['rpool']!, ports['mpool']!] });
  });

  after(async () => {
    await walnut.stop();
    await Promise.all([redis.stop(), memcached.stop()]);
  });

  for (const c of CASES) {
    test(`${c.pool}: dropped without a forward_error, and the proxy goes on serving`, async () => {
      const port = ports[c.pool]!;
      const backend = backends[c.pool]!;
      const stay = await RawClient.connect(port);
      // The server connection is open before the server stops.
      await stay.send(c.whole);
      assert.equal(await stay.readText(c.miss), c.miss);
      const before = (await walnut.stats()) as Stats;

      await backend.pause();
      const leaving: Socket = await openSocket(port);
      leaving.on('error', () => undefined);
      leaving.write(c.whole + c.multi);
      // Both requests are written to the stopped server's socket...
      await statsWhen(walnut, 'two requests out', (s) => serverStat(s, c.pool, 'b0', 'out_queue') === 2);
      // ...when their client goes with a reset (after a half-close it would still be owed them).
      leaving.resetAndDestroy();
      await statsWhen(walnut, 'the client gone', (s) => poolStat(s, c.pool, 'client_connections') === 1);
      // The server dies with the requests unread: its connection fails.
      backend.kill('SIGKILL');
      await backend.exited;
      const after = await statsWhen(
        walnut,
        'the server connection closed',
        (s) => serverStat(s, c.pool, 'b0', 'server_connections') === 0,
      );

      const d = (name: string): number => poolStat(after, c.pool, name) - poolStat(before, c.pool, name);
      const ds = (name: string): number => serverStat(after, c.pool, 'b0', name) - serverStat(before, c.pool, 'b0', name);
      assert.equal(d('forward_error'), 0, 'no client was sent an error');
      assert.equal(d('client_err'), 1);
      assert.equal(ds('requests'), 2);
      assert.equal(ds('responses'), 0);
      assert.equal(ds('server_err') + ds('server_eof'), 1);
      assert.equal(serverStat(after, c.pool, 'b0', 'out_queue'), 0);
      assert.equal(serverStat(after, c.pool, 'b0', 'out_queue_bytes'), 0);
      assert.equal(serverStat(after, c.pool, 'b0', 'in_queue'), 0);

      // The proxy lives on: the client that stayed is told the server is down, and that one
      // counts.
      await stay.send(c.whole);
      assert.equal(await stay.readText(c.refused), c.refused);
      const last = (await walnut.stats()) as Stats;
      assert.equal(poolStat(last, c.pool, 'forward_error') - poolStat(before, c.pool, 'forward_error'), 1);
      stay.destroy();
    });
  }
});
