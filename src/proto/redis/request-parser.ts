/**
 * Incremental redis request parser, one per client connection (it also holds the client's
 * AUTH state). Mirrors twemproxy's nc_redis.c redis_parse_req, but answers bad requests the
 * way Redis does instead of closing the connection.
 *
 * Framing. RESP multi-bulk requests (`*N\r\n` then N times `$len\r\n<bytes>\r\n`) are parsed
 * byte by byte through their headers, with the state kept across chunks; bulk payloads are
 * skipped by length, never scanned. A request lying in one chunk becomes a subarray of it; one
 * spanning chunks is kept as a list of pieces and concatenated once, when it completes.
 * Argument offsets go to scratch arrays on the parser (grown, never allocated per argument).
 * `*0` and `*-N` are ignored, as Redis ignores them. A line not starting with `*` is an inline
 * command (`PING\r\n` typed in telnet): it is split as redis-server splits it (quotes and
 * escapes included, inline.ts) and re-encoded as multi-bulk, so the rest of the proxy sees one
 * format; an inline line is capped
 * at 64 KiB, Redis's own limit.
 *
 * Requests that are framed but wrong (unknown or unsupported command, wrong arity, NOAUTH, bad
 * EVAL numkeys) become ROUTE_LOCAL Msgs carrying Redis-style error replies, and the connection
 * stays usable. Framing errors (bad or oversized lengths, a byte other than `$` where a bulk
 * must start, missing CR LF, an inline line over the cap) are reported once through
 * sink.onFramingError with `-ERR Protocol error: ...`; all later input is ignored.
 */
import { timingSafeEqual } from 'node:crypto';
import type { RequestParser, RequestSink } from '../codec.js';
import { Msg, ROUTE_ALL, ROUTE_FRAGMENT, ROUTE_LOCAL, ROUTE_QUIT } from '../message.js';
import { keyOffsets } from '../key-offsets.js';
import {
  CMD_UNKNOWN,
  KIND_AUTH,
  KIND_CLIENT,
  KIND_ECHO,
  KIND_EVAL,
  KIND_HELLO,
  KIND_INFO,
  KIND_KEY,
  KIND_MSET,
  KIND_MULTI_KEY,
  KIND_PING,
  KIND_PLACEHOLDER,
  KIND_QUIT,
  KIND_SCRIPT,
  KIND_SELECT,
  KIND_UNSUPPORTED,
  REDIS_COMMANDS,
  commandByName,
  equalsFolded,
  lookupCommand,
} from './commands.js';
import {
  R_AUTH_NOT_SET,
  R_BAD_CLIENT_NAME,
  R_EVAL_NO_KEYS,
  R_EVAL_NEGATIVE_KEYS,
  R_EVAL_TOO_MANY_KEYS,
  R_EXECABORT,
  R_HELLO_BAD_VERSION,
  R_HELLO_NOAUTH,
  R_INVALID_PASSWORD,
  R_NIL,
  R_NOAUTH,
  R_NOPROTO,
  R_NOSCRIPT,
  R_NOT_INTEGER,
  R_NOT_RUN_IN_REFUSED_MULTI,
  R_OK,
  R_PONG,
  R_SELECT_UNSUPPORTED,
  R_SYNTAX,
  R_WRONGPASS,
  bulkReply,
  errReply,
  helloReply,
  infoReply,
  protocolError,
  unknownCommandReply,
  unsupportedReply,
  wrongArityReply,
} from './replies.js';
import { bulkSpan, wholeBulk } from './bulk-scan.js';
import { splitInline } from './inline.js';
import { bytesOf, digitsAtMost, INT64_MAX_DIGITS, INT64_MIN_DIGITS, sameBytes } from '../../util/bytes.js';

// Parser states.
const S_START = 0; // between requests
const S_COUNT = 1; // digits of `*N`
const S_COUNT_LF = 2; // LF after `*N\r`
const S_DOLLAR = 3; // the `$` of the next bulk
const S_LEN = 4; // digits of `$len`
const S_LEN_LF = 5; // LF after `$len\r`
const S_DATA = 6; // skipping the payload
const S_DATA_CR = 7; // CR after the payload
const S_DATA_LF = 8; // LF after the payload
const S_INLINE = 9; // an inline command line, up to its LF
const S_DEAD = 10; // after a framing error: input is ignored

const LF = 10;
const CR = 13;
const STAR = 42;
const DOLLAR = 36;
const MINUS = 45;
const CH_0 = 48;
const CH_9 = 57;
const CH_MINUS = 45;

/** Longest bulk argument (Redis's default proto-max-bulk-len). */
export const MAX_BULK_LEN = 512 * 1024 * 1024;
/** Most elements in one request (Redis's limit, INT_MAX). */
export const MAX_ARGS = 0x7fffffff;
/** Longest inline command line, LF excluded (Redis's PROTO_INLINE_MAX_SIZE). */
export const INLINE_MAX = 64 * 1024;
/** Scratch arrays are shrunk back after a request with more arguments than this. */
const SCRATCH_KEEP = 4096;
/** Most offsets allocated ahead on the strength of a `*N` header alone. */
const SCRATCH_PRESIZE_MAX = 1 << 16;
/** Offsets arrays of a parser that has parsed nothing yet (idle clients allocate none). */
const NO_OFFSETS = new Int32Array(0);

/** twemproxy routes keyless forwarded commands as if they were requests for this key. */
const PLACEHOLDER_KEY = Buffer.from('placeholder', 'latin1');
const DEFAULT_USER = Buffer.from('default', 'latin1');
const SETNAME = Buffer.from('setname', 'latin1');
const GETNAME = Buffer.from('getname', 'latin1');
const SETINFO = Buffer.from('setinfo', 'latin1');
const LIB_NAME = Buffer.from('lib-name', 'latin1');
const LIB_VER = Buffer.from('lib-ver', 'latin1');
const LOAD = Buffer.from('load', 'latin1');
const AUTH_OPTION = Buffer.from('auth', 'latin1');
const R_CLIENT_UNSUPPORTED = unsupportedReply('CLIENT');
const R_SCRIPT_UNSUPPORTED = unsupportedReply('SCRIPT');
const R_SETNAME_ARITY = wrongArityReply(Buffer.from('client|setname', 'latin1'));
const R_GETNAME_ARITY = wrongArityReply(Buffer.from('client|getname', 'latin1'));
const R_SETINFO_ARITY = wrongArityReply(Buffer.from('client|setinfo', 'latin1'));

/** The transaction commands, all refused (KIND_UNSUPPORTED); see RedisRequestParser.inRefusedMulti. */
const CMD_MULTI = commandByName('MULTI').id;
const CMD_EXEC = commandByName('EXEC').id;
const CMD_DISCARD = commandByName('DISCARD').id;

const ARITY_REPLIES: readonly Buffer[] = REDIS_COMMANDS.map((c) => wrongArityReply(c.lower));
const UNSUPPORTED_REPLIES: readonly (Buffer | null)[] = REDIS_COMMANDS.map((c) =>
  c.kind === KIND_UNSUPPORTED ? unsupportedReply(c.name) : null,
);

/** A byte for an error message: printable ASCII as is, anything else as \xNN. */
function showByte(b: number): string {
  return b >= 33 && b <= 126 && b !== 39 && b !== 92 ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
}


export class RedisRequestParser implements RequestParser {
  private state = S_START;
  /** Number being read (`*N` or `$len`), digits seen, and a leading `-`. */
  private num = 0;
  private digits = 0;
  private negative = false;
  /** Elements announced by `*N`, and elements whose `$len` has been read. */
  private nargs = 0;
  private argc = 0;
  /** Payload bytes of the current bulk still to skip. */
  private remaining = 0;
  /** Earlier chunks' parts of the request in progress, and their total length. */
  private readonly pieces: Buffer[] = [];
  private piecesLen = 0;
  /** Offsets of each argument inside the request's bytes: [argStart[i], argEnd[i]). */
  private argStart = NO_OFFSETS;
  private argEnd = NO_OFFSETS;

  private readonly password: Buffer | null;
  private authenticated = false;
  /** The pool's redis_db: SELECT of it (or of 0) is answered +OK. */
  private readonly redisDb: number;
  /** CLIENT SETNAME's name for this client (kept by the proxy; servers never see it). */
  private clientName: Buffer | null = null;
  /**
   * A MULTI was refused and no EXEC or DISCARD has come since. Clients send a transaction as
   * one pipeline (MULTI, the commands, EXEC) and do not wait for MULTI's reply: run one by one,
   * its commands would all take effect while the client is told the transaction failed (redis-py's
   * default pipeline(), ioredis and node-redis multi()), and a retry would apply them twice.
   * So they are refused too, until EXEC (Redis's -EXECABORT) or DISCARD (+OK) ends it; QUIT
   * still quits. twemproxy closes the connection at MULTI, so none of them runs there either.
   */
  private inRefusedMulti = false;

  /** `password` is the pool's redis_auth (null when none): clients must AUTH with it first. */
  constructor(password: Buffer | null, redisDb = 0) {
    this.password = password;
    this.redisDb = redisDb;
  }

  get pendingBytes(): number {
    return this.piecesLen;
  }

  feed(chunk: Buffer, sink: RequestSink): void {
    const len = chunk.length;
    if (this.state === S_DEAD || len === 0) return;
    let state = this.state;
    let num = this.num;
    let digits = this.digits;
    let remaining = this.remaining;
    let pos = 0;
    // Where the request in progress starts in this chunk (0 when it began in an earlier one),
    // and the request offset of chunk byte 0, so that byte p is at request offset base + p.
    let reqStart = 0;
    let base = this.piecesLen;

    while (pos < len) {
      switch (state) {
        case S_START: {
          reqStart = pos;
          base = -pos;
          if (chunk[pos] === STAR) {
            pos++;
            state = S_COUNT;
            num = 0;
            digits = 0;
            this.negative = false;
          } else {
            state = S_INLINE;
          }
          break;
        }

        case S_COUNT: {
          const b = chunk[pos++]!;
          if (b >= CH_0 && b <= CH_9) {
            // Redis takes no leading zero ('*01', '*-0'): a count it would refuse is refused here.
            if (digits > 0 && num === 0) return this.fail('invalid multibulk length', sink);
            num = num * 10 + (b - CH_0);
            digits++;
            if (num > MAX_ARGS) return this.fail('invalid multibulk length', sink);
          } else if (b === CR && digits > 0 && !(this.negative && num === 0)) {
            state = S_COUNT_LF;
          } else if (b === MINUS && digits === 0 && !this.negative) {
            this.negative = true;
          } else {
            return this.fail('invalid multibulk length', sink);
          }
          break;
        }

        case S_COUNT_LF: {
          if (chunk[pos++] !== LF) return this.fail('invalid multibulk length', sink);
          if (this.negative || num === 0) {
            // Empty multi-bulk: Redis ignores it, and so do we.
            state = S_START;
            this.pieces.length = 0;
            this.piecesLen = 0;
          } else {
            this.nargs = num;
            this.argc = 0;
            // Size the offsets for the announced count at once (not by doubling per request);
            // the announcement is the client's word, so never beyond SCRATCH_PRESIZE_MAX.
            if (num > this.argStart.length) this.growScratch(Math.min(num, SCRATCH_PRESIZE_MAX));
            state = S_DOLLAR;
          }
          break;
        }

        case S_DOLLAR: {
          // Fast path: whole `$<len>\r\n<data>\r\n` elements inside this chunk, in one tight
          // loop. Anything else (an element split across reads, malformed bytes) goes through
          // the byte-by-byte states below, which also word the errors.
          let argc = this.argc;
          const nargs = this.nargs;
          while (argc < nargs && chunk[pos] === DOLLAR && wholeBulk(chunk, pos, MAX_BULK_LEN)) {
            if (argc === this.argStart.length) this.growScratch();
            this.argStart[argc] = base + bulkSpan.start;
            this.argEnd[argc] = base + bulkSpan.end;
            argc++;
            pos = bulkSpan.end + 2;
          }
          this.argc = argc;
          if (argc === nargs) {
            state = S_START;
            this.finish(this.take(chunk, reqStart, pos), argc, sink);
            break;
          }
          if (pos === len) break;
          const b = chunk[pos++]!;
          if (b !== DOLLAR) return this.fail(`expected '$', got '${showByte(b)}'`, sink);
          state = S_LEN;
          num = 0;
          digits = 0;
          break;
        }

        case S_LEN: {
          const b = chunk[pos++]!;
          if (b >= CH_0 && b <= CH_9) {
            // '$04' would be forwarded, and Redis would close the server connection over it.
            if (digits > 0 && num === 0) return this.fail('invalid bulk length', sink);
            num = num * 10 + (b - CH_0);
            digits++;
            if (num > MAX_BULK_LEN) return this.fail('invalid bulk length', sink);
          } else if (b === CR && digits > 0) {
            state = S_LEN_LF;
          } else {
            return this.fail('invalid bulk length', sink);
          }
          break;
        }

        case S_LEN_LF: {
          if (chunk[pos++] !== LF) return this.fail('invalid bulk length', sink);
          const i = this.argc;
          if (i === this.argStart.length) this.growScratch();
          const start = base + pos;
          this.argStart[i] = start;
          this.argEnd[i] = start + num;
          this.argc = i + 1;
          remaining = num;
          state = num === 0 ? S_DATA_CR : S_DATA;
          break;
        }

        case S_DATA: {
          const avail = len - pos;
          if (avail >= remaining) {
            pos += remaining;
            remaining = 0;
            state = S_DATA_CR;
          } else {
            pos = len;
            remaining -= avail;
          }
          break;
        }

        case S_DATA_CR: {
          if (chunk[pos++] !== CR) return this.fail('bulk data not followed by CRLF', sink);
          state = S_DATA_LF;
          break;
        }

        case S_DATA_LF: {
          if (chunk[pos++] !== LF) return this.fail('bulk data not followed by CRLF', sink);
          if (this.argc < this.nargs) {
            state = S_DOLLAR;
            break;
          }
          state = S_START;
          this.finish(this.take(chunk, reqStart, pos), this.argc, sink);
          break;
        }

        case S_INLINE: {
          const lf = chunk.indexOf(LF, pos);
          if (lf < 0) {
            if (base + len > INLINE_MAX) return this.fail('too big inline request', sink);
            pos = len;
            break;
          }
          if (base + lf > INLINE_MAX) return this.fail('too big inline request', sink);
          const line = this.take(chunk, reqStart, lf);
          pos = lf + 1;
          state = S_START;
          if (!this.inline(line, sink)) return;
          break;
        }
      }
    }

    this.state = state;
    this.num = num;
    this.digits = digits;
    this.remaining = remaining;
    if (state !== S_START) {
      this.pieces.push(reqStart === 0 ? chunk : chunk.subarray(reqStart));
      this.piecesLen += len - reqStart;
    }
  }

  /** The bytes of the request in progress, ending at `end` of this chunk; resets the pieces. */
  private take(chunk: Buffer, reqStart: number, end: number): Buffer {
    if (this.piecesLen === 0) return bytesOf(chunk, reqStart, end);
    const pieces = this.pieces;
    pieces.push(chunk.subarray(0, end));
    const data = Buffer.concat(pieces, this.piecesLen + end);
    pieces.length = 0;
    this.piecesLen = 0;
    return data;
  }

  private fail(what: string, sink: RequestSink): void {
    this.state = S_DEAD;
    this.pieces.length = 0;
    this.piecesLen = 0;
    sink.onFramingError(protocolError(what));
  }

  private growScratch(atLeast = 0): void {
    const n = Math.max(16, this.argStart.length * 2, atLeast);
    const s = new Int32Array(n);
    const e = new Int32Array(n);
    s.set(this.argStart);
    e.set(this.argEnd);
    this.argStart = s;
    this.argEnd = e;
  }

  /** An inline request: split as redis-server splits it, re-encoded as a multi-bulk. */
  private inline(line: Buffer, sink: RequestSink): boolean {
    const args = splitInline(line, 0, line.length);
    if (typeof args === 'string') {
      this.fail(args, sink);
      return false;
    }
    if (args.length === 0) return true; // a blank line: Redis ignores it
    let size = 1 + decimalLength(args.length) + 2;
    for (const a of args) size += 1 + decimalLength(a.length) + 2 + a.length + 2;
    const data = Buffer.allocUnsafe(size);
    let at = data.write(`*${args.length}\r\n`, 0, 'latin1');
    let argc = 0;
    for (const a of args) {
      at += data.write(`$${a.length}\r\n`, at, 'latin1');
      if (argc === this.argStart.length) this.growScratch();
      this.argStart[argc] = at;
      at += a.copy(data, at);
      this.argEnd[argc] = at;
      argc++;
      data[at++] = CR;
      data[at++] = LF;
    }
    this.finish(data, argc, sink);
    return true;
  }

  /** A complete request: decide its route (or local reply) and hand it to the sink. */
  private finish(data: Buffer, argc: number, sink: RequestSink): void {
    const as = this.argStart;
    const ae = this.argEnd;
    const msg = new Msg();
    msg.data = data;
    const cmd = lookupCommand(data, as[0]!, ae[0]!);
    if (this.inRefusedMulti && (cmd === null || cmd.kind !== KIND_QUIT)) {
      msg.cmd = cmd === null ? CMD_UNKNOWN : cmd.id;
      if (msg.cmd === CMD_EXEC || msg.cmd === CMD_DISCARD) {
        this.inRefusedMulti = false;
        local(msg, msg.cmd === CMD_EXEC ? R_EXECABORT : R_OK);
      } else {
        local(msg, R_NOT_RUN_IN_REFUSED_MULTI);
      }
    } else if (cmd === null) {
      msg.cmd = CMD_UNKNOWN;
      local(msg, unknownCommandReply(data, as[0]!, ae[0]!));
    } else {
      msg.cmd = cmd.id;
      const arity = cmd.arity;
      const kind = cmd.kind;
      if (arity > 0 ? argc !== arity : argc < -arity) {
        local(msg, ARITY_REPLIES[cmd.id]!);
      } else if (this.password !== null && !this.authenticated && kind !== KIND_AUTH && kind !== KIND_QUIT && kind !== KIND_HELLO) {
        local(msg, R_NOAUTH);
      } else {
        switch (kind) {
          case KIND_KEY: {
            const k = cmd.keyIndex;
            msg.keyBuf = data;
            msg.keyStart = as[k]!;
            msg.keyEnd = ae[k]!;
            break;
          }
          case KIND_MULTI_KEY: {
            msg.keyBuf = data;
            msg.keyStart = as[1]!;
            msg.keyEnd = ae[1]!;
            const nkeys = argc - 1;
            if (nkeys > 1) {
              // [keyStart, keyEnd, fragment slot] per key; the slot is filled by fragment().
              const keys = keyOffsets(3 * nkeys);
              for (let i = 0; i < nkeys; i++) {
                keys[3 * i] = as[i + 1]!;
                keys[3 * i + 1] = ae[i + 1]!;
              }
              msg.keys = keys;
              msg.nkeys = nkeys;
              msg.route = ROUTE_FRAGMENT;
            }
            break;
          }
          case KIND_MSET: {
            if ((argc & 1) === 0) {
              local(msg, ARITY_REPLIES[cmd.id]!);
              break;
            }
            msg.keyBuf = data;
            msg.keyStart = as[1]!;
            msg.keyEnd = ae[1]!;
            const npairs = (argc - 1) >> 1;
            if (npairs > 1) {
              // [keyStart, keyEnd, valueStart, valueEnd] per pair.
              const keys = keyOffsets(4 * npairs);
              for (let i = 0; i < npairs; i++) {
                keys[4 * i] = as[2 * i + 1]!;
                keys[4 * i + 1] = ae[2 * i + 1]!;
                keys[4 * i + 2] = as[2 * i + 2]!;
                keys[4 * i + 3] = ae[2 * i + 2]!;
              }
              msg.keys = keys;
              msg.nkeys = npairs;
              msg.route = ROUTE_FRAGMENT;
            }
            break;
          }
          case KIND_EVAL:
            this.eval(msg, data, argc, cmd.name);
            break;
          case KIND_PLACEHOLDER:
            msg.keyBuf = PLACEHOLDER_KEY;
            msg.keyStart = 0;
            msg.keyEnd = PLACEHOLDER_KEY.length;
            break;
          case KIND_PING:
            if (argc === 1) local(msg, R_PONG);
            else if (argc === 2) local(msg, bulkReply(data, as[1]!, ae[1]!));
            else local(msg, ARITY_REPLIES[cmd.id]!);
            break;
          case KIND_ECHO:
            local(msg, bulkReply(data, as[1]!, ae[1]!));
            break;
          case KIND_QUIT:
            msg.route = ROUTE_QUIT;
            msg.reply = R_OK;
            break;
          case KIND_AUTH:
            local(msg, this.auth(data, argc));
            break;
          case KIND_INFO:
            local(msg, infoReply());
            break;
          case KIND_CLIENT:
            local(msg, this.client(data, argc));
            break;
          case KIND_HELLO:
            local(msg, this.hello(data, argc));
            break;
          case KIND_SCRIPT:
            // SCRIPT LOAD <script>: to every server; the rest is refused.
            if (argc === 3 && equalsFolded(data, as[1]!, ae[1]!, LOAD)) msg.route = ROUTE_ALL;
            else local(msg, R_SCRIPT_UNSUPPORTED);
            break;
          case KIND_SELECT: {
            // The pool's database is fixed by redis_db: selecting it (a client configured with
            // the same database) or 0 (the default clients assume) is accepted.
            let db = ae[1]! > as[1]! && ae[1]! - as[1]! <= 10 ? 0 : -1;
            for (let i = as[1]!; db >= 0 && i < ae[1]!; i++) {
              const b = data[i]!;
              db = b >= CH_0 && b <= CH_9 ? db * 10 + (b - CH_0) : -1;
            }
            local(msg, db === 0 || db === this.redisDb ? R_OK : R_SELECT_UNSUPPORTED);
            break;
          }
          default:
            if (cmd.id === CMD_MULTI) this.inRefusedMulti = true;
            local(msg, UNSUPPORTED_REPLIES[cmd.id] ?? R_SYNTAX);
            break;
        }
      }
    }
    if (argc > SCRATCH_KEEP && this.argStart.length > SCRATCH_KEEP) {
      this.argStart = NO_OFFSETS;
      this.argEnd = NO_OFFSETS;
    }
    sink.onRequest(msg);
  }

  /** EVAL script numkeys key [key ...] [arg ...] (`name`: or EVALSHA ...): routed by the first key. */
  private eval(msg: Msg, data: Buffer, argc: number, name: string): void {
    const refusal = this.evalRefusal(data, argc);
    if (refusal !== null) {
      // Redis answers EVALSHA with a digest that is not 40 bytes long by NOSCRIPT before it
      // reads numkeys: so does Walnut where it would refuse numkeys itself.
      const badDigest = name.startsWith('EVALSHA') && this.argEnd[1]! - this.argStart[1]! !== 40;
      local(msg, badDigest ? R_NOSCRIPT : refusal);
      return;
    }
    msg.keyBuf = data;
    msg.keyStart = this.argStart[3]!;
    msg.keyEnd = this.argEnd[3]!;
  }

  /** The reply refusing EVAL's numkeys, or null when it names at least one key. */
  private evalRefusal(data: Buffer, argc: number): Buffer | null {
    const start = this.argStart[2]!;
    const end = this.argEnd[2]!;
    // twemproxy forwards any digit string whose value is not 0 modulo 2^32, and Redis then
    // answers by its own reading of numkeys: `05`, or a number past 2^63 - 1, is not an
    // integer. So numkeys is read as Redis reads it, and a negative one gets Redis's text too.
    if (!isRedisInteger(data, start, end)) return R_NOT_INTEGER;
    if (data[start] === CH_MINUS) return R_EVAL_NEGATIVE_KEYS;
    let numkeys = 0;
    for (let i = start; i < end; i++) {
      // Past argc the exact value no longer matters (it is already too large).
      if (numkeys <= argc) numkeys = numkeys * 10 + (data[i]! - CH_0);
    }
    if (numkeys > argc - 3) return R_EVAL_TOO_MANY_KEYS;
    if (numkeys === 0) return R_EVAL_NO_KEYS;
    return null;
  }

  /** CLIENT SETNAME / GETNAME / SETINFO, answered for this client's own connection. */
  private client(data: Buffer, argc: number): Buffer {
    const as = this.argStart;
    const ae = this.argEnd;
    const s = as[1]!;
    const e = ae[1]!;
    if (equalsFolded(data, s, e, SETNAME)) {
      if (argc !== 3) return R_SETNAME_ARITY;
      if (!isPlainWord(data, as[2]!, ae[2]!)) return R_BAD_CLIENT_NAME;
      this.clientName = ae[2]! > as[2]! ? Buffer.from(data.subarray(as[2]!, ae[2]!)) : null;
      return R_OK;
    }
    if (equalsFolded(data, s, e, GETNAME)) {
      if (argc !== 2) return R_GETNAME_ARITY;
      const name = this.clientName;
      return name === null ? R_NIL : bulkReply(name, 0, name.length);
    }
    if (equalsFolded(data, s, e, SETINFO)) {
      if (argc !== 4) return R_SETINFO_ARITY;
      const attr = data.toString('latin1', as[2]!, ae[2]!);
      if (!equalsFolded(data, as[2]!, ae[2]!, LIB_NAME) && !equalsFolded(data, as[2]!, ae[2]!, LIB_VER)) {
        return errReply(`Unrecognized option '${attr}'`);
      }
      if (!isPlainWord(data, as[3]!, ae[3]!)) return errReply(`${attr} cannot contain spaces, newlines or special characters.`);
      return R_OK;
    }
    return R_CLIENT_UNSUPPORTED;
  }

  /** HELLO [protover [AUTH user pass] [SETNAME name]], for a proxy that speaks RESP2 only. */
  private hello(data: Buffer, argc: number): Buffer {
    const as = this.argStart;
    const ae = this.argEnd;
    if (argc > 1) {
      // As Redis: not an integer by its rules (string2ll) is an error; any integer but 2 is NOPROTO.
      if (!isRedisInteger(data, as[1]!, ae[1]!)) return R_HELLO_BAD_VERSION;
      if (ae[1]! - as[1]! !== 1 || data[as[1]!] !== CH_0 + 2) return R_NOPROTO;
    }
    let authenticated = this.authenticated;
    let name: Buffer | null | undefined;
    for (let i = 2; i < argc; i++) {
      if (equalsFolded(data, as[i]!, ae[i]!, AUTH_OPTION) && i + 2 < argc) {
        if (!this.passwordMatches(data, i + 1, i + 2)) return R_WRONGPASS;
        authenticated = true;
        i += 2;
      } else if (equalsFolded(data, as[i]!, ae[i]!, SETNAME) && i + 1 < argc) {
        if (!isPlainWord(data, as[i + 1]!, ae[i + 1]!)) return R_BAD_CLIENT_NAME;
        name = ae[i + 1]! > as[i + 1]! ? Buffer.from(data.subarray(as[i + 1]!, ae[i + 1]!)) : null;
        i += 1;
      } else {
        return errReply(`Syntax error in HELLO option '${data.toString('latin1', as[i]!, ae[i]!)}'`);
      }
    }
    if (this.password !== null && !authenticated) return R_HELLO_NOAUTH;
    this.authenticated = authenticated;
    if (name !== undefined) this.clientName = name;
    return helloReply();
  }

  /** AUTH <password> or AUTH default <password> (spec 4.3): the reply, and the new auth state. */
  private auth(data: Buffer, argc: number): Buffer {
    if (argc > 3) return R_SYNTAX;
    // Without redis_auth, the legacy form gets twemproxy's (and Redis 5's) answer; the ACL form
    // is taken for `default` whatever the password (passwordMatches), as Redis 6+ takes it.
    if (this.password === null && argc === 2) return R_AUTH_NOT_SET;
    const ok = this.passwordMatches(data, argc === 3 ? 1 : -1, argc - 1);
    this.authenticated = ok;
    // The ACL form is Redis 6's, and so is its refusal; the legacy form keeps twemproxy's.
    return ok ? R_OK : argc === 3 ? R_WRONGPASS : R_INVALID_PASSWORD;
  }

  /**
   * Argument `user` (-1: none given) is `default`, and argument `pass` is redis_auth (any
   * password when the pool has none: Redis's default user then has no password). The password
   * is compared in time that does not depend on where it differs (as Redis does).
   */
  private passwordMatches(data: Buffer, user: number, pass: number): boolean {
    const as = this.argStart;
    const ae = this.argEnd;
    const isDefault = user < 0 || sameBytes(data, as[user]!, ae[user]!, DEFAULT_USER, 0, DEFAULT_USER.length);
    const password = this.password;
    if (password === null) return isDefault;
    const given = data.subarray(as[pass]!, ae[pass]!);
    // timingSafeEqual needs equal lengths: a wrong length is compared with itself, and fails.
    const same = timingSafeEqual(given.length === password.length ? given : password, password) && given.length === password.length;
    return isDefault && same;
  }
}

/**
 * Redis's string2ll: `0`, or an optional `-` and digits without a leading zero, within 64 bits
 * (so `02`, `+2`, `-0` and 2^63 are not integers).
 */
function isRedisInteger(buf: Buffer, start: number, end: number): boolean {
  if (end - start === 1 && buf[start] === CH_0) return true;
  const negative = start < end && buf[start] === CH_MINUS;
  const s = negative ? start + 1 : start;
  // No leading zero (digitsAtMost would skip it); the rest is digits within 64 bits.
  return s < end && buf[s] !== CH_0 && digitsAtMost(buf, s, end, negative ? INT64_MIN_DIGITS : INT64_MAX_DIGITS);
}

/** Redis's rule for client names and library info: printable ASCII, no spaces. */
function isPlainWord(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (buf[i]! < 33 || buf[i]! > 126) return false;
  return true;
}

function local(msg: Msg, reply: Buffer): void {
  msg.route = ROUTE_LOCAL;
  msg.reply = reply;
}

/** Number of decimal digits of a non-negative integer. */
export function decimalLength(n: number): number {
  let d = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    d++;
  }
  return d;
}
