// A client's replies that are ready wait at most one loop turn for the rest of its pipeline
// (ClientConn.flush): with a later request stuck on a stopped server, the replies before it
// still go out, and the ones after it wait, in order, until that server answers.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { freePort, startRedis, startWalnut, type Running, type RunningProxy } from '../../scripts/lib/processes.js';
import { encodeCommand, RawClient } from './support/raw-client.js';

describe('replies ready before a request on a stopped server', () => {
  let servers: Running[] = [];
  let walnut: RunningProxy;
  /** A key held by servers[0] (live) and one held by servers[1] (stopped in the tests). */
  let liveKey = '';
  let stoppedKey = '';

  before(async () => {
    servers = await Promise.all([startRedis(), startRedis()]);
    const port = await freePort();
    const yaml =
      `wait:\n  listen: 127.0.0.1:${port}\n  redis: true\n  timeout: 10000\n  servers:\n` +
      servers.map((s, i) => `    - 127.0.0.1:${s.port}:1 s${i}\n`).join('');
    walnut = await startWalnut(yaml, { listenPorts: [port] });
    // Which server holds which key: write through Walnut, then ask each server.
    const client = await RawClient.connect(port);
    // (Keys that differ in one trailing digit all land on one of two servers named s0 and s1:
    // fnv1a_64 on twemproxy's ketama, as nutcracker places them.)
    const keys = Array.from({ length: 64 }, (_, i) => `wait-${i}-${i * 7919}`);
    for (const k of keys) client.command('SET', k, `v-${k}`);
    assert.equal(await client.readText('+OK\r\n'.repeat(keys.length)), '+OK\r\n'.repeat(keys.length));
    client.destroy();
    const owners = await Promise.all(servers.map((s) => keysOn(s.port, keys)));
    liveKey = owners[0]![0] ?? '';
    stoppedKey = owners[1]![0] ?? '';
    assert.ok(liveKey !== '' && stoppedKey !== '', `keys on both servers: ${JSON.stringify(owners)}`);
  });

  after(async () => {
    await walnut?.stop();
    await Promise.all(servers.map((s) => s.stop()));
  });

  const bulk = (key: string): string => `$${`v-${key}`.length}\r\nv-${key}\r\n`;

  test('the replies before the stuck request go out; the ones after it wait for it, in order', async () => {
    const client = await RawClient.connect(walnut.port);
    await servers[1]!.pause();
    try {
      const pipeline = [liveKey, liveKey, stoppedKey, liveKey].map((k) => encodeCommand(['GET', k]));
      await client.send(Buffer.concat(pipeline));
      // A wait for the whole pipeline would hold these until the server is back (10 s timeout).
      assert.equal(await client.readText(bulk(liveKey) + bulk(liveKey), 2000), bulk(liveKey) + bulk(liveKey));
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(client.pending, 0, 'nothing overtakes the request on the stopped server');
    } finally {
      servers[1]!.resume();
    }
    const rest = bulk(stoppedKey) + bulk(liveKey);
    assert.equal(await client.readText(rest), rest);
    client.destroy();
  });
});

/** The keys of `keys` that the redis on `port` holds. */
async function keysOn(port: number, keys: string[]): Promise<string[]> {
  const client = await RawClient.connect(port);
  for (const k of keys) client.command('EXISTS', k);
  const held: string[] = [];
  for (const k of keys) {
    const line = (await client.readLine()).toString('latin1');
    if (line === ':1\r\n') held.push(k);
  }
  client.destroy();
  return held;
}
