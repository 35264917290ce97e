// Large and binary memcache values through Walnut: a value just under memcached's default 1 MiB
// item limit and the SERVER_ERROR for one over it, 1.5 MiB values with `memcached -I 2m`,
// requests written in many small pieces and replies read in many chunks, all byte-exact.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { freePort, startMemcached, startWalnut, type Running, type RunningProxy } from '../../scripts/lib/processes.js';
import { exchange, McClient, memcachePoolYaml } from './support/memcache-client.js';

const MiB = 1024 * 1024;

/** A value whose bytes depend on their position and a seed, so shifted or mixed data shows. */
function pattern(length: number, seed: number): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = (i * 131 + seed * 17 + (i >> 8)) & 0xff;
  return b;
}

function setRequest(key: string, flags: number, value: Buffer, noreply = false): Buffer {
  return Buffer.concat([
    Buffer.from(`set ${key} ${flags} 0 ${value.length}${noreply ? ' noreply' : ''}\r\n`, 'latin1'),
    value,
    Buffer.from('\r\n', 'latin1'),
  ]);
}

function valueReply(entries: readonly [key: string, flags: number, value: Buffer][]): Buffer {
  return Buffer.concat([
    ...entries.flatMap(([k, f, v]) => [Buffer.from(`VALUE ${k} ${f} ${v.length}\r\n`, 'latin1'), v, Buffer.from('\r\n')]),
    Buffer.from('END\r\n', 'latin1'),
  ]);
}

describe('memcache values through Walnut', () => {
  let shards: Running[] = [];
  let bigShards: Running[] = [];
  let reference: Running;
  let walnut: RunningProxy;
  let port: number;
  let bigPort: number;

  before(async () => {
    const started = await Promise.all([
      startMemcached(),
      startMemcached(),
      startMemcached(),
      startMemcached(),
      startMemcached({ args: ['-I', '2m'] }),
      startMemcached({ args: ['-I', '2m'] }),
      startMemcached({ args: ['-I', '2m'] }),
    ]);
    reference = started[0]!;
    shards = started.slice(1, 4);
    bigShards = started.slice(4);
    port = await freePort();
    bigPort = await freePort();
    const yaml = memcachePoolYaml([
      { name: 'mc', port, servers: shards.map((s) => s.port) },
      { name: 'big', port: bigPort, servers: bigShards.map((s) => s.port) },
    ]);
    walnut = await startWalnut(yaml, { listenPorts: [port, bigPort] });
  });

  after(async () => {
    await walnut.stop();
    await Promise.all([reference, ...shards, ...bigShards].map((s) => s.stop()));
  });

  /** The one shard of `servers` that holds `key`, with its reply to `get key`. */
  async function ownerReply(servers: readonly Running[], key: string): Promise<Buffer> {
    const found: Buffer[] = [];
    for (const s of servers) {
      const c = await McClient.connect(s.port);
      await c.send(`get ${key}\r\n`);
      const r = await c.readReply(10_000);
      c.destroy();
      if (r.toString('latin1') !== 'END\r\n') found.push(r);
    }
    assert.equal(found.length, 1, `exactly one server holds ${key}`);
    return found[0]!;
  }

  test('a value just under 1 MiB, written in many pieces, read back in many chunks', async () => {
    const value = pattern(MiB - 1024, 1);
    const request = setRequest('val:1m', 77, value);
    const header = request.indexOf('\r\n') + 2;
    // Pieces: inside the command name, inside the key, right before the header's LF, 16 KiB
    // slices of the data, between the data and its CR, and between that CR and LF.
    const cuts = [2, 7, header - 1, header];
    for (let at = header + 16384; at < request.length - 2; at += 16384) cuts.push(at);
    cuts.push(request.length - 2, request.length - 1);
    const c = await McClient.connect(port);
    await c.sendInPieces(request, cuts, 2);
    assert.equal((await c.readReply()).toString('latin1'), 'STORED\r\n');

    const readsBefore = c.reads;
    await c.send('get val:1m\r\n');
    const got = await c.readReply(10_000);
    const want = valueReply([['val:1m', 77, value]]);
    assert.ok(got.equals(want), 'value intact through Walnut');
    assert.ok(c.reads - readsBefore > 1, 'the reply came in several reads');
    assert.ok((await ownerReply(shards, 'val:1m')).equals(want), 'the server holds the same bytes');
    c.destroy();
  });

  test('exactly 1 MiB is over the default item size: memcached\'s SERVER_ERROR passes through, in sync', async () => {
    const request = Buffer.concat([setRequest('val:over', 0, pattern(MiB, 2)), Buffer.from('get val:over\r\nversion\r\n')]);
    const viaWalnut = await exchange(port, request, 3);
    const direct = await exchange(reference.port, request, 3);
    assert.equal(viaWalnut.replace(/VERSION \S+/, 'VERSION x'), direct.replace(/VERSION \S+/, 'VERSION x'));
    assert.match(viaWalnut, /^SERVER_ERROR object too large for cache\r\nEND\r\nVERSION \S+\r\n$/);
  });

  test('1.5 MiB values with memcached -I 2m, single and multi-get', async () => {
    const a = pattern(1.5 * MiB, 3);
    const b = pattern(1.5 * MiB + 1, 4);
    const c = await McClient.connect(bigPort);
    await c.send(Buffer.concat([setRequest('val:a', 1, a), setRequest('val:b', 2, b, true), Buffer.from('get val:a\r\n')]));
    const first = await c.readReplies(2, 20_000);
    assert.ok(first.equals(Buffer.concat([Buffer.from('STORED\r\n'), valueReply([['val:a', 1, a]])])));
    // Both values in one multi-get; which servers hold them decides whether it is fragmented.
    await c.send('get val:b val:none val:a\r\n');
    const both = await c.readReply(20_000);
    assert.ok(both.equals(valueReply([['val:b', 2, b], ['val:a', 1, a]])), 'multi-get of two 1.5 MiB values');
    assert.ok((await ownerReply(bigShards, 'val:b')).equals(valueReply([['val:b', 2, b]])));
    c.destroy();
  });

  test('binary values holding CR LF, END and VALUE lines come back intact', async () => {
    const all = Buffer.alloc(256);
    for (let i = 0; i < 256; i++) all[i] = i;
    const tricky = Buffer.concat([
      Buffer.from('\r\nEND\r\nVALUE val:x 0 3\r\nabc\r\nEND\r\n', 'latin1'),
      all,
      Buffer.from('\r\n\r\nSTORED\r\n', 'latin1'),
    ]);
    const c = await McClient.connect(port);
    await c.send(Buffer.concat([setRequest('val:tricky', 5, tricky), setRequest('val:all', 6, all), Buffer.from('get val:tricky val:all\r\n')]));
    const got = await c.readReplies(3);
    assert.ok(got.equals(Buffer.concat([Buffer.from('STORED\r\nSTORED\r\n'), valueReply([['val:tricky', 5, tricky], ['val:all', 6, all]])])));
    c.destroy();
  });

  test('many medium values pipelined in one write, answered in order', async () => {
    const n = 40;
    const values = Array.from({ length: n }, (_, i) => pattern(50_000 + i * 997, 10 + i));
    const keys = values.map((_, i) => `val:m${i}`);
    const c = await McClient.connect(port);
    await c.send(Buffer.concat([...values.map((v, i) => setRequest(keys[i]!, i, v)), Buffer.from(`get ${keys.join(' ')}\r\n`)]));
    const got = await c.readReplies(n + 1, 20_000);
    const want = Buffer.concat([Buffer.from('STORED\r\n'.repeat(n)), valueReply(values.map((v, i) => [keys[i]!, i, v]))]);
    assert.ok(got.equals(want));
    c.destroy();
  });
});
