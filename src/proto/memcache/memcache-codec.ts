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
 *   here, so that they are rebuilt compact when memcached would not take them as they are;
 * - a multi-get whose keys all live on one server is sent as the client wrote it and that
 *   server's reply passes through (no re-encoding, no copy) when it is what the merge would
 *   have produced.
 */
import { Msg, REPLY_ERROR, ROUTE_KEY, fragmentsFailure, wholeFragment } from '../message.js';
import type { Codec, KeyRouter, ReplyParser, RequestParser } from '../codec.js';
import { strerror } from '../../util/errno.js';
import { copyBytes, sameBytes } from '../../util/bytes.js';
import { IntScratch, SCRATCH_KEEP } from '../scratch.js';
import { MC_GAT, MC_GATS, MC_GET, MC_GETS, MC_VERSION } from './commands.js';
import { MemcacheReplyParser } from './reply-parser.js';
import { MC_LINE_CAP, MemcacheRequestParser } from './request-parser.js';
import { MC_R_END, MC_R_INVALID_ARGUMENT, mcServerError } from './replies.js';
import { ValueHeader, readValueFields, readValueHeader, valueDataEnd } from './value-header.js';

const LF = 10;
const CR = 13;
const SP = 32;
const CH_0 = 48;
const CH_PLUS = 43;
const CH_MINUS = 45;
const CH_A = 65;
const CH_D = 68;
const CH_E = 69;
const CH_L = 76;
const CH_N = 78;
const CH_U = 85;
const CH_V = 86;

const P_GET = Buffer.from('get ', 'latin1');
const P_GETS = Buffer.from('gets ', 'latin1');
const P_GAT = Buffer.from('gat ', 'latin1');
const P_GATS = Buffer.from('gats ', 'latin1');

/** Scratch of fragment (see IntScratch); coalesce keeps its growing runs in runScratch. */
const scratch = new IntScratch(1);
let runScratch = new Int32Array(3 * 1024);

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
 * When every key lives on one server the client's line goes there unchanged if memcached takes
 * it as it is (see sendsUnsplit).
 */
export function mcFragment(msg: Msg, router: KeyRouter): Msg[] {
  const keys = msg.keys;
  const nkeys = msg.nkeys;
  const data = msg.data;
  if (keys === null || nkeys === 0) return [];

  // Server of every key, and the range of server indices (a pool's few servers), so that a
  // server's rank is an array lookup rather than a Map.
  const keyRank = scratch.get(0, nkeys);
  const first = router.serverIndexFor(data, keys[0]!, keys[1]!);
  keyRank[0] = first;
  let lo = first;
  let hi = first;
  for (let k = 1; k < nkeys; k++) {
    const s = router.serverIndexFor(data, keys[3 * k]!, keys[3 * k + 1]!);
    keyRank[k] = s;
    if (s < lo) lo = s;
    else if (s > hi) hi = s;
  }
  if (lo === hi && sendsUnsplit(msg)) {
    scratch.release();
    return unsplitFragment(msg, first);
  }
  const rankOf = new Int32Array(hi - lo + 1);
  for (let k = 0; k < nkeys; k++) rankOf[keyRank[k]! - lo] = 1;
  let nservers = 0;
  for (let i = 0; i < rankOf.length; i++) if (rankOf[i] === 1) rankOf[i] = ++nservers;
  const servers = new Int32Array(nservers);
  for (let i = 0; i < rankOf.length; i++) if (rankOf[i]! > 0) servers[rankOf[i]! - 1] = lo + i;

  const gat = msg.cmd === MC_GAT || msg.cmd === MC_GATS;
  const head = gat ? gatHead(msg.cmd === MC_GAT ? P_GAT : P_GATS, data) : msg.cmd === MC_GETS ? P_GETS : P_GET;
  const headLen = head.length;

  // Each key's fragment slot (in keys[3k+2]), and each sub-request's length (in at[slot]).
  let nfrag = nservers;
  let slotServer: Int32Array = servers;
  let at: Int32Array;
  let firstKeyLen: Int32Array;
  if (gat) {
    for (let k = 0; k < nkeys; k++) keyRank[k] = rankOf[keyRank[k]! - lo]! - 1;
    slotServer = gatSlots(keys, nkeys, keyRank, servers, headLen);
    nfrag = slotServer.length;
    at = new Int32Array(nfrag).fill(headLen + 2);
    firstKeyLen = new Int32Array(nfrag).fill(-1);
    for (let k = 0; k < nkeys; k++) {
      const slot = keys[3 * k + 2]!;
      const klen = keys[3 * k + 1]! - keys[3 * k]!;
      at[slot]! += klen + 1;
      if (firstKeyLen[slot] === -1) firstKeyLen[slot] = klen;
    }
  } else {
    // One sub-request per server: the slot is the server's rank.
    at = new Int32Array(nfrag).fill(headLen + 2);
    firstKeyLen = new Int32Array(nfrag).fill(-1);
    for (let k = 0; k < nkeys; k++) {
      const slot = rankOf[keyRank[k]! - lo]! - 1;
      keys[3 * k + 2] = slot;
      const klen = keys[3 * k + 1]! - keys[3 * k]!;
      at[slot]! += klen + 1;
      if (firstKeyLen[slot] === -1) firstKeyLen[slot] = klen;
    }
  }

  const starts = new Int32Array(nfrag + 1);
  for (let i = 0; i < nfrag; i++) {
    starts[i + 1] = starts[i]! + at[i]!;
    at[i] = starts[i]! + headLen;
  }
  const out = Buffer.allocUnsafe(starts[nfrag]!);
  for (let i = 0; i < nfrag; i++) copyBytes(head, 0, headLen, out, starts[i]!);
  for (let k = 0; k < nkeys; k++) {
    const slot = keys[3 * k + 2]!;
    let p = at[slot]!;
    const ke = keys[3 * k + 1]!;
    for (let i = keys[3 * k]!; i < ke; i++) out[p++] = data[i]!;
    out[p] = SP;
    at[slot] = p + 1;
  }

  const frags: Msg[] = new Array<Msg>(nfrag);
  for (let i = 0; i < nfrag; i++) {
    const p = at[i]!;
    out[p] = CR;
    out[p + 1] = LF;
    const b = out.subarray(starts[i]!, starts[i + 1]!);
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
  scratch.release();
  return frags;
}

/**
 * gat/gats: cut each server's keys, in key order, into sub-requests of at most MC_LINE_CAP
 * bytes. Sets each key's slot (keys[3k+2]; the pieces of a server follow one another, servers
 * in rank order) from its server rank (keyRank); returns the server index of every slot.
 */
function gatSlots(keys: Int32Array, nkeys: number, keyRank: Int32Array, servers: Int32Array, headLen: number): Int32Array {
  const nservers = servers.length;
  const piecesOf = new Int32Array(nservers);
  const fill = new Int32Array(nservers);
  for (let k = 0; k < nkeys; k++) {
    const r = keyRank[k]!;
    const klen = keys[3 * k + 1]! - keys[3 * k]! + 1;
    if (piecesOf[r] === 0 || fill[r]! + klen > MC_LINE_CAP) {
      piecesOf[r]!++;
      fill[r] = headLen + 2 + klen;
    } else {
      fill[r]! += klen;
    }
    keys[3 * k + 2] = piecesOf[r]! - 1;
  }
  const base = new Int32Array(nservers);
  let nfrag = 0;
  for (let r = 0; r < nservers; r++) {
    base[r] = nfrag;
    nfrag += piecesOf[r]!;
  }
  const slotServer = new Int32Array(nfrag);
  for (let r = 0; r < nservers; r++) slotServer.fill(servers[r]!, base[r]!, base[r]! + piecesOf[r]!);
  for (let k = 0; k < nkeys; k++) keys[3 * k + 2] = base[keyRank[k]!]! + keys[3 * k + 2]!;
  return slotServer;
}

/**
 * Can the client's retrieval line go to the server as it came? memcached takes any line of at
 * most MC_LINE_CAP bytes, and a longer one only when it starts with `get ` or `gets ` after
 * at most 100 spaces (it closes the connection otherwise); a line that starts right at the
 * command name is taken whatever its length. Other long lines (leading spaces, gat/gats) are
 * rebuilt compact and cut.
 */
function sendsUnsplit(msg: Msg): boolean {
  const data = msg.data;
  if (data.length <= MC_LINE_CAP) return true;
  if (msg.cmd === MC_GET) return sameBytes(data, 0, P_GET.length, P_GET, 0, P_GET.length);
  if (msg.cmd === MC_GETS) return sameBytes(data, 0, P_GETS.length, P_GETS, 0, P_GETS.length);
  return false;
}

/**
 * Every key lives on one server (a one-server pool, hash tags, or luck): the request goes there
 * as the client sent it, without re-encoding, and coalesce passes the reply through when it is
 * what the merge would have produced.
 */
function unsplitFragment(msg: Msg, serverIndex: number): Msg[] {
  const keys = msg.keys!;
  for (let k = 0; k < msg.nkeys; k++) keys[3 * k + 2] = 0;
  const sub = wholeFragment(msg, serverIndex);
  sub.route = ROUTE_KEY;
  sub.keyBuf = msg.data;
  sub.keyStart = keys[0]!;
  sub.keyEnd = keys[1]!;
  const frags = [sub];
  msg.fragments = frags;
  msg.pending = 1;
  return frags;
}

/** valueBlock's answer when the bytes left are exactly `END\r\n`. */
const AT_END = -2;
/** The header the merge last read (reused: the merge runs to its end without yielding). */
const header = new ValueHeader();

/**
 * The end of the VALUE block that starts at r[pos] (after its data's CR LF); AT_END when
 * r[pos..] is `END\r\n`; -1 when neither. The reply parser has framed `r` already, so this
 * only finds boundaries, but it trusts nothing.
 */
function valueBlock(r: Buffer, pos: number): number {
  const len = r.length;
  if (len - pos === 5) return isEnd(r, pos) ? AT_END : -1;
  const dataStart = readValueHeader(r, pos, header);
  // The reply parser also takes more than one space before the key; the merge never has (the
  // reply is then Invalid argument), and memcached writes one.
  if (dataStart < 0 || header.keyStart !== pos + 6) return -1;
  return valueDataEnd(r, dataStart, header.bytes);
}

/** Does r[pos..] start with `VALUE `? (The caller has checked that 6 bytes are there.) */
function isValueSp(r: Buffer, pos: number): boolean {
  return r[pos] === CH_V && r[pos + 1] === CH_A && r[pos + 2] === CH_L && r[pos + 3] === CH_U && r[pos + 4] === CH_E && r[pos + 5] === SP;
}

/**
 * Is the block at r[pos] (a VALUE block or END, not yet checked) for the key data[ks, ks+klen)?
 * That is: `VALUE `, the key's bytes, a space. Requested keys hold no space, CR or LF (the
 * request parser splits at spaces and rejects CR), so a match is exactly the block's key token.
 */
function isBlockFor(r: Buffer, pos: number, data: Buffer, ks: number, klen: number): boolean {
  const rk = pos + 6;
  if (klen === 0 || rk + klen >= r.length || !isValueSp(r, pos) || r[rk + klen] !== SP) return false;
  for (let i = 0; i < klen; i++) if (r[rk + i] !== data[ks + i]) return false;
  return true;
}

/** Is r[pos..] exactly `END\r\n`? */
function isEnd(r: Buffer, pos: number): boolean {
  return r.length - pos === 5 && r[pos] === CH_E && r[pos + 1] === CH_N && r[pos + 2] === CH_D && r[pos + 3] === CR && r[pos + 4] === LF;
}

function invalid(msg: Msg): void {
  msg.reply = MC_R_INVALID_ARGUMENT;
  msg.replyFlags = REPLY_ERROR;
  msg.errorCode = 'EINVAL';
}

/**
 * What coalesce takes from the sub-replies: runs [slot, start, end] of consecutive blocks of one
 * sub-reply, in output order, and per sub-reply the bytes taken and where its cursor stopped.
 */
class Picks {
  runs = runScratch;
  nruns = 0;
  total = 0;
  readonly cursor: Int32Array;
  readonly taken: Float64Array;
  constructor(nfrag: number) {
    this.cursor = new Int32Array(nfrag);
    this.taken = new Float64Array(nfrag);
  }
}

/**
 * memcached answers hits in request order and omits misses, so one cursor per sub-reply finds
 * each key's block: take the block under the cursor only if it is for this very key. False
 * when a block taken is not a well-formed VALUE block.
 */
function pickBlocks(msg: Msg, keys: Int32Array, replies: readonly Buffer[], p: Picks): boolean {
  const data = msg.data;
  const nkeys = msg.nkeys;
  const nfrag = replies.length;
  const cursor = p.cursor;
  const taken = p.taken;
  let runs = p.runs;
  let nruns = 0;
  let total = 0;
  for (let k = 0; k < nkeys; k++) {
    const slot = keys[3 * k + 2]!;
    if (slot < 0 || slot >= nfrag) continue;
    const r = replies[slot]!;
    const pos = cursor[slot]!;
    const ks = keys[3 * k]!;
    const klen = keys[3 * k + 1]! - ks;
    // Not this key's block (or END, or not a block at all: restIsValid looks at it later).
    if (!isBlockFor(r, pos, data, ks, klen)) continue;
    const dataStart = readValueFields(r, pos + 6 + klen, header);
    const end = dataStart < 0 ? -1 : valueDataEnd(r, dataStart, header.bytes);
    if (end === -1) return false;
    cursor[slot] = end;
    taken[slot]! += end - pos;
    total += end - pos;
    if (nruns > 0 && runs[3 * nruns - 3] === slot && runs[3 * nruns - 1] === pos) {
      runs[3 * nruns - 1] = end;
      continue;
    }
    if (3 * nruns === runs.length) {
      const bigger = new Int32Array(runs.length * 2);
      bigger.set(runs);
      runs = bigger;
    }
    runs[3 * nruns] = slot;
    runs[3 * nruns + 1] = pos;
    runs[3 * nruns + 2] = end;
    nruns++;
  }
  p.runs = runs;
  if (runs.length <= SCRATCH_KEEP) runScratch = runs;
  p.nruns = nruns;
  p.total = total;
  return true;
}

/** Is the rest of every sub-reply, from its cursor on (blocks no key took), VALUE blocks then END? */
function restIsValid(replies: readonly Buffer[], cursor: Int32Array): boolean {
  for (let i = 0; i < replies.length; i++) {
    const r = replies[i]!;
    let pos = cursor[i]!;
    for (;;) {
      const end = valueBlock(r, pos);
      if (end === AT_END) break;
      if (end === -1) return false;
      pos = end;
    }
  }
  return true;
}

/** The merged reply: the picked runs, then END, in one buffer sized once. */
function mergedReply(replies: readonly Buffer[], p: Picks): Buffer {
  const out = Buffer.allocUnsafe(p.total + MC_R_END.length);
  const runs = p.runs;
  let at = 0;
  for (let j = 0; j < p.nruns; j++) {
    at += copyBytes(replies[runs[3 * j]!]!, runs[3 * j + 1]!, runs[3 * j + 2]!, out, at);
  }
  copyBytes(MC_R_END, 0, MC_R_END.length, out, at);
  return out;
}

/** A multi-get fragment's sub-reply is a list of values (checked in the merge), not an error. */
function subReplyFits(_parent: Msg, fragment: Msg): boolean {
  return fragment.reply !== null && (fragment.replyFlags & REPLY_ERROR) === 0;
}

/**
 * Merge the fragments' replies of a multi-get into msg.reply. A failed fragment (a transport
 * failure, or an error sub-reply: `SERVER_ERROR Invalid argument`, twemproxy's text) gives the
 * error of the first in server order, as twemproxy (fragmentsFailure); a sub-reply that is not
 * VALUE…END gives `SERVER_ERROR Invalid argument` too; otherwise the values in request order.
 * A sub-reply that is the whole merged reply (one server answered every hit) is passed through.
 * Those errors also set msg.errorCode (see Codec.coalesce).
 */
export function mcCoalesce(msg: Msg): void {
  const frags = msg.fragments;
  const keys = msg.keys;
  msg.replyFlags = 0;
  if (frags === null || frags.length === 0 || keys === null) {
    invalid(msg);
    return;
  }
  const nfrag = frags.length;
  const failure = fragmentsFailure(msg, frags, subReplyFits);
  if (failure === 'EINVAL') {
    invalid(msg);
    return;
  }
  if (failure !== null) {
    msg.reply = mcServerError(strerror(failure));
    msg.replyFlags = REPLY_ERROR;
    msg.errorCode = failure;
    return;
  }
  const replies: Buffer[] = new Array<Buffer>(nfrag);
  for (let i = 0; i < nfrag; i++) replies[i] = frags[i]!.reply!;
  const picks = new Picks(nfrag);
  if (!pickBlocks(msg, keys, replies, picks) || !restIsValid(replies, picks.cursor)) {
    invalid(msg);
    return;
  }
  const total = picks.total;
  for (let i = 0; i < nfrag; i++) {
    // Every hit came from this sub-reply and it holds nothing else: it is the merged reply.
    if (picks.taken[i] === total && replies[i]!.length === total + MC_R_END.length) {
      msg.reply = replies[i]!;
      return;
    }
  }
  msg.reply = mergedReply(replies, picks);
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

  replyPassesThrough(): boolean {
    // Whether a multi-get reply is in request order is known only once all of it is in.
    return false;
  }

  errorReply(text: string): Buffer {
    return mcServerError(text);
  }

  transientMeansFailing(): boolean {
    return true; // the memcache reply parser flags nothing transient
  }

  connectPreamble(): Msg[] {
    return [];
  }

  fenceRequest(): Msg {
    const msg = new Msg();
    msg.data = FENCE_REQUEST;
    msg.cmd = MC_VERSION;
    msg.internal = true;
    return msg;
  }
}

/** `version`: answered in order after every request before it, and harmless. */
const FENCE_REQUEST = Buffer.from('version\r\n', 'latin1');

/** The codec for pools with `redis: false` (the default). */
export function createMemcacheCodec(): Codec {
  return new MemcacheCodec();
}
