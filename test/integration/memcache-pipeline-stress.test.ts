// 200 clients each pipeline mixed memcache requests (set, get, multi-get, incr, delete, noreply
// set) with values unique to the client and the request, through a pool of three memcached;
// every reply is checked against its own request, so a reply delivered to the wrong client,
// lost, duplicated or out of order fails the test.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { freePort, startMemcached, startWalnut, type Running, type RunningProxy } from '../../scripts/lib/processes.js';
import { McClient, memcachePoolYaml } from './support/memcache-client.js';

const CLIENTS = 200;
const REQUESTS = 300;
const KEYS_PER_CLIENT = 16;

describe('pipelined memcache clients never get each other\'s replies', () => {
  let shards: Running[] = [];
  let walnut: RunningProxy;
  let port: number;

  before(async () => {
    shards = await Promise.all([startMemcached(), startMemcached(), startMemcached()]);
    port = await freePort();
    const yaml = memcachePoolYaml([
      { name: 'stress', port, servers: shards.map((s) => s.port), extra: ['server_connections: 2'] },
    ]);
    walnut = await startWalnut(yaml, { listenPorts: [port] });
  });

  after(async () => {
    await walnut.stop();
    await Promise.all(shards.map((s) => s.stop()));
  });

  /** Builds one client's pipeline and the exact replies memcached semantics imply for it. */
  function script(c: number): { request: string; replies: string[] } {
    const model = new Map<string, { flags: number; value: string }>();
    const key = (j: number): string => `c${c}:k${j}`;
    const valueReply = (k: string): string => {
      const e = model.get(k);
      return e === undefined ? '' : `VALUE ${k} ${e.flags} ${e.value.length}\r\n${e.value}\r\n`;
    };
    const parts: string[] = [`set c${c}:ctr 0 0 1\r\n0\r\n`];
    const replies: string[] = ['STORED\r\n'];
    let counter = 0;
    for (let i = 0; i < REQUESTS; i++) {
      const value = `v-${c}-${i}-${(c * 7919 + i * 104729).toString(36)}`;
      switch (i % 6) {
        case 0: {
          const k = key(i % KEYS_PER_CLIENT);
          parts.push(`set ${k} ${i} 0 ${value.length}\r\n${value}\r\n`);
          replies.push('STORED\r\n');
          model.set(k, { flags: i, value });
          break;
        }
        case 1: {
          const k = key((i - 1) % KEYS_PER_CLIENT);
          parts.push(`get ${k}\r\n`);
          replies.push(`${valueReply(k)}END\r\n`);
          break;
        }
        case 2: {
          const ks = [key((i * 3) % KEYS_PER_CLIENT), `c${c}:none`, key((i * 5) % KEYS_PER_CLIENT), key(i % KEYS_PER_CLIENT)];
          parts.push(`get ${ks.join(' ')}\r\n`);
          replies.push(`${ks.map(valueReply).join('')}END\r\n`);
          break;
        }
        case 3:
          parts.push(`incr c${c}:ctr ${c + 1}\r\n`);
          counter += c + 1;
          replies.push(`${counter}\r\n`);
          break;
        case 4: {
          const k = key((i * 7) % KEYS_PER_CLIENT);
          parts.push(`delete ${k}\r\n`);
          replies.push(model.delete(k) ? 'DELETED\r\n' : 'NOT_FOUND\r\n');
          break;
        }
        default: {
          const k = key((i * 11) % KEYS_PER_CLIENT);
          parts.push(`set ${k} ${i} 0 ${value.length} noreply\r\n${value}\r\n`);
          model.set(k, { flags: i, value });
        }
      }
    }
    const all = Array.from({ length: KEYS_PER_CLIENT }, (_, j) => key(j));
    parts.push(`get ${all.join(' ')}\r\n`);
    replies.push(`${all.map(valueReply).join('')}END\r\n`);
    return { request: parts.join(''), replies };
  }

  test(`${CLIENTS} clients x ${REQUESTS} pipelined mixed requests`, async () => {
    const runClient = async (c: number): Promise<number> => {
      const { request, replies } = script(c);
      const client = await McClient.connect(port);
      await client.send(request);
      for (const [k, want] of replies.entries()) {
        const got = (await client.readReply(20_000)).toString('latin1');
        assert.equal(got, want, `client ${c} reply ${k}`);
      }
      assert.equal(client.pending, 0, `client ${c}: no extra bytes`);
      client.destroy();
      return replies.length;
    };
    const counts = await Promise.all(Array.from({ length: CLIENTS }, (_, c) => runClient(c)));
    assert.equal(counts.reduce((a, b) => a + b, 0), CLIENTS * (script(0).replies.length));
    const stats = (await walnut.stats()) as Record<string, Record<string, unknown>>;
    assert.equal(stats['stress']?.['client_err'], 0);
    assert.equal(stats['stress']?.['server_ejects'], 0);
  });
});
