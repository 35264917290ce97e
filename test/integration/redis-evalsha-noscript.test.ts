// EVALSHA with a digest that is not 40 bytes long: Redis answers -NOSCRIPT before it reads
// numkeys, so a bad numkeys must not turn that reply into a numkeys error (found by a random
// differential of Walnut against a direct redis-server).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { freePort, startRedis, startWalnut, type Running, type RunningProxy } from '../../scripts/lib/processes.js';

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

/** Sends the bytes and collects `lines` CRLF-terminated reply lines (all replies here are one line). */
function exchange(port: number, bytes: string, lines: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`timeout, got ${JSON.stringify(got)}`)); }, 5000);
    sock.on('data', (d) => {
      got += d.toString('latin1');
      if (got.split('\r\n').length - 1 >= lines) { clearTimeout(timer); sock.destroy(); resolve(got); }
    });
    sock.on('error', reject);
    sock.write(bytes, 'latin1');
  });
}

const cmd = (...args: string[]): string => `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a, 'latin1')}\r\n${a}\r\n`).join('');

test('EVALSHA with a short digest gets NOSCRIPT whatever numkeys is, as from Redis', async () => {
  const reqs = [
    cmd('EVALSHA', 'abc', '1'), // numkeys past the arguments
    cmd('evalsha', 'abc', '-1', '{t}d'), // negative
    cmd('EValSha', 'abc', 'x', '{t}d', '{t}b'), // not an integer
    cmd('EVALSHA', 'abc', '0'), // no key
    cmd('EVALSHA_RO', 'abc', '0'),
    cmd('EVALSHA', 'abc', '1', 'k'), // valid numkeys: forwarded
    cmd('EVALSHA', 'e0e1f9fabfc9d4800c877a703b823ac0578ff8db', '-1', 'k'), // 40 bytes: numkeys first
  ].join('');
  const n = 7;
  const [viaWalnut, viaRedis] = await Promise.all([exchange(walnut.port, reqs, n), exchange(direct.port, reqs, n)]);
  // EVALSHA_RO exists in Redis 7+; a server without it would answer differently, but both sides
  // here are the same redis-server.
  assert.equal(viaWalnut, viaRedis);
  assert.match(viaWalnut, /^-NOSCRIPT No matching script\. Please use EVAL\.\r\n/);
});
