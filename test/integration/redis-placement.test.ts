// Walnut must put every key on the same backend as twemproxy (Debian's nutcracker): both are
// run in front of the same three redis-servers with the same pool settings, the same keys are
// written through each in turn, and each backend's key set is compared.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import {
  freePort,
  startNutcracker,
  startRedis,
  startWalnut,
  type Running,
} from '../../scripts/lib/processes.js';

const KEYS = [
  ...Array.from({ length: 150 }, (_, i) => `user:${i}`),
  ...Array.from({ length: 30 }, (_, i) => `{tag${i % 5}}:item:${i}`),
  'a', 'b', 'z', '0', '-1', 'ключ', '键', 'clé', '🔑', 'x'.repeat(300), 'a}b{c}', '{}abc', '{abc',
];

const POOLS: { name: string; lines: string[]; named: boolean }[] = [
  { name: 'ketama-fnv1a_64-named', lines: ['hash: fnv1a_64', 'distribution: ketama'], named: true },
  { name: 'ketama-md5-unnamed', lines: ['hash: md5', 'distribution: ketama'], named: false },
  { name: 'modula-murmur-tagged', lines: ['hash: murmur', 'distribution: modula', 'hash_tag: "{}"'], named: false },
  { name: 'ketama-crc32a-tagged-weighted', lines: ['hash: crc32a', 'distribution: ketama', 'hash_tag: "{}"'], named: false },
];

describe('key placement matches twemproxy on real servers', () => {
  let backends: Running[] = [];
  let direct: Redis[] = [];

  before(async () => {
    backends = await Promise.all([startRedis(), startRedis(), startRedis()]);
    direct = backends.map((b) => new Redis({ port: b.port, host: '127.0.0.1' }));
  });
  after(async () => {
    for (const d of direct) d.disconnect();
    await Promise.all(backends.map((b) => b.stop()));
  });

  async function placementThrough(kind: 'walnut' | 'nutcracker', pool: (typeof POOLS)[number]): Promise<string[][]> {
    await Promise.all(direct.map((d) => d.flushall()));
    const port = await freePort();
    const yaml = [
      'p:',
      `  listen: 127.0.0.1:${port}`,
      '  redis: true',
      ...pool.lines.map((l) => `  ${l}`),
      '  servers:',
      ...backends.map((b, i) => `    - 127.0.0.1:${b.port}:${pool.named ? 1 : i + 1}${pool.named ? ` node${i}` : ''}`),
      '',
    ].join('\n');
    const proxy = kind === 'walnut' ? await startWalnut(yaml, { listenPorts: [port] }) : await startNutcracker(yaml, { listenPorts: [port] });
    // disableClientInfo: ioredis sends CLIENT SETINFO on connect, on which nutcracker hangs up.
    const client = new Redis({ port, host: '127.0.0.1', enableReadyCheck: false, maxRetriesPerRequest: 0, disableClientInfo: true });
    try {
      for (const key of KEYS) assert.equal(await client.set(key, kind), 'OK');
    } finally {
      client.disconnect();
      await proxy.stop();
    }
    return Promise.all(direct.map(async (d) => (await d.keys('*')).sort()));
  }

  for (const pool of POOLS) {
    test(pool.name, async () => {
      const theirs = await placementThrough('nutcracker', pool);
      const ours = await placementThrough('walnut', pool);
      assert.equal(theirs.flat().length, KEYS.length);
      assert.deepEqual(ours, theirs);
    });
  }
});
