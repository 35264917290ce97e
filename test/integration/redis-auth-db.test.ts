// redis_auth and redis_db against password-protected real redis-servers: clients authenticate
// to Walnut, Walnut authenticates to the servers (AUTH before SELECT on every new connection),
// and data lands in the configured database.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { freePort, startRedis, startWalnut, type Running, type RunningProxy } from '../../scripts/lib/processes.js';
import { RawClient } from './support/raw-client.js';

const PASSWORD = 'hellopasswd';

describe('redis_auth and redis_db', () => {
  let shards: Running[] = [];
  let walnut: RunningProxy;
  let authPort: number;
  let noAuthPort: number;
  let wrongAuthPort: number;
  let wrongAuthDbPort: number;

  before(async () => {
    shards = await Promise.all([startRedis({ password: PASSWORD }), startRedis({ password: PASSWORD })]);
    [authPort, noAuthPort, wrongAuthPort, wrongAuthDbPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const servers = ['  servers:', ...shards.map((s, i) => `    - 127.0.0.1:${s.port}:1 s${i}`)];
    const yaml = [
      'authed:',
      `  listen: 127.0.0.1:${authPort}`,
      '  redis: true',
      `  redis_auth: ${PASSWORD}`,
      '  redis_db: 3',
      ...servers,
      'noauth:',
      `  listen: 127.0.0.1:${noAuthPort}`,
      '  redis: true',
      ...servers,
      'wrongauth:',
      `  listen: 127.0.0.1:${wrongAuthPort}`,
      '  redis: true',
      '  redis_auth: not-the-password',
      ...servers,
      'wrongauthdb:',
      `  listen: 127.0.0.1:${wrongAuthDbPort}`,
      '  redis: true',
      '  redis_auth: not-the-password',
      '  redis_db: 3',
      ...servers,
      '',
    ].join('\n');
    walnut = await startWalnut(yaml, { listenPorts: [authPort, noAuthPort, wrongAuthPort, wrongAuthDbPort] });
  });

  after(async () => {
    await walnut.stop();
    await Promise.all(shards.map((s) => s.stop()));
  });

  test('clients must AUTH with the pool password before anything else', async () => {
    const c = await RawClient.connect(authPort);
    c.command('GET', 'k');
    assert.equal(await c.readText('-NOAUTH Authentication required\r\n'), '-NOAUTH Authentication required\r\n');
    c.command('PING');
    assert.equal(await c.readText('-NOAUTH Authentication required\r\n'), '-NOAUTH Authentication required\r\n');
    c.command('AUTH', 'wrong');
    assert.equal(await c.readText('-ERR invalid password\r\n'), '-ERR invalid password\r\n');
    c.command('AUTH', PASSWORD);
    assert.equal(await c.readText('+OK\r\n'), '+OK\r\n');
    c.command('SET', 'authed:key', 'in-db-3');
    assert.equal(await c.readText('+OK\r\n'), '+OK\r\n');
    c.command('AUTH', 'wrong-again');
    assert.equal(await c.readText('-ERR invalid password\r\n'), '-ERR invalid password\r\n');
    c.command('GET', 'authed:key');
    assert.equal(await c.readText('-NOAUTH Authentication required\r\n'), '-NOAUTH Authentication required\r\n');
    c.destroy();
  });

  test('data written through the pool lands in redis_db on the servers', async () => {
    const client = new Redis({ port: authPort, host: '127.0.0.1', password: PASSWORD, enableReadyCheck: false });
    const keys = Array.from({ length: 40 }, (_, i) => `db:${i}`);
    await client.mset(...keys.flatMap((k) => [k, k.toUpperCase()]));
    assert.deepEqual(await client.mget(...keys), keys.map((k) => k.toUpperCase()));
    client.disconnect();
    let inDb3 = 0;
    let inDb0 = 0;
    for (const s of shards) {
      const direct = new Redis({ port: s.port, host: '127.0.0.1', password: PASSWORD });
      inDb0 += await direct.exists(...keys);
      await direct.select(3);
      inDb3 += await direct.exists(...keys);
      direct.disconnect();
    }
    assert.equal(inDb3, keys.length);
    assert.equal(inDb0, 0);
  });

  test('a pool without redis_auth passes the servers\' NOAUTH through', async () => {
    const c = await RawClient.connect(noAuthPort);
    c.command('AUTH', 'anything');
    assert.equal(
      await c.readText('-ERR Client sent AUTH, but no password is set\r\n'),
      '-ERR Client sent AUTH, but no password is set\r\n',
    );
    c.command('PING');
    assert.equal(await c.readText('+PONG\r\n'), '+PONG\r\n');
    c.command('GET', 'k');
    const line = (await c.read(8)).toString('latin1');
    assert.equal(line, '-NOAUTH ');
    c.destroy();
  });

  test('with a wrong redis_auth the client is let in but the servers refuse', async () => {
    const c = await RawClient.connect(wrongAuthPort);
    c.command('AUTH', 'not-the-password');
    assert.equal(await c.readText('+OK\r\n'), '+OK\r\n');
    c.command('GET', 'k');
    assert.equal((await c.read(8)).toString('latin1'), '-NOAUTH ');
    c.destroy();
  });

  test('with a wrong redis_auth and a redis_db, the SELECT refused for want of AUTH does not hide the NOAUTH', async () => {
    const c = await RawClient.connect(wrongAuthDbPort);
    c.command('AUTH', 'not-the-password');
    assert.equal(await c.readText('+OK\r\n'), '+OK\r\n');
    c.command('GET', 'k');
    assert.equal((await c.read(8)).toString('latin1'), '-NOAUTH ');
    c.destroy();
  });
});

describe('a redis_db the server refuses', () => {
  let redis: Running;
  let walnut: RunningProxy;
  let port: number;

  before(async () => {
    redis = await startRedis();
    port = await freePort();
    const yaml = ['far:', `  listen: 127.0.0.1:${port}`, '  redis: true', '  redis_db: 20', '  servers:', `    - 127.0.0.1:${redis.port}:1`, ''];
    walnut = await startWalnut(yaml.join('\n'), { listenPorts: [port] });
  });

  after(async () => {
    await walnut.stop();
    await redis.stop();
  });

  // twemproxy writes the SELECT and the requests behind it at once: they run on database 0.
  test('fails the requests instead of running them on database 0, and says why in the log', async () => {
    const c = await RawClient.connect(port);
    c.command('SET', 'far:key', 'v');
    c.command('GET', 'far:key');
    const want = '-ERR Invalid argument\r\n'.repeat(2);
    assert.equal(await c.readText(want), want);
    c.destroy();
    const direct = await RawClient.connect(redis.port);
    direct.command('EXISTS', 'far:key');
    assert.equal(await direct.readText(':0\r\n'), ':0\r\n');
    direct.destroy();
    assert.match(readFileSync(walnut.logPath, 'utf8'), /SELECT 20 failed on far \| 127\.0\.0\.1:\d+: -ERR DB index is out of range; closing the connection, its requests fail/);
  });
});
