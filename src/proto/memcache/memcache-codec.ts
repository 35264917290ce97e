/**
 * The memcache ASCII Codec: parsers plus multi-get fragment / coalesce.
 * Mirrors twemproxy's nc_memcache.c (memcache_fragment, memcache_pre_coalesce /
 * memcache_post_coalesce) and the memcache half of nc_proto.h's function table.
 *
 * Differences from twemproxy, on purpose:
 * - the merged multi-get reply lists values in request order (a cursor per server that only
 *   takes a VALUE block whose key is the requested key), where twemproxy could emit a value at
 *   the position of an earlier missing key of the same server;
 * - a failed multi-get answers SERVER_ERROR but does not close the client connection;
 * - gat/gats (which twemproxy does not support) may take several sub-requests per server, each
 *   at most MC_LINE_CAP long; the parser also sends one-key retrieval lines longer than that
 *   here, so that they are rebuilt compact.
 */
import { Msg, REPLY_ERROR, ROUTE_KEY } from '../message.js';
import type { Codec, KeyRouter, ReplyParser, RequestParser } from '../codec.js';
import { strerror } from '../../util/errno.js';
import { MC_GAT, MC_GATS, MC_GETS } from './commands.js';
import { MemcacheReplyParser } from './reply-parser.js';
import { MC_LINE_CAP, MemcacheRequestParser } from './request-parser.js';
import { MC_R_END, MC_R_INVALID_ARGUMENT, mcServerError } from './replies.js';

const LF = 10;
const CR = 13;
const SP = 32;
const CH_0 = 48;
const CH_9 = 57;
const CH_PLUS = 43;
const CH_MINUS = 45;

const P_GET = Buffer.from('get ', 'latin1');
const P_GETS = Buffer.from('gets ', 'latin1');
const P_GAT = Buffer.from('gat ', 'latin1');
const P_GATS = Buffer.from('gats ', 'latin1');
const W_VALUE_SP = Buffer.from('VALUE ', 'latin1');

const ascending = (a: number, b: number): number => a - b;

/**
 * Below this many bytes a JS loop beats Buffer#copy / Buffer#compare, whose argument checks
 * cost ~60-100 ns per call (measured with bench/memcache-parser.bench.ts on Node 20); keys and
 * small values are usually this short.
 */
const SHORT = 64;

/** Copy src[start, end) into dst at `at`; returns the number of bytes copied. */
function copyBytes(src: Buffer, start: number, end: number, dst: Buffer, at: number): number {
  const n = end - start;
  if (n >= SHORT) return src.copy(dst, at, start, end);
  for (let i = 0; i < n; i++) dst[at + i] = src[start + i]!;
  return n;
}

/** Are a[as, ae) and b[bs, be) the same bytes? */
function sameBytes(a: Buffer, as: number, ae: number, b: Buffer, bs: number, be: number): boolean {
  const n = ae - as;
  if (n !== be - bs) return false;
  if (n >= SHORT) return a.compare(b, bs, be, as, ae) === 0;
  for (let i = 0; i < n; i++) if (a[as + i] !== b[bs + i]) return false;
  return true;
}

/** Bounds [start, end) of the exptime token of a gat/gats request line (the second token). */
function exptimeBounds(data: Buffer): [number, number] {
  const len = data.length;
  let i = 0;
  while (i < len && data[i] === SP) i++;
  while (i < len && data[i] !== SP) i++;
  while (i < len && data[i] === SP) i++;
  const start = i;
  while (i < len && data[i] !== SP && data[i] !== CR) i++;
  return [start, i];
}

/**
 * The start of a gat/gats sub-request: `gat <exptime> `, the exptime without its leading zeros
 * (the parser accepts any number of them) so that the start stays short and a sub-request with
 * one key of any length fits in MC_LINE_CAP.
 */
function gatHead(prefix: Buffer, data: Buffer): Buffer {
  const [s, e] = exptimeBounds(data);
  const sign = data[s] === CH_PLUS || data[s] === CH_MINUS ? 1 : 0;
  let d = s + sign;
  while (d < e - 1 && data[d] === CH_0) d++;
  const head = Buffer.allocUnsafe(prefix.length + sign + (e - d) + 1);
  let p = copyBytes(prefix, 0, prefix.length, head, 0);
  if (sign === 1) head[p++] = data[s]!;
  p += copyBytes(data, d, e, head, p);
  head[p] = SP;
  return head;
}

/**
 * Split a multi-key get/gets/gat/gats: one `get k1 k2 \r\n` (trailing space as twemproxy writes
 * it) per server, in ascending server index order, keys in request order, duplicates kept.
 * gat/gats sub-requests are cut further, in key order, so that none is longer than MC_LINE_CAP
 * (CR LF included): memcached closes the connection on a longer gat line that arrives in more
 * than one read (only get/gets lines may grow), which would fail every request on that server
 * connection. Records each key's fragment slot in msg.keys (third entry per key) for coalesce.
 */
export function mcFragment(msg: Msg, router: KeyRouter): Msg[] {
  const keys = msg.keys;
  const nkeys = msg.nkeys;
  const data = msg.data;
  if (keys === null || nkeys === 0) return [];

  // Server of every key, and the distinct servers.
  const keyRank = new Int32Array(nkeys);
  const rankOf = new Map<number, number>();
  const servers: number[] = [];
  for (let k = 0; k < nkeys; k++) {
    const s = router.serverIndexFor(data, keys[3 * k]!, keys[3 * k + 1]!);
    keyRank[k] = s;
    if (!rankOf.has(s)) {
      rankOf.set(s, servers.length);
      servers.push(s);
    }
  }
  servers.sort(ascending);
  const nservers = servers.length;
  for (let i = 0; i < nservers; i++) rankOf.set(servers[i]!, i);
  for (let k = 0; k < nkeys; k++) keyRank[k] = rankOf.get(keyRank[k]!)!;

  const gat = msg.cmd === MC_GAT || msg.cmd === MC_GATS;
  const head = gat ? gatHead(msg.cmd === MC_GAT ? P_GAT : P_GATS, data) : msg.cmd === MC_GETS ? P_GETS : P_GET;
  const headLen = head.length;
  const limit = gat ? MC_LINE_CAP : Infinity;

  // Each key's piece of its server's sub-request (first pass: pieces counted per server).
  const piecesOf = new Int32Array(nservers);
  const fill = new Int32Array(nservers);
  for (let k = 0; k < nkeys; k++) {
    const r = keyRank[k]!;
    const klen = keys[3 * k + 1]! - keys[3 * k]! + 1;
    if (piecesOf[r] === 0 || fill[r]! + klen > limit) {
      piecesOf[r]!++;
      fill[r] = headLen + 2 + klen;
    } else {
      fill[r]! += klen;
    }
    keys[3 * k + 2] = piecesOf[r]! - 1;
  }
  // Slots in ascending server order, then piece order.
  const base = new Int32Array(nservers);
  let nfrag = 0;
  for (let r = 0; r < nservers; r++) {
    base[r] = nfrag;
    nfrag += piecesOf[r]!;
  }
  const slotServer = new Int32Array(nfrag);
  for (let r = 0; r < nservers; r++) slotServer.fill(servers[r]!, base[r]!, base[r]! + piecesOf[r]!);

  // Sizes, then one allocation per sub-request.
  const sizes = new Int32Array(nfrag).fill(headLen + 2);
  const firstKeyLen = new Int32Array(nfrag).fill(-1);
  for (let k = 0; k < nkeys; k++) {
    const slot = base[keyRank[k]!]! + keys[3 * k + 2]!;
    keys[3 * k + 2] = slot;
    const klen = keys[3 * k + 1]! - keys[3 * k]!;
    sizes[slot]! += klen + 1;
    if (firstKeyLen[slot] === -1) firstKeyLen[slot] = klen;
  }
  const bufs: Buffer[] = new Array<Buffer>(nfrag);
  const at = new Int32Array(nfrag);
  for (let i = 0; i < nfrag; i++) {
    const b = Buffer.allocUnsafe(sizes[i]!);
    copyBytes(head, 0, headLen, b, 0);
    bufs[i] = b;
    at[i] = headLen;
  }
  for (let k = 0; k < nkeys; k++) {
    const slot = keys[3 * k + 2]!;
    const b = bufs[slot]!;
    const p = copyBytes(data, keys[3 * k]!, keys[3 * k + 1]!, b, at[slot]!) + at[slot]!;
    b[p] = SP;
    at[slot] = p + 1;
  }

  const frags: Msg[] = new Array<Msg>(nfrag);
  for (let i = 0; i < nfrag; i++) {
    const b = bufs[i]!;
    b[at[i]!] = CR;
    b[at[i]! + 1] = LF;
    const sub = new Msg();
    sub.data = b;
    sub.route = ROUTE_KEY;
    sub.cmd = msg.cmd;
    sub.keyBuf = b;
    sub.keyStart = headLen;
    sub.keyEnd = headLen + firstKeyLen[i]!;
    sub.serverIndex = slotServer[i]!;
    sub.parent = msg;
    sub.owner = msg.owner;
    frags[i] = sub;
  }
  msg.fragments = frags;
  msg.pending = nfrag;
  return frags;
}

/**
 * The VALUE blocks of a retrieval sub-reply as [blockStart, blockEnd, keyStart, keyEnd] per
 * block, or null when the reply is not VALUE…END / END.
 */
function indexValueBlocks(r: Buffer): number[] | null {
  const out: number[] = [];
  const len = r.length;
  let pos = 0;
  for (;;) {
    if (len - pos === 5 && sameBytes(r, pos, len, MC_R_END, 0, 5)) return out;
    if (len - pos < 6 || !sameBytes(r, pos, pos + 6, W_VALUE_SP, 0, 6)) return null;
    const lf = r.indexOf(LF, pos);
    if (lf < 0 || r[lf - 1] !== CR) return null;
    const lineEnd = lf - 1;
    let i = pos + 6;
    const ks = i;
    while (i < lineEnd && r[i] !== SP) i++;
    const ke = i;
    if (ke === ks) return null;
    // flags
    while (i < lineEnd && r[i] === SP) i++;
    while (i < lineEnd && r[i] !== SP) i++;
    while (i < lineEnd && r[i] === SP) i++;
    // bytes
    let bytes = 0;
    const bs = i;
    while (i < lineEnd && r[i] !== SP) {
      const d = r[i]!;
      if (d < CH_0 || d > CH_9) return null;
      bytes = bytes * 10 + (d - CH_0);
      if (bytes > len) return null;
      i++;
    }
    if (i === bs) return null;
    const end = lf + 1 + bytes + 2;
    if (end > len || r[end - 2] !== CR || r[end - 1] !== LF) return null;
    out.push(pos, end, ks, ke);
    pos = end;
  }
}

/**
 * Merge the fragments' replies of a multi-get into msg.reply. Transport failure of any fragment
 * wins (the first in server order); then any sub-reply that is not VALUE…END gives
 * `SERVER_ERROR Invalid argument` (twemproxy's text); otherwise the values in request order.
 */
export function mcCoalesce(msg: Msg): void {
  const frags = msg.fragments;
  const keys = msg.keys;
  msg.replyFlags = 0;
  if (frags === null || frags.length === 0 || keys === null) {
    msg.reply = MC_R_INVALID_ARGUMENT;
    msg.replyFlags = REPLY_ERROR;
    return;
  }
  const nfrag = frags.length;
  for (let i = 0; i < nfrag; i++) {
    const code = frags[i]!.errorCode;
    if (code !== null) {
      msg.reply = mcServerError(strerror(code));
      msg.replyFlags = REPLY_ERROR;
      return;
    }
  }
  const blocks: number[][] = new Array<number[]>(nfrag);
  const replies: Buffer[] = new Array<Buffer>(nfrag);
  for (let i = 0; i < nfrag; i++) {
    const f = frags[i]!;
    const r = f.reply;
    const idx = r === null || (f.replyFlags & REPLY_ERROR) !== 0 ? null : indexValueBlocks(r);
    if (r === null || idx === null) {
      msg.reply = MC_R_INVALID_ARGUMENT;
      msg.replyFlags = REPLY_ERROR;
      return;
    }
    blocks[i] = idx;
    replies[i] = r;
  }

  // memcached answers hits in request order and omits misses, so one cursor per server finds
  // each key's block: take the next block only if it is for this very key.
  const data = msg.data;
  const nkeys = msg.nkeys;
  const cursor = new Int32Array(nfrag);
  const pick = new Int32Array(nkeys).fill(-1);
  let total = MC_R_END.length;
  for (let k = 0; k < nkeys; k++) {
    const slot = keys[3 * k + 2]!;
    if (slot < 0 || slot >= nfrag) continue;
    const idx = blocks[slot]!;
    const b = cursor[slot]!;
    if (4 * b >= idx.length) continue;
    const r = replies[slot]!;
    if (!sameBytes(r, idx[4 * b + 2]!, idx[4 * b + 3]!, data, keys[3 * k]!, keys[3 * k + 1]!)) continue;
    pick[k] = b;
    cursor[slot] = b + 1;
    total += idx[4 * b + 1]! - idx[4 * b]!;
  }
  const out = Buffer.allocUnsafe(total);
  let p = 0;
  for (let k = 0; k < nkeys; k++) {
    const b = pick[k]!;
    if (b < 0) continue;
    const slot = keys[3 * k + 2]!;
    const idx = blocks[slot]!;
    p += copyBytes(replies[slot]!, idx[4 * b]!, idx[4 * b + 1]!, out, p);
  }
  copyBytes(MC_R_END, 0, MC_R_END.length, out, p);
  msg.reply = out;
}

class MemcacheCodec implements Codec {
  readonly protocol = 'memcache' as const;

  newRequestParser(): RequestParser {
    return new MemcacheRequestParser();
  }

  newReplyParser(): ReplyParser {
    return new MemcacheReplyParser();
  }

  fragment(msg: Msg, router: KeyRouter): Msg[] {
    return mcFragment(msg, router);
  }

  coalesce(msg: Msg): void {
    mcCoalesce(msg);
  }

  errorReply(text: string): Buffer {
    return mcServerError(text);
  }

  connectPreamble(): Msg[] {
    return [];
  }
}

/** The codec for pools with `redis: false` (the default). */
export function createMemcacheCodec(): Codec {
  return new MemcacheCodec();
}
