// Multi-key retrieval through a Walnut pool of three memcached: keys really spread over every
// server, the merged reply equal to what one memcached answers for the same keys in the same
// order, noreply pipelines followed by a multi-get, and very long / large multi-gets.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { freePort, startMemcached, startWalnut, type Running, type RunningProxy } from '../../scripts/lib/processes.js';
import { McClient, memcachePoolYaml } from './support/memcache-client.js';

describe('memcache multi-get across three servers', () => {
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

  /** Send `request` on a fresh connection to `target` and read `replies` replies. */
  async function ask(target: number, request: string | Buffer, replies: number, timeoutMs = 10_000): Promise<string> {
    const c = await McClient.connect(target);
    await c.send(request);
    const r = (await c.readReplies(replies, timeoutMs)).toString('latin1');
    assert.equal(c.pending, 0, 'no bytes beyond the expected replies');
    c.destroy();
    return r;
  }

  /** Which of `keys` each shard holds, asked directly (one multi-get per shard). */
  async function placement(keys: readonly string[]): Promise<string[][]> {
    const held: string[][] = [];
    for (const s of shards) {
      const r = await ask(s.port, `get ${keys.join(' ')}\r\n`, 1);
      held.push([...r.matchAll(/^VALUE (\S+) /gm)].map((m) => m[1]!));
    }
    return held;
  }

  /** A deterministic shuffle (so a failure reproduces). */
  function shuffled<T>(items: readonly T[], seed: number): T[] {
    const out = [...items];
    let x = seed;
    for (let i = out.length - 1; i > 0; i--) {
      x = (x * 1103515245 + 12345) % 2147483648;
      const j = x % (i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  test('100 keys spread over all three servers; the merged reply equals one memcached', async () => {
    const keys = Array.from({ length: 100 }, (_, i) => `spread:${i}`);
    const sets = keys.map((k, i) => `set ${k} ${i * 7} 0 ${k.length + 2}\r\n<${k}>\r\n`).join('');
    assert.equal(await ask(port, sets, keys.length), 'STORED\r\n'.repeat(keys.length));
    assert.equal(await ask(reference.port, sets, keys.length), 'STORED\r\n'.repeat(keys.length));

    const held = await placement(keys);
    for (const [i, h] of held.entries()) assert.ok(h.length > 0, `server ${i} holds some of the keys`);
    assert.deepEqual(held.flat().sort(), [...keys].sort(), 'every key on exactly one server');

    // Request order differs from storage order; misses and a duplicate are mixed in.
    const order = shuffled([...keys, 'spread:miss1', 'spread:miss2', 'spread:42'], 7);
    for (const cmd of ['get', 'gets']) {
      const viaWalnut = await ask(port, `${cmd} ${order.join(' ')}\r\n`, 1);
      const direct = await ask(reference.port, `${cmd} ${order.join(' ')}\r\n`, 1);
      const mask = (s: string): string => (cmd === 'gets' ? s.replace(/^(VALUE \S+ \d+ \d+) \d+\r\n/gm, '$1\r\n') : s);
      assert.equal(mask(viaWalnut), mask(direct), cmd);
      const want = order
        .filter((k) => !k.includes('miss'))
        .map((k) => `VALUE ${k} ${Number(k.slice(7)) * 7} ${k.length + 2}\r\n<${k}>\r\n`)
        .join('');
      assert.equal(mask(viaWalnut), `${want}END\r\n`, cmd);
    }
  });

  test('1,000 noreply sets then one multi-get of all of them', async () => {
    const n = 1000;
    const keys = Array.from({ length: n }, (_, i) => `k_${i}`);
    const value = (i: number): string => `value-${i}-${'x'.repeat(i % 37)}`;
    const sets = keys.map((k, i) => `set ${k} ${i} 0 ${value(i).length} noreply\r\n${value(i)}\r\n`).join('');
    const get = `get ${keys.join(' ')}\r\n`;
    const want = keys.map((k, i) => `VALUE ${k} ${i} ${value(i).length}\r\n${value(i)}\r\n`).join('') + 'END\r\n';
    // Sets and the get in one write: the get must see every set (per-server order is kept).
    assert.equal(await ask(port, sets + get, 1), want);
    assert.equal(await ask(reference.port, sets + get, 1), want);
    const held = await placement(keys);
    for (const [i, h] of held.entries()) assert.ok(h.length > 0, `server ${i} holds some of the keys`);
    assert.equal(held.flat().length, n);
  });

  test('noreply sets pipelined with multi-gets on many connections at once', async () => {
    const run = async (c: number): Promise<void> => {
      const client = await McClient.connect(port);
      let expected = '';
      let request = '';
      for (let round = 0; round < 20; round++) {
        const keys = [0, 1, 2, 3, 4].map((j) => `pl:${c}:${j}`);
        for (const [j, k] of keys.entries()) {
          const v = `${c}-${round}-${j}`;
          request += `set ${k} ${round} 0 ${v.length} noreply\r\n${v}\r\n`;
        }
        request += `get ${keys.join(' ')} pl:${c}:none\r\n`;
        expected += keys.map((k, j) => `VALUE ${k} ${round} ${`${c}-${round}-${j}`.length}\r\n${c}-${round}-${j}\r\n`).join('') + 'END\r\n';
      }
      await client.send(request);
      assert.equal((await client.readReplies(20, 10_000)).toString('latin1'), expected, `client ${c}`);
      client.destroy();
    };
    await Promise.all(Array.from({ length: 20 }, (_, c) => run(c)));
  });

  test('a 3,000-key get (a 40 KB request line) equals one memcached', async () => {
    const keys = Array.from({ length: 3000 }, (_, i) => `long:${i.toString(36)}:${'k'.repeat(i % 5)}`);
    const present = keys.filter((_, i) => i % 3 !== 0);
    const sets = present.map((k) => `set ${k} 0 0 ${k.length} noreply\r\n${k}\r\n`).join('') + 'version\r\n';
    await ask(port, sets, 1);
    await ask(reference.port, sets, 1);
    const get = `get ${keys.join(' ')}\r\n`;
    assert.ok(get.length > 32_768);
    const viaWalnut = await ask(port, get, 1);
    assert.equal(viaWalnut, await ask(reference.port, get, 1));
    assert.equal(viaWalnut, present.map((k) => `VALUE ${k} 0 ${k.length}\r\n${k}\r\n`).join('') + 'END\r\n');
    // The connection that sent the long line keeps working.
    const c = await McClient.connect(port);
    await c.send(get + `get ${present[0]!}\r\n`);
    assert.equal((await c.readReplies(2, 10_000)).toString('latin1'), viaWalnut + `VALUE ${present[0]!} 0 ${present[0]!.length}\r\n${present[0]!}\r\nEND\r\n`);
    c.destroy();
  });

  test('a multi-get of large values from every server is merged intact', async () => {
    const keys = Array.from({ length: 12 }, (_, i) => `bigm:${i}`);
    const values = keys.map((_, i) => {
      const b = Buffer.alloc(100_000 + i * 1_000);
      for (let j = 0; j < b.length; j++) b[j] = (j * 31 + i) & 0xff;
      return b;
    });
    const req = Buffer.concat(
      keys.flatMap((k, i) => [Buffer.from(`set ${k} ${i} 0 ${values[i]!.length}\r\n`), values[i]!, Buffer.from('\r\n')]),
    );
    assert.equal(await ask(port, req, keys.length), 'STORED\r\n'.repeat(keys.length));
    const held = await placement(keys);
    for (const h of held) assert.ok(h.length > 0);
    const order = shuffled(keys, 3);
    const c = await McClient.connect(port);
    await c.send(`get ${order.join(' ')}\r\n`);
    const got = await c.readReply(10_000);
    const want = Buffer.concat([
      ...order.flatMap((k) => {
        const i = Number(k.slice(5));
        return [Buffer.from(`VALUE ${k} ${i} ${values[i]!.length}\r\n`), values[i]!, Buffer.from('\r\n')];
      }),
      Buffer.from('END\r\n'),
    ]);
    assert.ok(got.equals(want), 'merged reply bytes');
    assert.ok(c.reads > 1, 'the reply arrived in several reads');
    c.destroy();
  });
});
