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

// A reference for the memcached VALUE header (src/proto/memcache/value-header.ts), written
// from its grammar with a regular expression and BigInt.

/** The reply parser's cap on a line without its LF (MC_REPLY_LINE_CAP). */
export const LINE_CAP = 8192;
const U32_MAX = 4294967295n;
export const U64_MAX = 18446744073709551615n;
/** The largest data length a header may give (the reply parser's MAX_VALUE_BYTES). */
const VALUE_BYTES_MAX = 2147483645n;
const HEADER_RE = /^VALUE +([^ ]+) +(\+?[0-9]+) +([0-9]+)(?: +(\+?[0-9]+))? *$/;

export interface Header {
  key: string;
  /** Where the key starts in the line. */
  keyAt: number;
  bytes: number;
}

/** The line (without its CR LF, so it holds no LF) read as a VALUE header, or null. */
export function modelHeader(line: string): Header | null {
  const m = HEADER_RE.exec(line);
  if (m === null) return null;
  const [, key, flags, bytes, cas] = m;
  if (key!.length > 250) return null;
  if (BigInt(flags!.replace('+', '')) > U32_MAX) return null;
  if (BigInt(bytes!) > VALUE_BYTES_MAX) return null;
  if (cas !== undefined && BigInt(cas.replace('+', '')) > U64_MAX) return null;
  return { key: key!, keyAt: line.indexOf(key!, 6), bytes: Number(bytes) };
}

/**
 * The multi-get merge of sub-replies, from the rules in mcCoalesce's comment: each must be
 * VALUE blocks then END, else `Invalid argument`, every header read as the reply parser reads
 * it but with its key right after `VALUE ` (the parser also takes more spaces there, the merge
 * has never); each requested key takes the block under its sub-reply's cursor if the block is
 * for that key.
 */
export function modelMerge(keys: readonly string[], slots: readonly number[], replies: readonly string[]): string {
  const invalid = 'SERVER_ERROR Invalid argument\r\n';
  const blocks: Array<Array<{ key: string; text: string }>> = [];
  for (const r of replies) {
    const list: Array<{ key: string; text: string }> = [];
    let pos = 0;
    while (r.slice(pos) !== 'END\r\n') {
      const lf = r.indexOf('\n', pos);
      if (lf < 0 || r[lf - 1] !== '\r') return invalid;
      const h = modelHeader(r.slice(pos, lf - 1));
      if (h === null || h.keyAt !== 6) return invalid;
      const end = lf + 1 + h.bytes + 2;
      if (end > r.length || r.slice(end - 2, end) !== '\r\n') return invalid;
      list.push({ key: h.key, text: r.slice(pos, end) });
      pos = end;
    }
    blocks.push(list);
  }
  const cursor = replies.map(() => 0);
  let out = '';
  keys.forEach((k, i) => {
    const slot = slots[i]!;
    const b = blocks[slot]![cursor[slot]!];
    if (b !== undefined && b.key === k) {
      out += b.text;
      cursor[slot]!++;
    }
  });
  return `${out}END\r\n`;
}
