// EVALSHA with a digest that is not 40 bytes long: Redis answers -NOSCRIPT before it reads
// numkeys, so a bad numkeys must not turn that reply into a numkeys error (found by a random
// differential of Walnut against a direct redis-server).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { freePort, startRedis, startWalnut, type Running, type RunningProxy } from '../../scripts/lib/processes.js';
import { encodeCommand, RawClient } from './support/raw-client.js';

let server: Running;
let direct: Running;
let walnut: RunningProxy;

before(async () => {
  [server, direct] = await Promise.all([startRedis(), startRedis()]);
  const port = await freePort();
  const yaml = ['p:', `  listen: 127.0.0.1:${port}`, '  redis: true', '  servers:', `    - 127.0.0.1:${server.port}:1 s1`, ''].join('\n');
  walnut = await startWalnut(yaml, { listenPorts: [port] });
});

after(async () => {
  await walnut.stop();
  await Promise.all([server.stop(), direct.stop()]);
});

/** Sends the requests and reads `lines` one-line replies. */
async function exchange(port: number, requests: Buffer, lines: number): Promise<string> {
  const client = await RawClient.connect(port);
  try {
    await client.send(requests);
    let got = '';
    for (let i = 0; i < lines; i++) got += (await client.readLine()).toString('latin1');
    return got;
  } finally {
    client.destroy();
  }
}

const cmd = (...args: string[]): Buffer => encodeCommand(args);

test('EVALSHA with a short digest gets NOSCRIPT whatever numkeys is, as from Redis', async () => {
  const reqs = [
    cmd('EVALSHA', 'abc', '1'), // numkeys past the arguments
    cmd('evalsha', 'abc', '-1', '{t}d'), // negative
    cmd('EValSha', 'abc', 'x', '{t}d', '{t}b'), // not an integer
    cmd('EVALSHA', 'abc', '0'), // no key
    cmd('EVALSHA_RO', 'abc', '0'),
    cmd('EVALSHA', 'abc', '1', 'k'), // valid numkeys: forwarded
    cmd('EVALSHA', 'e0e1f9fabfc9d4800c877a703b823ac0578ff8db', '-1', 'k'), // 40 bytes: numkeys first
  ];
  const n = reqs.length;
  const [viaWalnut, viaRedis] = await Promise.all([exchange(walnut.port, Buffer.concat(reqs), n), exchange(direct.port, Buffer.concat(reqs), n)]);
  // EVALSHA_RO exists in Redis 7+; a server without it would answer differently, but both sides
  // here are the same redis-server.
  assert.equal(viaWalnut, viaRedis);
  assert.match(viaWalnut, /^-NOSCRIPT No matching script\. Please use EVAL\.\r\n/);
});
