// 200 clients each pipeline 1,000 mixed requests with values unique to the client and the
// request; every reply is checked against its own request, so a reply delivered to the wrong
// client, lost, duplicated or out of order fails the test.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { freePort, startRedis, startWalnut, type Running, type RunningProxy } from '../../scripts/lib/processes.js';

const CLIENTS = 200;
const REQUESTS = 1000;

describe('pipelined clients never get each other\'s replies', () => {
  let shards: Running[] = [];
  let walnut: RunningProxy;
  let port: number;

  before(async () => {
    shards = await Promise.all([startRedis(), startRedis(), startRedis()]);
    port = await freePort();
    const yaml = [
      'stress:',
      `  listen: 127.0.0.1:${port}`,
      '  redis: true',
      '  server_connections: 2',
      '  servers:',
      ...shards.map((s) => `    - 127.0.0.1:${s.port}:1`),
      '',
    ].join('\n');
    walnut = await startWalnut(yaml, { listenPorts: [port] });
  });

  after(async () => {
    await walnut.stop();
    await Promise.all(shards.map((s) => s.stop()));
  });

  test(`${CLIENTS} clients x ${REQUESTS} pipelined requests`, async () => {
    const runClient = async (c: number): Promise<number> => {
      const client = new Redis({ port, host: '127.0.0.1', enableReadyCheck: false, maxRetriesPerRequest: 0 });
      const pipeline = client.pipeline();
      type Check = (err: Error | null, reply: unknown, where: string) => void;
      const checks: Check[] = [];
      const expect = (want: unknown): Check => (err, reply, where) => {
        assert.equal(err, null, `${where}: ${String(err)}`);
        assert.deepEqual(reply, want, where);
      };
      let counter = 0;
      let lastKey = '';
      let lastValue = '';
      let lastMset = '';
      for (let i = 0; i < REQUESTS; i++) {
        const value = `v-${c}-${i}-${Math.random().toString(36).slice(2)}`;
        switch (i % 8) {
          case 0:
            lastKey = `c${c}:k${i % 50}`;
            lastValue = value;
            pipeline.set(lastKey, value);
            checks.push(expect('OK'));
            break;
          case 1:
            pipeline.get(lastKey);
            checks.push(expect(lastValue));
            break;
          case 2:
            pipeline.incr(`c${c}:counter`);
            checks.push(expect(++counter));
            break;
          case 3:
            lastMset = value;
            pipeline.mset(`c${c}:m1`, value, `c${c}:m2`, `${value}!`, `c${c}:m3`, `${value}?`);
            checks.push(expect('OK'));
            break;
          case 4:
            pipeline.mget(`c${c}:m3`, `c${c}:none`, `c${c}:m1`, `c${c}:m2`);
            checks.push(expect([`${lastMset}?`, null, lastMset, `${lastMset}!`]));
            break;
          case 5:
            pipeline.ping(value);
            checks.push(expect(value));
            break;
          case 6:
            pipeline.call('KEYS', '*');
            checks.push((err, _reply, where) => {
              assert.ok(err instanceof Error, `${where} should be an error`);
              assert.match(err.message, /KEYS/);
            });
            break;
          default:
            pipeline.exists(`c${c}:m1`, `c${c}:none`, `c${c}:m2`);
            checks.push(expect(2));
        }
      }
      const results = (await pipeline.exec()) ?? [];
      client.disconnect();
      assert.equal(results.length, REQUESTS);
      for (const [k, [err, reply]] of results.entries()) checks[k]!(err, reply, `client ${c} reply ${k}`);
      return results.length;
    };
    const counts = await Promise.all(Array.from({ length: CLIENTS }, (_, c) => runClient(c)));
    assert.equal(counts.reduce((a, b) => a + b, 0), CLIENTS * REQUESTS);
    const stats = (await walnut.stats()) as Record<string, Record<string, unknown>>;
    assert.equal(stats['stress']?.['client_err'], 0);
  });
});
