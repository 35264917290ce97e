// A backend killed (SIGKILL) while many clients pipeline through Walnut: every pending request
// gets an error reply of the kind twemproxy gives (reset, EOF = `unknown`, refused, broken
// pipe), in order and on the client that sent it; nothing hangs; once the backend is
// restarted on the same port Walnut reconnects by itself (spec 6.3, 4.7).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { freePort, startRedis, startWalnut, type Running, type RunningProxy } from '../../scripts/lib/processes.js';

const CLIENTS = 16;
const BATCH = 40;
/** What a request pending on (or sent to) a dying backend may get, as twemproxy does. */
const DEATH_ERRORS = new Set([
  'ERR Connection reset by peer',
  'ERR unknown',
  'ERR Connection refused',
  'ERR Broken pipe',
]);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('a backend killed under load', () => {
  let redis: Running[] = [];
  let walnut: RunningProxy;
  let port: number;
  /** Which server (0 or 1) holds each key. */
  const home = new Map<string, number>();

  before(async () => {
    redis = await Promise.all([startRedis(), startRedis()]);
    port = await freePort();
    const yaml = [
      'kill:',
      `  listen: 127.0.0.1:${port}`,
      '  redis: true',
      '  server_connections: 2',
      '  servers:',
      ...redis.map((s, i) => `    - 127.0.0.1:${s.port}:1 r${i}`),
      '',
    ].join('\n');
    walnut = await startWalnut(yaml, { listenPorts: [port] });
    const keys = Array.from({ length: 64 }, (_, i) => `kill:${i}`);
    const client = new Redis({ port, host: '127.0.0.1', enableReadyCheck: false });
    await client.mset(...keys.flatMap((k) => [k, `v-${k}`]));
    client.disconnect();
    for (let i = 0; i < redis.length; i++) {
      const direct = new Redis({ port: redis[i]!.port, host: '127.0.0.1' });
      for (const k of keys) if ((await direct.exists(k)) === 1) home.set(k, i);
      direct.disconnect();
    }
    assert.equal(home.size, keys.length);
  });

  after(async () => {
    await walnut.stop();
    await Promise.all(redis.map((s) => s.stop()));
  });

  test(`${CLIENTS} pipelining clients: errors in order on the right client, then recovery`, async (t) => {
    const keys = [...home.keys()];
    let phase: 'before' | 'dead' | 'restarted' = 'before';
    let stop = false;
    const errorsSeen = new Map<string, number>();
    /** Replies from the restarted server seen by each client. */
    const recovered = new Array<boolean>(CLIENTS).fill(false);

    const runClient = async (c: number): Promise<void> => {
      const client = new Redis({ port, host: '127.0.0.1', enableReadyCheck: false, maxRetriesPerRequest: 0 });
      try {
        for (let round = 0; !stop || !recovered[c]; round++) {
          const batch: string[] = [];
          for (let i = 0; i < BATCH; i++) batch.push(keys[(c * 7 + round * 13 + i * 5) % keys.length]!);
          const pipeline = client.pipeline();
          for (const k of batch) pipeline.get(k);
          const started = phase;
          let timer: NodeJS.Timeout | undefined;
          const hung = new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`client ${c}: ${BATCH} pipelined GETs hung (phase ${phase})`)), 5000);
          });
          const results: [Error | null, unknown][] | null = await Promise.race([pipeline.exec(), hung]);
          clearTimeout(timer);
          assert.ok(results !== null);
          for (let i = 0; i < BATCH; i++) {
            const entry: [Error | null, unknown] = results[i]!;
            const err: Error | null = entry[0];
            const value: unknown = entry[1];
            const key = batch[i]!;
            const where = `client ${c} round ${round} GET ${key} (phase ${started}..${phase})`;
            if (home.get(key) === 1 || (started === 'before' && phase === 'before')) {
              // The live server's keys (and everything before the kill) always get their own value.
              assert.equal(err, null, `${where}: ${String(err)}`);
              assert.equal(value, `v-${key}`, where);
            } else if (err !== null) {
              assert.ok(DEATH_ERRORS.has(err.message), `${where}: unexpected error ${err.message}`);
              errorsSeen.set(err.message, (errorsSeen.get(err.message) ?? 0) + 1);
            } else if (value === null) {
              // The restarted server is empty: nil proves the reply came from it.
              assert.notEqual(phase, 'before', where);
              recovered[c] = true;
            } else {
              assert.equal(value, `v-${key}`, where);
            }
          }
        }
      } finally {
        client.disconnect();
      }
    };

    const clients = Array.from({ length: CLIENTS }, (_, c) => runClient(c));
    const driver = (async () => {
      await sleep(300);
      phase = 'dead';
      redis[0]!.kill('SIGKILL');
      await redis[0]!.exited;
      await sleep(400);
      redis[0] = await startRedis({ port: redis[0]!.port });
      phase = 'restarted';
      stop = true;
    })();
    await Promise.all([...clients, driver]);

    assert.ok(errorsSeen.size > 0, 'the kill produced error replies');
    assert.ok(recovered.every(Boolean));
    const stats = (await walnut.stats()) as Record<string, Record<string, Record<string, number>>>;
    const r0 = stats['kill']!['r0']!;
    assert.ok(r0['server_eof']! + r0['server_err']! > 0);
    assert.equal(stats['kill']!['r1']!['server_err'], 0);
    assert.equal(stats['kill']!['r1']!['server_eof'], 0);
    // Queues are empty once everything has been answered.
    for (const s of ['r0', 'r1']) {
      assert.equal(stats['kill']![s]!['in_queue'], 0);
      assert.equal(stats['kill']![s]!['out_queue'], 0);
    }
    t.diagnostic(`errors seen: ${JSON.stringify([...errorsSeen])}`);
  });
});
