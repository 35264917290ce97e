/**
 * Micro-benchmark of a 10,000-key MGET split over four servers (src/proto/redis): parsing the
 * request, splitting it per server (hashing every key with fnv1a_64 + ketama), framing the four
 * replies and merging them back in key order. Per MGET, in µs, for keys in sequence (as the
 * end-to-end bench's, which ketama tends to put on the same server several in a row) and for
 * keys whose servers alternate (every element its own copy). Plain node, not part of the tests:
 *   npm run build && node dist/bench/redis-mget.bench.js
 */
import type { KeyRouter, ReplySink, RequestSink } from '../src/proto/codec.js';
import type { Msg } from '../src/proto/message.js';
import { Placement } from '../src/hash/placement.js';
import { redisCoalesce, redisFragment } from '../src/proto/redis/redis-codec.js';
import { RedisReplyParser } from '../src/proto/redis/reply-parser.js';
import { RedisRequestParser } from '../src/proto/redis/request-parser.js';

const KEYS = 10_000;
const VALUE = 'v'.repeat(32);
const CHUNK = 64 * 1024;

function encode(args: readonly string[]): Buffer {
  return Buffer.from(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`, 'latin1');
}

function feedChunked(buf: Buffer, feed: (chunk: Buffer) => void): void {
  for (let i = 0; i < buf.length; i += CHUNK) feed(buf.subarray(i, i + CHUNK));
}

class Sink implements RequestSink, ReplySink {
  msg: Msg | null = null;
  reply: Buffer | null = null;
  onRequest(msg: Msg): void {
    this.msg = msg;
  }
  onFramingError(): void {
    throw new Error('framing error in benchmark input');
  }
  onReply(reply: Buffer): void {
    this.reply = reply;
  }
  streamReply(): boolean {
    return false;
  }
  onReplyPiece(): void {}
  onReplyFramingError(reason: string): void {
    throw new Error(`reply framing error: ${reason}`);
  }
}

/** The four servers of the bench's redis-4 pool, placed as twemproxy would. */
const placement = new Placement(
  { hash: 'fnv1a_64', distribution: 'ketama', hashTag: null },
  [0, 1, 2, 3].map((i) => ({ name: `127.0.0.1:2710${i}`, weight: 1, index: i })),
);
const KETAMA: KeyRouter = { serverIndexFor: (b, s, e) => placement.serverIndexFor(b, s, e) };
/** Servers by the key's last byte: consecutive keys never share a server. */
const ALTERNATING: KeyRouter = { serverIndexFor: (b, _s, e) => b[e - 1]! & 3 };

interface Phases {
  parse: number;
  split: number;
  frame: number;
  merge: number;
}

function run(router: KeyRouter, rounds: number): Phases {
  const keys = Array.from({ length: KEYS }, (_, i) => `bulk:${String(i).padStart(8, '0')}`);
  const request = encode(['MGET', ...keys]);
  const expectedLength = `*${KEYS}\r\n`.length + KEYS * `$32\r\n${VALUE}\r\n`.length;
  const sink = new Sink();
  const requests = new RedisRequestParser(null);
  const replies = new RedisReplyParser();
  let serverReplies: Buffer[] | null = null;
  const total: Phases = { parse: 0, split: 0, frame: 0, merge: 0 };
  const warmup = Math.max(20, rounds / 3);
  for (let round = 0; round < warmup + rounds; round++) {
    const t0 = process.hrtime.bigint();
    feedChunked(request, (c) => requests.feed(c, sink));
    const msg = sink.msg!;
    const t1 = process.hrtime.bigint();
    const frags = redisFragment(msg, router);
    const t2 = process.hrtime.bigint();
    // Each server answers every key it was asked for (the count is in its request's header).
    serverReplies ??= frags.map((f) => {
      const n = Number(f.data.toString('latin1', 1, f.data.indexOf(13))) - 1;
      return Buffer.from(`*${n}\r\n${`$32\r\n${VALUE}\r\n`.repeat(n)}`, 'latin1');
    });
    const t3 = process.hrtime.bigint();
    frags.forEach((f, i) => {
      feedChunked(serverReplies![i]!, (c) => replies.feed(c, sink));
      f.reply = sink.reply;
    });
    const t4 = process.hrtime.bigint();
    redisCoalesce(msg);
    const t5 = process.hrtime.bigint();
    if (msg.reply?.length !== expectedLength) throw new Error('the merged reply has the wrong length');
    if (round >= warmup) {
      total.parse += Number(t1 - t0);
      total.split += Number(t2 - t1);
      total.frame += Number(t4 - t3);
      total.merge += Number(t5 - t4);
    }
  }
  const us = (ns: number): number => ns / rounds / 1e3;
  return { parse: us(total.parse), split: us(total.split), frame: us(total.frame), merge: us(total.merge) };
}

const rounds = Number(process.env['BENCH_ROUNDS'] ?? 300);
for (const [name, router] of [
  ['keys in sequence, ketama', KETAMA],
  ['servers alternating', ALTERNATING],
] as const) {
  const r = run(router, rounds);
  const cells = Object.entries(r).map(([phase, v]) => `${phase} ${v.toFixed(0).padStart(4)} µs`);
  process.stdout.write(`${KEYS}-key MGET, 4 servers, ${name.padEnd(26)} ${cells.join('  ')}\n`);
}
