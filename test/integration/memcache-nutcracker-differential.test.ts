// Command-by-command differential against Debian's nutcracker 0.5.0 for memcached pools: two
// identical beds (the same YAML with a 1-server and a 3-server pool, each proxy with its own
// memcached, the same data) get the same request bytes on fresh connections, and the reply
// bytes and whether the connection closed are compared. The other memcache tests grade Walnut
// against memcached itself; this one holds it to the compatibility rule, twemproxy's replies
// except where README "Differences from twemproxy" says otherwise:
//
// - SAME: every command nutcracker serves, with and without noreply, odd but valid numbers
//   and spacing, keys of 250 bytes and with control bytes, memcached's own errors, multi-gets
//   over the servers (missing keys, duplicates, hundreds of keys, in one write or in pieces).
// - HANGS_UP: requests nutcracker answers by closing the connection without a byte (even the
//   replies it owed for earlier requests); Walnut answers them and the connection goes on.
// - reordered multi-gets: twemproxy can put a value at an earlier missing key's place; Walnut
//   keeps request order, with the same values.
// - backend failures: the same `SERVER_ERROR <strerror>` texts; twemproxy closes a client whose
//   multi-get failed, Walnut keeps it.
//
// cas uniques are masked (each memcached counts its own).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  freePort,
  startMemcached,
  startNutcracker,
  startWalnut,
  type Running,
  type RunningProxy,
} from '../../scripts/lib/processes.js';
import { McClient } from './support/memcache-client.js';
import { exchangeCut, type Exchange } from './support/request-until.js';

const K250 = 'k'.repeat(250);
const K251 = 'k'.repeat(251);
/** Keys spread over the three servers of pool p3 (md5 + ketama puts k6, k1, k0 on different ones). */
const SPREAD = ['k0', 'k1', 'k2', 'k3', 'k4', 'k6', 'k7', 'k8', 'k9'];
const SEED: readonly (readonly [string, number, string])[] = [
  ['sentinel', 7, 'SENTINEL'], ['s:a', 1, 'val-a'], ['s:b', 2, 'val-b'], ['s:c', 3, 'val-c'], ['n:num', 0, '42'],
  ['n:max', 0, '18446744073709551615'], ['n:txt', 0, 'abc'], ['n:long', 0, '123456789012345678901234'],
  [K250, 5, 'long'], ['s:\x01ctl', 0, 'ctl'], ['s:\x7f\x80\xff', 0, 'hi'],
  ...SPREAD.map((k, i): [string, number, string] => [k, i, `v-${k}`]),
  ...Array.from({ length: 150 }, (_, i): [string, number, string] => [`m:${i * 2}`, i, `v${i * 2}`]),
];
const SEED_REQUEST = SEED.map(([k, f, v]) => `set ${k} ${f} 0 ${v.length}\r\n${v}\r\n`).join('');

/**
 * Sent after each case: its reply shows the connection is still in step. No case reads its key,
 * so no reply to a case can end the way the sentinel's does.
 */
const SENTINEL = 'get sentinel\r\n';
const SENTINEL_REPLY = 'VALUE sentinel 7 8\r\nSENTINEL\r\nEND\r\n';

const many = (n: number, key: (i: number) => string): string => Array.from({ length: n }, (_, i) => key(i)).join(' ');

/** Requests both proxies answer with the same bytes, on pool p1 and on pool p3. `{cas:K}` is K's unique. */
const SAME: readonly string[] = [
  'get s:a\r\n', 'get s:zz\r\n', 'gets s:a\r\n', 'get s:a s:b s:c\r\n', 'get s:a s:a s:b s:a\r\n',
  'gets s:a s:b s:zz s:c\r\n', 'get s:x s:y s:z\r\n', 'get k6 k1 k0 k7 k2 k3\r\n', 'get k6 k6 k1 k1 k0 k0\r\n',
  `get ${many(300, (i) => `m:${2 * i}`)}\r\n`, 'get s:a \r\n', '   get  s:a  s:b  \r\n', 'get s:a\t\r\n',
  `get ${K250}\r\n`, `get s:a ${K250} k1\r\n`, 'get s:\x01ctl\r\n', 'get s:\x7f\x80\xff\r\n', `${' '.repeat(150)}get s:a\r\n`,
  'set s:n 5 0 3\r\nabc\r\nget s:n\r\n', 'set s:n 5 0 3 noreply\r\nabc\r\nget s:n\r\n', 'set s:n 0 0 0\r\n\r\nget s:n\r\n',
  'set s:n 0 0 8\r\nEND\r\nx\r\n\r\nget s:n k1 k0\r\n', 'set s:n 4294967295 2147483648 1\r\nx\r\nget s:n\r\n',
  'set s:n 007 0010 01\r\nx\r\nget s:n\r\n', 'set  s:a  0  0  1  \r\nx\r\nget s:a\r\n', `set ${K250} 0 0 1\r\nx\r\nget ${K250}\r\n`,
  'set s:\x0bk 0 0 1\r\nx\r\nget s:\x0bk\r\n', 'set s:n 0 0 3\r\na\x00b\r\nget s:n\r\n',
  `set s:n 0 0 1100000\r\n${'x'.repeat(1_100_000)}\r\nget s:n\r\n`,
  'add s:n 0 0 1\r\nx\r\n', 'add s:a 0 0 1\r\nx\r\n', 'add s:a 0 0 1 noreply\r\nx\r\nget s:a\r\n',
  'replace s:a 0 0 1\r\nx\r\n', 'replace s:zz 0 0 1\r\nx\r\n', 'append s:a 0 0 3\r\nXYZ\r\nget s:a\r\n',
  'append s:zz 0 0 1\r\nx\r\n', 'prepend s:a 0 0 3\r\nXYZ\r\nget s:a\r\n', 'prepend s:zz 0 0 1\r\nx\r\n',
  'cas s:a 0 0 1 {cas:s:a}\r\nx\r\ngets s:a\r\n', 'cas s:a 0 0 1 {cas:s:a} noreply\r\nx\r\nget s:a\r\n',
  'cas s:a 0 0 1 1\r\nx\r\n', 'cas s:zz 0 0 1 1\r\nx\r\n', 'cas s:a 0 0 1 18446744073709551615\r\nx\r\n',
  'set s:n 0 0 1\r\nx\r\nappend s:n 0 0 1 noreply\r\ny\r\nget s:n\r\n',
  'incr n:num 1\r\n', 'decr n:num 1\r\n', 'decr n:num 100\r\n', 'incr n:max 1\r\n', 'incr n:num 18446744073709551615\r\n',
  'incr n:num 18446744073709551616\r\n', 'incr n:txt 1\r\n', 'decr n:txt 1\r\n', 'incr n:long 1\r\n', 'incr n:zz 1\r\n',
  'incr n:num 5 noreply\r\nget n:num\r\n', 'incr n:txt 1 noreply\r\nget n:txt\r\n', 'incr  n:num  1 \r\n',
  'set n:x 0 0 3\r\n100\r\ndecr n:x 1\r\nget n:x\r\n', 'set n:x 0 0 0\r\n\r\nincr n:x 1\r\n', `incr n:num ${'0'.repeat(40)}1\r\n`,
  'touch s:a 100\r\n', 'touch s:zz 100\r\n', 'touch s:a 100 noreply\r\nget s:a\r\n', 'touch s:a -1\r\nget s:a\r\n',
  'touch s:a 9223372036854775808\r\n', 'delete s:a\r\nget s:a\r\n', 'delete s:zz\r\n', 'delete s:a noreply\r\nget s:a\r\n',
  `delete ${K250}\r\n`, 'version\r\n', 'version  \r\n', 'get s:a noreply\r\n',
  'set s:p 0 0 2\r\nhi\r\nget s:p s:a s:zz\r\nincr n:num 3\r\ndelete s:b\r\ngets s:b k1\r\ntouch s:c 10\r\nappend s:p 0 0 1\r\n!\r\nget s:p\r\nversion\r\n',
];

/** Requests nutcracker answers by closing the connection at once, without a byte. */
const HANGS_UP: readonly string[] = [
  'get\r\n', 'GET s:a\r\n', `get ${K251}\r\n`, 'gat 0 s:a\r\n', 'gats 0 s:a k1\r\n', 'set s:n 0 -1 1\r\nx\r\n',
  'set s:n +5 0 1\r\nx\r\n', 'set s:n abc 0 1\r\nx\r\n', 'set s:n 0 0 3\r\nabcdef\r\n', 'cas s:a 0 0 1\r\nx\r\n',
  'incr n:num\r\n', 'incr n:num abc\r\n', 'incr n:num +1\r\n', 'incr n:num abc noreply\r\n', 'touch s:a abc\r\n',
  'delete s:a 0\r\n', 'delete s:a 1\r\n', 'version x\r\n', 'quit x\r\n', 'stats\r\n', 'flush_all\r\n', 'verbosity 1\r\n',
  'mg s:a v\r\n', 'foo\r\n', '\r\n', 'get s:a\r\nget s:b s:c\r\nfoo\r\nget s:a\r\n',
];

/** Multi-gets with missing keys, on p3: the same values; Walnut's in request order. */
const REORDERED: readonly string[] = [
  'get k6 k1 k0 kx k7 k2 k3 kmiss k6 k1\r\n',
  `get ${many(300, (i) => `m:${i}`)}\r\n`,
  `gets ${many(300, (i) => `m:${299 - i}`)}\r\n`,
];

interface Bed {
  mcs: Running[];
  proxy: RunningProxy;
  p1: number;
  p3: number;
}

async function startBed(start: typeof startWalnut, extra: readonly string[] = []): Promise<Bed> {
  const mcs = await Promise.all([0, 1, 2, 3].map(() => startMemcached()));
  const [p1, p3] = await Promise.all([freePort(), freePort()]);
  const pool = (name: string, port: number, servers: readonly Running[]): string[] => [
    `${name}:`, `  listen: 127.0.0.1:${port}`, '  hash: md5', '  distribution: ketama', ...extra.map((e) => `  ${e}`),
    '  servers:', ...servers.map((s, i) => `    - 127.0.0.1:${s.port}:1 m${i}`),
  ];
  const yaml = [...pool('p1', p1, mcs.slice(0, 1)), ...pool('p3', p3, mcs.slice(1)), ''].join('\n');
  return { mcs, proxy: await start(yaml, { listenPorts: [p1, p3] }), p1, p3 };
}

async function stopBed(bed: Bed | undefined): Promise<void> {
  if (bed === undefined) return;
  await bed.proxy.stop();
  await Promise.all(bed.mcs.map((m) => m.stop()));
}

/** Sends `req` (latin1) on a fresh connection; what came back once it ends with `end` or closes. */
async function until(port: number, req: string, end: string): Promise<Exchange> {
  // The quiet time is only a backstop for a reply that never comes (the comparison then fails).
  return exchangeCut(port, Buffer.from(req, 'latin1'), { quietMs: 10_000, complete: (t) => t.endsWith(end) });
}

/** Empty every memcached of the bed and store SEED through both pools. */
async function reset(bed: Bed): Promise<void> {
  await Promise.all(bed.mcs.map((m) => until(m.port, 'flush_all\r\n', 'OK\r\n')));
  for (const port of [bed.p1, bed.p3]) {
    const r = await until(port, `${SEED_REQUEST}${SENTINEL}`, SENTINEL_REPLY);
    assert.equal(r.text, `${'STORED\r\n'.repeat(SEED.length)}${SENTINEL_REPLY}`);
  }
}

/** `req` with each `{cas:K}` replaced by K's cas unique on this pool. */
async function withCas(port: number, req: string): Promise<string> {
  let out = req;
  for (const m of req.matchAll(/\{cas:([^}]+)\}/g)) {
    const reply = await until(port, `gets ${m[1]!}\r\n`, 'END\r\n');
    out = out.replace(m[0], /^VALUE \S+ \d+ \d+ (\d+)\r\n/.exec(reply.text)![1]!);
  }
  return out;
}

const maskCas = (t: string): string => t.replace(/^(VALUE \S+ \d+ \d+) \d+\r\n/gm, '$1 <cas>\r\n');
const show = (t: string): string => JSON.stringify(t.length > 300 ? `${t.slice(0, 150)}…${t.slice(-100)}` : t);

/** The VALUE blocks of a retrieval reply as `key flags data`, in order. */
function blocks(reply: string): string[] {
  const out: string[] = [];
  const re = /VALUE (\S+) (\d+) (\d+)(?: \S+)?\r\n/y;
  let m: RegExpExecArray | null;
  let at = 0;
  for (;;) {
    re.lastIndex = at;
    if ((m = re.exec(reply)) === null) break;
    const data = reply.slice(re.lastIndex, re.lastIndex + Number(m[3]));
    out.push(`${m[1]!} ${m[2]!} ${data}`);
    at = re.lastIndex + data.length + 2;
  }
  assert.equal(reply.slice(at), 'END\r\n', `a retrieval reply: ${show(reply)}`);
  return out;
}

describe('memcache replies: Walnut and nutcracker 0.5.0 side by side', () => {
  let walnut: Bed | undefined;
  let nutcracker: Bed | undefined;

  before(async () => {
    [walnut, nutcracker] = await Promise.all([startBed(startWalnut), startBed(startNutcracker)]);
  });

  after(async () => {
    await Promise.all([stopBed(walnut), stopBed(nutcracker)]);
  });

  /** What each proxy sends back for `req` + SENTINEL on `pool`, from a reset state. */
  async function both(pool: 'p1' | 'p3', req: string, cuts: readonly number[] = []): Promise<[Exchange, Exchange]> {
    await Promise.all([reset(walnut!), reset(nutcracker!)]);
    return Promise.all(
      [walnut!, nutcracker!].map(async (bed) => {
        const bytes = Buffer.from(`${await withCas(bed[pool], req)}${SENTINEL}`, 'latin1');
        return exchangeCut(bed[pool], bytes, { quietMs: 10_000, cuts, complete: (t) => t.endsWith(SENTINEL_REPLY) });
      }),
    ) as Promise<[Exchange, Exchange]>;
  }

  for (const pool of ['p1', 'p3'] as const) {
    test(`${pool}: ${SAME.length} requests nutcracker serves get the same bytes`, async () => {
      for (const req of SAME) {
        const [w, n] = await both(pool, req);
        assert.ok(n.complete, `nutcracker answered ${show(req)} in full: ${show(n.text)}`);
        assert.equal(maskCas(w.text), maskCas(n.text), `reply to ${show(req)}`);
        assert.equal(w.closed, n.closed, `connection closed after ${show(req)}`);
      }
    });

    test(`${pool}: ${HANGS_UP.length} requests nutcracker hangs up on are answered, the connection goes on`, async () => {
      for (const req of HANGS_UP) {
        const [w, n] = await both(pool, req);
        assert.deepEqual([n.text, n.closed], ['', true], `nutcracker on ${show(req)}`);
        assert.ok(w.complete && !w.closed, `Walnut on ${show(req)}: ${show(w.text)}`);
      }
    });
  }

  test('p3: the same pipeline cut in pieces gets the same bytes', async () => {
    const req = SAME.at(-1)!;
    for (let pieces = 2; pieces <= 8; pieces++) {
      const cuts = Array.from({ length: pieces - 1 }, (_, i) => Math.floor(((i + 1) * req.length) / pieces));
      const [w, n] = await both('p3', req, cuts);
      assert.ok(n.complete);
      assert.equal(maskCas(w.text), maskCas(n.text), `in ${pieces} pieces`);
    }
  });

  test('p3: multi-gets with missing keys get the same values, Walnut in request order', async () => {
    const present = new Set(SEED.map(([k]) => k));
    let reorderedByNutcracker = 0;
    for (const req of REORDERED) {
      const [w, n] = await both('p3', req);
      const wb = blocks(maskCas(w.text).slice(0, -SENTINEL_REPLY.length));
      const nb = blocks(maskCas(n.text).slice(0, -SENTINEL_REPLY.length));
      assert.deepEqual([...wb].sort(), [...nb].sort(), `the same values for ${show(req)}`);
      const wanted = req.trim().split(/ +/).slice(1).filter((k) => present.has(k));
      assert.deepEqual(wb.map((b) => b.split(' ')[0]), wanted, `Walnut's order for ${show(req)}`);
      if (nb.join('\n') !== wb.join('\n')) reorderedByNutcracker++;
    }
    // Otherwise these cases would not show the documented difference at all.
    assert.ok(reorderedByNutcracker > 0, 'nutcracker reordered none of them');
  });
});

describe('memcache backend failures: Walnut and nutcracker 0.5.0 side by side', () => {
  let walnut: Bed | undefined;
  let nutcracker: Bed | undefined;
  const REFUSED = 'SERVER_ERROR Connection refused\r\n';

  before(async () => {
    [walnut, nutcracker] = await Promise.all([startBed(startWalnut, ['timeout: 500']), startBed(startNutcracker, ['timeout: 500'])]);
    for (const bed of [walnut, nutcracker]) {
      await until(bed.p1, `${SEED_REQUEST}${SENTINEL}`, SENTINEL_REPLY);
      await until(bed.p3, `${SEED_REQUEST}${SENTINEL}`, SENTINEL_REPLY);
    }
  });

  after(async () => {
    await Promise.all([stopBed(walnut), stopBed(nutcracker)]);
  });

  /** Replies to `req` on a fresh connection, `replies` of them, and whether the peer then closes. */
  async function run(port: number, req: string, replies: number): Promise<{ text: string; client: McClient }> {
    const client = await McClient.connect(port);
    await client.send(req);
    return { text: (await client.readReplies(replies)).toString('latin1'), client };
  }

  test('a stopped server: every request times out alike, noreply ones get nothing', async () => {
    const req = 'get k6\r\nget k6 k1\r\nset k7 0 0 1\r\nx\r\nset k2 0 0 1 noreply\r\ny\r\nincr k9 1\r\ndelete k0\r\ntouch k3 10\r\nversion\r\n';
    const texts: string[] = [];
    for (const bed of [walnut!, nutcracker!]) {
      await bed.mcs[0]!.pause();
      try {
        const { text, client } = await run(bed.p1, req, 7);
        texts.push(text);
        client.destroy();
      } finally {
        bed.mcs[0]!.resume();
      }
    }
    assert.equal(texts[0], 'SERVER_ERROR Connection timed out\r\n'.repeat(7));
    assert.equal(texts[0], texts[1]);
  });

  test('one server of three killed: the same errors; nutcracker closes a client whose multi-get failed, Walnut does not', async () => {
    // k6 lives on m0 of p3 (the bed's second memcached), k1 and k0 elsewhere.
    for (const bed of [walnut!, nutcracker!]) {
      bed.mcs[1]!.kill('SIGKILL');
      await bed.mcs[1]!.exited;
    }
    const single: [string, string][] = [
      ['get k6\r\n', REFUSED],
      ['get k1\r\n', 'VALUE k1 1 4\r\nv-k1\r\nEND\r\n'],
      ['get k1 k0\r\n', 'VALUE k1 1 4\r\nv-k1\r\nVALUE k0 0 4\r\nv-k0\r\nEND\r\n'],
      ['set k6 0 0 1\r\nx\r\nincr k6 1\r\ndelete k6\r\n', REFUSED.repeat(3)],
    ];
    for (const [req, want] of single) {
      for (const bed of [walnut!, nutcracker!]) {
        const { text, client } = await run(bed.p3, `${req}get k1\r\n`, req.split('\r\n').filter((l) => /^(get|set|incr|delete)/.test(l)).length + 1);
        assert.equal(text, `${want}VALUE k1 1 4\r\nv-k1\r\nEND\r\n`, `${show(req)} through ${bed === walnut ? 'Walnut' : 'nutcracker'}`);
        client.destroy();
      }
    }
    // A multi-get touching the dead server: the same reply; then nutcracker hangs up, while
    // Walnut answers the next request. (Alone on its connection: whether nutcracker still sends
    // the replies to requests pipelined behind it before hanging up varies from run to run.)
    const n = await run(nutcracker!.p3, 'get k1 k6 k0\r\n', 1);
    assert.equal(n.text, REFUSED);
    await n.client.closed;
    const w = await run(walnut!.p3, 'get k1 k6 k0\r\n', 1);
    assert.equal(w.text, REFUSED);
    await w.client.send('get k1\r\n');
    assert.equal((await w.client.readReply()).toString('latin1'), 'VALUE k1 1 4\r\nv-k1\r\nEND\r\n');
    w.client.destroy();
  });
});
