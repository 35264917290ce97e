// Cut-through of large replies (STREAM_MIN_BYTES and up) against real redis-servers: values and
// a 20,000-key MGET arrive intact and in order, a large reply never overtakes an earlier reply
// of the same client that another server has not sent yet, and stats count the whole reply.
import assert from 'node:assert/strict';
import { createConnection } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { freePort, startRedis, startWalnut, type Running, type RunningProxy } from '../../scripts/lib/processes.js';
import { STREAM_MIN_BYTES } from '../../src/proto/codec.js';
import { Placement } from '../../src/hash/placement.js';
import { sleep } from './support/misbehaving-fake-server.js';
import { encodeCommand, RawClient } from './support/raw-client.js';

const bulk = (v: string): string => `$${Buffer.byteLength(v, 'latin1')}\r\n${v}\r\n`;

describe('large replies stream through Walnut', () => {
  let a: Running;
  let b: Running;
  let walnut: RunningProxy;
  let port: number;
  /** A key held by each server. */
  const keyOn: string[] = [];

  before(async () => {
    [a, b] = await Promise.all([startRedis(), startRedis()]);
    port = await freePort();
    const yaml =
      `s:\n  listen: 127.0.0.1:${port}\n  redis: true\n  hash: fnv1a_64\n  distribution: ketama\n` +
      `  hash_tag: "{}"\n  servers:\n    - 127.0.0.1:${a.port}:1 a\n    - 127.0.0.1:${b.port}:1 b\n`;
    walnut = await startWalnut(yaml, { listenPorts: [port] });
    const placement = new Placement({ hash: 'fnv1a_64', distribution: 'ketama', hashTag: Buffer.from('{}') }, [
      { name: 'a', weight: 1, index: 0 },
      { name: 'b', weight: 1, index: 1 },
    ]);
    for (let i = 0; keyOn[0] === undefined || keyOn[1] === undefined; i++) {
      const key = Buffer.from(`k${i}`);
      keyOn[placement.serverIndexFor(key, 0, key.length)] ??= key.toString();
    }
  });

  after(async () => {
    await walnut?.stop();
    await Promise.all([a?.stop(), b?.stop()]);
  });

  test('a 4 MB value, a small one and a 20,000-key MGET, pipelined, arrive whole and in order', async () => {
    const big = 'v'.repeat(4 * 1024 * 1024 - 7) + 'the-end';
    const c = await RawClient.connect(port);
    c.command('SET', 'big', big);
    assert.equal(await c.readText('+OK\r\n'), '+OK\r\n');
    // Every MGET key in one hash tag: one server, so the reply passes through and can stream.
    const keys = Array.from({ length: 20_000 }, (_, i) => `{m}${i}`);
    const mset: string[] = [];
    for (const k of keys) mset.push(k, `value-${k}`);
    c.command('MSET', ...mset);
    assert.equal(await c.readText('+OK\r\n'), '+OK\r\n');

    const before = (await walnut.stats()) as Record<string, Record<string, Record<string, number>>>;
    await c.send(Buffer.concat([encodeCommand(['GET', 'big']), encodeCommand(['GET', 'nothing']), encodeCommand(['MGET', ...keys])]));
    const mget = `*${keys.length}\r\n${keys.map((k) => bulk(`value-${k}`)).join('')}`;
    const want = bulk(big) + '$-1\r\n' + mget;
    assert.equal(await c.readText(want, 20_000), want);
    assert.ok(c.reads > 2, 'the replies came in several reads');
    const afterStats = (await walnut.stats()) as Record<string, Record<string, Record<string, number>>>;
    const bytes = (s: typeof before): number => (s['s']!['a']!['response_bytes'] ?? 0) + (s['s']!['b']!['response_bytes'] ?? 0);
    assert.equal(bytes(afterStats) - bytes(before), Buffer.byteLength(want, 'latin1'), 'response_bytes counts streamed bytes');
    c.destroy();
  });

  test('a large reply waits for an earlier reply of the same client from a stalled server', async () => {
    const [onA, onB] = keyOn as [string, string];
    const setter = await RawClient.connect(port);
    const large = 'L'.repeat(4 * STREAM_MIN_BYTES);
    setter.command('SET', onA, 'small-from-a');
    setter.command('SET', onB, large);
    assert.equal(await setter.readText('+OK\r\n+OK\r\n'), '+OK\r\n+OK\r\n');
    setter.destroy();

    await a.pause();
    const c = await RawClient.connect(port);
    try {
      c.command('GET', onA); // stalled on server a
      c.command('GET', onB); // large, from server b, answered at once
      await sleep(300);
      assert.equal(c.pending, 0, 'nothing may reach the client before the reply from a');
    } finally {
      a.resume();
    }
    const want = bulk('small-from-a') + bulk(large);
    assert.equal(await c.readText(want), want);
    c.destroy();
  });

  test('a client that half-closes and does not read yet gets the whole large reply, then the end', async () => {
    // The client's end arrives with its request; the 8 MB reply then waits in Walnut's socket
    // queue behind a full kernel buffer while the client does not read. Walnut must end the
    // connection after that queue, not close it with the queue still there.
    const value = 'h'.repeat(8 * 1024 * 1024 - 7) + 'the-end';
    const setter = await RawClient.connect(port);
    setter.command('SET', 'half-closed-big', value);
    assert.equal(await setter.readText('+OK\r\n', 10_000), '+OK\r\n');
    setter.destroy();

    const socket = createConnection(port, '127.0.0.1');
    socket.pause();
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.end(encodeCommand(['GET', 'half-closed-big']));
    await sleep(500);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    const ended = new Promise<void>((resolve, reject) => {
      socket.once('end', resolve);
      socket.once('error', reject);
    });
    socket.resume();
    await ended;
    const got = Buffer.concat(chunks).toString('latin1');
    assert.equal(got.length, bulk(value).length, 'every byte of the reply arrived');
    assert.ok(got === bulk(value), 'the reply arrived intact');
  });
});
