/**
 * The redis Codec: parsers, multi-key fragment / coalesce, error replies and the AUTH / SELECT
 * preamble of new server connections. Mirrors twemproxy's nc_redis.c (redis_fragment,
 * redis_pre_coalesce / redis_post_coalesce, redis_reply, redis_add_auth / redis_swallow_msg)
 * and the redis half of nc_proto.h's function table.
 *
 * Differences from twemproxy, on purpose:
 * - EXISTS with several keys is split and summed like DEL (twemproxy asks one server only);
 * - a failed MGET answers the error but does not close the client connection;
 * - a new server connection gets AUTH before SELECT (twemproxy's SELECT-first order makes the
 *   SELECT fail with NOAUTH on password-protected servers).
 */
import type { Codec, KeyRouter, ReplyParser, RequestParser } from '../codec.js';
import { Msg, ROUTE_KEY, fragmentsFailure, wholeFragment } from '../message.js';
import { copyBytes, copyBytesFrom } from '../../util/bytes.js';
import { IntScratch } from '../scratch.js';
import { strerror } from '../../util/errno.js';
import { KIND_EVAL, KIND_MSET, KIND_SCRIPT, REDIS_COMMANDS, lookupCommand } from './commands.js';
import { bulkSpan, wholeBulk } from './bulk-scan.js';
import { MAX_REPLY_LEN, RedisReplyParser } from './reply-parser.js';
import { RedisRequestParser, decimalLength } from './request-parser.js';
import { R_INVALID_ARGUMENT, R_OK, errReply } from './replies.js';

export interface RedisCodecOptions {
  readonly redisAuth: string | null;
  readonly redisDb: number;
}

const LF = 10;
const CR = 13;
const PLUS = 43;
const MINUS = 45;
const COLON = 58;
const DOLLAR = 36;
const STAR = 42;
const CH_0 = 48;
const CH_9 = 57;

const CMD_MGET = commandId('MGET');
const CMD_EXISTS = commandId('EXISTS');

function commandId(name: string): number {
  const buf = Buffer.from(name, 'latin1');
  return lookupCommand(buf, 0, buf.length)!.id;
}

/** Writes `<prefix><n>\r\n` at `at`; returns the position after it. */
function writeHeader(buf: Buffer, at: number, prefix: number, n: number): number {
  buf[at++] = prefix;
  const d = decimalLength(n);
  for (let i = at + d - 1; i >= at; i--) {
    buf[i] = CH_0 + (n % 10);
    n = Math.floor(n / 10);
  }
  at += d;
  buf[at++] = CR;
  buf[at++] = LF;
  return at;
}

/** Writes bulk `$<len>\r\n<bytes>\r\n` of src[start, end) at `at`; returns the position after it. */
function writeBulk(buf: Buffer, at: number, src: Buffer, start: number, end: number): number {
  at = writeHeader(buf, at, DOLLAR, end - start);
  at += copyBytes(src, start, end, buf, at);
  buf[at++] = CR;
  buf[at++] = LF;
  return at;
}

function bulkSize(len: number): number {
  return 1 + decimalLength(len) + 2 + len + 2;
}

/**
 * Split a multi-key request (MGET DEL UNLINK TOUCH EXISTS, MSET): keys grouped per server in
 * request order, duplicates kept; one sub-request per server in ascending server index order,
 * with the lower-case command name (spec 4.6). For key commands each key's fragment slot is
 * stored in msg.keys (third entry per key) for coalesce.
 */
export function redisFragment(msg: Msg, router: KeyRouter): Msg[] {
  const keys = msg.keys;
  const nkeys = msg.nkeys;
  const data = msg.data;
  const frags: Msg[] = [];
  msg.fragments = frags;
  msg.pending = 0;
  const cmd = REDIS_COMMANDS[msg.cmd];
  if (keys === null || nkeys === 0 || cmd === undefined) return frags;
  const mset = cmd.kind === KIND_MSET;
  const stride = mset ? 4 : 3;

  // Server of every key; the distinct servers, ascending, become the fragment slots. A pool
  // has few servers: an insertion sort of the few distinct ones beats Array#sort's call.
  const keyServer = scratch.get(0, nkeys);
  const servers = scratch.get(5, nkeys);
  let nfrag = 0;
  for (let k = 0; k < nkeys; k++) {
    const s = router.serverIndexFor(data, keys[stride * k]!, keys[stride * k + 1]!);
    keyServer[k] = s;
    if (slotOfServer[s + 1] !== SEEN) {
      slotOfServer[s + 1] = SEEN;
      let i = nfrag++;
      for (; i > 0 && servers[i - 1]! > s; i--) servers[i] = servers[i - 1]!;
      servers[i] = s;
    }
  }
  if (nfrag === 1) {
    slotOfServer[servers[0]! + 1] = UNSEEN;
    scratch.release();
    return singleFragment(msg, servers[0]!, stride);
  }
  for (let i = 0; i < nfrag; i++) slotOfServer[servers[i]! + 1] = i;

  // Sizes: element count and byte size per fragment, then one buffer for all of them.
  const count = scratch.get(1, nfrag);
  const size = scratch.get(2, nfrag);
  for (let i = 0; i < nfrag; i++) count[i] = size[i] = 0;
  for (let k = 0; k < nkeys; k++) {
    const slot = slotOfServer[keyServer[k]! + 1]!;
    keyServer[k] = slot; // from here on: the key's slot
    if (!mset) keys[3 * k + 2] = slot;
    count[slot]!++;
    let bytes = bulkSize(keys[stride * k + 1]! - keys[stride * k]!);
    if (mset) bytes += bulkSize(keys[4 * k + 3]! - keys[4 * k + 2]!);
    size[slot]! += bytes;
  }
  for (let i = 0; i < nfrag; i++) slotOfServer[servers[i]! + 1] = UNSEEN;
  const name = cmd.lower;
  const nameSize = bulkSize(name.length);
  const per = mset ? 2 : 1;
  let total = 0;
  for (let i = 0; i < nfrag; i++) {
    size[i] = size[i]! + 1 + decimalLength(1 + per * count[i]!) + 2 + nameSize;
    total += size[i]!;
  }
  const out = Buffer.allocUnsafe(total);

  // Headers, then each key (and value) appended to its fragment in request order.
  const at = scratch.get(3, nfrag);
  const fragStart = scratch.get(4, nfrag);
  let offset = 0;
  for (let i = 0; i < nfrag; i++) {
    let p = writeHeader(out, offset, STAR, 1 + per * count[i]!);
    p = writeBulk(out, p, name, 0, name.length);
    at[i] = p;
    fragStart[i] = offset;
    const sub = new Msg();
    sub.data = out.subarray(offset, offset + size[i]!);
    sub.route = ROUTE_KEY;
    sub.cmd = msg.cmd;
    sub.serverIndex = servers[i]!;
    sub.parent = msg;
    sub.owner = msg.owner;
    sub.keyBuf = sub.data;
    sub.keyStart = -1;
    frags.push(sub);
    offset += size[i]!;
  }
  for (let k = 0; k < nkeys; k++) {
    const slot = keyServer[k]!;
    let p = at[slot]!;
    const ks = keys[stride * k]!;
    const ke = keys[stride * k + 1]!;
    const sub = frags[slot]!;
    if (sub.keyStart < 0) {
      // The fragment's routing key is its first key.
      const keyAt = p - fragStart[slot]! + 1 + decimalLength(ke - ks) + 2;
      sub.keyStart = keyAt;
      sub.keyEnd = keyAt + ke - ks;
    }
    p = writeBulk(out, p, data, ks, ke);
    if (mset) p = writeBulk(out, p, data, keys[4 * k + 2]!, keys[4 * k + 3]!);
    at[slot] = p;
  }
  msg.pending = nfrag;
  scratch.release();
  return frags;
}

// Scratch of redisFragment and the MGET merge, reused by every call (both run to completion,
// calls never overlap): a multi-key request allocates only its sub-requests and their one
// buffer, and its merged reply.
const UNSEEN = -1;
const SEEN = -2;
/** Server index + 1 (so that -1, "no live server", has a place) → its fragment slot. */
const slotOfServer: number[] = [];
const scratch = new IntScratch(6);

/**
 * Every key lives on one server (a one-server pool, hash tags, or luck): the request goes
 * there as the client sent it, without re-encoding, and coalesce passes the reply through.
 */
function singleFragment(msg: Msg, serverIndex: number, stride: number): Msg[] {
  const keys = msg.keys!;
  if (stride === 3) for (let k = 0; k < msg.nkeys; k++) keys[3 * k + 2] = 0;
  const sub = wholeFragment(msg, serverIndex);
  sub.route = ROUTE_KEY;
  sub.keyBuf = msg.data;
  sub.keyStart = keys[0]!;
  sub.keyEnd = keys[1]!;
  msg.fragments!.push(sub);
  msg.pending = 1;
  return msg.fragments!;
}

/**
 * Parse the integer reply `:<n>\r\n`; NaN when `r` is not one. Only the framing reply parser's
 * output reaches here, so the line is known to end in CR LF.
 */
function integerReply(r: Buffer): number {
  const n = r.length;
  if (n < 4 || r[0] !== COLON || r[n - 2] !== CR || r[n - 1] !== LF) return NaN;
  let i = 1;
  const neg = r[1] === MINUS;
  if (neg) i++;
  if (i === n - 2) return NaN;
  let v = 0;
  for (; i < n - 2; i++) {
    const b = r[i]!;
    if (b < CH_0 || b > CH_9) return NaN;
    v = v * 10 + (b - CH_0);
  }
  return neg ? -v : v;
}

/** Reads a `<type><n>\r\n` header at `pos`; returns n, or -1 when malformed (or negative). */
function readLength(r: Buffer, pos: number): number {
  let v = 0;
  let i = pos + 1;
  const n = r.length;
  if (i >= n || r[i] === CR) return -1;
  for (; i < n && r[i] !== CR; i++) {
    const b = r[i]!;
    if (b < CH_0 || b > CH_9) return -1;
    v = v * 10 + (b - CH_0);
  }
  return v;
}

/** Position just after the `\r\n` of the line starting at pos, or -1. */
function lineEnd(r: Buffer, pos: number): number {
  const lf = r.indexOf(LF, pos);
  return lf < 0 ? -1 : lf + 1;
}

/**
 * Position just after the complete element starting at `pos`, or -1 when the bytes are not a
 * well-formed element. Iterative (nested arrays count their pending elements).
 */
function skipElement(r: Buffer, pos: number): number {
  let pending = 1;
  while (pending > 0) {
    if (pos >= r.length) return -1;
    const t = r[pos];
    pending--;
    if (t === PLUS || t === MINUS || t === COLON) {
      pos = lineEnd(r, pos);
    } else if (t === DOLLAR || t === STAR) {
      const end = lineEnd(r, pos);
      if (end < 0) return -1;
      if (r[pos + 1] === MINUS) {
        pos = end; // $-1 / *-1
      } else {
        const n = readLength(r, pos);
        if (n < 0) return -1;
        if (t === DOLLAR) pos = end + n + 2;
        else {
          pos = end;
          pending += n;
        }
      }
    } else {
      return -1;
    }
    if (pos < 0 || pos > r.length) return -1;
  }
  return pos;
}

/**
 * Merge the fragments' replies into msg.reply (spec 4.6): MGET → one array in request order,
 * DEL/UNLINK/TOUCH/EXISTS → the sum, MSET → +OK. A failed fragment (a transport failure or a
 * sub-reply of the wrong type, `-ERR Invalid argument`) gives the error of the first in
 * server index order, as twemproxy (fragmentsFailure). The client connection is never closed
 * for this. Such an error, made by the proxy rather than passed on from a server, also sets
 * msg.errorCode (see Codec.coalesce).
 */
export function redisCoalesce(msg: Msg): void {
  const frags = msg.fragments;
  const cmd = REDIS_COMMANDS[msg.cmd];
  if (frags === null || cmd === undefined) {
    invalidMerge(msg);
    return;
  }
  if (msg.cmd === CMD_EXISTS) {
    // twemproxy sends EXISTS whole to its first key's server and passes on whatever that server
    // answers, an error too (`-NOAUTH ...` from a server that wants a password): so the error
    // reply of the first key's fragment is passed on, rather than "Invalid argument".
    const first = frags.length === 1 ? frags[0] : frags[msg.keys?.[2] ?? 0];
    const r = first === undefined || first.errorCode !== null ? null : first.reply;
    if (r !== null && r[0] === MINUS) {
      msg.reply = r;
      return;
    }
  }
  const failure = fragmentsFailure(msg, frags, subReplyFits);
  if (failure !== null) {
    msg.reply = failure === 'EINVAL' ? R_INVALID_ARGUMENT : errReply(strerror(failure));
    msg.errorCode = failure;
    return;
  }
  if (cmd.kind === KIND_SCRIPT) {
    // Every server must have said the same (the script's SHA1, or the same compile error).
    const first = frags[0]!.reply;
    if (first !== null && frags.every((f) => f.reply !== null && f.reply.equals(first))) msg.reply = first;
    else invalidMerge(msg);
    return;
  }
  if (frags.length === 1) {
    // One server answered for every key, in request order: its reply is the merged reply
    // when it has the expected shape. MSET's is +OK whatever status the server sent, as the
    // merge of several gives (twemproxy's, which always merges).
    const r = frags[0]!.reply;
    if (r === null || !singleReplyFits(msg, cmd.kind, r)) invalidMerge(msg);
    else msg.reply = cmd.kind === KIND_MSET ? R_OK : r;
    return;
  }
  if (cmd.kind === KIND_MSET) {
    for (const f of frags) {
      const r = f.reply;
      if (r === null || r[0] !== PLUS) {
        invalidMerge(msg);
        return;
      }
    }
    msg.reply = R_OK;
    return;
  }
  if (msg.cmd === CMD_MGET) {
    const merged = mergeMget(msg, frags);
    scratch.release();
    if (merged === null) invalidMerge(msg);
    else msg.reply = merged;
    return;
  }
  let sum = 0;
  for (const f of frags) {
    const v = f.reply === null ? NaN : integerReply(f.reply);
    if (Number.isNaN(v)) {
      invalidMerge(msg);
      return;
    }
    sum += v;
  }
  msg.reply = Buffer.from(`:${sum}\r\n`, 'latin1');
}

/** Sub-replies that cannot be merged: twemproxy's `-ERR Invalid argument` (EINVAL). */
function invalidMerge(msg: Msg): void {
  msg.reply = R_INVALID_ARGUMENT;
  msg.errorCode = 'EINVAL';
}

/**
 * Only MGET replies grow large enough to stream: the single fragment's reply passes through
 * when its complete array header counts every key (the check singleReplyFits makes).
 */
export function mgetReplyPassesThrough(msg: Msg, head: Buffer): boolean {
  return msg.cmd === CMD_MGET && head[0] === STAR && head.indexOf(CR) > 0 && readLength(head, 0) === msg.nkeys;
}

/** Whether a fragment's sub-reply has the type its merge takes (its content is checked there). */
function subReplyFits(parent: Msg, fragment: Msg): boolean {
  const r = fragment.reply;
  if (r === null) return false;
  const kind = REDIS_COMMANDS[parent.cmd]?.kind;
  if (kind === KIND_SCRIPT) return true;
  if (kind === KIND_MSET) return r[0] === PLUS;
  if (parent.cmd === CMD_MGET) return r[0] === STAR;
  return r[0] === COLON;
}

function singleReplyFits(msg: Msg, kind: number, r: Buffer): boolean {
  if (kind === KIND_MSET) return r[0] === PLUS;
  if (msg.cmd === CMD_MGET) return r[0] === STAR && readLength(r, 0) === msg.nkeys;
  return !Number.isNaN(integerReply(r));
}

/**
 * The merged MGET array, or null when a sub-reply is not an array of the expected length. One
 * pass in request order: each key's element is the next one in its fragment's reply (a
 * fragment asks for its keys in request order), and elements that follow each other in one
 * reply are copied together.
 */
function mergeMget(msg: Msg, frags: readonly Msg[]): Buffer | null {
  const keys = msg.keys;
  const nkeys = msg.nkeys;
  if (keys === null) return null;
  const nfrag = frags.length;
  // Per fragment: keys asked, the scan position in its reply, and the reply's backing store.
  const asked = scratch.get(1, nfrag);
  const cursor = scratch.get(2, nfrag);
  const backing: ArrayBufferLike[] = new Array<ArrayBufferLike>(nfrag);
  for (let i = 0; i < nfrag; i++) asked[i] = 0;
  for (let k = 0; k < nkeys; k++) {
    const slot = keys[3 * k + 2]!;
    if (slot < 0 || slot >= nfrag) return null;
    asked[slot]!++;
  }
  // The merged body is every sub-reply without its array header.
  let body = 0;
  for (let i = 0; i < nfrag; i++) {
    const r = frags[i]!.reply;
    if (r === null || r[0] !== STAR || readLength(r, 0) !== asked[i]) return null;
    cursor[i] = lineEnd(r, 0);
    body += r.length - cursor[i]!;
    backing[i] = r.buffer;
  }
  const out = Buffer.allocUnsafe(1 + decimalLength(nkeys) + 2 + body);
  let at = writeHeader(out, 0, STAR, nkeys);
  // Consecutive keys of one fragment are consecutive elements of its reply: one copy per run.
  let runSlot = -1;
  let runStart = 0;
  for (let k = 0; k < nkeys; k++) {
    const slot = keys[3 * k + 2]!;
    const r = frags[slot]!.reply!;
    const pos = cursor[slot]!;
    // A bulk (the usual element) in one tight scan, anything else (nil, errors) the slow way.
    const next = r[pos] === DOLLAR && wholeBulk(r, pos, MAX_REPLY_LEN) ? bulkSpan.end + 2 : skipElement(r, pos);
    if (next < 0) return null;
    if (slot !== runSlot) {
      if (runSlot >= 0) at += copyBytesFrom(frags[runSlot]!.reply!, backing[runSlot]!, runStart, cursor[runSlot]!, out, at);
      runSlot = slot;
      runStart = pos;
    }
    cursor[slot] = next;
  }
  if (runSlot >= 0) at += copyBytesFrom(frags[runSlot]!.reply!, backing[runSlot]!, runStart, cursor[runSlot]!, out, at);
  for (let i = 0; i < nfrag; i++) if (cursor[i] !== frags[i]!.reply!.length) return null;
  return out;
}

export function createRedisCodec(options: RedisCodecOptions): Codec {
  const password = options.redisAuth === null ? null : Buffer.from(options.redisAuth, 'utf8');
  const preamble: Buffer[] = [];
  if (password !== null) preamble.push(encodeCommand([Buffer.from('AUTH', 'latin1'), password]));
  if (options.redisDb > 0) {
    preamble.push(encodeCommand([Buffer.from('SELECT', 'latin1'), Buffer.from(String(options.redisDb), 'latin1')]));
  }
  return {
    protocol: 'redis',
    newRequestParser(): RequestParser {
      return new RedisRequestParser(password, options.redisDb);
    },
    newReplyParser(): ReplyParser {
      return new RedisReplyParser();
    },
    fragment: redisFragment,
    coalesce: redisCoalesce,
    replyPassesThrough: mgetReplyPassesThrough,
    errorReply(text: string): Buffer {
      return errReply(text);
    },
    transientMeansFailing(msg: Msg): boolean {
      // EVAL "return redis.error_reply('BUSY')": one client must not fail the connection that
      // others share, nor get the server ejected. A real -BUSY for a script passes through too.
      return REDIS_COMMANDS[msg.cmd]?.kind !== KIND_EVAL;
    },
    fenceRequest(): null {
      return null;
    },
    connectPreamble(): Msg[] {
      return preamble.map((data) => {
        const msg = new Msg();
        msg.data = data;
        msg.internal = true;
        return msg;
      });
    },
  };
}

/** A multi-bulk request holding `args`. */
export function encodeCommand(args: readonly Buffer[]): Buffer {
  let size = 1 + decimalLength(args.length) + 2;
  for (const a of args) size += bulkSize(a.length);
  const out = Buffer.allocUnsafe(size);
  let at = writeHeader(out, 0, STAR, args.length);
  for (const a of args) at = writeBulk(out, at, a, 0, a.length);
  return out;
}
