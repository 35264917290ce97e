/**
 * Test helpers for the memcache codec tests: sinks that record what the parsers emit as plain
 * comparable objects, and ways of cutting a byte stream into chunks.
 */
import type { ReplySink, RequestSink } from '../../../../src/proto/codec.js';
import type { Msg } from '../../../../src/proto/message.js';
import { MemcacheReplyParser } from '../../../../src/proto/memcache/reply-parser.js';
import { MemcacheRequestParser } from '../../../../src/proto/memcache/request-parser.js';

/** What the request parser emitted, with Buffers as latin1 strings (binary-safe, readable). */
export type ReqEvent =
  | {
      kind: 'req';
      route: number;
      cmd: number;
      data: string;
      key: string;
      keys: string[] | null;
      noreply: boolean;
      reply: string | null;
    }
  | { kind: 'framing'; reply: string };

export function reqEvent(msg: Msg): ReqEvent {
  let keys: string[] | null = null;
  if (msg.keys !== null) {
    keys = [];
    for (let k = 0; k < msg.nkeys; k++) {
      keys.push(msg.data.toString('latin1', msg.keys[3 * k], msg.keys[3 * k + 1]));
    }
  }
  return {
    kind: 'req',
    route: msg.route,
    cmd: msg.cmd,
    data: msg.data.toString('latin1'),
    key: msg.keyBuf.toString('latin1', msg.keyStart, msg.keyEnd),
    keys,
    noreply: msg.noreply,
    reply: msg.reply === null ? null : msg.reply.toString('latin1'),
  };
}

export class RequestRecorder implements RequestSink {
  readonly events: ReqEvent[] = [];
  readonly msgs: Msg[] = [];
  onRequest(msg: Msg): void {
    this.msgs.push(msg);
    this.events.push(reqEvent(msg));
  }
  onFramingError(reply: Buffer): void {
    this.events.push({ kind: 'framing', reply: reply.toString('latin1') });
  }
}

/** Feed chunks to a fresh request parser. */
export function parseRequests(chunks: readonly Buffer[]): { events: ReqEvent[]; msgs: Msg[]; pending: number } {
  const parser = new MemcacheRequestParser();
  const sink = new RequestRecorder();
  for (const c of chunks) parser.feed(c, sink);
  return { events: sink.events, msgs: sink.msgs, pending: parser.pendingBytes };
}

export type ReplyEvent = { kind: 'reply'; reply: string; flags: number } | { kind: 'error'; reason: string };

export class ReplyRecorder implements ReplySink {
  readonly events: ReplyEvent[] = [];
  readonly replies: Buffer[] = [];
  onReply(reply: Buffer, flags: number): void {
    this.replies.push(reply);
    this.events.push({ kind: 'reply', reply: reply.toString('latin1'), flags });
  }
  onReplyFramingError(reason: string): void {
    this.events.push({ kind: 'error', reason });
  }
  streamReply(): boolean {
    return false;
  }
  onReplyPiece(): void {
    throw new Error('the memcache reply parser does not stream');
  }
}

/** Feed chunks to a fresh reply parser. */
export function parseReplies(chunks: readonly Buffer[]): { events: ReplyEvent[]; replies: Buffer[]; pending: number } {
  const parser = new MemcacheReplyParser();
  const sink = new ReplyRecorder();
  for (const c of chunks) parser.feed(c, sink);
  return { events: sink.events, replies: sink.replies, pending: parser.pendingBytes };
}

/** Deterministic PRNG (mulberry32) so random splits are reproducible. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Cut buf at the given positions; every chunk is a separate copy, as socket reads would be. */
export function splitAt(buf: Buffer, points: readonly number[]): Buffer[] {
  const cuts = [...new Set(points.filter((p) => p > 0 && p < buf.length))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of cuts) {
    out.push(Buffer.from(buf.subarray(prev, p)));
    prev = p;
  }
  out.push(Buffer.from(buf.subarray(prev)));
  return out;
}

export function byteByByte(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i++) out.push(Buffer.from([buf[i]!]));
  return out;
}

export function randomSplit(buf: Buffer, rnd: () => number): Buffer[] {
  const n = Math.floor(rnd() * 6) + 1;
  const points: number[] = [];
  for (let i = 0; i < n; i++) points.push(Math.floor(rnd() * (buf.length + 1)));
  return splitAt(buf, points);
}

/**
 * The chunkings every table case is run with: whole, byte by byte (unless `bytewise` is false:
 * for long inputs it is slow and adds nothing over random cuts), and random cuts.
 */
export function chunkings(buf: Buffer, seed: number, randomRuns = 8, bytewise = true): Array<{ name: string; chunks: Buffer[] }> {
  const rnd = prng(seed);
  const out: Array<{ name: string; chunks: Buffer[] }> = [{ name: 'whole', chunks: [Buffer.from(buf)] }];
  if (bytewise) out.push({ name: 'byte by byte', chunks: byteByByte(buf) });
  for (let i = 0; i < randomRuns; i++) out.push({ name: `random split ${i}`, chunks: randomSplit(buf, rnd) });
  return out;
}

export function latin1(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}
