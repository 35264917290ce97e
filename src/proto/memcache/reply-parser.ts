/**
 * Incremental memcache ASCII reply parser, one per server connection: frames complete replies.
 * Mirrors twemproxy's nc_memcache.c memcache_parse_rsp.
 *
 * Grammar (every line ends in CR LF; a bare LF is an error):
 *
 *   reply  = status | number | text | values
 *   status = ("STORED" | "NOT_STORED" | "EXISTS" | "NOT_FOUND" | "DELETED" | "TOUCHED"
 *             | "ERROR") *SP CR LF                                     ERROR sets REPLY_ERROR
 *   number = 1*DIGIT *SP CR LF                                         incr/decr (space-padded)
 *   text   = ("CLIENT_ERROR" | "SERVER_ERROR" | "VERSION") [SP *(BYTE - CR)] CR LF
 *                                                                      *_ERROR set REPLY_ERROR
 *   values = *("VALUE" SP key SP flags SP bytes [SP cas] *SP CR LF <bytes of data> CR LF)
 *            "END" CR LF                                               one reply, however many values
 *                                        (the VALUE header's full grammar: value-header.ts)
 *
 * A reply inside one chunk is a subarray of it; one spanning chunks is concatenated once when
 * complete, or, past MAX_GATHERED_REPLY_BYTES, read and dropped and reported as an empty reply
 * with REPLY_TOO_LARGE. Data blocks are skipped by length. Anything else (e.g. `ENDD`, `-1`,
 * `STAT`, `OK`, which answers only commands Walnut does not forward, a line over 8 KiB
 * without LF) is reported once through onReplyFramingError; input is
 * then ignored.
 */
import { EMPTY, REPLY_ERROR, REPLY_TOO_LARGE } from '../message.js';
import { MAX_GATHERED_REPLY_BYTES, type ReplyParser, type ReplySink } from '../codec.js';
import { ValueHeader, readValueHeader, valueDataEnd, valueHeaderBadByte } from './value-header.js';
import { MC_KEY_MAX } from './commands.js';
import { bytesOf } from '../../util/bytes.js';

// Parser states.
const R_START = 0; // expecting the first line of a reply
const R_NEXT = 1; // inside VALUE…END: expecting another VALUE line or END
const R_DATA = 2; // inside a VALUE data block (and its CR LF)
const R_DEAD = 3; // after a framing error

const LF = 10;
const CR = 13;
const SP = 32;
const CH_0 = 48;
const CH_9 = 57;
const CH_UPPER_A = 65;
const CH_UPPER_Z = 90;
const CH_C = 67;
const CH_D = 68;
const CH_E = 69;
const CH_N = 78;
const CH_O = 79;
const CH_S = 83;
const CH_T = 84;
const CH_V = 86;
const CH_R = 82;

/** Longest reply line accepted without its LF (a VALUE header is at most ~320 bytes). */
export const MC_REPLY_LINE_CAP = 8192;

const W_STORED = Buffer.from('STORED', 'latin1');
const W_NOT_STORED = Buffer.from('NOT_STORED', 'latin1');
const W_NOT_FOUND = Buffer.from('NOT_FOUND', 'latin1');
const W_EXISTS = Buffer.from('EXISTS', 'latin1');
const W_DELETED = Buffer.from('DELETED', 'latin1');
const W_TOUCHED = Buffer.from('TOUCHED', 'latin1');
const W_ERROR = Buffer.from('ERROR', 'latin1');
const W_END = Buffer.from('END', 'latin1');
const W_CLIENT_ERROR = Buffer.from('CLIENT_ERROR', 'latin1');
const W_SERVER_ERROR = Buffer.from('SERVER_ERROR', 'latin1');
const W_VERSION = Buffer.from('VERSION', 'latin1');
const W_VALUE = Buffer.from('VALUE', 'latin1');

/** Does buf[start, end) begin with word? */
function startsWith(buf: Buffer, start: number, end: number, word: Uint8Array): boolean {
  const n = word.length;
  if (end - start < n) return false;
  for (let i = 0; i < n; i++) if (buf[start + i] !== word[i]) return false;
  return true;
}

/** Is buf[start, end) the word followed only by spaces (none when spaces is false)? */
function isWord(buf: Buffer, start: number, end: number, word: Uint8Array, spaces: boolean): boolean {
  if (!startsWith(buf, start, end, word)) return false;
  let i = start + word.length;
  if (i === end) return true;
  if (!spaces) return false;
  while (i < end && buf[i] === SP) i++;
  return i === end;
}

/**
 * Is buf[start, end) the word, alone or followed by a space and any text but CR? (buf[end] is
 * the line's CR.) A line ends at its first CR, as in twemproxy's memcache_parse_rsp: a server
 * out of step, half a `VERSION` line cut after its CR and then the next reply, would otherwise
 * pass as one line and shift every later reply onto the wrong request.
 */
function isTextLine(buf: Buffer, start: number, end: number, word: Uint8Array): boolean {
  if (!startsWith(buf, start, end, word)) return false;
  const i = start + word.length;
  return i === end || (buf[i] === SP && buf.indexOf(CR, i) === end);
}

/** Is buf[start, end) digits followed by optional spaces? */
function isNumberLine(buf: Buffer, start: number, end: number): boolean {
  let i = start;
  while (i < end) {
    const c = buf[i]!;
    if (c < CH_0 || c > CH_9) break;
    i++;
  }
  if (i === start) return false;
  while (i < end && buf[i] === SP) i++;
  return i === end;
}

/** Is buf[pos..] `END\r\n`? */
function isEndAt(buf: Buffer, pos: number): boolean {
  return (
    pos + 5 <= buf.length && buf[pos] === CH_E && buf[pos + 1] === CH_N && buf[pos + 2] === CH_D &&
    buf[pos + 3] === CR && buf[pos + 4] === LF
  );
}

/** Is buf[pos..] `STORED\r\n`? */
function isStoredAt(buf: Buffer, pos: number): boolean {
  return (
    pos + 8 <= buf.length && buf[pos + 1] === CH_T && buf[pos + 2] === CH_O && buf[pos + 3] === CH_R &&
    buf[pos + 4] === CH_E && buf[pos + 5] === CH_D && buf[pos + 6] === CR && buf[pos + 7] === LF
  );
}

/**
 * How much of a line's start `badLineStart` judges: a VALUE header with a key of MC_KEY_MAX
 * bytes and its numbers, the longest line start a server writes. The rest of the line is
 * judged when its LF arrives.
 */
export const MC_EARLY_CHECK_BYTES = 6 + MC_KEY_MAX + 64;

/** First words of a reply line that only spaces may follow before the CR. */
const SPACES_ONLY_WORDS: readonly Uint8Array[] = [
  W_STORED, W_NOT_STORED, W_EXISTS, W_NOT_FOUND, W_DELETED, W_TOUCHED, W_ERROR,
];
/** First words that a space and then any text may follow. */
const TEXT_WORDS: readonly Uint8Array[] = [W_VERSION, W_CLIENT_ERROR, W_SERVER_ERROR];

function isWordAt(buf: Buffer, start: number, end: number, word: Uint8Array): boolean {
  return end - start === word.length && startsWith(buf, start, end, word);
}

/**
 * Judge the start of a line, buf[start, end), whose LF may not have arrived (`next`: inside
 * VALUE…END, where only VALUE or END may come). Returns -1 while the line can still be a reply,
 * else where the excerpt for the error ends. Decided at the byte that ends the first word (a
 * space or the CR); after a word that takes only spaces, at the first other byte; in a VALUE
 * header, at the first byte no header can have there (`VALUE a b 1`): twemproxy
 * fails a server's requests there too, where waiting for the LF would leave them waiting for
 * ever when the server sends `BOGUS reply` or `STORED x` and then nothing (without a
 * `timeout:`). The verdict depends only on the bytes up to that one, so it is the same however
 * the line was cut into reads; parseLineAt would refuse every such line anyway.
 */
function badLineStart(buf: Buffer, start: number, end: number, next: boolean): number {
  const crAt = buf.indexOf(CR, start);
  const stop = crAt >= 0 && crAt < end ? crAt : end;
  if (!next) {
    // A number (incr, decr) fails at its first byte that is neither a digit nor a space, as
    // twemproxy's does: `12a` need not wait for a word end that may never come.
    let d = start;
    while (d < stop && buf[d]! >= CH_0 && buf[d]! <= CH_9) d++;
    if (d > start && d < stop && buf[d] !== SP) return d + 1;
  }
  let i = start;
  while (i < stop && buf[i] !== SP) i++;
  if (i === end) return -1; // the first word has not ended yet
  const sepIsSpace = buf[i] === SP;
  const wordBad = sepIsSpace ? i + 1 : i; // the excerpt: the word and its space, not the CR
  if (isWordAt(buf, start, i, W_VALUE)) {
    if (!sepIsSpace) return wordBad;
    const bad = valueHeaderBadByte(buf, start, end);
    return bad < 0 ? -1 : bad + 1;
  }
  if (next) return !sepIsSpace && isWordAt(buf, start, i, W_END) ? -1 : wordBad;
  if (isWordAt(buf, start, i, W_END)) return sepIsSpace ? wordBad : -1;
  for (const word of TEXT_WORDS) if (isWordAt(buf, start, i, word)) return -1;
  let known = i > start;
  for (let j = start; j < i && known; j++) known = buf[j]! >= CH_0 && buf[j]! <= CH_9;
  if (!known) for (const word of SPACES_ONLY_WORDS) if (isWordAt(buf, start, i, word)) known = true;
  if (!known) return wordBad;
  for (let j = i; j < stop; j++) if (buf[j] !== SP) return j + 1;
  return -1;
}

/** Printable excerpt of a bad line for the framing error reason. */
function excerpt(buf: Buffer, start: number, end: number): string {
  return JSON.stringify(buf.toString('latin1', start, Math.min(end, start + 40)));
}

/** See the file comment for the grammar. */
export class MemcacheReplyParser implements ReplyParser {
  private state = R_START;
  /** Pieces of an unfinished line from earlier chunks (they contain no LF). */
  private lineParts: Buffer[] = [];
  private lineLen = 0;
  /** Earlier-chunk pieces of the reply being framed (before segStart). */
  private pieces: Buffer[] = [];
  private piecesLen = 0;
  /**
   * The chunk being parsed (EMPTY between reads, so that the parser keeps no read alive), and
   * where the current reply's bytes not yet in `pieces` start.
   */
  private cur: Buffer = EMPTY;
  private segStart = 0;
  /** Data block length including CR LF, and how much of it is still to come. */
  private remaining = 0;
  /** The VALUE header last read (reused). */
  private readonly header = new ValueHeader();
  /** The reply in progress outgrew maxGathered: the rest is read and dropped. */
  private discarding = false;
  private readonly maxGathered: number;

  /** `maxGathered`: see MAX_GATHERED_REPLY_BYTES (smaller in tests). */
  constructor(maxGathered = MAX_GATHERED_REPLY_BYTES) {
    this.maxGathered = maxGathered;
  }

  get pendingBytes(): number {
    return this.state === R_DEAD ? 0 : this.piecesLen + this.lineLen;
  }

  feed(chunk: Buffer, sink: ReplySink): void {
    const len = chunk.length;
    let pos = 0;
    this.cur = chunk;
    this.segStart = 0;
    while (pos < len) {
      const state = this.state;
      if (state === R_DATA) pos = this.parseData(chunk, pos, sink);
      else if (state === R_DEAD) break;
      else pos = this.parseLine(chunk, pos, sink);
    }
    // A VALUE…END reply continues in the next chunk: keep what this chunk held of it.
    if ((this.state === R_DATA || this.state === R_NEXT) && this.segStart < len) {
      this.keep(this.segStart === 0 ? chunk : chunk.subarray(this.segStart));
    }
    this.cur = EMPTY;
  }

  private parseLine(chunk: Buffer, pos: number, sink: ReplySink): number {
    const len = chunk.length;
    if (this.lineLen === 0) {
      // Every reply line starts with an uppercase letter or a digit; failing early also makes a
      // lone CR or LF an error at once rather than a wait for more input.
      const c = chunk[pos]!;
      if (!((c >= CH_UPPER_A && c <= CH_UPPER_Z) || (c >= CH_0 && c <= CH_9))) {
        return this.framingError(`unexpected reply byte 0x${c.toString(16).padStart(2, '0')}`, len, sink);
      }
      if (c === CH_V || c === CH_E) {
        const next = this.wholeValues(chunk, pos, sink);
        if (next !== pos) return next;
      } else if (c === CH_S && this.state === R_START && isStoredAt(chunk, pos)) {
        // The reply to every set: a Buffer#indexOf call costs more than the whole check.
        this.segStart = pos;
        this.complete(pos + 8, 0, sink);
        return pos + 8;
      }
      const lf = chunk.indexOf(LF, pos);
      if (lf === -1) {
        const bad = badLineStart(chunk, pos, Math.min(len, pos + MC_EARLY_CHECK_BYTES), this.state === R_NEXT);
        if (bad >= 0) return this.badLine(chunk, pos, bad, len, sink);
        if (len - pos > MC_REPLY_LINE_CAP) return this.framingError('reply line too long', len, sink);
        if (this.state === R_NEXT && pos > this.segStart) this.keep(chunk.subarray(this.segStart, pos));
        this.segStart = len;
        this.lineParts.push(pos === 0 ? chunk : chunk.subarray(pos));
        this.lineLen = len - pos;
        return len;
      }
      if (lf - pos > MC_REPLY_LINE_CAP) return this.refuseLine(chunk, pos, lf, 'reply line too long', len, sink);
      if (this.state === R_START) this.segStart = pos;
      return this.parseLineAt(chunk, pos, lf, lf + 1, sink);
    }
    // The line started in an earlier chunk, so pos is 0 here.
    const lf = chunk.indexOf(LF, pos);
    if (lf === -1 && this.lineLen < MC_EARLY_CHECK_BYTES) {
      // Its start has not been judged whole yet: judge it with this chunk's bytes added.
      const head = Buffer.concat([...this.lineParts, chunk], Math.min(this.lineLen + len, MC_EARLY_CHECK_BYTES));
      const bad = badLineStart(head, 0, head.length, this.state === R_NEXT);
      if (bad >= 0) return this.badLine(head, 0, bad, len, sink);
    }
    if (lf === -1) {
      this.lineLen += len;
      if (this.lineLen > MC_REPLY_LINE_CAP) return this.framingError('reply line too long', len, sink);
      this.lineParts.push(chunk);
      this.segStart = len;
      return len;
    }
    const lineLength = this.lineLen + lf;
    this.lineParts.push(chunk.subarray(0, lf + 1));
    const line = Buffer.concat(this.lineParts, lineLength + 1);
    if (lineLength > MC_REPLY_LINE_CAP) return this.refuseLine(line, 0, lineLength, 'reply line too long', len, sink);
    this.lineParts = [];
    this.lineLen = 0;
    this.keep(line);
    this.segStart = lf + 1;
    return this.parseLineAt(line, 0, lineLength, lf + 1, sink);
  }

  /**
   * Fast path at the start of a line: the VALUE blocks lying wholly in this chunk, then the END
   * closing them if it is there too, in one loop. Returns where it stopped (pos when it took
   * nothing); the line-by-line path goes on from there.
   */
  private wholeValues(chunk: Buffer, pos: number, sink: ReplySink): number {
    const start = pos;
    const h = this.header;
    for (;;) {
      const dataStart = readValueHeader(chunk, pos, h);
      // A header line longer than the line path takes is left to it (to fail), so that where
      // the chunks were cut cannot decide whether a reply is framed.
      if (dataStart < 0 || dataStart - pos > MC_REPLY_LINE_CAP + 1) break;
      const end = valueDataEnd(chunk, dataStart, h.bytes);
      if (end < 0) break;
      pos = end;
    }
    if (pos > start && this.state === R_START) {
      this.segStart = start;
      this.state = R_NEXT;
    }
    if (isEndAt(chunk, pos)) {
      if (this.state === R_START) this.segStart = pos;
      this.complete(pos + 5, 0, sink);
      return pos + 5;
    }
    return pos;
  }

  /**
   * Handle the complete line buf[start .. lf]; `after` is the chunk position after its LF.
   * Returns the chunk position to continue from.
   */
  private parseLineAt(buf: Buffer, start: number, lf: number, after: number, sink: ReplySink): number {
    if (lf === start || buf[lf - 1] !== CR) {
      return this.refuseLine(buf, start, lf, `reply line not terminated by CR LF: ${excerpt(buf, start, lf)}`, after, sink);
    }
    const end = lf - 1;
    const c = buf[start]!;
    if (this.state === R_NEXT) {
      if (c === CH_V && this.valueHeader(buf, start)) return after;
      if (isWord(buf, start, end, W_END, false)) {
        this.complete(after, 0, sink);
        return after;
      }
      return this.refuseLine(buf, start, lf, `expected VALUE or END, got ${excerpt(buf, start, end)}`, after, sink);
    }
    let flags = -1;
    switch (c) {
      case CH_V:
        if (this.valueHeader(buf, start)) return after;
        if (isTextLine(buf, start, end, W_VERSION)) flags = 0;
        break;
      case CH_E:
        if (isWord(buf, start, end, W_END, false) || isWord(buf, start, end, W_EXISTS, true)) flags = 0;
        else if (isWord(buf, start, end, W_ERROR, true)) flags = REPLY_ERROR;
        break;
      case CH_S:
        if (isWord(buf, start, end, W_STORED, true)) flags = 0;
        else if (isTextLine(buf, start, end, W_SERVER_ERROR)) flags = REPLY_ERROR;
        break;
      case CH_N:
        if (isWord(buf, start, end, W_NOT_FOUND, true) || isWord(buf, start, end, W_NOT_STORED, true)) flags = 0;
        break;
      case CH_D:
        if (isWord(buf, start, end, W_DELETED, true)) flags = 0;
        break;
      case CH_T:
        if (isWord(buf, start, end, W_TOUCHED, true)) flags = 0;
        break;
      case CH_C:
        if (isTextLine(buf, start, end, W_CLIENT_ERROR)) flags = REPLY_ERROR;
        break;
      default:
        if (isNumberLine(buf, start, end)) flags = 0;
    }
    if (flags < 0) return this.refuseLine(buf, start, lf, `unexpected reply line ${excerpt(buf, start, end)}`, after, sink);
    this.complete(after, flags, sink);
    return after;
  }

  /**
   * If the line at buf[start] (which ends in CR LF) is a well-formed VALUE line, enter its data
   * block and return true. Returns false (state unchanged) otherwise.
   */
  private valueHeader(buf: Buffer, start: number): boolean {
    const h = this.header;
    if (readValueHeader(buf, start, h) < 0) return false;
    this.remaining = h.bytes + 2;
    this.state = R_DATA;
    return true;
  }

  private parseData(chunk: Buffer, pos: number, sink: ReplySink): number {
    const len = chunk.length;
    const take = Math.min(this.remaining, len - pos);
    const crAt = this.remaining - 2; // where the CR after the data falls, relative to pos
    if (
      (crAt >= 0 && crAt < take && chunk[pos + crAt] !== CR) ||
      (crAt + 1 >= 0 && crAt + 1 < take && chunk[pos + crAt + 1] !== LF)
    ) {
      return this.framingError('VALUE data block not terminated by CR LF', len, sink);
    }
    this.remaining -= take;
    if (this.remaining === 0) this.state = R_NEXT;
    return pos + take;
  }

  /** Part of the reply in progress, from an earlier chunk: kept, unless it outgrew maxGathered. */
  private keep(part: Buffer): void {
    if (this.discarding) return;
    this.pieces.push(part);
    this.piecesLen += part.length;
    if (this.piecesLen > this.maxGathered) {
      this.discarding = true;
      this.pieces = [];
      this.piecesLen = 0;
    }
  }

  /** The reply ends just before chunk position `end`. */
  private complete(end: number, flags: number, sink: ReplySink): void {
    if (this.discarding) {
      this.discarding = false;
      this.segStart = end;
      this.state = R_START;
      sink.onReply(EMPTY, REPLY_TOO_LARGE);
      return;
    }
    let reply: Buffer;
    if (this.piecesLen === 0) {
      reply = bytesOf(this.cur, this.segStart, end);
    } else {
      if (end > this.segStart) {
        this.pieces.push(this.cur.subarray(this.segStart, end));
        this.piecesLen += end - this.segStart;
      }
      reply = this.pieces.length === 1 ? this.pieces[0]! : Buffer.concat(this.pieces, this.piecesLen);
      this.pieces = [];
      this.piecesLen = 0;
    }
    this.segStart = end;
    this.state = R_START;
    sink.onReply(reply, flags);
  }

  /**
   * Refuse the whole line buf[start, lf) (LF not included) for `reason`, unless its start alone
   * refuses it (badLineStart): then for that, as when the line arrives in pieces and its start
   * is refused before its LF, so that where the reads were cut does not change the wording.
   * (Judged only here, for a line refused anyway: good lines are not scanned twice.)
   */
  private refuseLine(buf: Buffer, start: number, lf: number, reason: string, len: number, sink: ReplySink): number {
    const bad = badLineStart(buf, start, Math.min(lf, start + MC_EARLY_CHECK_BYTES), this.state === R_NEXT);
    if (bad >= 0) return this.badLine(buf, start, bad, len, sink);
    return this.framingError(reason, len, sink);
  }

  /** A line whose start cannot begin a reply (badLineStart): excerpt buf[start, bad). */
  private badLine(buf: Buffer, start: number, bad: number, len: number, sink: ReplySink): number {
    const what = excerpt(buf, start, bad);
    return this.framingError(this.state === R_NEXT ? `expected VALUE or END, got ${what}` : `unexpected reply line ${what}`, len, sink);
  }

  private framingError(reason: string, len: number, sink: ReplySink): number {
    this.state = R_DEAD;
    this.discarding = false;
    this.lineParts = [];
    this.lineLen = 0;
    this.pieces = [];
    this.piecesLen = 0;
    sink.onReplyFramingError(`memcache: ${reason}`);
    return len;
  }
}
