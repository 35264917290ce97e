/**
 * Micro-benchmark of the redis request and reply parsers (src/proto/redis): parse throughput
 * for pipelined SET requests with small and large values, fed in 64 KiB chunks as a socket
 * delivers them. Plain node, not part of the tests:
 *   npx tsc -p tsconfig.json --outDir .build/x && node .build/x/bench/redis-parser.bench.js
 */
import type { ReplySink, RequestSink } from '../src/proto/codec.js';
import type { Msg } from '../src/proto/message.js';
import { RedisReplyParser } from '../src/proto/redis/reply-parser.js';
import { RedisRequestParser } from '../src/proto/redis/request-parser.js';

const CHUNK = 64 * 1024;

function encode(args: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) parts.push(Buffer.from(`$${a.length}\r\n`), a, Buffer.from('\r\n'));
  return Buffer.concat(parts);
}

function chunked(stream: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < stream.length; i += CHUNK) out.push(stream.subarray(i, i + CHUNK));
  return out;
}

class CountingSink implements RequestSink, ReplySink {
  count = 0;
  keyBytes = 0;
  onRequest(msg: Msg): void {
    this.count++;
    this.keyBytes += msg.keyEnd - msg.keyStart;
  }
  onFramingError(): void {
    throw new Error('framing error in benchmark input');
  }
  streamReply(): boolean {
    return false; // measure the parser gathering whole replies
  }
  onReplyPiece(): void {}
  onReply(): void {
    this.count++;
  }
  onReplyFramingError(): void {
    throw new Error('framing error in benchmark input');
  }
}

interface Result {
  mbPerSec: number;
  perSec: number;
}

/** Parse `chunks` (holding `n` messages) repeatedly for about `ms` milliseconds. */
function run(kind: 'request' | 'reply', chunks: readonly Buffer[], n: number, ms: number): Result {
  const bytes = chunks.reduce((a, c) => a + c.length, 0);
  const once = (): void => {
    const sink = new CountingSink();
    const parser = kind === 'request' ? new RedisRequestParser(null) : new RedisReplyParser();
    for (const c of chunks) parser.feed(c, sink);
    if (sink.count !== n) throw new Error(`parsed ${sink.count} of ${n}`);
  };
  for (let i = 0; i < 3; i++) once(); // warm-up
  let rounds = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < ms) {
    once();
    rounds++;
    elapsed = Number(process.hrtime.bigint() - start) / 1e6;
  }
  const secs = elapsed / 1000;
  return { mbPerSec: (bytes * rounds) / secs / 1e6, perSec: (n * rounds) / secs };
}

function report(name: string, r: Result): void {
  const rate = r.perSec >= 1e6 ? `${(r.perSec / 1e6).toFixed(2)} M/s` : `${(r.perSec / 1e3).toFixed(1)} k/s`;
  process.stdout.write(`${name.padEnd(40)} ${r.mbPerSec.toFixed(0).padStart(6)} MB/s  ${rate.padStart(11)}\n`);
}

const ms = Number(process.env['BENCH_MS'] ?? 1500);

function setStream(valueSize: number, n: number): Buffer[] {
  const value = Buffer.alloc(valueSize, 0x61);
  const reqs: Buffer[] = [];
  for (let i = 0; i < n; i++) reqs.push(encode([Buffer.from('SET'), Buffer.from(`key:${i % 10000}`), value]));
  return chunked(Buffer.concat(reqs));
}

function bulkReplyStream(valueSize: number, n: number): Buffer[] {
  const one = Buffer.concat([Buffer.from(`$${valueSize}\r\n`), Buffer.alloc(valueSize, 0x62), Buffer.from('\r\n')]);
  return chunked(Buffer.concat(Array.from({ length: n }, () => one)));
}

report('request SET, 16 B values', run('request', setStream(16, 100000), 100000, ms));
report('request SET, 4 KiB values', run('request', setStream(4096, 10000), 10000, ms));
report('request SET, 1 MiB values', run('request', setStream(1 << 20, 64), 64, ms));
{
  const keys = Array.from({ length: 100 }, (_, i) => Buffer.from(`key:${i}`));
  const mget = encode([Buffer.from('MGET'), ...keys]);
  const n = 5000;
  report('request MGET of 100 keys', run('request', chunked(Buffer.concat(Array.from({ length: n }, () => mget))), n, ms));
}
report('reply status +OK', run('reply', chunked(Buffer.from('+OK\r\n'.repeat(100000))), 100000, ms));
report('reply integer :12345', run('reply', chunked(Buffer.from(':12345\r\n'.repeat(100000))), 100000, ms));
report('reply bulk, 16 B values', run('reply', bulkReplyStream(16, 100000), 100000, ms));
report('reply bulk, 4 KiB values', run('reply', bulkReplyStream(4096, 10000), 10000, ms));
{
  const elements = Array.from({ length: 100 }, () => '$8\r\nabcdefgh\r\n').join('');
  const one = Buffer.from(`*100\r\n${elements}`);
  const n = 5000;
  report('reply array of 100 bulks', run('reply', chunked(Buffer.concat(Array.from({ length: n }, () => one))), n, ms));
}
