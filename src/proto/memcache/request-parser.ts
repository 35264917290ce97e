/**
 * Incremental memcache ASCII request parser, one per client connection.
 * Mirrors twemproxy's nc_memcache.c memcache_parse_req, but answers bad requests the way
 * memcached does instead of closing the connection.
 *
 * Grammar (tokens are separated by one or more spaces, leading spaces are skipped, command names
 * are lowercase only as in memcached 1.6, every line ends in CR LF):
 *
 *   get|gets <key>+                                                    1 key: ROUTE_KEY, 2+: ROUTE_FRAGMENT
 *   gat|gats <exptime> <key>+                                          (memcached 1.5+), same routing;
 *                                                                      no key: END, answered locally
 *   set|add|replace|append|prepend <key> <flags> <exptime> <bytes> [noreply] CR LF <data> CR LF
 *   cas <key> <flags> <exptime> <bytes> <cas unique> [noreply] CR LF <data> CR LF
 *   incr|decr <key> <value> [noreply]
 *   touch <key> <exptime> [noreply]
 *   delete <key> [0] [noreply]                                         (`0` is memcached's legacy form)
 *   version [<anything>]                                               routed by the key `placeholder`
 *   quit                                                               ROUTE_QUIT, no reply
 *
 * A retrieval line longer than MC_LINE_CAP is a ROUTE_FRAGMENT even with one key, so that the
 * codec decides whether the server can take the client's line as it is or gets a compact
 * rebuilt one (see MC_LINE_CAP and the codec's sendsUnsplit).
 * `version` ignores whatever follows it, as memcached 1.6 does (`version foo` and
 * `version noreply` are answered with VERSION; memccapable checks both); the server is sent a
 * plain `version` then, which older servers (that answer ERROR to extra tokens) answer too.
 * twemproxy closes the connection on such lines.
 *
 * Framing. Lines are cut at LF, exactly where memcached cuts them, so the proxy and the server
 * always agree on request boundaries. A line whose LF is not preceded by CR, or which holds a CR
 * elsewhere, is malformed (twemproxy rejects both; memcached would accept a bare LF), and so is
 * one holding a NUL byte (memcached would end the line there, answer it, and run the rest and
 * any data block as more commands: replies the next requests would be matched with). Data blocks
 * are skipped by their declared length and never scanned. A request inside one chunk becomes a
 * subarray of that chunk; one spanning chunks is kept as pieces and concatenated once.
 *
 * Errors keep the connection usable wherever the stream is still in sync:
 * - unknown command (also `GET`): `ERROR`; commands a proxy cannot serve (flush_all, stats, meta
 *   commands ...): `CLIENT_ERROR walnut: '<cmd>' is not supported by the proxy`; both ROUTE_LOCAL.
 * - malformed known command: memcached's CLIENT_ERROR text (ROUTE_LOCAL). memcached answers a
 *   wrong token count with `ERROR`; we answer `CLIENT_ERROR bad command line format`, which names
 *   the real problem. Extra tokens are rejected, except after `version` (memcached ignores some
 *   of them; twemproxy rejects them all).
 * - storage command with a bad header: when it has a token count memcached takes for the
 *   command (without or with one last token) and `<bytes>` is still a valid length, the data
 *   block the client sent after it is skipped (bytes + 2), so user data is never run as
 *   commands. With another count memcached does not see a storage command, and no data block
 *   is skipped either. memcached
 *   1.6.18 does not skip it (it answers the data line with `ERROR`); skipping is the documented
 *   Walnut choice.
 * - data block not followed by CR LF: `CLIENT_ERROR bad data chunk` after consuming exactly
 *   bytes + 2, then parsing resumes right there, as memcached 1.6.18 does (observed: it answers
 *   the leftover line with `ERROR`). The client is out of sync from then on, as with memcached.
 * - `noreply`: a malformed request whose last token (not the key) is `noreply` gets no reply
 *   at all when its token count is one memcached takes for the command, as memcached
 *   suppresses it then (with another count memcached answers ERROR, noreply or not). An
 *   unsupported command with `noreply` (e.g. `flush_all noreply`) cannot be answered without
 *   desynchronising the client and cannot be ignored silently either, so it gets its error
 *   reply and the connection
 *   is closed (ROUTE_QUIT), which is what twemproxy does for every unsupported command.
 * - a get/gets/gat/gats line longer than MC_RETRIEVAL_LINE_CAP: `CLIENT_ERROR line too long`
 *   (ROUTE_LOCAL) as soon as the cap is passed, then the rest of the line is discarded up to its
 *   LF without being kept, and parsing resumes after it: a retrieval line has no data block, so
 *   the stream is back in sync there.
 * - a connection whose first byte is 0x80 speaks the binary protocol (memcached too decides
 *   on the first byte only; later a 0x80 is part of a text line): each request gets a binary
 *   "not supported" response once its 24-byte header is in (ROUTE_LOCAL, see mcBinaryRefusal),
 *   its body is skipped by the length the header gives, and the connection goes on; QUIT and
 *   QUITQ get the response and close it (ROUTE_QUIT), a header without the 0x80 magic is a
 *   framing error.
 * - framing errors (sink.onFramingError, once, then all input is ignored): any line other than
 *   a retrieval line longer than MC_LINE_CAP: `CLIENT_ERROR line too long`. Such a line may be
 *   a storage command whose data block follows and whose length is lost, so the stream cannot
 *   be resynchronised; memcached closes the connection too.
 */
import { Msg, ROUTE_FRAGMENT, ROUTE_LOCAL, ROUTE_QUIT } from '../message.js';
import { keyOffsets } from '../key-offsets.js';
import type { RequestParser, RequestSink } from '../codec.js';
import {
  MC_ADD,
  MC_APPEND,
  MC_CAS,
  MC_DECR,
  MC_DELETE,
  MC_GAT,
  MC_GATS,
  MC_GET,
  MC_GETS,
  MC_INCR,
  MC_KEY_MAX,
  MC_META_SET,
  MC_PREPEND,
  MC_QUIT,
  MC_REPLACE,
  MC_SET,
  MC_TOUCH,
  MC_UNKNOWN,
  MC_UNSUPPORTED,
  MC_VERSION,
  mcIsNoreply,
  mcLookupCommand,
  mcParseLength,
  mcValidExptime,
  mcValidU32,
  mcValidU64,
} from './commands.js';
import {
  MC_R_BAD_DATA_CHUNK,
  MC_R_BAD_DELTA,
  MC_R_BAD_EXPTIME,
  MC_R_BAD_FORMAT,
  MC_BINARY_HEADER,
  mcBinaryRefusal,
  MC_R_DELETE_USAGE,
  MC_R_END,
  MC_R_ERROR,
  MC_R_LINE_TOO_LONG,
  mcUnsupportedReply,
} from './replies.js';
import { bytesOf } from '../../util/bytes.js';

// Parser states.
const S_LINE = 0; // reading a command line
const S_DATA = 1; // reading (or skipping) a storage data block and its CR LF
const S_DEAD = 2; // after quit or a framing error: input is ignored
const S_SKIP = 3; // discarding the rest of an over-long retrieval line, up to its LF
const S_BINARY = 4; // reading the header of a binary-protocol request, to refuse it in kind
const S_BINARY_BODY = 5; // skipping the body (extras, key, value) of a refused binary request

const LF = 10;
const CR = 13;
const SP = 32;
/** memcached reads a command line as a C string: it would see the line end at a NUL. */
const NUL = 0;
const CH_0 = 48;
const CH_9 = 57;
const CH_A = 97; // 'a'
const CH_C = 99; // 'c'
const CH_P = 112; // 'p'
const CH_R = 114; // 'r'
const CH_E = 101; // 'e'
const CH_G = 103; // 'g'
const CH_S = 115; // 's'
const CH_T = 116; // 't'
const BINARY_REQUEST_MAGIC = 0x80;
/** Binary opcodes QUIT and QUITQ: the client closes after them, so Walnut closes too. */
const BINARY_QUIT = 0x07;
const BINARY_QUITQ = 0x17;

/**
 * Longest command line (bytes before its LF, CR included) for all but retrieval commands.
 * memcached 1.6 closes the connection when more than 2048 bytes of a line other than get/gets
 * have arrived without their LF (checked on 1.6.18: a `gat` or `delete` line of 3000 bytes sent
 * as 2049 bytes and the rest is closed, as 2048 bytes and the rest is answered), so this is the
 * longest line that can be forwarded as it came without risking the shared server connection.
 * Storage command lines are forwarded as they came; longer retrieval lines go through the codec,
 * which rebuilds them unless they start right at `get ` / `gets `.
 */
export const MC_LINE_CAP = 2048;
/**
 * Longest get/gets/gat/gats line (bytes before its LF): 4 MiB. Neither memcached (it grows its
 * read buffer for a get line without limit) nor twemproxy (no request size limit, spec 10) has
 * one: both answered get lines of 110 KB (10,000 keys), 1.1 MB (100,000 keys) and 25 MB
 * (100,000 keys of 250 bytes), and memcached's RSS reached 1.5 GB after lines of 11 and 25 MB.
 * A proxy must bound what one connection makes it hold, so a line without LF stops growing
 * here. 4 MiB takes 10,000 keys of the maximum length (a 2.5 MB line) or 100,000 keys of up to
 * 40 bytes, more than clients put in one request in practice. The worst case, 2 million
 * one-byte keys, cost Walnut 48 MB of RSS and 0.6 s of CPU (memcached took 12 s to answer it).
 */
export const MC_RETRIEVAL_LINE_CAP = 4 * 1024 * 1024;
/**
 * A line's cap is decided from its first bytes only (so that it does not depend on how the
 * stream was split); memcached likewise gives up on lines with more than 100 leading spaces.
 */
const CAP_PREFIX = 128;

/** Token offset array size: 32 tokens, enough for every line but long multi-gets. */
const TOK_INITIAL = 64;
/** Larger token arrays (grown by a multi-get of over 2,048 keys) are dropped after use. */
const TOK_KEEP = 4096;

/**
 * Shared stand-ins for a parser's scratch until it first needs its own, so that an idle client
 * holds none. NO_PARTS is frozen: it is replaced, never pushed to.
 */
const NO_TOKENS = new Int32Array(0);
const NO_PARTS: Buffer[] = Object.freeze([]) as unknown as Buffer[];

/** twemproxy routes `version` as if it were a request for this key. */
const VERSION_KEY = Buffer.from('placeholder', 'latin1');
/** What the server is sent for a `version` line with extra tokens (shared: never mutated). */
const VERSION_LINE = Buffer.from('version\r\n', 'latin1');

/**
 * The retrieval command (MC_GET, MC_GETS, MC_GAT, MC_GATS) the line starting at `start` begins
 * with, or MC_UNKNOWN; only its first CAP_PREFIX bytes are looked at.
 */
function retrievalCmdOf(buf: Buffer, start: number, end: number): number {
  const limit = Math.min(end, start + CAP_PREFIX);
  let i = start;
  while (i < limit && buf[i] === SP) i++;
  if (i + 4 > limit || buf[i] !== CH_G) return MC_UNKNOWN;
  const b1 = buf[i + 1];
  if ((b1 !== CH_E && b1 !== CH_A) || buf[i + 2] !== CH_T) return MC_UNKNOWN;
  let j = i + 3;
  const s = buf[j] === CH_S;
  if (s) j++;
  if (j >= limit || buf[j] !== SP) return MC_UNKNOWN;
  if (b1 === CH_E) return s ? MC_GETS : MC_GET;
  return s ? MC_GATS : MC_GAT;
}

/** The position after 1 to `max` digits from buf[i] (before `end`), or -1. */
function digitsEnd(buf: Buffer, i: number, max: number, end: number): number {
  const limit = Math.min(end, i + max);
  const s = i;
  while (i < limit) {
    const d = buf[i]!;
    if (d < CH_0 || d > CH_9) break;
    i++;
  }
  return i > s ? i : -1;
}

/** See the file comment for the grammar and the error rules. */
export class MemcacheRequestParser implements RequestParser {
  private state = S_LINE;
  /** Pieces of an unfinished command line from earlier chunks (they contain no LF). */
  private lineParts = NO_PARTS;
  private lineLen = 0;
  /** Retrieval command the unfinished line starts with, once needed (-1: not looked at yet). */
  private lineKind = -1;
  /** Earlier-chunk pieces of the storage request being gathered. */
  private pieces = NO_PARTS;
  private piecesLen = 0;
  /** Start, in the chunk being parsed, of the current request's bytes not yet in `pieces`. */
  private segStart = 0;
  /** The storage request waiting for its data block; null while skipping a rejected one's. */
  private keep: Msg | null = null;
  /**
   * Data block length including its CR LF, and how much of it is still to come (S_DATA); in
   * S_BINARY_BODY, how much of a refused binary request's body is still to come.
   */
  private blockLen = 0;
  private remaining = 0;
  /** Whether the two bytes after the data seen so far were CR and LF. */
  private dataOk = true;
  /** Length of the command line (with CR LF) of the storage request in S_DATA. */
  private headerLen = 0;
  /** Token offsets [start0, end0, start1, end1, ...] of the current line (reused, grows). */
  private tok = NO_TOKENS;
  /**
   * The header of the binary request being refused (states S_BINARY, S_BINARY_BODY: the
   * connection's first byte was 0x80, so it speaks the binary protocol to the end), and its
   * bytes so far. null on a text connection.
   */
  private binaryHeader: Buffer | null = null;
  private binaryHave = 0;
  /** No byte read yet: only a connection's first byte can start a binary request (memcached). */
  private atConnectionStart = true;
  /** Set by tokenize: the line held a CR before its line end, or a NUL. */
  private strayByte = false;

  get pendingBytes(): number {
    if (this.state === S_LINE) return this.lineLen;
    if (this.state === S_BINARY) return this.binaryHave;
    // A rejected request's data block is skipped, not held: it counts for nothing.
    if (this.state === S_DATA) return this.keep === null ? 0 : this.headerLen + this.blockLen - this.remaining;
    return 0;
  }

  feed(chunk: Buffer, sink: RequestSink): void {
    const len = chunk.length;
    let pos = 0;
    this.segStart = 0;
    while (pos < len) {
      const state = this.state;
      if (state === S_LINE) pos = this.parseLine(chunk, pos, sink);
      else if (state === S_DATA) pos = this.parseData(chunk, pos, sink);
      else if (state === S_SKIP) pos = this.skipLine(chunk, pos);
      else if (state === S_BINARY) pos = this.readBinaryHeader(chunk, pos, sink);
      else if (state === S_BINARY_BODY) pos = this.skipBinaryBody(chunk, pos);
      else return;
    }
    // A data block continues in the next chunk: keep what this chunk held of the request.
    if (this.state === S_DATA && this.keep !== null && this.segStart < len) {
      const part = this.segStart === 0 ? chunk : chunk.subarray(this.segStart);
      this.addPiece(part);
      this.piecesLen += part.length;
    }
  }

  private addLinePart(part: Buffer): void {
    if (this.lineParts === NO_PARTS) this.lineParts = [];
    this.lineParts.push(part);
  }

  private addPiece(part: Buffer): void {
    if (this.pieces === NO_PARTS) this.pieces = [];
    this.pieces.push(part);
  }

  private parseLine(chunk: Buffer, pos: number, sink: RequestSink): number {
    const len = chunk.length;
    if (this.lineLen === 0) {
      // A new request starts at pos.
      const first = this.atConnectionStart;
      this.atConnectionStart = false;
      if (first && chunk[pos] === BINARY_REQUEST_MAGIC) {
        this.binaryHeader = Buffer.alloc(MC_BINARY_HEADER);
        this.state = S_BINARY;
        return pos;
      }
      const lf = chunk.indexOf(LF, pos);
      if (lf === -1) {
        this.addLinePart(pos === 0 ? chunk : chunk.subarray(pos));
        this.lineLen = len - pos;
        if (this.lineLen > MC_LINE_CAP) {
          const next = this.checkPendingLine(false, len, len, sink);
          if (next !== -1) return next;
        }
        return len;
      }
      if (lf - pos > MC_LINE_CAP) {
        const kind = retrievalCmdOf(chunk, pos, lf);
        if (kind === MC_UNKNOWN) return this.framingError(MC_R_LINE_TOO_LONG, len, sink);
        if (lf - pos > MC_RETRIEVAL_LINE_CAP) {
          this.local(kind, MC_R_LINE_TOO_LONG, sink);
          return lf + 1;
        }
      }
      this.segStart = pos;
      const c0 = chunk[pos];
      if (c0 === CH_S || c0 === CH_A || c0 === CH_R || c0 === CH_P || c0 === CH_C) {
        const next = this.fastStorage(chunk, pos, lf, sink);
        if (next > 0) return next;
      }
      this.parseCommand(chunk, pos, lf, sink);
      return lf + 1;
    }
    // The line started in an earlier chunk, so pos is 0 here.
    const lf = chunk.indexOf(LF, pos);
    if (lf === -1) {
      this.addLinePart(chunk);
      this.lineLen += len;
      if (this.lineLen > MC_LINE_CAP) {
        const next = this.checkPendingLine(false, len, len, sink);
        if (next !== -1) return next;
      }
      return len;
    }
    const lineLength = this.lineLen + lf; // bytes before the LF
    this.addLinePart(chunk.subarray(0, lf + 1));
    if (lineLength > MC_LINE_CAP) {
      // Measured before the LF, as in the one-chunk case above.
      this.lineLen = lineLength;
      const next = this.checkPendingLine(true, lf + 1, len, sink);
      if (next !== -1) return next;
    }
    const line = Buffer.concat(this.lineParts, lineLength + 1);
    this.lineParts = NO_PARTS;
    this.lineLen = 0;
    this.lineKind = -1;
    this.segStart = lf + 1;
    this.parseCommand(line, 0, lineLength, sink);
    if (this.keep !== null) {
      // A storage request whose line spanned chunks: the line is its first piece.
      this.addPiece(line);
      this.piecesLen += line.length;
    }
    return lf + 1;
  }

  /**
   * The line held in lineParts has lineLen bytes before its LF, more than MC_LINE_CAP. A
   * non-retrieval line: framing error. A retrieval line over MC_RETRIEVAL_LINE_CAP: its
   * CLIENT_ERROR, then parsing goes on at `afterLine` if its LF has been seen (`complete`), or
   * after the LF still to come. Returns where parsing goes on, or -1 when the line is within its
   * cap and the caller carries on with it.
   */
  private checkPendingLine(complete: boolean, afterLine: number, len: number, sink: RequestSink): number {
    if (this.lineKind === -1) {
      const parts = this.lineParts;
      let prefix = parts[0]!;
      if (prefix.length < CAP_PREFIX && parts.length > 1) {
        let total = 0;
        for (let i = 0; i < parts.length; i++) total += parts[i]!.length;
        prefix = Buffer.concat(parts, Math.min(total, CAP_PREFIX));
      }
      this.lineKind = retrievalCmdOf(prefix, 0, prefix.length);
    }
    const kind = this.lineKind;
    if (kind === MC_UNKNOWN) return this.framingError(MC_R_LINE_TOO_LONG, len, sink);
    if (this.lineLen <= MC_RETRIEVAL_LINE_CAP) return -1;
    // Nothing of the line is kept from here on, so an endless one holds no memory.
    this.lineParts = NO_PARTS;
    this.lineLen = 0;
    this.lineKind = -1;
    this.local(kind, MC_R_LINE_TOO_LONG, sink);
    if (complete) return afterLine;
    this.state = S_SKIP;
    return len;
  }

  /**
   * Gather a binary request's 24-byte header (state S_BINARY), refuse it in kind, and skip its
   * body (its length is in the header), so that the next request is refused too and the
   * connection stays open: memjs, the binary client of npm, writes requests without waiting
   * and does not fail those still in flight when the connection closes (it even cancels their
   * timeout), so each request after the first one refused waited for ever when Walnut closed
   * here. memcached answers an opcode it does not know the same way and goes on. A header
   * whose magic is not 0x80 cannot be framed: memcached closes the connection, and so does
   * Walnut, after the refusal.
   */
  private readBinaryHeader(chunk: Buffer, pos: number, sink: RequestSink): number {
    const header = this.binaryHeader!;
    const n = Math.min(MC_BINARY_HEADER - this.binaryHave, chunk.length - pos);
    chunk.copy(header, this.binaryHave, pos, pos + n);
    this.binaryHave += n;
    if (this.binaryHave < MC_BINARY_HEADER) return chunk.length;
    this.binaryHave = 0;
    // The refusal copies what it needs of the header, which is reused for the next request.
    const reply = mcBinaryRefusal(header);
    if (header[0] !== BINARY_REQUEST_MAGIC) return this.framingError(reply, chunk.length, sink);
    const opcode = header[1];
    const msg = new Msg();
    msg.cmd = MC_UNKNOWN;
    msg.reply = reply;
    if (opcode === BINARY_QUIT || opcode === BINARY_QUITQ) {
      this.toDead();
      msg.route = ROUTE_QUIT;
      sink.onRequest(msg);
      return chunk.length;
    }
    msg.route = ROUTE_LOCAL;
    // Total body length: extras, key and value. Skipped by length, never held.
    this.remaining = header.readUInt32BE(8);
    if (this.remaining > 0) this.state = S_BINARY_BODY;
    sink.onRequest(msg);
    return pos + n;
  }

  /** Skip the rest of a refused binary request's body (state S_BINARY_BODY). */
  private skipBinaryBody(chunk: Buffer, pos: number): number {
    const take = Math.min(this.remaining, chunk.length - pos);
    this.remaining -= take;
    if (this.remaining === 0) this.state = S_BINARY;
    return pos + take;
  }

  /** Discard bytes up to and including the LF that ends the over-long line (state S_SKIP). */
  private skipLine(chunk: Buffer, pos: number): number {
    const lf = chunk.indexOf(LF, pos);
    if (lf === -1) return chunk.length;
    this.state = S_LINE;
    return lf + 1;
  }

  /** Split line [start, end) at spaces into this.tok; returns the token count. */
  private tokenize(buf: Buffer, start: number, end: number): number {
    let tok = this.tok;
    let n = 0;
    let i = start;
    let stray = false;
    for (;;) {
      while (i < end && buf[i] === SP) i++;
      if (i >= end) break;
      const s = i;
      while (i < end) {
        const c = buf[i]!;
        if (c === SP) break;
        if (c === CR || c === NUL) stray = true;
        i++;
      }
      if (2 * n + 2 > tok.length) {
        // Room for every token the rest of the line can hold (each takes 2 bytes or more), so
        // that a long multi-get grows the array once.
        const bigger = new Int32Array(tok.length === 0 ? TOK_INITIAL : Math.max(2 * tok.length, 2 * n + end - s + 2));
        bigger.set(tok);
        this.tok = tok = bigger;
      }
      tok[2 * n] = s;
      tok[2 * n + 1] = i;
      n++;
    }
    this.strayByte = stray;
    return n;
  }

  /** Handle the complete command line buf[start .. lf] (lf is the index of its LF). */
  private parseCommand(buf: Buffer, start: number, lf: number, sink: RequestSink): void {
    if (buf[start] === CH_G && this.fastGet(buf, start, lf, sink)) return;
    let end = lf;
    let bad = false;
    if (end > start && buf[end - 1] === CR) end--;
    else bad = true; // bare LF
    const n = this.tokenize(buf, start, end);
    if (this.strayByte) bad = true;
    if (n === 0) {
      this.local(MC_UNKNOWN, MC_R_ERROR, sink);
      return;
    }
    const tok = this.tok;
    const cmd = mcLookupCommand(buf, tok[0]!, tok[1]!);
    switch (cmd) {
      case MC_GET:
      case MC_GETS:
        this.retrieval(buf, start, lf, n, 1, cmd, bad, sink);
        return;
      case MC_GAT:
      case MC_GATS:
        this.retrieval(buf, start, lf, n, 2, cmd, bad, sink);
        return;
      case MC_SET:
      case MC_ADD:
      case MC_REPLACE:
      case MC_APPEND:
      case MC_PREPEND:
      case MC_CAS:
        this.storage(buf, start, lf, n, cmd, bad, sink);
        return;
      case MC_INCR:
      case MC_DECR:
      case MC_TOUCH:
        this.arithOrTouch(buf, start, lf, n, cmd, bad, sink);
        return;
      case MC_DELETE:
        this.delete(buf, start, lf, n, bad, sink);
        return;
      case MC_VERSION:
        if (bad) {
          this.local(cmd, MC_R_BAD_FORMAT, sink);
          return;
        }
        if (n === 1) {
          this.emitKeyed(buf, start, lf, cmd, false, VERSION_KEY, 0, VERSION_KEY.length, sink);
        } else {
          // Extra tokens (even `noreply`) are ignored, as memcached 1.6 does: see the file comment.
          this.emitKeyed(VERSION_LINE, 0, VERSION_LINE.length - 1, cmd, false, VERSION_KEY, 0, VERSION_KEY.length, sink);
        }
        return;
      case MC_QUIT: {
        if (bad || n !== 1) {
          this.local(cmd, MC_R_BAD_FORMAT, sink);
          return;
        }
        this.toDead();
        const msg = new Msg();
        msg.cmd = cmd;
        msg.route = ROUTE_QUIT;
        sink.onRequest(msg);
        return;
      }
      case MC_UNSUPPORTED:
      case MC_META_SET:
        this.unsupported(buf, start, lf, n, cmd, sink);
        return;
      default:
        this.local(MC_UNKNOWN, MC_R_ERROR, sink);
    }
  }

  /**
   * Fast path for the commonest lines, `get`/`gets` right at the line start with well-formed
   * keys: the key offsets go straight into msg.keys' layout in one pass over the line. Returns
   * false, having emitted nothing, on anything else (leading spaces, a CR inside, a long key,
   * no key ...): the general path then parses the line and words the error.
   */
  private fastGet(buf: Buffer, start: number, lf: number, sink: RequestSink): boolean {
    const end = lf - 1;
    if (end - start < 5 || buf[end] !== CR || buf[start + 1] !== CH_E || buf[start + 2] !== CH_T) return false;
    let i = start + 3;
    let cmd = MC_GET;
    if (buf[i] === CH_S) {
      cmd = MC_GETS;
      i++;
    }
    if (buf[i] !== SP) return false;
    // [keyStart, keyEnd, -1] per key, relative to the line start, as msg.keys holds them.
    let tok = this.tok;
    let n = 0;
    for (;;) {
      while (i < end && buf[i] === SP) i++;
      if (i >= end) break;
      const s = i;
      while (i < end) {
        const c = buf[i]!;
        if (c === SP) break;
        if (c === CR || c === NUL) return false;
        i++;
      }
      if (i - s > MC_KEY_MAX) return false;
      if (n + 3 > tok.length) {
        // Room for every key the rest of the line can hold (each takes 2 bytes or more).
        const bigger = new Int32Array(tok.length === 0 ? TOK_INITIAL : Math.max(2 * tok.length, n + 3 * ((end - s + 2) >> 1) + 3));
        bigger.set(tok);
        this.tok = tok = bigger;
      }
      tok[n] = s - start;
      tok[n + 1] = i - start;
      tok[n + 2] = -1;
      n += 3;
    }
    if (n === 0) return false;
    const msg = new Msg();
    msg.cmd = cmd;
    const data = bytesOf(buf, start, lf + 1);
    msg.data = data;
    msg.keyBuf = data;
    msg.keyStart = tok[0]!;
    msg.keyEnd = tok[1]!;
    // A long line is rebuilt by the codec even for one key (see MC_LINE_CAP).
    if (n > 3 || lf - start > MC_LINE_CAP) {
      const keys = keyOffsets(n);
      if (n <= 48) for (let j = 0; j < n; j++) keys[j] = tok[j]!;
      else keys.set(tok.subarray(0, n));
      msg.keys = keys;
      msg.nkeys = n / 3;
      msg.route = ROUTE_FRAGMENT;
      // Do not keep a huge token array per connection after one very long get line.
      if (tok.length > TOK_KEEP) this.tok = NO_TOKENS;
    }
    sink.onRequest(msg);
    return true;
  }

  /**
   * Fast path for a storage request whose command line starts at chunk[start] (LF at lf) in the
   * common shape, `<cmd> <key> <flags> <exptime> <bytes>[ <cas>][ noreply]` with single spaces
   * and plain digits (at most 9, cas at most 19, so each is valid by construction), and whose
   * data block and its CR LF lie in this chunk: emits the request and returns the position
   * after it. Returns -1, having done nothing, otherwise (the general path takes the line).
   */
  private fastStorage(chunk: Buffer, start: number, lf: number, sink: RequestSink): number {
    const end = lf - 1;
    if (end <= start || chunk[end] !== CR) return -1;
    let i = start;
    const nameEnd = Math.min(end, start + 8);
    while (i < nameEnd && chunk[i] !== SP) i++;
    const cmd = mcLookupCommand(chunk, start, i);
    if (cmd !== MC_SET && cmd !== MC_ADD && cmd !== MC_REPLACE && cmd !== MC_APPEND && cmd !== MC_PREPEND && cmd !== MC_CAS) {
      return -1;
    }
    const ks = ++i;
    const keyLimit = Math.min(end, ks + MC_KEY_MAX + 1);
    while (i < keyLimit) {
      const c = chunk[i]!;
      if (c === SP) break;
      if (c === CR || c === NUL) return -1;
      i++;
    }
    const ke = i;
    if (ke === ks || i === keyLimit) return -1;
    i = digitsEnd(chunk, i + 1, 9, end); // flags
    if (i < 0 || chunk[i] !== SP) return -1;
    i = digitsEnd(chunk, i + 1, 9, end); // exptime
    if (i < 0 || chunk[i] !== SP) return -1;
    const bs = i + 1;
    i = digitsEnd(chunk, bs, 9, end); // bytes
    if (i < 0) return -1;
    let bytes = 0;
    for (let j = bs; j < i; j++) bytes = bytes * 10 + (chunk[j]! - CH_0);
    if (cmd === MC_CAS) {
      if (chunk[i] !== SP) return -1;
      i = digitsEnd(chunk, i + 1, 19, end);
      if (i < 0) return -1;
    }
    let noreply = false;
    if (i < end) {
      if (chunk[i] !== SP || end - i - 1 !== 7 || !mcIsNoreply(chunk, i + 1, end)) return -1;
      noreply = true;
    }
    const dataEnd = lf + 1 + bytes + 2;
    if (dataEnd > chunk.length || chunk[dataEnd - 2] !== CR || chunk[dataEnd - 1] !== LF) return -1;
    const msg = new Msg();
    msg.cmd = cmd;
    msg.noreply = noreply;
    const data = bytesOf(chunk, start, dataEnd);
    msg.data = data;
    msg.keyBuf = data;
    msg.keyStart = ks - start;
    msg.keyEnd = ke - start;
    sink.onRequest(msg);
    return dataEnd;
  }

  /** Is the last token `noreply`, and not in the key position? */
  private lastIsNoreply(buf: Buffer, n: number): boolean {
    return n >= 3 && mcIsNoreply(buf, this.tok[2 * n - 2]!, this.tok[2 * n - 1]!);
  }

  private retrieval(
    buf: Buffer, start: number, lf: number, n: number, first: number, cmd: number, bad: boolean,
    sink: RequestSink,
  ): void {
    const tok = this.tok;
    // `get` or `gat` alone (memcached: ERROR); `gat <exptime>` alone is taken, see below.
    if (bad || n <= 1) {
      this.local(cmd, MC_R_BAD_FORMAT, sink);
      return;
    }
    if (first === 2 && !mcValidExptime(buf, tok[2]!, tok[3]!)) {
      this.local(cmd, MC_R_BAD_EXPTIME, sink);
      return;
    }
    if (n === first) {
      // `gat <exptime>` without a key: memcached checks the exptime and answers an empty result,
      // so a client asking for no keys gets what it would get from the server itself.
      this.local(cmd, MC_R_END, sink);
      return;
    }
    for (let t = first; t < n; t++) {
      if (tok[2 * t + 1]! - tok[2 * t]! > MC_KEY_MAX) {
        this.local(cmd, MC_R_BAD_FORMAT, sink);
        return;
      }
    }
    const msg = new Msg();
    msg.cmd = cmd;
    const data = bytesOf(buf, start, lf + 1);
    msg.data = data;
    msg.keyBuf = data;
    msg.keyStart = tok[2 * first]! - start;
    msg.keyEnd = tok[2 * first + 1]! - start;
    const nkeys = n - first;
    // A long line is rebuilt by the codec even for one key (see MC_LINE_CAP).
    if (nkeys > 1 || lf - start > MC_LINE_CAP) {
      // Layout: [keyStart, keyEnd, fragment slot] per key; fragment() fills the slot.
      const keys = keyOffsets(3 * nkeys);
      for (let k = 0; k < nkeys; k++) {
        keys[3 * k] = tok[2 * (first + k)]! - start;
        keys[3 * k + 1] = tok[2 * (first + k) + 1]! - start;
        keys[3 * k + 2] = -1;
      }
      msg.keys = keys;
      msg.nkeys = nkeys;
      msg.route = ROUTE_FRAGMENT;
      // Do not keep a huge token array per connection after one very long get line.
      if (this.tok.length > TOK_KEEP) this.tok = NO_TOKENS;
    }
    sink.onRequest(msg);
  }

  private storage(
    buf: Buffer, start: number, lf: number, n: number, cmd: number, bad: boolean, sink: RequestSink,
  ): void {
    const tok = this.tok;
    const base = cmd === MC_CAS ? 6 : 5; // tokens without noreply
    // memcached takes a line as this command only with base or base + 1 tokens; with any other
    // count it answers ERROR, and reads no data block.
    const counted = n === base || n === base + 1;
    const noreply = counted && this.lastIsNoreply(buf, n);
    const bytes = counted ? mcParseLength(buf, tok[8]!, tok[9]!) : -1;
    const ok =
      !bad &&
      bytes >= 0 &&
      (n === base || noreply) &&
      tok[3]! - tok[2]! <= MC_KEY_MAX &&
      mcValidU32(buf, tok[4]!, tok[5]!) &&
      mcValidExptime(buf, tok[6]!, tok[7]!) &&
      (base === 5 || mcValidU64(buf, tok[10]!, tok[11]!));
    this.headerLen = lf + 1 - start;
    if (ok) {
      const msg = new Msg();
      msg.cmd = cmd;
      msg.noreply = noreply;
      msg.keyStart = tok[2]! - start;
      msg.keyEnd = tok[3]! - start;
      this.keep = msg;
      this.enterData(bytes);
      return;
    }
    if (bytes >= 0) {
      // Skip the data block the client sent after the bad header (see the file comment).
      this.keep = null;
      this.enterData(bytes);
    }
    if (!noreply) this.local(cmd, MC_R_BAD_FORMAT, sink);
  }

  private enterData(bytes: number): void {
    this.blockLen = bytes + 2;
    this.remaining = this.blockLen;
    this.dataOk = true;
    this.state = S_DATA;
  }

  private arithOrTouch(
    buf: Buffer, start: number, lf: number, n: number, cmd: number, bad: boolean, sink: RequestSink,
  ): void {
    const tok = this.tok;
    // As storage(): noreply counts only where memcached takes the line as this command.
    const noreply = (n === 3 || n === 4) && this.lastIsNoreply(buf, n);
    let reply: Buffer | null = null;
    if (bad || !(n === 3 || (n === 4 && noreply)) || tok[3]! - tok[2]! > MC_KEY_MAX) {
      reply = MC_R_BAD_FORMAT;
    } else if (cmd === MC_TOUCH) {
      if (!mcValidExptime(buf, tok[4]!, tok[5]!)) reply = MC_R_BAD_EXPTIME;
    } else if (!mcValidU64(buf, tok[4]!, tok[5]!)) {
      reply = MC_R_BAD_DELTA;
    }
    if (reply !== null) {
      if (!noreply) this.local(cmd, reply, sink);
      return;
    }
    this.emitKeyed(buf, start, lf, cmd, noreply, buf, tok[2]!, tok[3]!, sink);
  }

  private delete(buf: Buffer, start: number, lf: number, n: number, bad: boolean, sink: RequestSink): void {
    const tok = this.tok;
    const noreply = n <= 4 && this.lastIsNoreply(buf, n);
    let reply: Buffer | null = null;
    if (bad || n < 2) {
      reply = MC_R_BAD_FORMAT;
    } else {
      if (n > 2) {
        // memcached still accepts the legacy hold time when it is exactly `0`.
        const zero = tok[5]! - tok[4]! === 1 && buf[tok[4]!] === CH_0;
        const valid = (n === 3 && (zero || noreply)) || (n === 4 && zero && noreply);
        if (!valid) reply = MC_R_DELETE_USAGE;
      }
      // memcached checks the hold time before the key's length, so `delete <251 bytes> 1` gets
      // the usage text from it, not the plain format error.
      if (reply === null && tok[3]! - tok[2]! > MC_KEY_MAX) reply = MC_R_BAD_FORMAT;
    }
    if (reply !== null) {
      if (!noreply) this.local(MC_DELETE, reply, sink);
      return;
    }
    this.emitKeyed(buf, start, lf, MC_DELETE, noreply, buf, tok[2]!, tok[3]!, sink);
  }

  private unsupported(buf: Buffer, start: number, lf: number, n: number, cmd: number, sink: RequestSink): void {
    const tok = this.tok;
    const reply = mcUnsupportedReply(buf, tok[0]!, tok[1]!);
    if (cmd === MC_META_SET && n >= 3) {
      // `ms <key> <datalen> ...` is followed by a data block: skip it to stay in sync.
      const bytes = mcParseLength(buf, tok[4]!, tok[5]!);
      if (bytes >= 0) {
        this.keep = null;
        this.headerLen = lf + 1 - start;
        this.enterData(bytes);
      }
    }
    const msg = new Msg();
    msg.cmd = cmd;
    msg.reply = reply;
    if (n >= 2 && mcIsNoreply(buf, tok[2 * n - 2]!, tok[2 * n - 1]!)) {
      this.toDead();
      msg.route = ROUTE_QUIT;
    } else {
      msg.route = ROUTE_LOCAL;
    }
    sink.onRequest(msg);
  }

  /** Emit a single-key request made of the line buf[start .. lf]. */
  private emitKeyed(
    buf: Buffer, start: number, lf: number, cmd: number, noreply: boolean,
    keyBuf: Buffer, keyStart: number, keyEnd: number, sink: RequestSink,
  ): void {
    const msg = new Msg();
    msg.cmd = cmd;
    msg.noreply = noreply;
    const data = bytesOf(buf, start, lf + 1);
    msg.data = data;
    if (keyBuf === buf) {
      msg.keyBuf = data;
      msg.keyStart = keyStart - start;
      msg.keyEnd = keyEnd - start;
    } else {
      msg.keyBuf = keyBuf;
      msg.keyStart = keyStart;
      msg.keyEnd = keyEnd;
    }
    sink.onRequest(msg);
  }

  private local(cmd: number, reply: Buffer, sink: RequestSink): void {
    const msg = new Msg();
    msg.cmd = cmd;
    msg.route = ROUTE_LOCAL;
    msg.reply = reply;
    sink.onRequest(msg);
  }

  /** Consume (or skip) data block bytes starting at chunk[pos]. */
  private parseData(chunk: Buffer, pos: number, sink: RequestSink): number {
    const len = chunk.length;
    const take = Math.min(this.remaining, len - pos);
    // Where the CR LF after the data falls, relative to pos (it may be in an earlier or later chunk).
    const crAt = this.remaining - 2;
    if (crAt >= 0 && crAt < take && chunk[pos + crAt] !== CR) this.dataOk = false;
    if (crAt + 1 >= 0 && crAt + 1 < take && chunk[pos + crAt + 1] !== LF) this.dataOk = false;
    this.remaining -= take;
    const end = pos + take;
    if (this.remaining > 0) return end; // feed() saves the piece if the request is kept
    this.state = S_LINE;
    const msg = this.keep;
    if (msg === null) return end;
    this.keep = null;
    if (!this.dataOk) {
      this.pieces = NO_PARTS;
      this.piecesLen = 0;
      if (!msg.noreply) {
        msg.route = ROUTE_LOCAL;
        msg.reply = MC_R_BAD_DATA_CHUNK;
        msg.keyStart = 0;
        msg.keyEnd = 0;
        sink.onRequest(msg);
      }
      return end;
    }
    let data: Buffer;
    if (this.piecesLen === 0) {
      data = bytesOf(chunk, this.segStart, end);
    } else {
      if (end > this.segStart) this.addPiece(chunk.subarray(this.segStart, end));
      // One copy of the whole request, however many chunks it came in.
      data = Buffer.concat(this.pieces, this.piecesLen + end - this.segStart);
      this.pieces = NO_PARTS;
      this.piecesLen = 0;
    }
    msg.data = data;
    msg.keyBuf = data;
    sink.onRequest(msg);
    return end;
  }

  private toDead(): void {
    this.state = S_DEAD;
    this.lineParts = NO_PARTS;
    this.lineLen = 0;
    this.lineKind = -1;
    this.pieces = NO_PARTS;
    this.piecesLen = 0;
    this.keep = null;
  }

  private framingError(reply: Buffer, len: number, sink: RequestSink): number {
    this.toDead();
    sink.onFramingError(reply);
    return len;
  }
}
