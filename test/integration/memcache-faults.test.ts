// Fault injection against real memcached processes behind a memcached pool (`redis: false`),
// the counterpart of faults-backend-kill, faults-eject and faults-timeout:
// 1. a memcached killed (SIGKILL) while 20 clients pipeline sets, gets and multi-gets: every
//    request gets exactly one reply, in order, on its own client (values and flags are unique
//    to the client and the request); the live servers' keys keep working; requests touching
//    the dead server get `SERVER_ERROR <strerror>`; a memcached restarted on the same port is
//    used again without help (spec 5.5, 6.3);
// 2. auto_eject_hosts with server_failure_limit 2 and server_retry_timeout 1 s, step by step
//    against Walnut and Debian's nutcracker on the same configuration and the same memcached:
//    identical replies at every step (ejection, keys remapped, retry, re-ejection, return) and
//    agreeing ejection stats (spec 7);
// 3. a memcached stopped (SIGSTOP) while clients pipeline: its requests get `SERVER_ERROR
//    Connection timed out` in order, the others their values; after SIGCONT its late replies
//    are never handed to a later request and it serves again (spec 6.4).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  freePort,
  startMemcached,
  startWalnut,
  type Running,
  type RunningProxy,
} from '../../scripts/lib/processes.js';
import { exchange, McClient, memcachePoolYaml } from './support/memcache-client.js';
import { poolStat, serverStat, type Stats } from './support/stats.js';
import { startBoth } from './support/side-by-side.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const REFUSED = 'SERVER_ERROR Connection refused\r\n';
const TIMED_OUT = 'SERVER_ERROR Connection timed out\r\n';
const STORED = 'STORED\r\n';

/** A one-key retrieval reply holding `value` with `flags`. */
const valueReply = (key: string, value: string, flags = 0): string =>
  `VALUE ${key} ${flags} ${Buffer.byteLength(value)}\r\n${value}\r\nEND\r\n`;
const setRequest = (key: string, value: string, flags = 0): string =>
  `set ${key} ${flags} 0 ${Buffer.byteLength(value)}\r\n${value}\r\n`;

/** One request of a pipelined round. */
type Req = { kind: 'set'; key: string; value: string } | { kind: 'get'; keys: string[] };

interface Block {
  key: string;
  flags: number;
  value: string;
}

/** The VALUE blocks of a complete retrieval reply (…END), or null if it is not one. */
function parseBlocks(reply: string): Block[] | null {
  const blocks: Block[] = [];
  let at = 0;
  for (;;) {
    if (reply.slice(at) === 'END\r\n') return blocks;
    const eol = reply.indexOf('\r\n', at);
    if (eol < 0) return null;
    const m = /^VALUE (\S+) (\d+) (\d+)$/.exec(reply.slice(at, eol));
    if (m === null) return null;
    const len = Number(m[3]);
    const start = eol + 2;
    if (reply.slice(start + len, start + len + 2) !== '\r\n') return null;
    blocks.push({ key: m[1]!, flags: Number(m[2]), value: reply.slice(start, start + len) });
    at = start + len + 2;
  }
}

/**
 * Per client, `perShard` keys on every memcached, interleaved (shard 0, 1, 2, 0, 1, 2, …):
 * candidate keys are stored through the proxy, then each memcached is asked directly which of
 * them it holds. Returns the keys and the shard index of each.
 */
async function keysPerClient(
  proxyPort: number,
  shards: readonly Running[],
  clients: number,
  perShard: number,
  prefix: string,
): Promise<{ keys: string[][]; home: Map<string, number> }> {
  const candidates = Array.from({ length: clients }, (_, c) => Array.from({ length: 40 }, (_, j) => `${prefix}${c}:${j}`));
  const all = candidates.flat();
  const c = await McClient.connect(proxyPort);
  await c.send(all.map((k) => setRequest(k, 'init')).join(''));
  for (const k of all) assert.equal((await c.readReply()).toString('latin1'), STORED, `set ${k}`);
  c.destroy();
  const home = new Map<string, number>();
  for (let s = 0; s < shards.length; s++) {
    const reply = await exchange(shards[s]!.port, `get ${all.join(' ')}\r\n`, 1);
    for (const b of parseBlocks(reply) ?? []) home.set(b.key, s);
  }
  assert.equal(home.size, all.length, 'every candidate key is on exactly one memcached');
  const keys = candidates.map((cands, ci) => {
    const byShard = shards.map((_, s) => cands.filter((k) => home.get(k) === s).slice(0, perShard));
    for (const [s, ks] of byShard.entries()) assert.equal(ks.length, perShard, `client ${ci}: keys on shard ${s}`);
    const out: string[] = [];
    for (let j = 0; j < perShard; j++) for (const ks of byShard) out.push(ks[j]!);
    return out;
  });
  return { keys, home };
}

/** Three memcached behind a Walnut pool, and each client's keys (2 per memcached). */
interface PoolUnderTest {
  shards: Running[];
  walnut: RunningProxy;
  port: number;
  keys: string[][];
  home: Map<string, number>;
}

async function startPoolUnderTest(name: string, extra: string[], clients: number): Promise<PoolUnderTest> {
  const shards = await Promise.all([startMemcached(), startMemcached(), startMemcached()]);
  const port = await freePort();
  const yaml = memcachePoolYaml([{ name, port, servers: shards.map((s) => s.port), extra }]);
  const walnut = await startWalnut(yaml, { listenPorts: [port] });
  const { keys, home } = await keysPerClient(port, shards, clients, 2, `${name}:`);
  return { shards, walnut, port, keys, home };
}

async function stopPoolUnderTest(shards: readonly Running[], walnut: RunningProxy | undefined): Promise<void> {
  await walnut?.stop();
  await Promise.all(shards.map((s) => s.stop()));
}

// ---------------------------------------------------------------------------------------------

describe('memcache: a backend killed under pipelined load', () => {
  const CLIENTS = 20;
  const VICTIM = 0;
  /** What a request pending on (or sent to) a dying memcached may get, as twemproxy does. */
  const DEATH_ERRORS = new Set([
    'SERVER_ERROR Connection reset by peer\r\n',
    'SERVER_ERROR unknown\r\n',
    REFUSED,
    'SERVER_ERROR Broken pipe\r\n',
  ]);
  let shards: Running[] = [];
  let walnut: RunningProxy;
  let port: number;
  let keys: string[][] = [];
  let home = new Map<string, number>();

  before(async () => {
    ({ shards, walnut, port, keys, home } = await startPoolUnderTest('kill', ['server_connections: 2'], CLIENTS));
  });

  after(() => stopPoolUnderTest(shards, walnut));

  test(`${CLIENTS} pipelining clients: one reply each, in order, on the right client; then recovery`, async (t) => {
    let phase: 'before' | 'dead' | 'restarted' = 'before';
    let stop = false;
    let stoppedAt = 0;
    const errorsSeen = new Map<string, number>();
    let errorReplies = 0;
    /** A reply of the restarted memcached seen by each client. */
    const recovered = new Array<boolean>(CLIENTS).fill(false);

    const runClient = async (c: number): Promise<void> => {
      const mine = keys[c]!;
      const live = mine.filter((k) => home.get(k) !== VICTIM);
      /** The values each key may hold now (null: absent); only ever this client's own values. */
      const possible = new Map<string, Set<string | null>>();
      const client = await McClient.connect(port);
      try {
        // Each key starts with a value of this client (flags = client number).
        await client.send(mine.map((k, j) => setRequest(k, `c${c}-init-${j}`, c)).join(''));
        for (const [j, k] of mine.entries()) {
          assert.equal((await client.readReply()).toString('latin1'), STORED);
          possible.set(k, new Set([`c${c}-init-${j}`]));
        }
        let serial = 0;
        for (let round = 0; !stop || !recovered[c]; round++) {
          if (stop && Date.now() - stoppedAt > 10_000) throw new Error(`client ${c}: the restarted memcached is never used`);
          const reqs: Req[] = [];
          const rotated = mine.map((_, j) => mine[(j + round) % mine.length]!);
          for (const k of rotated) {
            reqs.push({ kind: 'set', key: k, value: `c${c}-r${round}-${serial++}-${k}` });
            reqs.push({ kind: 'get', keys: [k] });
          }
          reqs.push({ kind: 'get', keys: rotated });
          reqs.push({ kind: 'get', keys: live.map((_, j) => live[(j + round) % live.length]!) });
          const started = phase;
          await client.send(
            reqs.map((r) => (r.kind === 'set' ? setRequest(r.key, r.value, c) : `get ${r.keys.join(' ')}\r\n`)).join(''),
          );
          for (const [i, r] of reqs.entries()) {
            const reply = (await client.readReply(5000)).toString('latin1');
            const rkeys = r.kind === 'set' ? [r.key] : r.keys;
            const onVictim = rkeys.some((k) => home.get(k) === VICTIM);
            const where = `client ${c} round ${round} request ${i} (${r.kind} ${rkeys.join(' ')}; phase ${started}..${phase}): ${JSON.stringify(reply)}`;
            /** Absent is possible for the victim's keys once it has been killed. */
            const allowed = (k: string): Set<string | null> => {
              const p = possible.get(k)!;
              return home.get(k) === VICTIM && phase !== 'before' ? new Set([...p, null]) : p;
            };
            if (reply.startsWith('SERVER_ERROR')) {
              assert.ok(onVictim && phase !== 'before', `error for the live servers' keys or before the kill: ${where}`);
              assert.ok(DEATH_ERRORS.has(reply), `unexpected error: ${where}`);
              errorsSeen.set(reply.trimEnd(), (errorsSeen.get(reply.trimEnd()) ?? 0) + 1);
              errorReplies++;
              // A failed set may or may not have been stored before the server died.
              if (r.kind === 'set') possible.get(r.key)!.add(r.value);
              continue;
            }
            if (r.kind === 'set') {
              assert.equal(reply, STORED, where);
              possible.set(r.key, new Set([r.value]));
            } else {
              const blocks = parseBlocks(reply);
              assert.ok(blocks !== null, `not a retrieval reply: ${where}`);
              // Walnut merges multi-get values in request order; every key at most once.
              let b = 0;
              for (const k of r.keys) {
                const block: Block | null = blocks[b]?.key === k ? blocks[b++]! : null;
                if (block !== null) assert.equal(block.flags, c, `flags of another client: ${where}`);
                const value = block?.value ?? null;
                assert.ok(allowed(k).has(value), `${k} = ${String(value)} is not a value this client stored: ${where}`);
              }
              assert.equal(b, blocks.length, `values for keys not asked for (or out of order): ${where}`);
            }
            if (onVictim && started === 'restarted') recovered[c] = true;
          }
        }
        // Nothing more arrives: every request had exactly one reply.
        await sleep(50);
        assert.equal(client.pending, 0, `client ${c}: extra bytes`);
        assert.equal(client.ended, false, `client ${c}: connection closed`);
      } finally {
        client.destroy();
      }
    };

    const clients = Array.from({ length: CLIENTS }, (_, c) => runClient(c));
    const driver = (async () => {
      await sleep(300);
      phase = 'dead';
      shards[VICTIM]!.kill('SIGKILL');
      await shards[VICTIM]!.exited;
      await sleep(400);
      shards[VICTIM] = await startMemcached({ port: shards[VICTIM]!.port });
      phase = 'restarted';
      stoppedAt = Date.now();
      stop = true;
    })();
    await Promise.all([...clients, driver]);
    t.diagnostic(`errors seen: ${JSON.stringify([...errorsSeen])}`);
    assert.ok(errorReplies > 0, 'the kill produced error replies');
    assert.ok(recovered.every(Boolean));

    // Walnut writes the victim's keys to the restarted memcached.
    const k = keys[0]![0]!;
    assert.equal(home.get(k), VICTIM);
    assert.equal(await exchange(port, setRequest(k, 'after-restart'), 1), STORED);
    assert.equal(await exchange(shards[VICTIM]!.port, `get ${k}\r\n`, 1), valueReply(k, 'after-restart'));

    const stats = (await walnut.stats()) as Stats;
    assert.ok(serverStat(stats, 'kill', 'mc0', 'server_eof') + serverStat(stats, 'kill', 'mc0', 'server_err') > 0);
    for (const s of ['mc1', 'mc2']) {
      assert.equal(serverStat(stats, 'kill', s, 'server_err'), 0, s);
      assert.equal(serverStat(stats, 'kill', s, 'server_eof'), 0, s);
    }
    for (const s of ['mc0', 'mc1', 'mc2']) {
      assert.equal(serverStat(stats, 'kill', s, 'in_queue'), 0, s);
      assert.equal(serverStat(stats, 'kill', s, 'out_queue'), 0, s);
    }
    // One forward_error per error reply a client received (a failed multi-get counts once).
    assert.equal(poolStat(stats, 'kill', 'forward_error'), errorReplies);
    assert.equal(poolStat(stats, 'kill', 'client_err'), 0);
  });
});

// ---------------------------------------------------------------------------------------------

describe('memcache auto_eject_hosts: Walnut and nutcracker give the same replies step by step', () => {
  // The steps between an ejection and the retry must fit in this window, on a busy machine too.
  const RETRY_MS = 1000;
  const shards: Running[] = [];
  interface Side {
    proxy: RunningProxy;
    client: McClient;
    /** Every step of this side, request and reply. */
    replies: string[];
  }
  const sides = {} as Record<'walnut' | 'nutcracker', Side>;
  /** A probe key living on each memcached (all of them hold every probe key, `on-<i>`). */
  const keyOn: string[] = [];
  const probes = Array.from({ length: 60 }, (_, i) => `probe:${i}`);

  const config = (port: number): string =>
    memcachePoolYaml([
      {
        name: 'eject',
        port,
        servers: shards.map((s) => s.port),
        extra: ['auto_eject_hosts: true', 'server_failure_limit: 2', `server_retry_timeout: ${RETRY_MS}`, 'timeout: 1000'],
      },
    ]);

  /** Stores every probe key on memcached `s` with the value `on-<s>`. */
  const seed = async (s: number): Promise<void> => {
    const r = await exchange(shards[s]!.port, probes.map((k) => setRequest(k, `on-${s}`)).join(''), probes.length);
    assert.equal(r, STORED.repeat(probes.length));
  };

  before(async () => {
    shards.push(...(await Promise.all([startMemcached(), startMemcached(), startMemcached()])));
    for (let s = 0; s < shards.length; s++) await seed(s);
    const { walnut, nutcracker } = await startBoth(config);
    sides.walnut = { proxy: walnut.proxy, client: await McClient.connect(walnut.port), replies: [] };
    sides.nutcracker = { proxy: nutcracker.proxy, client: await McClient.connect(nutcracker.port), replies: [] };
  });

  after(async () => {
    for (const s of Object.values(sides)) {
      s.client.destroy();
      await s.proxy.stop();
    }
    await Promise.all(shards.map((s) => s.stop()));
  });

  /** One step: the same request through both proxies; returns both replies. */
  const step = async (request: string): Promise<[string, string]> => {
    const out: string[] = [];
    for (const side of [sides.walnut, sides.nutcracker]) {
      await side.client.send(request);
      const reply = (await side.client.readReply()).toString('latin1');
      side.replies.push(`${request.trimEnd()} -> ${reply.trimEnd()}`);
      out.push(reply);
    }
    return [out[0]!, out[1]!];
  };
  const get = (key: string): Promise<[string, string]> => step(`get ${key}\r\n`);
  const both = (reply: string): [string, string] => [reply, reply];

  test('the ejection sequence', async (t) => {
    for (const k of probes) {
      if (shards.every((_, s) => keyOn[s] !== undefined)) break;
      const [r] = await get(k);
      const m = /^VALUE \S+ 0 4\r\non-(\d)\r\nEND\r\n$/.exec(r);
      assert.ok(m !== null, r);
      keyOn[Number(m[1])] ??= k;
    }
    const [k0, k1, k2] = keyOn;
    assert.ok(k0 !== undefined && k1 !== undefined && k2 !== undefined, `a key on each memcached: ${JSON.stringify(keyOn)}`);
    // All up: each key on its own server, a multi-get spans all three.
    for (const [s, k] of keyOn.entries()) assert.deepEqual(await get(k), both(valueReply(k, `on-${s}`)));
    const multi = `get ${k0} ${k1} ${k2}\r\n`;
    assert.deepEqual(
      await step(multi),
      both(`VALUE ${k0} 0 4\r\non-0\r\nVALUE ${k1} 0 4\r\non-1\r\nVALUE ${k2} 0 4\r\non-2\r\nEND\r\n`),
    );

    // memcached 0 dies: the EOF of the idle connection is one failure, the refused connect of
    // the next request the second: ejected, and that request gets the refusal.
    const port0 = shards[0]!.port;
    shards[0]!.kill('SIGKILL');
    await shards[0]!.exited;
    // Both proxies have seen the idle connection close (nutcracker's stats lag up to its -i 100).
    const closesSeen = async (side: Side): Promise<number> => {
      const stats = (await side.proxy.stats()) as Stats;
      return serverStat(stats, 'eject', 'mc0', 'server_eof') + serverStat(stats, 'eject', 'mc0', 'server_err');
    };
    for (let i = 0; !((await closesSeen(sides.walnut)) > 0) || !((await closesSeen(sides.nutcracker)) > 0); i++) {
      assert.ok(i < 250, 'both proxies see memcached 0 go');
      await sleep(20);
    }
    const untilEjected: string[] = [];
    let remapped = '';
    for (let i = 0; i < 5 && remapped === ''; i++) {
      const [w] = await get(k0);
      if (w.startsWith('VALUE ')) remapped = w;
      else untilEjected.push(w);
    }
    assert.deepEqual(untilEjected, [REFUSED], 'one refusal, then ejected');
    const movedTo = /^VALUE \S+ 0 4\r\non-([12])\r\nEND\r\n$/.exec(remapped)?.[1];
    assert.ok(movedTo !== undefined, `remapped to a live memcached: ${JSON.stringify(remapped)}`);
    // Its keys go to the live servers (reads and writes); the others' keys stay where they were.
    assert.deepEqual(await get(k1), both(valueReply(k1, 'on-1')));
    assert.deepEqual(await get(k2), both(valueReply(k2, 'on-2')));
    assert.deepEqual(await step(setRequest(k0, 'moved')), both(STORED));
    assert.deepEqual(await get(k0), both(valueReply(k0, 'moved')));
    assert.deepEqual(
      await step(multi),
      both(`VALUE ${k0} 0 5\r\nmoved\r\nVALUE ${k1} 0 4\r\non-1\r\nVALUE ${k2} 0 4\r\non-2\r\nEND\r\n`),
    );
    assert.equal(await exchange(shards[Number(movedTo)]!.port, `get ${k0}\r\n`, 1), valueReply(k0, 'moved'));
    const ejected = (await sides.walnut.proxy.stats()) as Stats;
    assert.equal(poolStat(ejected, 'eject', 'server_ejects'), 1);
    const at = serverStat(ejected, 'eject', 'mc0', 'server_ejected_at');
    assert.ok(Math.abs(at / 1000 - Date.now()) < 10_000, `server_ejected_at ${at} is µs since the epoch, just now`);
    assert.equal(serverStat(ejected, 'eject', 'mc1', 'server_ejected_at'), 0);

    // After the retry timeout memcached 0 is tried again: two refusals (two new failures) and
    // it is ejected again; its keys go back to the live server.
    await sleep(RETRY_MS + 100);
    const retried = [await get(k0), await get(k0), await get(k0)].map(([w]) => w);
    assert.deepEqual(retried, [REFUSED, REFUSED, valueReply(k0, 'moved')]);

    // memcached 0 comes back (empty) on its port: once the retry timeout has passed it serves
    // its keys again.
    shards[0] = await startMemcached({ port: port0 });
    await seed(0);
    await sleep(RETRY_MS + 100);
    assert.deepEqual(await get(k0), both(valueReply(k0, 'on-0')));
    assert.deepEqual(await get(k1), both(valueReply(k1, 'on-1')));
    assert.deepEqual(
      await step(multi),
      both(`VALUE ${k0} 0 4\r\non-0\r\nVALUE ${k1} 0 4\r\non-1\r\nVALUE ${k2} 0 4\r\non-2\r\nEND\r\n`),
    );
    assert.deepEqual(await step(setRequest(k0, 'back')), both(STORED));
    assert.equal(await exchange(shards[0]!.port, `get ${k0}\r\n`, 1), valueReply(k0, 'back'));

    t.diagnostic(sides.walnut.replies.filter((r) => !/^get probe:\d+ ->/.test(r) || keyOn.some((k) => r.startsWith(`get ${k} `))).join(' | '));
    assert.deepEqual(sides.walnut.replies, sides.nutcracker.replies);
  });

  test('stats: server_ejects, server_ejected_at and the server counters agree', async () => {
    await sleep(300); // nutcracker's stats lag by up to one -i interval (100 ms)
    const w = (await sides.walnut.proxy.stats()) as Stats;
    const n = (await sides.nutcracker.proxy.stats()) as Stats;
    assert.equal(poolStat(w, 'eject', 'server_ejects'), 2);
    assert.equal(poolStat(w, 'eject', 'server_ejects'), poolStat(n, 'eject', 'server_ejects'));
    assert.equal(poolStat(w, 'eject', 'forward_error'), poolStat(n, 'eject', 'forward_error'));
    for (const s of ['mc0', 'mc1', 'mc2']) {
      const wa = serverStat(w, 'eject', s, 'server_ejected_at');
      const na = serverStat(n, 'eject', s, 'server_ejected_at');
      if (s === 'mc0') assert.ok(wa > 0 && Math.abs(wa - na) < 5_000_000, `${s} ejected_at ${wa} vs ${na}`);
      else assert.deepEqual([wa, na], [0, 0], `${s} never ejected`);
      for (const k of ['server_err', 'server_eof', 'server_timedout', 'requests', 'responses']) {
        assert.equal(serverStat(w, 'eject', s, k), serverStat(n, 'eject', s, k), `${s} ${k}`);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('memcache: a hung backend (SIGSTOP) under pipelined load', () => {
  const CLIENTS = 10;
  const VICTIM = 0;
  const PAUSED_ROUNDS = 2;
  let shards: Running[] = [];
  let walnut: RunningProxy;
  let port: number;
  let keys: string[][] = [];
  let home = new Map<string, number>();

  before(async () => {
    ({ shards, walnut, port, keys, home } = await startPoolUnderTest('hang', ['timeout: 300', 'server_connections: 2'], CLIENTS));
  });

  after(() => stopPoolUnderTest(shards, walnut));

  test('timed-out requests fail in order on their own clients; late replies are dropped', async (t) => {
    /** Each client's current value of each of its keys. */
    const values = keys.map((mine, c) => new Map(mine.map((k, j) => [k, `c${c}-init-${j}`])));
    const clients = await Promise.all(keys.map(() => McClient.connect(port)));
    let timedOut = 0;

    /**
     * One pipelined round for client c: sets (of the keys `writable`), gets, a multi-get of all
     * its keys and one of the live servers' keys only. Checks every reply against the exact one
     * expected, in order: with `hung`, anything touching the victim times out.
     */
    const round = async (c: number, tag: string, hung: boolean, writable: (k: string) => boolean): Promise<void> => {
      const client = clients[c]!;
      const mine = keys[c]!;
      const vals = values[c]!;
      const onVictim = (ks: readonly string[]): boolean => ks.some((k) => home.get(k) === VICTIM);
      const lookup = (ks: readonly string[]): string =>
        hung && onVictim(ks) ? TIMED_OUT : `${ks.map((k) => valueReply(k, vals.get(k)!, c).slice(0, -5)).join('')}END\r\n`;
      const requests: string[] = [];
      const expected: string[] = [];
      for (const [j, k] of mine.entries()) {
        if (writable(k)) {
          const v = `c${c}-${tag}-${j}`;
          requests.push(setRequest(k, v, c));
          expected.push(hung && onVictim([k]) ? TIMED_OUT : STORED);
          vals.set(k, v);
        }
        requests.push(`get ${k}\r\n`);
        expected.push(lookup([k]));
      }
      const reversed = [...mine].reverse();
      const live = mine.filter((k) => home.get(k) !== VICTIM);
      requests.push(`get ${reversed.join(' ')}\r\n`, `get ${live.join(' ')}\r\n`);
      expected.push(lookup(reversed), lookup(live));
      await client.send(requests.join(''));
      for (const [i, want] of expected.entries()) {
        const got = (await client.readReply(5000)).toString('latin1');
        assert.equal(got, want, `client ${c} ${tag} reply ${i} (${requests[i]!.split('\r\n')[0]!})`);
        if (got === TIMED_OUT) timedOut++;
      }
      assert.equal(client.pending, 0, `client ${c} ${tag}: extra bytes`);
    };
    const everyClient = (f: (c: number) => Promise<void>): Promise<void[]> =>
      Promise.all(keys.map((_, c) => f(c)));

    // Every client writes all its keys (flags = its number) while all servers answer.
    await everyClient((c) => round(c, 'init', false, () => true));
    const before = (await walnut.stats()) as Stats;

    // The victim hangs. Its keys are only read meanwhile: a write it received while stopped
    // may still be applied when it wakes up, which would make later reads ambiguous.
    await shards[VICTIM]!.pause();
    try {
      for (let r = 0; r < PAUSED_ROUNDS; r++) {
        await everyClient((c) => round(c, `hung${r}`, true, (k) => home.get(k) !== VICTIM));
      }
    } finally {
      shards[VICTIM]!.resume();
    }
    // Right away (the victim now answers what it was sent while stopped, on connections Walnut
    // has closed), then again a little later: every reply is the one for its own request.
    await everyClient((c) => round(c, 'woken', false, () => true));
    await sleep(200);
    await everyClient((c) => round(c, 'later', false, () => false));
    await everyClient((c) => round(c, 'last', false, () => true));
    for (const c of clients) {
      assert.equal(c.ended, false);
      c.destroy();
    }

    const after = (await walnut.stats()) as Stats;
    const delta = (server: string, name: string): number =>
      serverStat(after, 'hang', server, name) - serverStat(before, 'hang', server, name);
    t.diagnostic(`timed out: ${timedOut} replies, mc0 server_timedout +${delta('mc0', 'server_timedout')}`);
    // Per paused round and client: two gets and a multi-get touch the victim.
    assert.equal(timedOut, PAUSED_ROUNDS * CLIENTS * 3);
    assert.ok(delta('mc0', 'server_timedout') >= PAUSED_ROUNDS, 'the timeouts closed connections');
    assert.equal(delta('mc0', 'server_err') + delta('mc0', 'server_eof'), 0);
    for (const s of ['mc1', 'mc2']) {
      assert.equal(serverStat(after, 'hang', s, 'server_timedout'), 0, s);
      assert.equal(serverStat(after, 'hang', s, 'server_err') + serverStat(after, 'hang', s, 'server_eof'), 0, s);
    }
    for (const s of ['mc0', 'mc1', 'mc2']) {
      assert.equal(serverStat(after, 'hang', s, 'in_queue'), 0, s);
      assert.equal(serverStat(after, 'hang', s, 'out_queue'), 0, s);
    }
    assert.equal(poolStat(after, 'hang', 'forward_error') - poolStat(before, 'hang', 'forward_error'), timedOut);
  });
});
