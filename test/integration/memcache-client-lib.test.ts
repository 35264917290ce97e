// The npm `memcached` client library against a Walnut pool of three memcached: set, get,
// getMulti, incr/decr, del and friends give the same results as the library pointed straight
// at a memcached (the client sees Walnut as one server).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Memcached from 'memcached';
import { freePort, startMemcached, startWalnut, type Running, type RunningProxy } from '../../scripts/lib/processes.js';
import { memcachePoolYaml } from './support/memcache-client.js';

/** Promise wrappers over the callback API (only what the tests use). */
class Client {
  private readonly mc: Memcached;

  constructor(port: number) {
    // One server from the client's point of view.
    this.mc = new Memcached(`127.0.0.1:${port}`, { timeout: 5000, poolSize: 10 });
  }

  private call<T>(run: (cb: (err: unknown, data: T) => void) => void): Promise<T> {
    return new Promise((resolve, reject) => {
      run((err, data) => {
        if (err !== undefined && err !== null && err !== false) reject(err instanceof Error ? err : new Error(String(err)));
        else resolve(data);
      });
    });
  }

  set = (key: string, value: unknown, lifetime = 0): Promise<boolean> => this.call((cb) => this.mc.set(key, value, lifetime, cb));
  add = (key: string, value: unknown): Promise<boolean> => this.call((cb) => this.mc.add(key, value, 0, cb));
  replace = (key: string, value: unknown): Promise<boolean> => this.call((cb) => this.mc.replace(key, value, 0, cb));
  append = (key: string, value: unknown): Promise<boolean> => this.call((cb) => this.mc.append(key, value, cb));
  get = (key: string): Promise<unknown> => this.call((cb) => this.mc.get(key, cb));
  gets = (key: string): Promise<Record<string, unknown>> => this.call((cb) => this.mc.gets(key, cb));
  cas = (key: string, value: unknown, cas: string): Promise<boolean> => this.call((cb) => this.mc.cas(key, value, cas, 0, cb));
  getMulti = (keys: string[]): Promise<Record<string, unknown>> => this.call((cb) => this.mc.getMulti(keys, cb));
  incr = (key: string, by: number): Promise<boolean | number> => this.call((cb) => this.mc.incr(key, by, cb));
  decr = (key: string, by: number): Promise<boolean | number> => this.call((cb) => this.mc.decr(key, by, cb));
  del = (key: string): Promise<boolean> => this.call((cb) => this.mc.del(key, cb));
  touch = (key: string, lifetime: number): Promise<void> => this.call((cb) => this.mc.touch(key, lifetime, (err) => cb(err, undefined)));

  end(): void {
    this.mc.end();
  }
}

describe('the npm memcached client through Walnut', () => {
  let shards: Running[] = [];
  let reference: Running;
  let walnut: RunningProxy;
  let port: number;

  before(async () => {
    [reference, ...shards] = await Promise.all([startMemcached(), startMemcached(), startMemcached(), startMemcached()]);
    port = await freePort();
    walnut = await startWalnut(memcachePoolYaml([{ name: 'mc', port, servers: shards.map((s) => s.port) }]), {
      listenPorts: [port],
    });
  });

  after(async () => {
    await walnut.stop();
    await Promise.all([reference, ...shards].map((s) => s.stop()));
  });

  /** The result, or the error message the library gives (it reports NOT_STORED as an error). */
  async function settle(p: Promise<unknown>): Promise<unknown> {
    try {
      return await p;
    } catch (err) {
      return `error: ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  /** The same scenario run through Walnut and straight against memcached gives the same log. */
  async function scenario(c: Client): Promise<unknown[]> {
    const log: unknown[] = [];
    const keys = Array.from({ length: 30 }, (_, i) => `lib:${i}`);
    for (const [i, k] of keys.entries()) log.push(await c.set(k, `value ${i}`));
    log.push(await c.get('lib:7'));
    log.push(await c.get('lib:none'));
    log.push(await c.getMulti([...keys, 'lib:none1', 'lib:none2']));
    log.push(await c.set('lib:obj', { a: 1, list: [1, 2, 3], s: 'x' }));
    log.push(await c.get('lib:obj'));
    log.push(await c.set('lib:buf', Buffer.from([0, 1, 2, 13, 10, 255])));
    log.push(await c.get('lib:buf'));
    log.push(await c.set('lib:n', 10));
    log.push(await c.incr('lib:n', 5));
    log.push(await c.decr('lib:n', 3));
    log.push(await c.incr('lib:missing', 1));
    log.push(await c.get('lib:n'));
    log.push(await settle(c.add('lib:n', 1)));
    log.push(await c.add('lib:added', 'a'));
    log.push(await c.replace('lib:added', 'b'));
    log.push(await c.append('lib:added', 'c'));
    log.push(await c.get('lib:added'));
    const g = await c.gets('lib:added');
    log.push(g['lib:added'], typeof g['cas']);
    log.push(await c.cas('lib:added', 'd', String(g['cas'])));
    log.push(await settle(c.cas('lib:added', 'e', String(g['cas']))));
    log.push(await c.get('lib:added'));
    await c.touch('lib:added', 100);
    log.push(await c.del('lib:7'));
    log.push(await c.del('lib:7'));
    log.push(await c.getMulti(['lib:6', 'lib:7', 'lib:8']));
    const big = 'x'.repeat(500_000);
    log.push(await c.set('lib:big', big));
    log.push((await c.get('lib:big')) === big);
    return log;
  }

  test('set, get, getMulti, incr, decr, del, add, replace, append, cas, touch', async () => {
    const viaWalnut = new Client(port);
    const direct = new Client(reference.port);
    try {
      const [w, d] = [await scenario(viaWalnut), await scenario(direct)];
      assert.deepEqual(w, d);
      // And the results are the expected ones, not just equal.
      assert.equal(w[30], 'value 7');
      assert.equal(w[31], undefined);
      const multi = w[32] as Record<string, unknown>;
      assert.equal(Object.keys(multi).length, 30);
      assert.equal(multi['lib:29'], 'value 29');
      assert.deepEqual(w[34], { a: 1, list: [1, 2, 3], s: 'x' });
      assert.deepEqual(w[36], Buffer.from([0, 1, 2, 13, 10, 255]));
      assert.deepEqual(w.slice(38, 42), [15, 12, false, 12]);
      assert.equal(w[46], 'bc');
      assert.equal(w[42], 'error: Item is not stored');
      assert.equal(w[49], true);
      assert.equal(w[50], false);
      assert.equal(w[51], 'd');
      assert.deepEqual(w.slice(52, 55), [true, false, { 'lib:6': 'value 6', 'lib:8': 'value 8' }]);
      assert.equal(w[56], true);
    } finally {
      viaWalnut.end();
      direct.end();
    }
  });

  test('the keys really are spread over the three servers', async () => {
    const perServer = await Promise.all(
      shards.map(async (s) => {
        const c = new Client(s.port);
        try {
          const keys = Array.from({ length: 30 }, (_, i) => `lib:${i}`);
          return Object.keys(await c.getMulti(keys)).length;
        } finally {
          c.end();
        }
      }),
    );
    for (const n of perServer) assert.ok(n > 0, `per server: ${perServer.join(', ')}`);
    assert.equal(perServer.reduce((a, b) => a + b, 0), 29); // lib:7 was deleted
  });

  test('many concurrent operations from one client', async () => {
    const c = new Client(port);
    try {
      await Promise.all(Array.from({ length: 100 }, (_, i) => c.set(`conc:${i}`, `v${i}`)));
      const got = await Promise.all(Array.from({ length: 100 }, (_, i) => c.get(`conc:${i}`)));
      assert.deepEqual(got, Array.from({ length: 100 }, (_, i) => `v${i}`));
      const multi = await c.getMulti(Array.from({ length: 100 }, (_, i) => `conc:${i}`));
      assert.equal(Object.keys(multi).length, 100);
      const counters = await Promise.all(Array.from({ length: 50 }, () => c.incr('lib:n', 1)));
      assert.deepEqual([...counters].sort((a, b) => Number(a) - Number(b)), Array.from({ length: 50 }, (_, i) => 13 + i));
    } finally {
      c.end();
    }
  });
});
