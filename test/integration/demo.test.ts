// The README's first command, `npm start`, ends in `node dist/scripts/demo.js`; with --once it
// runs the whole demonstration (its own redis-servers, memcached and Walnut, commands through
// both pools, stats) and stops everything it started. This runs it as a user would.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const DEMO = fileURLToPath(new URL('../../scripts/demo.js', import.meta.url));

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

test('npm start -- --once: both pools answer, stats are shown, and everything it started is stopped', { skip: !existsSync(DEMO) && 'dist/ not built' }, async () => {
  const child = spawn(process.execPath, [DEMO, '--once'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, out);

  // How to connect, with the ports it chose.
  const redisPort = Number(/redis-cli -p (\d+)/.exec(out)?.[1]);
  const memcachePort = Number(/nc 127\.0\.0\.1 (\d+)\s/.exec(out)?.[1]);
  const statsPort = Number(/stats \(JSON from 127\.0\.0\.1:(\d+)\)/.exec(out)?.[1]);
  assert.ok(redisPort > 0 && memcachePort > 0 && statsPort > 0, out);

  // Both pools served the demonstration's commands, spread over their servers.
  assert.match(out, /redis_demo: client_connections=\d+ forward_error=0/);
  assert.match(out, /memcache_demo: client_connections=\d+ forward_error=0/);
  for (const server of ['redis1', 'redis2', 'redis3', 'mc1', 'mc2']) {
    const m = new RegExp(`${server}\\s+requests=(\\d+) responses=(\\d+)`).exec(out);
    assert.ok(m !== null, `${server} in the stats: ${out}`);
    assert.ok(Number(m[1]) > 0, `${server} was sent requests`);
    assert.equal(m[1], m[2], `${server} answered every request`);
  }
  assert.match(out, /--once: stopped everything\./);

  // Nothing is left listening where Walnut and the backends it started were.
  const backendPorts = [...out.matchAll(/127\.0\.0\.1:(\d+) \(pid \d+\)/g)].map((m) => Number(m[1]));
  assert.equal(backendPorts.length, 5, `3 redis-servers and 2 memcached listed: ${out}`);
  for (const port of [redisPort, memcachePort, statsPort, ...backendPorts]) {
    assert.equal(await accepts(port), false, `port ${port} closed`);
  }
});
