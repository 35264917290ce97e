// At -v 6 (info), Walnut logs the connection events twemproxy logs at that level: a client
// closing with an incomplete request, a client refused by client_connections, a client's
// connection error, and a server connection closing. Each message is checked word for word.
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { freePort, startRedis, startWalnut, type Running, type RunningProxy } from '../../scripts/lib/processes.js';
import { logMessages, waitForLogMessage } from './support/log-file.js';
import { encodeCommand, openSocket, RawClient } from './support/raw-client.js';
import { poolStat, serverStat, type Stats } from './support/stats.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('info-level log messages (-v 6)', () => {
  let redis: Running;
  let walnut: RunningProxy;
  let port: number;
  let limitedPort: number;

  before(async () => {
    redis = await startRedis();
    [port, limitedPort] = [await freePort(), await freePort()];
    const yaml = [
      'main:',
      `  listen: 127.0.0.1:${port}`,
      '  redis: true',
      '  servers:',
      `    - 127.0.0.1:${redis.port}:1 r0`,
      'limited:',
      `  listen: 127.0.0.1:${limitedPort}`,
      '  redis: true',
      '  client_connections: 1',
      '  servers:',
      `    - 127.0.0.1:${redis.port}:1 r0`,
      '',
    ].join('\n');
    walnut = await startWalnut(yaml, { listenPorts: [port, limitedPort], args: ['-v', '6'] });
  });

  after(async () => {
    await walnut.stop();
    await redis.stop();
  });

  test('a client that half-closes with part of a request: "eof c <peer> discarding incomplete req len <n>"', async () => {
    const partial = '*2\r\n$3\r\nGET\r\n$5\r\nab';
    const s: Socket = await openSocket(port);
    const peer = `127.0.0.1:${s.localPort}`;
    s.resume();
    const closed = new Promise((resolve) => s.on('close', resolve));
    s.end(partial);
    await closed;
    assert.ok(
      logMessages(walnut.logPath).includes(`eof c ${peer} discarding incomplete req len ${partial.length}`),
      logMessages(walnut.logPath).join('\n'),
    );
    // A client that half-closes after whole requests is not reported.
    const whole = await openSocket(port);
    const wholePeer = `127.0.0.1:${whole.localPort}`;
    whole.resume();
    const wholeClosed = new Promise((resolve) => whole.on('close', resolve));
    whole.end(encodeCommand(['PING']));
    await wholeClosed;
    assert.ok(!logMessages(walnut.logPath).some((m) => m.startsWith(`eof c ${wholePeer} `)));
  });

  test('a client over client_connections: "pool <name>: client limit <n> reached"', async () => {
    const first = await RawClient.connect(limitedPort);
    first.command('PING');
    assert.equal(await first.readText('+PONG\r\n'), '+PONG\r\n');
    const second = await RawClient.connect(limitedPort);
    assert.equal((await second.readToEnd()).toString('latin1'), '-ERR max number of clients reached\r\n');
    assert.ok(logMessages(walnut.logPath).includes('pool limited: client limit 1 reached'));
    first.destroy();
  });

  test('a client\'s connection error: "client <peer> error: ECONNRESET"', async () => {
    // The peer is looked up when the message is written, and a reset connection no longer has
    // one: it reads "unknown" then (twemproxy's nc_unresolve_peer_desc does the same).
    const resets = (): number => logMessages(walnut.logPath).filter((m) => /^client \S+ error: ECONNRESET$/.test(m)).length;
    const before = (await walnut.stats()) as Stats;
    const logged = resets();
    const s = await openSocket(port);
    s.on('error', () => undefined);
    s.resetAndDestroy();
    for (let i = 0; resets() === logged; i++) {
      assert.ok(i < 500, 'the reset is logged');
      await sleep(20);
    }
    assert.equal(resets(), logged + 1);
    const after = (await walnut.stats()) as Stats;
    assert.equal(poolStat(after, 'main', 'client_err') - poolStat(before, 'main', 'client_err'), 1);
  });

  test('a server that closes the connection: "close s <host:port:weight>: eof"', async () => {
    const c = await RawClient.connect(port);
    c.command('PING');
    assert.equal(await c.readText('+PONG\r\n'), '+PONG\r\n');
    c.command('SET', 'info-log:k', 'v');
    assert.equal(await c.readText('+OK\r\n'), '+OK\r\n');
    const line = `close s 127.0.0.1:${redis.port}:1: eof`;
    const times = logMessages(walnut.logPath).filter((m) => m === line).length;
    // Redis drops every client connection but this one: Walnut's server connections.
    const direct = await RawClient.connect(redis.port);
    direct.command('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    const killed = (await direct.readLine()).toString('latin1');
    assert.match(killed, /^:[1-9][0-9]*\r\n$/);
    direct.destroy();
    await waitForLogMessage(walnut.logPath, line, times + Number(killed.slice(1, -2)));
    for (let i = 0; ; i++) {
      const s = (await walnut.stats()) as Stats;
      if (serverStat(s, 'main', 'r0', 'server_connections') === 0) break;
      assert.ok(i < 200, 'Walnut saw the close');
      await sleep(20);
    }
    c.destroy();
  });
});
