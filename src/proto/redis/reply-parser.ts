/**
 * Incremental redis reply parser, one per server connection: frames complete replies out of
 * the server's byte stream. Mirrors twemproxy's nc_redis.c redis_parse_rsp.
 *
 * Accepted: `+line`, `-line`, `:line`, `$n` / `$-1`, `*n` / `*-1`, arrays nested to any depth
 * (an explicit stack of remaining element counts, no recursion). Lines must end in CR LF; bulk
 * payloads are skipped by length and must be followed by CR LF. A reply lying in one chunk is a
 * subarray of it; one spanning chunks is kept as pieces and concatenated once when complete,
 * or, from STREAM_MIN_BYTES on and if the sink agrees, passed on piece by piece. One that is
 * neither streamed nor smaller than MAX_GATHERED_REPLY_BYTES is read and dropped, and reported
 * as an empty reply with REPLY_TOO_LARGE.
 *
 * Flags: REPLY_ERROR for a top-level `-` reply, plus REPLY_TRANSIENT when its first word is
 * exactly OOM, BUSY or LOADING (twemproxy's "transient server failures"; BUSYKEY is not one).
 * Anything else (RESP3 types, bad lengths, missing CR LF, a CR inside a line, a top-level
 * integer holding a byte other than digits and `-`) is reported once through
 * sink.onReplyFramingError, and all later input is ignored.
 */
import { MAX_GATHERED_REPLY_BYTES, STREAM_MIN_BYTES, type ReplyParser, type ReplySink } from '../codec.js';
import { EMPTY, REPLY_ERROR, REPLY_TOO_LARGE, REPLY_TRANSIENT } from '../message.js';
import { bulkSpan, wholeBulk } from './bulk-scan.js';
import { bytesOf } from '../../util/bytes.js';

// Parser states.
const S_TYPE = 0; // the type byte of the next reply or element
const S_LINE = 1; // a +, - or : line, up to its LF
const S_LEN = 2; // digits of $n or *n
const S_LEN_LF = 3; // LF after the length's CR
const S_DATA = 4; // skipping a bulk payload
const S_DATA_CR = 5;
const S_DATA_LF = 6;
const S_DEAD = 7;

const LF = 10;
const CR = 13;
const SP = 32;
const PLUS = 43;
const MINUS = 45;
const COLON = 58;
const DOLLAR = 36;
const STAR = 42;
const CH_0 = 48;
const CH_9 = 57;

/** Longest bulk reply and largest array accepted from a server. */
export const MAX_REPLY_LEN = 0x7fffffff;

const W_OOM = Buffer.from('OOM', 'latin1');
const W_BUSY = Buffer.from('BUSY', 'latin1');
const W_LOADING = Buffer.from('LOADING', 'latin1');

/** Whether the error reply in `data` (starting with `-`) names a transient server failure. */
function isTransient(data: Buffer): boolean {
  let end = 1;
  const n = data.length;
  while (end < n && data[end] !== SP && data[end] !== CR) end++;
  const len = end - 1;
  const word = len === 3 ? W_OOM : len === 4 ? W_BUSY : len === 7 ? W_LOADING : null;
  return word !== null && word.compare(data, 1, end) === 0;
}

export class RedisReplyParser implements ReplyParser {
  private state = S_TYPE;
  /** Type byte of the length being read ($ or *). */
  private lenType = 0;
  private num = 0;
  private digits = 0;
  private negative = false;
  private remaining = 0;
  /** The previous byte was CR (a line's CR may end one chunk and its LF start the next). */
  private prevCR = false;
  /** The line being read is a top-level integer reply (`:` outside an array). */
  private integerLine = false;
  /** Elements still expected by each open array, innermost last. */
  private stack: number[] = [];
  private depth = 0;
  private readonly pieces: Buffer[] = [];
  private piecesLen = 0;
  /** The sink was asked whether to stream the reply in progress (asked once per reply). */
  private streamAsked = false;
  /** The reply in progress goes to the sink piece by piece (see ReplySink.streamReply). */
  private streaming = false;
  /** The reply in progress outgrew maxGathered: the rest is read and dropped. */
  private discarding = false;
  private readonly maxGathered: number;

  /** `maxGathered`: see MAX_GATHERED_REPLY_BYTES (smaller in tests). */
  constructor(maxGathered = MAX_GATHERED_REPLY_BYTES) {
    this.maxGathered = maxGathered;
  }

  get pendingBytes(): number {
    return this.piecesLen;
  }

  feed(chunk: Buffer, sink: ReplySink): void {
    const len = chunk.length;
    if (this.state === S_DEAD || len === 0) return;
    let state = this.state;
    let pos = 0;
    // Where the reply in progress starts in this chunk (0 when it began in an earlier one).
    let replyStart = 0;
    // Whether a reply is in progress at the end of the chunk.
    let open = this.piecesLen > 0 || state !== S_TYPE || this.depth > 0;

    while (pos < len) {
      switch (state) {
        case S_TYPE: {
          if (!open) {
            replyStart = pos;
            open = true;
          }
          const b = chunk[pos]!;
          if (b === DOLLAR) {
            // Fast path: a bulk wholly inside this chunk (GET replies, LRANGE / MGET elements).
            if (wholeBulk(chunk, pos, MAX_REPLY_LEN)) {
              pos = bulkSpan.end + 2;
              const d = this.depth;
              if (d > 0) {
                // More bulks of the same array in this chunk (LRANGE, MGET): take them in one
                // loop, never past the array's last element; elementDone counts the first.
                const stack = this.stack;
                let left = stack[d - 1]! - 1;
                while (left > 0 && pos < len && chunk[pos] === DOLLAR && wholeBulk(chunk, pos, MAX_REPLY_LEN)) {
                  pos = bulkSpan.end + 2;
                  left--;
                }
                stack[d - 1] = left + 1;
              }
              if (this.elementDone()) {
                open = false;
                this.emit(chunk, replyStart, pos, sink);
              }
              break;
            }
          }
          pos++;
          if (b === PLUS || b === MINUS || b === COLON) {
            state = S_LINE;
            this.prevCR = false;
            this.integerLine = b === COLON && this.depth === 0;
          } else if (b === DOLLAR || b === STAR) {
            state = S_LEN;
            this.lenType = b;
            this.num = 0;
            this.digits = 0;
            this.negative = false;
          } else {
            return this.fail(`unexpected reply type byte ${b}`, sink);
          }
          break;
        }

        case S_LINE: {
          // twemproxy's rule (redis_parse_rsp): a line ends at its first CR, which must be
          // followed by LF, and a top-level integer holds only digits and '-'. A server out of
          // step (half a reply, then the next one) shows this way: ':1' + '+OK\r\n' taken as
          // one line would hand the client a made-up reply and every later reply to the wrong
          // request (each one off by one), where failing the connection fails them all. (An LF
          // before the CR fails too, where twemproxy reads on: README.)
          if (this.prevCR) {
            // The CR that ended the last chunk: the line's end only if an LF follows.
            if (chunk[pos] !== LF) return this.fail('reply line holds a CR not followed by LF', sink);
            pos++;
          } else {
            // A loop, not indexOf: reply lines are short (`+OK`, `:12`), and a search is a call
            // into C++ that costs more than looking at a few bytes.
            let i = pos;
            if (this.integerLine) {
              while (i < len) {
                const d = chunk[i]!;
                if ((d < CH_0 || d > CH_9) && d !== MINUS) break;
                i++;
              }
            } else {
              while (i < len) {
                const d = chunk[i]!;
                if (d === CR || d === LF) break;
                i++;
              }
            }
            if (i === len) {
              // The line goes on in the next chunk.
              pos = len;
              break;
            }
            if (chunk[i] !== CR) {
              if (chunk[i] === LF) return this.fail('reply line not terminated by CRLF', sink);
              return this.fail('integer reply holds a byte other than digits and -', sink);
            }
            if (i + 1 === len) {
              this.prevCR = true;
              pos = len;
              break;
            }
            if (chunk[i + 1] !== LF) return this.fail('reply line holds a CR not followed by LF', sink);
            pos = i + 2;
          }
          this.prevCR = false;
          state = S_TYPE;
          if (this.elementDone()) {
            open = false;
            this.emit(chunk, replyStart, pos, sink);
          }
          break;
        }

        case S_LEN: {
          const b = chunk[pos++]!;
          if (b >= CH_0 && b <= CH_9) {
            this.num = this.num * 10 + (b - CH_0);
            this.digits++;
            if (this.num > MAX_REPLY_LEN) return this.fail('reply length too large', sink);
          } else if (b === CR && this.digits > 0) {
            if (this.negative && this.num !== 1) return this.fail('bad negative reply length', sink);
            state = S_LEN_LF;
          } else if (b === MINUS && this.digits === 0 && !this.negative) {
            this.negative = true;
          } else {
            return this.fail('bad reply length', sink);
          }
          break;
        }

        case S_LEN_LF: {
          if (chunk[pos++] !== LF) return this.fail('reply length not terminated by CRLF', sink);
          const n = this.num;
          if (this.lenType === DOLLAR && !this.negative) {
            this.remaining = n;
            state = n === 0 ? S_DATA_CR : S_DATA;
            break;
          }
          state = S_TYPE;
          if (this.lenType === STAR && !this.negative && n > 0) {
            if (this.depth === this.stack.length) this.stack.push(n);
            else this.stack[this.depth] = n;
            this.depth++;
            break;
          }
          // $-1, *-1 and *0 are complete elements by themselves.
          if (this.elementDone()) {
            open = false;
            this.emit(chunk, replyStart, pos, sink);
          }
          break;
        }

        case S_DATA: {
          const avail = len - pos;
          if (avail >= this.remaining) {
            pos += this.remaining;
            this.remaining = 0;
            state = S_DATA_CR;
          } else {
            pos = len;
            this.remaining -= avail;
          }
          break;
        }

        case S_DATA_CR: {
          if (chunk[pos++] !== CR) return this.fail('bulk reply not followed by CRLF', sink);
          state = S_DATA_LF;
          break;
        }

        case S_DATA_LF: {
          if (chunk[pos++] !== LF) return this.fail('bulk reply not followed by CRLF', sink);
          state = S_TYPE;
          if (this.elementDone()) {
            open = false;
            this.emit(chunk, replyStart, pos, sink);
          }
          break;
        }
      }
    }

    this.state = state;
    if (open) this.keepPiece(replyStart === 0 ? chunk : chunk.subarray(replyStart), sink);
  }

  /** The part of an unfinished reply in this chunk: kept, or passed on when streaming. */
  private keepPiece(piece: Buffer, sink: ReplySink): void {
    if (this.streaming) {
      sink.onReplyPiece(piece);
      return;
    }
    if (this.discarding) return;
    const pieces = this.pieces;
    pieces.push(piece);
    this.piecesLen += piece.length;
    if (!this.streamAsked && this.piecesLen >= STREAM_MIN_BYTES) {
      this.streamAsked = true;
      const head = pieces[0]!;
      if (head[0] !== MINUS && sink.streamReply(head)) {
        this.streaming = true;
        for (const p of pieces) sink.onReplyPiece(p);
        pieces.length = 0;
        this.piecesLen = 0;
        return;
      }
    }
    if (this.piecesLen > this.maxGathered) {
      this.discarding = true;
      pieces.length = 0;
      this.piecesLen = 0;
    }
  }

  /** One element finished: close the arrays it completes. True when the whole reply is done. */
  private elementDone(): boolean {
    const stack = this.stack;
    let d = this.depth;
    while (d > 0) {
      const left = stack[d - 1]! - 1;
      if (left > 0) {
        stack[d - 1] = left;
        this.depth = d;
        return false;
      }
      d--;
    }
    this.depth = 0;
    return true;
  }

  private emit(chunk: Buffer, replyStart: number, end: number, sink: ReplySink): void {
    this.streamAsked = false;
    if (this.streaming) {
      // The reply began in an earlier chunk and went out piece by piece: this is its end.
      this.streaming = false;
      sink.onReply(bytesOf(chunk, 0, end), 0);
      return;
    }
    if (this.discarding) {
      this.discarding = false;
      sink.onReply(EMPTY, REPLY_TOO_LARGE);
      return;
    }
    let data: Buffer;
    if (this.piecesLen === 0) {
      data = bytesOf(chunk, replyStart, end);
    } else {
      const pieces = this.pieces;
      pieces.push(chunk.subarray(0, end));
      data = Buffer.concat(pieces, this.piecesLen + end);
      pieces.length = 0;
      this.piecesLen = 0;
    }
    let flags = 0;
    if (data[0] === MINUS) flags = isTransient(data) ? REPLY_ERROR | REPLY_TRANSIENT : REPLY_ERROR;
    sink.onReply(data, flags);
  }

  private fail(reason: string, sink: ReplySink): void {
    this.state = S_DEAD;
    this.pieces.length = 0;
    this.piecesLen = 0;
    this.streaming = false;
    this.discarding = false;
    this.depth = 0;
    sink.onReplyFramingError(reason);
  }
}
