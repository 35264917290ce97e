/**
 * Micro-benchmark of the memcache codec (src/proto/memcache/): request and reply parse
 * throughput per message size, fed in 64 KiB chunks as a socket would, plus multi-get
 * fragment + coalesce, and the stages of the e2e bench's 10,000-key multi-get over two servers
 * (fnv1a_64 + ketama, as bench/e2e/setup.ts configures them) timed one by one. Plain node, no
 * dependencies, not part of the tests.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/memcache-parser.bench.js
 */
import type { KeyRouter, ReplySink, RequestSink } from '../src/proto/codec.js';
import type { Msg } from '../src/proto/message.js';
import { Placement } from '../src/hash/placement.js';
import { createMemcacheCodec } from '../src/proto/memcache/memcache-codec.js';
import { MemcacheReplyParser } from '../src/proto/memcache/reply-parser.js';
import { MemcacheRequestParser } from '../src/proto/memcache/request-parser.js';

const CHUNK = 65536;

class CountingSink implements RequestSink, ReplySink {
  count = 0;
  errors = 0;
  onRequest(_msg: Msg): void {
    this.count++;
  }
  onFramingError(_reply: Buffer): void {
    this.errors++;
  }
  streamReply(): boolean {
    return false; // measure the parser gathering whole replies
  }
  onReplyPiece(): void {}
  onReply(_reply: Buffer, _flags: number): void {
    this.count++;
  }
  onReplyFramingError(_reason: string): void {
    this.errors++;
  }
}

function chunk(stream: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < stream.length; i += CHUNK) out.push(Buffer.from(stream.subarray(i, i + CHUNK)));
  return out;
}

function repeatTo(unit: Buffer, minBytes: number): { stream: Buffer; count: number } {
  const count = Math.max(1, Math.ceil(minBytes / unit.length));
  return { stream: Buffer.concat(new Array<Buffer>(count).fill(unit)), count };
}

interface Result {
  name: string;
  mbps: number;
  opsPerSec: number;
}

/** Run `fn` (which parses `bytes` bytes into `ops` messages) until ~`ms` have passed; best of 5. */
function measure(name: string, bytes: number, ops: number, fn: () => number, ms = 300): Result {
  for (let i = 0; i < 3; i++) fn(); // warm up the JIT
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    let iters = 0;
    const t0 = performance.now();
    let t1 = t0;
    while (t1 - t0 < ms / 5) {
      const got = fn();
      if (got !== ops) throw new Error(`${name}: expected ${ops} messages, got ${got}`);
      iters++;
      t1 = performance.now();
    }
    best = Math.min(best, (t1 - t0) / iters);
  }
  const secs = best / 1000;
  return { name, mbps: bytes / secs / (1024 * 1024), opsPerSec: ops / secs };
}

function requestBench(name: string, unit: string | Buffer, minBytes = 4 * 1024 * 1024, perUnit = 1): Result {
  const u = typeof unit === 'string' ? Buffer.from(unit, 'latin1') : unit;
  const { stream, count } = repeatTo(u, minBytes);
  const chunks = chunk(stream);
  return measure(`request ${name}`, stream.length, count * perUnit, () => {
    const parser = new MemcacheRequestParser();
    const sink = new CountingSink();
    for (const c of chunks) parser.feed(c, sink);
    return sink.count;
  });
}

function replyBench(name: string, unit: string | Buffer, minBytes = 4 * 1024 * 1024): Result {
  const u = typeof unit === 'string' ? Buffer.from(unit, 'latin1') : unit;
  const { stream, count } = repeatTo(u, minBytes);
  const chunks = chunk(stream);
  return measure(`reply ${name}`, stream.length, count, () => {
    const parser = new MemcacheReplyParser();
    const sink = new CountingSink();
    for (const c of chunks) parser.feed(c, sink);
    return sink.count;
  });
}

function setOf(size: number): Buffer {
  return Buffer.concat([Buffer.from(`set key:123456 0 0 ${size}\r\n`), Buffer.alloc(size, 0x61), Buffer.from('\r\n')]);
}

function valueOf(size: number): Buffer {
  return Buffer.concat([Buffer.from(`VALUE key:123456 0 ${size}\r\n`), Buffer.alloc(size, 0x61), Buffer.from('\r\nEND\r\n')]);
}

function fragmentBench(nkeys: number, servers: number): Result {
  const codec = createMemcacheCodec();
  const keys = Array.from({ length: nkeys }, (_, i) => `key:${i}`);
  const line = Buffer.from(`get ${keys.join(' ')}\r\n`, 'latin1');
  const router = {
    serverIndexFor(buf: Buffer, start: number, end: number): number {
      let h = 0;
      for (let i = start; i < end; i++) h = (Math.imul(h, 31) + buf[i]!) >>> 0;
      return h % servers;
    },
  };
  // Pre-compute each server's sub-reply (every key a hit with a 32-byte value).
  const parsed: Msg[] = [];
  new MemcacheRequestParser().feed(line, { onRequest: (m) => parsed.push(m), onFramingError: () => undefined });
  const probe = parsed[0]!;
  const subReplies = new Map<number, Buffer>();
  for (const f of codec.fragment(probe, router)) {
    const ks = f.data.toString('latin1').slice(4, -3).split(' ');
    subReplies.set(
      f.serverIndex,
      Buffer.from(ks.map((k) => `VALUE ${k} 0 32\r\n${'v'.repeat(32)}\r\n`).join('') + 'END\r\n', 'latin1'),
    );
  }
  return measure(`fragment+coalesce get ${nkeys} keys / ${servers} servers`, line.length, 1, () => {
    const got: Msg[] = [];
    new MemcacheRequestParser().feed(line, { onRequest: (m) => got.push(m), onFramingError: () => undefined });
    const msg = got[0]!;
    for (const f of codec.fragment(msg, router)) f.reply = subReplies.get(f.serverIndex)!;
    codec.coalesce(msg);
    return msg.reply !== null && msg.reply.length > 0 ? 1 : 0;
  });
}


/** Best wall time in µs of `fn` over `runs` runs (after a warm-up), by process.hrtime. */
function bestUs(fn: () => void, runs = 60): number {
  for (let i = 0; i < 10; i++) fn();
  let best = Infinity;
  for (let r = 0; r < runs; r++) {
    const t0 = process.hrtime.bigint();
    fn();
    const t = Number(process.hrtime.bigint() - t0) / 1000;
    if (t < best) best = t;
  }
  return best;
}

/** The e2e bulk keys and values (bench/e2e/setup.ts bulkKey / bulkValue). */
const bulkKey = (i: number): string => `b${String(i).padStart(4, '0')}`;
const bulkValue = (i: number): string => `bulk-value-${i}-`.padEnd(32, '.');

/**
 * The 10,000-key get of the e2e bulk test, stage by stage: parse the line, fragment over the
 * pool's servers, frame each server's reply from 64 KiB reads, coalesce. `servers` 1 is the
 * all-keys-on-one-server case (the unsplit pass-through when the codec has one).
 */
function bulkStages(servers: number): Array<[string, number]> {
  const nkeys = 10_000;
  const codec = createMemcacheCodec();
  const line = Buffer.from(`get ${Array.from({ length: nkeys }, (_, i) => bulkKey(i)).join(' ')}\r\n`, 'latin1');
  const router: KeyRouter = new Placement(
    { hash: 'fnv1a_64', distribution: 'ketama', hashTag: null },
    Array.from({ length: servers }, (_, i) => ({ name: `m${i + 1}`, weight: 1, index: i })),
  );
  const parseOne = (): Msg => {
    let got: Msg | null = null;
    new MemcacheRequestParser().feed(line, {
      onRequest: (m) => (got = m),
      onFramingError: () => undefined,
    });
    if (got === null) throw new Error('no request parsed');
    return got;
  };
  const msg = parseOne();
  let frags = codec.fragment(msg, router);
  // What each server sends back: every key a hit, in its sub-request's order, read in 64 KiB chunks.
  const value = new Map<string, string>();
  for (let i = 0; i < nkeys; i++) value.set(bulkKey(i), bulkValue(i));
  const serverChunks = frags.map((f) => {
    const s = f.data.toString('latin1');
    const ks = s.slice(s.indexOf(' ') + 1, s.length - 2).split(' ').filter((k) => k !== '');
    const raw = Buffer.from(ks.map((k) => `VALUE ${k} 0 32\r\n${value.get(k)!}\r\n`).join('') + 'END\r\n', 'latin1');
    return chunk(raw);
  });
  const replies: Buffer[] = [];
  const frame = (): void => {
    replies.length = 0;
    for (const chunks of serverChunks) {
      const p = new MemcacheReplyParser();
      const sink: ReplySink = {
        onReply: (r) => replies.push(r),
        onReplyFramingError: (e) => {
          throw new Error(e);
        },
        streamReply: () => false,
        onReplyPiece: () => undefined,
      };
      for (const c of chunks) p.feed(c, sink);
    }
    if (replies.length !== frags.length) throw new Error(`framed ${replies.length} replies`);
  };
  const coalesce = (): void => {
    for (let i = 0; i < frags.length; i++) frags[i]!.reply = replies[i]!;
    codec.coalesce(msg);
  };
  frame();
  coalesce();
  const expected = Buffer.from(
    Array.from({ length: nkeys }, (_, i) => `VALUE ${bulkKey(i)} 0 32\r\n${bulkValue(i)}\r\n`).join('') + 'END\r\n',
    'latin1',
  );
  if (!msg.reply!.equals(expected)) throw new Error(`${servers} servers: merged reply differs`);
  const tag = `get 10k keys / ${servers} server${servers > 1 ? 's' : ''}`;
  return [
    [`${tag}: parse line (60 KB)`, bestUs(() => void parseOne())],
    [`${tag}: fragment (${frags.length} sub-requests)`, bestUs(() => void (frags = codec.fragment(msg, router)))],
    [`${tag}: frame replies (64 KiB reads)`, bestUs(frame)],
    [`${tag}: coalesce`, bestUs(coalesce)],
    [
      `${tag}: all stages`,
      bestUs(() => {
        const m = parseOne();
        frags = codec.fragment(m, router);
        frame();
        for (let i = 0; i < frags.length; i++) frags[i]!.reply = replies[i]!;
        codec.coalesce(m);
      }),
    ],
  ];
}

const results: Result[] = [
  requestBench('get 1 key (~16 B)', 'get key:123456\r\n'),
  requestBench('get 10 keys', `get ${Array.from({ length: 10 }, (_, i) => `key:12345${i}`).join(' ')}\r\n`),
  requestBench('set 8 B', setOf(8)),
  requestBench('set 100 B', setOf(100)),
  requestBench('set 1 KiB', setOf(1024)),
  requestBench('set 1 MiB (64 KiB chunks)', setOf(1024 * 1024), 16 * 1024 * 1024),
  requestBench('mixed get/set/delete/incr', `get a:1\r\nset a:1 0 0 10\r\n0123456789\r\ndelete a:2\r\nincr c:1 1\r\n`, 4 * 1024 * 1024, 4),
  replyBench('STORED', 'STORED\r\n'),
  replyBench('END (miss)', 'END\r\n'),
  replyBench('VALUE 100 B', valueOf(100)),
  replyBench('VALUE 1 KiB', valueOf(1024)),
  replyBench('VALUE 1 MiB (64 KiB chunks)', valueOf(1024 * 1024), 16 * 1024 * 1024),
  replyBench('VALUE 32 B x 100 (one get)', Buffer.concat([
    ...Array.from({ length: 100 }, (_, i) => Buffer.from(`VALUE key:${i} 0 32\r\n${'v'.repeat(32)}\r\n`, 'latin1')),
    Buffer.from('END\r\n', 'latin1'),
  ])),
  fragmentBench(10, 4),
  fragmentBench(100, 4),
  fragmentBench(1000, 8),
];

const stages = [...bulkStages(2), ...bulkStages(1)];

console.log(`node ${process.version}, ${CHUNK / 1024} KiB chunks, best of 5 rounds`);
for (const r of results) {
  console.log(
    `${r.name.padEnd(48)} ${r.mbps.toFixed(0).padStart(7)} MiB/s ${Math.round(r.opsPerSec).toLocaleString('en-US').padStart(13)} msg/s`,
  );
}
console.log('\nStages of the e2e 10,000-key multi-get (best of 60 runs):');
for (const [name, us] of stages) console.log(`${name.padEnd(56)} ${us.toFixed(0).padStart(7)} µs`);
