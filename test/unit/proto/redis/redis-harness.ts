/**
 * Test helpers for the redis codec tests: RESP encoders, sinks that record what the parsers
 * emit as plain comparable objects, and ways of cutting a byte stream into chunks.
 */
import assert from 'node:assert/strict';
import type { ReplySink, RequestSink } from '../../../../src/proto/codec.js';
import type { Msg } from '../../../../src/proto/message.js';
import { RedisReplyParser } from '../../../../src/proto/redis/reply-parser.js';
import { RedisRequestParser } from '../../../../src/proto/redis/request-parser.js';

export type Arg = string | Buffer;

const toBuf = (a: Arg): Buffer => (typeof a === 'string' ? Buffer.from(a, 'latin1') : a);

/** `*N\r\n$len\r\n<arg>\r\n...` */
export function req(...args: Arg[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`, 'latin1')];
  for (const a of args) {
    const b = toBuf(a);
    parts.push(Buffer.from(`$${b.length}\r\n`, 'latin1'), b, Buffer.from('\r\n', 'latin1'));
  }
  return Buffer.concat(parts);
}

export const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

/** What the request parser emitted, with Buffers as latin1 strings (binary-safe, readable). */
export type ReqEvent =
  | {
      kind: 'req';
      route: number;
      cmd: number;
      data: string;
      key: string;
      keys: string[] | null;
      reply: string | null;
    }
  | { kind: 'framing'; reply: string };

export function reqEvent(msg: Msg): ReqEvent {
  let keys: string[] | null = null;
  if (msg.keys !== null) {
    keys = [];
    const stride = msg.keys.length / msg.nkeys;
    for (let k = 0; k < msg.nkeys; k++) {
      keys.push(msg.data.toString('latin1', msg.keys[stride * k], msg.keys[stride * k + 1]));
      if (stride === 4) keys.push(msg.data.toString('latin1', msg.keys[4 * k + 2], msg.keys[4 * k + 3]));
    }
  }
  return {
    kind: 'req',
    route: msg.route,
    cmd: msg.cmd,
    data: msg.data.toString('latin1'),
    key: msg.keyBuf.toString('latin1', msg.keyStart, msg.keyEnd),
    keys,
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
export function parseRequests(
  chunks: readonly Buffer[],
  password: string | null = null,
  redisDb = 0,
): { events: ReqEvent[]; msgs: Msg[]; pending: number } {
  const parser = new RedisRequestParser(password === null ? null : Buffer.from(password, 'utf8'), redisDb);
  const sink = new RequestRecorder();
  for (const c of chunks) parser.feed(c, sink);
  return { events: sink.events, msgs: sink.msgs, pending: parser.pendingBytes };
}

export type ReplyEvent = { kind: 'reply'; reply: string; flags: number } | { kind: 'error' };

export class ReplyRecorder implements ReplySink {
  readonly events: ReplyEvent[] = [];
  readonly replies: Buffer[] = [];
  readonly reasons: string[] = [];
  /** The first piece of every reply that was streamed. */
  readonly streamedHeads: Buffer[] = [];
  /** Pieces of the reply being streamed; null when none is. */
  private streamed: Buffer[] | null = null;

  /** `acceptStreams`: streamReply's answer. Streamed replies are joined again here. */
  constructor(private readonly acceptStreams = false) {}

  streamReply(head: Buffer): boolean {
    assert.equal(this.streamed, null, 'asked to stream while another reply streams');
    if (!this.acceptStreams) return false;
    this.streamed = [];
    this.streamedHeads.push(head);
    return true;
  }

  onReplyPiece(piece: Buffer): void {
    assert.notEqual(this.streamed, null, 'a piece without streamReply');
    this.streamed!.push(piece);
  }

  onReply(reply: Buffer, flags: number): void {
    if (this.streamed !== null) {
      assert.equal(flags, 0, 'a streamed reply has no flags');
      reply = Buffer.concat([...this.streamed, reply]);
      this.streamed = null;
    }
    this.replies.push(reply);
    this.events.push({ kind: 'reply', reply: reply.toString('latin1'), flags });
  }
  onReplyFramingError(reason: string): void {
    this.reasons.push(reason);
    this.events.push({ kind: 'error' });
  }
}

/** Feed chunks to a fresh reply parser (whose sink streams large replies if `acceptStreams`). */
export function parseReplies(
  chunks: readonly Buffer[],
  acceptStreams = false,
): { events: ReplyEvent[]; replies: Buffer[]; pending: number; streamed: number } {
  const parser = new RedisReplyParser();
  const sink = new ReplyRecorder(acceptStreams);
  for (const c of chunks) parser.feed(c, sink);
  return { events: sink.events, replies: sink.replies, pending: parser.pendingBytes, streamed: sink.streamedHeads.length };
}

/** Every byte its own chunk. */
export function byteChunks(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i++) out.push(buf.subarray(i, i + 1));
  return out;
}

/** Cut buf at the given (unsorted, possibly repeated or out of range) positions. */
export function splitAt(buf: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => Math.max(0, Math.min(buf.length, c))))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    if (p > prev) out.push(buf.subarray(prev, p));
    prev = p;
  }
  if (prev < buf.length) out.push(buf.subarray(prev));
  return out;
}

/** A deterministic pseudo-random generator (mulberry32), so failures can be reproduced. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random cut points for buf. */
export function randomCuts(buf: Buffer, random: () => number, n: number): number[] {
  const cuts: number[] = [];
  for (let i = 0; i < n; i++) cuts.push(Math.floor(random() * (buf.length + 1)));
  return cuts;
}

/** The chunkings every table case is run with: whole, byte by byte, and some random splits. */
export function chunkings(buf: Buffer, seed = 1): Buffer[][] {
  const random = rng(seed);
  const out: Buffer[][] = [[buf], byteChunks(buf)];
  for (let i = 0; i < 8; i++) out.push(splitAt(buf, randomCuts(buf, random, 1 + (i % 4) * 3)));
  return out;
}
