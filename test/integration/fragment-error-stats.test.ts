// A split request (MGET, DEL, MSET, TOUCH over two servers) whose sub-reply from one server is
// an error gets `-ERR Invalid argument`, a reply the proxy makes: twemproxy counts it in
// forward_error like any other error reply of its own (rsp_send_next), and so must Walnut, or
// an alert on forward_error stays silent while every such request fails. Checked against
// Debian's nutcracker, with one server of the pool wanting a password the pool does not have
// (spec 4.6, 8.3).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startRedis, type Running, type RunningProxy } from '../../scripts/lib/processes.js';
import { RawClient } from './support/raw-client.js';
import { startBoth } from './support/side-by-side.js';
import { poolStat, type Stats } from './support/stats.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const INVALID = '-ERR Invalid argument\r\n';
const NOAUTH = '-NOAUTH Authentication required.\r\n';

describe('forward_error counts split requests failed by a sub-reply, as nutcracker does', () => {
  let servers: Running[] = [];
  const sides: Record<'walnut' | 'nutcracker', { proxy: RunningProxy; client: RawClient }> = {} as never;

  before(async () => {
    // `locked` wants a password; the pool has no redis_auth, so its sub-replies are -NOAUTH.
    servers = await Promise.all([startRedis(), startRedis({ password: 'secret' })]);
    const yaml = (port: number): string =>
      [
        'frag:',
        `  listen: 127.0.0.1:${port}`,
        '  redis: true',
        '  servers:',
        `    - 127.0.0.1:${servers[0]!.port}:1 open`,
        `    - 127.0.0.1:${servers[1]!.port}:1 locked`,
        '',
      ].join('\n');
    const { walnut, nutcracker } = await startBoth(yaml);
    sides.walnut = { proxy: walnut.proxy, client: await RawClient.connect(walnut.port) };
    sides.nutcracker = { proxy: nutcracker.proxy, client: await RawClient.connect(nutcracker.port) };
  });

  after(async () => {
    for (const s of Object.values(sides)) {
      s.client.destroy();
      await s.proxy.stop();
    }
    await Promise.all(servers.map((s) => s.stop()));
  });

  /** The same command through both proxies; both replies (single-line replies only). */
  const step = async (...args: string[]): Promise<[string, string]> => {
    const out: string[] = [];
    for (const side of [sides.walnut, sides.nutcracker]) {
      side.client.command(...args);
      out.push((await side.client.readLine()).toString('latin1'));
    }
    return [out[0]!, out[1]!];
  };

  test('the same replies, and the same forward_error', async () => {
    // A key on each server: the open one answers nil, the locked one -NOAUTH.
    let onOpen = '';
    let onLocked = '';
    for (let i = 0; i < 64 && (onOpen === '' || onLocked === ''); i++) {
      const key = `frag:${(i * 7919) % 1000}:${i}`;
      const [w, n] = await step('GET', key);
      assert.equal(w, n, `GET ${key}`);
      if (w === '$-1\r\n' && onOpen === '') onOpen = key;
      if (w === NOAUTH && onLocked === '') onLocked = key;
    }
    assert.ok(onOpen !== '' && onLocked !== '', 'a key on each server');

    assert.deepEqual(await step('MGET', onOpen, onLocked), [INVALID, INVALID]);
    assert.deepEqual(await step('DEL', onLocked, onOpen), [INVALID, INVALID]);
    assert.deepEqual(await step('MSET', onOpen, 'v', onLocked, 'v'), [INVALID, INVALID]);
    assert.deepEqual(await step('TOUCH', onOpen, onLocked), [INVALID, INVALID]);
    // The server's own error reply passed on is not one of the proxy's.
    assert.deepEqual(await step('GET', onLocked), [NOAUTH, NOAUTH]);
    assert.deepEqual(await step('PING'), ['+PONG\r\n', '+PONG\r\n']);

    // nutcracker's stats lag behind by up to its -i 100 and a turn of its event loop.
    let n = NaN;
    for (let i = 0; i < 100 && n !== 4; i++) {
      await sleep(50);
      n = poolStat((await sides.nutcracker.proxy.stats()) as Stats, 'frag', 'forward_error');
    }
    assert.equal(n, 4, 'nutcracker counts the four -ERR Invalid argument replies');
    const w = poolStat((await sides.walnut.proxy.stats()) as Stats, 'frag', 'forward_error');
    assert.equal(w, n, 'Walnut counts them as nutcracker does');
  });
});
