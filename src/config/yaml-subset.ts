/**
 * twemproxy's YAML subset: one document, a whitelist of tokens, and the pool -> key -> value shape
 * (nc_conf.c conf_pre_validate: conf_validate_document, _tokens and _structure). Turns the text
 * into raw pools with positions; interpreting the values is validate.ts's job.
 */
import {
  CST,
  Composer,
  Lexer,
  Parser,
  isMap,
  isScalar,
  isSeq,
  type Document,
  type Node as YamlNode,
} from 'yaml';
import { ConfigError, quote } from './config-error.js';

/** A scalar as written, with the offset and 1-based line of its first character. */
export interface RawScalar {
  readonly value: string;
  readonly offset: number;
  readonly line: number;
}

/** One `key: value` of a pool; a block sequence value gives several values (isList). */
export interface RawEntry {
  readonly key: RawScalar;
  readonly values: readonly RawScalar[];
  readonly isList: boolean;
}

/** One top-level `name:` mapping, entries in file order. */
export interface RawPool {
  readonly name: RawScalar;
  readonly entries: readonly RawEntry[];
}

/** Maps offsets to 1-based lines (CR LF, CR and LF all end a line, as in libyaml). */
export class LineMap {
  private readonly starts: number[] = [0];

  constructor(text: string) {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 0x0a || (c === 0x0d && text.charCodeAt(i + 1) !== 0x0a)) this.starts.push(i + 1);
    }
  }

  line(offset: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.starts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  }

  /** Offset where a 1-based line starts (the text's length past the last line). */
  start(line: number, textLength: number): number {
    return this.starts[line - 1] ?? textLength;
  }
}

/** A 1-based line and column (counted in characters) of the file as written. */
export interface TextPosition {
  readonly line: number;
  readonly column: number;
}

/** Where text[offset] is, line breaks counted as readPools counts them. */
export function positionOf(text: string, offset: number): TextPosition {
  const written = libyamlBreaks(text);
  return positionIn(written, new LineMap(written), offset);
}

/** The pool and key whose lines hold text[offset], as readPools reads the text. */
export function contextOf(text: string, offset: number): LineContext {
  const written = libyamlBreaks(text);
  const src = padQuotedContinuations(written);
  return contextAt(src, paddedOffset(written, src, offset));
}

/** libyaml (YAML 1.1) treats a lone CR, NEL, LS and PS as line breaks; the yaml package does not. */
function libyamlBreaks(text: string): string {
  return text.replace(/\r(?!\n)|[\u0085\u2028\u2029]/g, '\n');
}

function positionIn(text: string, lines: LineMap, offset: number): TextPosition {
  const line = lines.line(offset);
  let column = 1;
  for (let i = lines.start(line, text.length); i < offset; i++) {
    const c = text.charCodeAt(i);
    if (c < 0xdc00 || c > 0xdfff) column++;
  }
  return { line, column };
}

/**
 * Offsets in the text as written (line breaks made LF) and in padQuotedContinuations's result
 * differ by the spaces that padding put at the start of lines; lines stay where they were.
 */
function paddedOffset(written: string, padded: string, offset: number): number {
  const writtenLines = new LineMap(written);
  const line = writtenLines.line(offset);
  const paddedLines = new LineMap(padded);
  const start = paddedLines.start(line, padded.length);
  const shift = lineLength(paddedLines, padded, line) - lineLength(writtenLines, written, line);
  return start + shift + (offset - writtenLines.start(line, written.length));
}

/** The inverse of paddedOffset; an offset inside added spaces gives the line's first character. */
function writtenOffset(written: string, padded: string, offset: number): number {
  const paddedLines = new LineMap(padded);
  const line = paddedLines.line(offset);
  const writtenLines = new LineMap(written);
  const shift = lineLength(paddedLines, padded, line) - lineLength(writtenLines, written, line);
  return writtenLines.start(line, written.length) + Math.max(0, offset - paddedLines.start(line, padded.length) - shift);
}

function lineLength(lines: LineMap, text: string, line: number): number {
  return lines.start(line + 1, text.length) - lines.start(line, text.length);
}

/** A libyaml-level failure: err is libyaml's error class (2 reader, 3 scanner, 4 parser, 5 composer). */
interface SyntaxProblem {
  readonly offset: number;
  readonly err: number;
  readonly detail: string;
}

/** A token libyaml scans but twemproxy refuses (conf_validate_tokens). */
interface TokenProblem {
  readonly offset: number;
  readonly id: number;
  readonly kind: string;
  readonly detail: string;
}

/**
 * Check the text against twemproxy's YAML subset and return its pools in file order.
 * Throws ConfigError with twemproxy's pre-validation message on the first failure.
 */
export function readPools(text: string, file: string): RawPool[] {
  const written = libyamlBreaks(text);
  const src = padQuotedContinuations(written);
  const lines = new LineMap(src);
  const fail = (
    offset: number | null, detail: string, twemproxyText: string | null, pool?: string | null, key?: string | null,
  ): never => {
    throw new ConfigError({
      file,
      line: offset === null ? null : lines.line(offset),
      pool: pool ?? null,
      key: key ?? null,
      detail,
      twemproxyText,
    });
  };

  // libyaml also breaks lines at LS and PS but, unlike at the others, keeps the character in a
  // quoted or folded value ("p<LS>w" is a password with an LS in it), which the yaml package
  // cannot be made to do: such a file is refused rather than read with another value.
  const separator = text.search(/[\u2028\u2029]/);
  if (separator >= 0) {
    const name = text.charCodeAt(separator) === 0x2028 ? 'line separator U+2028' : 'paragraph separator U+2029';
    fail(
      separator,
      `a ${name} is not allowed: libyaml, which twemproxy uses, reads it as a line break but keeps it inside a value, and Walnut does not read such files; remove it, or write it as "\\u${text.charCodeAt(separator).toString(16)}" inside double quotes`,
      null,
    );
  }

  const cst = Array.from(new Parser().parse(src));
  const compose = (): Document.Parsed[] =>
    Array.from(new Composer({ schema: 'failsafe', uniqueKeys: false, prettyErrors: false }).compose(cst, true, src.length));
  let docs = compose();
  // The composer recurses and gives up on very deep nesting, which libyaml reads fine and
  // conf_validate_structure then rejects near the top; only the top levels matter for that.
  if (docs.some((d) => d.errors.some((e) => e.message.includes('call stack')))) {
    pruneDeepCollections(cst);
    docs = compose();
  }

  // 1. conf_validate_document: any syntax error, then exactly one document.
  const lexical = scanTokens(src);
  const own = earliest([...characterProblems(src), ...lexical.syntax, ...scalarTabProblems(src, cst)]);
  const parsed: SyntaxProblem[] = [];
  for (const doc of docs) {
    for (const error of doc.errors) {
      const message = firstLine(error.message);
      if (isTightComment(error.code, message)) continue;
      const hint = SYNTAX_HINTS.find(([re]) => re.test(message))?.[1] ?? '';
      const offset = MISINDENTED.has(error.code) ? pastBlankLines(src, error.pos[0]) : error.pos[0];
      parsed.push({ offset, err: PARSER_ERROR.test(message) ? 4 : 3, detail: message + hint });
    }
  }
  const reported = earliest(parsed);
  // The yaml package often reports a problem at the start of the enclosing entry, a line before
  // the character libyaml trips on; our own finding is the more precise one then.
  const first =
    own !== null && (reported === null || lines.line(own.offset) <= lines.line(reported.offset) + 1)
      ? own
      : reported;
  if (first !== null) {
    const quoted = quoteProblem(src, written, first);
    const offset = quoted?.offset ?? first.offset;
    const at = contextAt(src, offset);
    fail(
      offset,
      `YAML syntax error: ${quoted?.detail ?? first.detail}${bracketHint(src, offset, at.key)}`,
      `conf: failed (err ${first.err}) to get the next yaml document`,
      at.pool,
      at.key,
    );
  }
  // The yaml package makes an empty document of a stray "..."; libyaml only counts documents that
  // have content or start with "---".
  const real = docs.filter((d) => d.directives.docStart === true || !isAbsent(d.contents));
  if (real.length !== 1) {
    const detail =
      real.length === 0
        ? 'the file defines no pools; expected at least one pool, e.g. "alpha:" followed by indented "listen:" and "servers:" lines'
        : `the file holds ${real.length} YAML documents; expected exactly one (remove "---" separators and merge the pools into one mapping)`;
    const second = real[1];
    fail(
      second === undefined ? null : (second.range[0] ?? 0),
      detail,
      `conf: '${file}' must contain only 1 document; found ${real.length} documents`,
    );
  }

  // 2. conf_validate_tokens: the first refused token in file order.
  const token = lexical.token;
  if (token !== null) {
    const at = contextAt(src, token.offset);
    fail(token.offset, token.detail, `conf: ${token.kind} token (${token.id}) is disallowed`, at.pool, at.key);
  }

  // 3. conf_validate_structure over libyaml-like events, then the pools themselves.
  const doc = real[0] as Document.Parsed;
  const events: YamlEvent[] = [];
  emitEvents(doc.contents, 0, events);
  checkStructure(events, file, fail);
  return collectPools(doc.contents, lines, src);
}

/**
 * libyaml looks for a comment before every token, so a "#" right after a closing quote or a
 * block scalar header ("{}"#tag, |-#note) starts one: twemproxy accepts the file. The yaml
 * package wants white space first but reads the same tree; elsewhere a "#" without a space
 * before it is part of a plain value (or, after an anchor or alias, part of its name), so this
 * message arises only where libyaml sees a comment.
 */
function isTightComment(code: string, message: string): boolean {
  return code === 'MISSING_CHAR' && message.startsWith('Comments must be separated from other tokens by white space');
}

/** The yaml package's codes for a line indented unlike the lines of the block it belongs to. */
const MISINDENTED: ReadonlySet<string> = new Set(['BAD_INDENT', 'BLOCK_AS_IMPLICIT_KEY']);

/**
 * For a misindented line the yaml package reports the white space before it, which is the line
 * break of the blank line above it when there is one: the offset of the first character past
 * the white space and line breaks at `offset`, or `offset` itself when only white space follows.
 */
function pastBlankLines(src: string, offset: number): number {
  const next = /[^ \t\r\n]/g;
  next.lastIndex = offset;
  const found = next.exec(src);
  return found === null ? offset : found.index;
}

function earliest(problems: readonly SyntaxProblem[]): SyntaxProblem | null {
  let first: SyntaxProblem | null = null;
  for (const p of problems) if (first === null || p.offset < first.offset) first = p;
  return first;
}

// ---------------------------------------------------------------------------------------------
// Quoted scalars over several lines

/**
 * libyaml accepts continuation lines of a quoted value at any indentation; the yaml package wants
 * them indented more than the enclosing block. Leading white space of those lines is not part of
 * the value, so indenting them to the opening quote's column changes nothing but the yaml
 * package's verdict (and keeps every line where it was).
 *
 * Which quotes open a value only a lexer pass over the padded text can tell, and a value with
 * under-indented lines makes the lexer misread what follows it until it is padded. Re-lexing the
 * whole text after each padding (padByRounds) is exact but quadratic: 2,000 such values took over
 * 10 s. So each padding is followed by a fresh lexer started just after its closing quote
 * (linear), and one pass over the result confirms that a lexer reading the whole padded text finds
 * exactly those quotes; where it does not (a fresh lexer can misjudge what follows, e.g. inside a
 * flow collection), the rounds take over from the last confirmed padding, so the result is always
 * padByRounds's.
 */
export function padQuotedContinuations(src: string): string {
  const paddings = findPaddings(src, MAX_PADDINGS);
  // The first lexer started at 0, so without paddings it read the whole text as one pass would.
  if (paddings.length === 0) return src;
  const text = applyPaddings(src, paddings);
  const confirmed = confirmPaddings(src, text, paddings, MAX_PADDINGS);
  if (confirmed === ALL_CONFIRMED) return text;
  const kept = paddings.slice(0, confirmed);
  const last = kept[kept.length - 1];
  const resume = last === undefined ? 0 : last.close + insertedBy(kept);
  return padByRounds(applyPaddings(src, kept), resume, MAX_PADDINGS - confirmed);
}

/**
 * The round-by-round reference (exact, quadratic): pads the first quoted value at or after `from`
 * that needs it, re-lexes the whole text, and so on, for at most `rounds` values. Exported for the
 * test that compares it with padQuotedContinuations.
 */
export function padByRounds(src: string, from = 0, rounds = MAX_PADDINGS): string {
  let text = src;
  let resume = from;
  for (let round = 0; round < rounds; round++) {
    const next = firstPadding(text, resume);
    if (next === null) return text;
    text = applyPaddings(text, [next]);
    resume = next.start + next.padded.length;
  }
  return text;
}

/** Bounds the work on a hostile file (the rounds used to be capped so; kept for identical results). */
const MAX_PADDINGS = 10000;

/** text[start, close) (a quoted value without its closing quote) is to be replaced by `padded`. */
interface Padding {
  readonly start: number;
  readonly close: number;
  readonly padded: string;
}

/** The first quoted value at or after `from` that needs padding, in one lexer pass over `text`. */
function firstPadding(text: string, from: number): Padding | null {
  for (const { start, quote } of lexTokens(text, 0)) {
    if (!quote || start < from) continue;
    const padding = padQuoted(text, start, columnAt(text, start));
    if (padding !== null) return padding;
  }
  return null;
}

/**
 * The paddings, in file order, found by lexing from the start and, after each padding, with a
 * fresh lexer from just after its closing quote (positions are in `src`).
 */
function findPaddings(src: string, limit: number): Padding[] {
  const found: Padding[] = [];
  let restart = 0;
  let more = true;
  while (more && found.length < limit) {
    more = false;
    const previous = found[found.length - 1];
    for (const { start, quote } of lexTokens(src, restart)) {
      if (!quote) continue;
      let column = columnAt(src, start);
      // On the closing quote's line, the padding of that line's start moved everything right.
      if (previous !== undefined && start - column <= previous.close) column += lastLineShift(src, previous);
      const padding = padQuoted(src, start, column);
      if (padding === null) continue;
      found.push(padding);
      restart = padding.close + 1;
      more = true;
      break;
    }
  }
  return found;
}

/** confirmPaddings's answer when padByRounds would make exactly these paddings. */
const ALL_CONFIRMED = -1;

/**
 * How many of `paddings` (in order) one lexer pass over `text` (src with all of them applied)
 * confirms as the ones padByRounds makes first, or ALL_CONFIRMED when padByRounds makes exactly
 * these.
 */
function confirmPaddings(src: string, text: string, paddings: readonly Padding[], limit: number): number {
  let confirmed = 0;
  let inserted = 0;
  let from = 0;
  for (const { start, quote } of lexTokens(text, 0)) {
    const expected = paddings[confirmed];
    const at = expected === undefined ? -1 : expected.start + inserted;
    // The lexer went past where the next padding starts: it is not a quoted value there.
    if (at >= 0 && start > at) return confirmed;
    if (!quote || start < from) continue;
    // text and padByRounds's text agree up to the next padding, and src from here on.
    const padding = padQuoted(src, start - inserted, columnAt(text, start));
    if (start === at) {
      if (padding === null || padding.close !== expected?.close || padding.padded !== expected.padded) return confirmed;
      confirmed++;
      inserted += padding.padded.length - (padding.close - padding.start);
      from = start + padding.padded.length;
      if (confirmed >= limit) return ALL_CONFIRMED;
    } else if (padding !== null) {
      return confirmed;
    }
  }
  return confirmed === paddings.length ? ALL_CONFIRMED : confirmed;
}

/** Where a lexer token is; `quote` if it opens a quoted value. */
interface LexToken {
  readonly start: number;
  readonly end: number;
  readonly quote: boolean;
}

/**
 * The lexer's tokens of text[origin..] (offsets in `text`). A token opens a quoted value when it
 * starts with a quote and is not the text of a plain or block scalar.
 */
function* lexTokens(text: string, origin: number): Generator<LexToken> {
  let offset = origin;
  let scalarNext = false;
  for (const tok of new Lexer().lex(origin === 0 ? text : text.slice(origin))) {
    if (tok === CST.DOCUMENT || tok === CST.FLOW_END) continue;
    if (tok === CST.SCALAR) {
      scalarNext = true;
      continue;
    }
    const start = offset;
    offset += tok.length;
    const quote = !scalarNext && (tok.charAt(0) === "'" || tok.charAt(0) === '"');
    scalarNext = false;
    if (tok.length > 0) yield { start, end: offset, quote };
  }
}

/** Column of `offset` on its line (CR LF, CR and LF end a line). */
function columnAt(text: string, offset: number): number {
  let i = offset - 1;
  while (i >= 0 && text.charCodeAt(i) !== 0x0a && text.charCodeAt(i) !== 0x0d) i--;
  return offset - i - 1;
}

/** The value opening at text[start] with its continuation lines indented to `column`; null if unclosed or unchanged. */
function padQuoted(text: string, start: number, column: number): Padding | null {
  const close = closingQuote(text, start);
  if (close < 0) return null;
  const body = text.slice(start, close);
  // The line of the closing quote counts too, even with nothing before the quote ("abc<LF>").
  const padded = body.replace(/(\r\n|\r|\n)([ \t]*)(?=[^ \t\r\n]|$)/g, (all, br: string, lead: string, at: number) => {
    // libyaml stops at a document marker in column 0; leave those lines for it to fail on.
    if (lead === '') {
      DOCUMENT_MARKER.lastIndex = at + all.length;
      if (DOCUMENT_MARKER.test(body)) return all;
    }
    return lead.length >= column ? all : br + ' '.repeat(column - lead.length) + lead;
  });
  return padded === body ? null : { start, close, padded };
}

/** "---" or "..." followed by white space or the end (tried at a given offset: sticky). */
const DOCUMENT_MARKER = /(?:---|\.\.\.)(?:[ \t\r\n]|$)/y;

/** Spaces a padding put before the text of its last line (the closing quote's). */
function lastLineShift(src: string, padding: Padding): number {
  return padding.padded.length - lastBreakEnd(padding.padded) - (padding.close - padding.start - lastBreakEnd(src.slice(padding.start, padding.close)));
}

function lastBreakEnd(text: string): number {
  return Math.max(text.lastIndexOf('\n'), text.lastIndexOf('\r')) + 1;
}

function insertedBy(paddings: readonly Padding[]): number {
  let n = 0;
  for (const p of paddings) n += p.padded.length - (p.close - p.start);
  return n;
}

/** src with each padding (in order, not overlapping) applied. */
function applyPaddings(src: string, paddings: readonly Padding[]): string {
  const parts: string[] = [];
  let at = 0;
  for (const p of paddings) {
    parts.push(src.slice(at, p.start), p.padded);
    at = p.close;
  }
  parts.push(src.slice(at));
  return parts.join('');
}

/** Offset of the quote that closes the quoted scalar opening at `start`, or -1. */
function closingQuote(text: string, start: number): number {
  const quote = text.charAt(start);
  for (let i = start + 1; i < text.length; i++) {
    const c = text.charAt(i);
    if (quote === '"' && c === '\\') {
      i++;
    } else if (c === quote) {
      if (quote === "'" && text.charAt(i + 1) === "'") i++;
      else return i;
    }
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------
// Where a position is, for messages about a file that does not parse (so has no tree to ask)

/** The pool (a top-level "name:") and key (an indented "key:") whose lines hold a position. */
export interface LineContext {
  readonly pool: string | null;
  readonly key: string | null;
}

/** The first token of a line, and whether a ":" follows it on that line. */
interface LineHead {
  readonly text: string;
  readonly column: number;
  readonly scalar: boolean;
  colon: boolean | null;
}

/**
 * Reads the lexer's tokens line by line up to the end of the line that holds `offset`. Lines
 * inside a multi-line value have no line break token of their own, so they count as the line
 * the value starts on; comment and blank lines change nothing.
 */
function contextAt(src: string, offset: number): LineContext {
  let pool: string | null = null;
  let key: string | null = null;
  let lineStart = 0;
  let head: LineHead | null = null;
  const endLine = (): void => {
    if (head === null) return;
    // A key is one line; a value running on over the next lines ending in ":" is no key.
    if (head.scalar && head.colon === true && !/[\r\n]/.test(head.text)) {
      const name = keyText(head.text);
      if (head.column === 0) {
        pool = name;
        key = null;
      } else {
        key = name;
      }
    } else if (head.column === 0) {
      pool = null;
      key = null;
    } else if (head.text !== '-' && head.text !== '?' && head.text !== ':') {
      // A list item or explicit entry stays with its key; anything else is no key's line.
      key = null;
    }
    head = null;
  };

  let at = 0;
  let scalarNext = false;
  for (const tok of new Lexer().lex(src)) {
    if (tok === CST.DOCUMENT || tok === CST.FLOW_END) continue;
    if (tok === CST.SCALAR) {
      scalarNext = true;
      continue;
    }
    const start = at;
    at += tok.length;
    const scalar = scalarNext || tok.startsWith('"') || tok.startsWith("'");
    scalarNext = false;
    if (!scalar && (tok === '\n' || tok === '\r\n')) {
      endLine();
      if (start >= offset) return { pool, key };
      lineStart = at;
    } else if (scalar || !/^(?:[ \t]*|#.*|\ufeff)$/.test(tok)) {
      if (head === null) head = { text: tok, column: start - lineStart, scalar, colon: null };
      else if (head.colon === null) head.colon = tok === ':';
    }
  }
  endLine();
  return { pool, key };
}

/** A key as written (plain or quoted) -> its text; a quoted key with a bad escape stays as written. */
function keyText(source: string): string {
  const type = source.startsWith('"') ? 'double-quoted-scalar' : source.startsWith("'") ? 'single-quoted-scalar' : 'scalar';
  try {
    return CST.resolveAsScalar({ type, offset: 0, indent: 0, source }, false, () => undefined).value;
  } catch {
    return source;
  }
}

// ---------------------------------------------------------------------------------------------
// Characters

/** libyaml's reader accepts only YAML's printable set (yaml_parser_update_buffer). */
function characterProblems(text: string): SyntaxProblem[] {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e) continue;
    if (c === 0x09 || c === 0x0a || c === 0x0d || c === 0x85) continue;
    if (c >= 0xa0 && c <= 0xd7ff) continue;
    if (c >= 0xe000 && c <= 0xfffd) continue;
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++;
        continue;
      }
    }
    const name = c === 0 ? 'NUL' : `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
    return [
      {
        offset: i,
        err: 2,
        detail: `control character ${name} is not allowed in the file (write it as an escape such as "\\t" inside double quotes if you need it, or remove it)`,
      },
    ];
  }
  return [];
}

// ---------------------------------------------------------------------------------------------
// Tokens

const TOKEN_KINDS: Readonly<Record<string, readonly [number, string, string]>> = {
  '---': [5, 'document start', 'document start marker "---" is not allowed; remove it (the file must be a single document)'],
  '...': [6, 'document end', 'document end marker "..." is not allowed; remove it'],
  '[': [10, 'flow sequence start', 'flow sequence "[" is not allowed; write the list as "- item" lines (quote values that start with "[")'],
  ']': [11, 'flow sequence end', 'flow sequence end "]" is not allowed; write the list as "- item" lines'],
  '{': [12, 'flow mapping start', 'flow mapping "{" is not allowed; write each "key: value" on its own indented line (quote values that start with "{", e.g. hash_tag: "{}")'],
  '}': [13, 'flow mapping end', 'flow mapping end "}" is not allowed; write each "key: value" on its own indented line'],
  ',': [15, 'flow entry', 'flow entry "," is not allowed; write the list as "- item" lines'],
};

/** libyaml's anchor and alias names (yaml_parser_scan_anchor). */
const ANCHOR_NAME = /^[0-9A-Za-z_-]+(?:[?:,\]}%@`][^]*)?$/;

/**
 * The yaml package's messages for what libyaml reports as a parser error (2 = reader, 3 = scanner,
 * 4 = parser); everything else is a scanner error there. Only the number in twemproxy's message
 * depends on it.
 */
const PARSER_ERROR =
  /^(All (mapping|sequence) items must start at the same column|A block sequence may not be used as an implicit map key|Unexpected (?!double-quoted-scalar|seq-item-ind)|Sequence item without|Flow map in block|Block collections are not allowed)/;

/** What usually causes the yaml package's messages in a nutcracker file. */
const SYNTAX_HINTS: ReadonlyArray<readonly [RegExp, string]> = [
  [/^Nested mappings are not allowed in compact mappings/, '; a value that ends in ":" or contains ": " must be quoted, and each "key: value" needs its own line'],
  [/^Implicit map keys need to be followed by map values/, '; each line must be "key: value" or "- item" (check for a missing ":", a missing space after it, and the indentation)'],
  [/^All (mapping|sequence) items must start at the same column/, '; the keys of a pool (and the "- " lines of a list) must be indented by the same number of spaces'],
  [/^A block sequence may not be used as an implicit map key/, '; check the indentation of the "- " lines'],
  [/^Implicit keys need to be on a single line/, '; check for a missing ":", a missing space after it ("key: value"), or an unclosed quote'],
  [/^Missing closing .?quote/, '; close the quote, and indent continuation lines of a quoted value more than its key'],
];

/**
 * A quoted value without its closing quote runs to the end of the file, where the yaml package
 * reports it (or trips over it earlier, e.g. in a key); the place to look is where it opened. When
 * a quote further down closes it instead, the error comes where the value runs into the lines after
 * it.
 */
function quoteProblem(src: string, written: string, problem: SyntaxProblem): { offset: number; detail: string } | null {
  const lineStart = src.lastIndexOf('\n', problem.offset - 1) + 1;
  let last: LexToken | null = null;
  let spanning: LexToken | null = null;
  for (const token of lexTokens(src, 0)) {
    if (!token.quote) continue;
    last = token;
    if (token.start < lineStart && token.end > lineStart) spanning = token;
  }
  const where = (token: LexToken): string => {
    const { line, column } = positionIn(written, new LineMap(written), writtenOffset(written, src, token.start));
    return `line ${line} column ${column}`;
  };
  // Such a value runs to the end of the file, so it is the last one; a problem after its quote is
  // inside it.
  if (last !== null && last.start <= problem.offset && closingQuote(src, last.start) < 0) {
    const q = src.charAt(last.start);
    const escape = q === '"' ? 'a " inside double quotes is written \\"' : "a ' inside single quotes is written ''";
    return {
      offset: last.start,
      detail: `quoted value opened at ${where(last)} is never closed; expected a closing ${q} at the end of the value (${escape})`,
    };
  }
  if (spanning === null) return null;
  return {
    offset: problem.offset,
    detail: `${problem.detail}; this line is inside the quoted value opened at ${where(spanning)}: is its closing quote missing?`,
  };
}

/**
 * A value that starts with "[" (listen: [::1]:22121) is a flow sequence to YAML, and whatever
 * follows its "]" a syntax error: say so when the failing line has one, with the line's key.
 */
function bracketHint(src: string, offset: number, key: string | null): string {
  const start = src.lastIndexOf('\n', offset - 1) + 1;
  const end = src.indexOf('\n', offset);
  const line = src.slice(start, end < 0 ? src.length : end).replace(/\r$/, '');
  const m = /^[ \t]*(?:(-)|((?:"[^"]*"|'[^']*'|[^\s#"'][^#]*?)[ \t]*)?:)[ \t]+(\[.*)$/.exec(line);
  if (m === null) return '';
  const value = (m[3] ?? '').replace(/[ \t]+#.*$/, '').trimEnd();
  const lead = m[1] === '-' ? '- ' : `${key ?? m[2] ?? ''}: `;
  let hint = `; a value that starts with "[" is read as a YAML list: quote it, e.g. ${lead}${JSON.stringify(value)}`;
  const ipv6 = /^\[([0-9A-Fa-f.]*:[0-9A-Fa-f:.]*)\](:.*)$/.exec(value);
  if (ipv6 !== null) hint += ` (for an IPv6 address, twemproxy wants it without brackets: ${lead}${ipv6[1] ?? ''}${ipv6[2] ?? ''})`;
  return hint;
}

/** Where we are on the current line, for libyaml's rules on tabs. */
const AT_LINE_START = 0;
const AFTER_BLOCK_INDICATOR = 1;
const ELSEWHERE = 2;

/**
 * One pass over the yaml package's lexer tokens: the first token twemproxy refuses, plus the
 * libyaml syntax errors the yaml package accepts (tabs where libyaml wants spaces, unknown or
 * misplaced directives, aliases of undefined anchors).
 */
function scanTokens(src: string): { token: TokenProblem | null; syntax: SyntaxProblem[] } {
  const syntax: SyntaxProblem[] = [];
  let token: TokenProblem | null = null;
  const refuse = (offset: number, id: number, kind: string, detail: string): void => {
    if (token === null) token = { offset, id, kind, detail };
  };
  const anchors = new Set<string>();
  let offset = 0;
  let scalarNext = false;
  let where = AT_LINE_START;
  let directiveAt = -1;

  for (const tok of new Lexer().lex(src)) {
    if (tok === CST.DOCUMENT || tok === CST.FLOW_END) continue;
    if (tok === CST.SCALAR) {
      scalarNext = true;
      continue;
    }
    const start = offset;
    offset += tok.length;
    if (scalarNext) {
      scalarNext = false;
      // libyaml reads "%" in column 0 as a directive even inside a document (a parser error there).
      if (tok.startsWith('%') && (start === 0 || /[\r\n]/.test(src.charAt(start - 1)))) {
        syntax.push({ offset: start, err: 4, detail: 'a line starting with "%" is read as a directive, which is not allowed inside the document; quote the value' });
      }
      where = /[\r\n]$/.test(tok) ? AT_LINE_START : ELSEWHERE;
      if (directiveAt >= 0) directiveAt = misplacedDirective(directiveAt, syntax);
      continue;
    }
    if (tok.length === 0 || /^[\r\n]+$/.test(tok)) {
      where = AT_LINE_START;
      continue;
    }
    const c = tok.charAt(0);
    if (c === '"') badUnicodeEscapes(tok, start, syntax);
    if (c === ' ' || c === '\t') {
      const tab = tok.indexOf('\t');
      if (tab >= 0 && where !== ELSEWHERE) {
        syntax.push({
          offset: start + tab,
          err: 3,
          detail:
            where === AT_LINE_START
              ? 'a tab is used for indentation; YAML indentation must use spaces'
              : 'a tab follows "-", "?" or ":" at the start of an entry; use spaces',
        });
      }
      continue;
    }
    if (c === '#') {
      where = ELSEWHERE;
      continue;
    }
    if (c === '%') {
      checkDirective(tok, start, syntax, refuse);
      if (directiveAt < 0) directiveAt = start;
      where = ELSEWHERE;
      continue;
    }
    if (directiveAt >= 0 && tok !== '---') directiveAt = misplacedDirective(directiveAt, syntax);
    if (tok === '---') directiveAt = -1;

    const kind = TOKEN_KINDS[tok];
    if (kind !== undefined) {
      refuse(start, kind[0], kind[1], kind[2]);
    } else if (c === '*') {
      refuse(start, 18, 'alias', `alias ${quote(tok)} is not allowed; write the value out in full`);
      if (!ANCHOR_NAME.test(tok.slice(1))) {
        syntax.push({ offset: start, err: 3, detail: `alias ${quote(tok)} has an invalid name` });
      } else if (!anchors.has(tok.slice(1))) {
        syntax.push({ offset: start, err: 5, detail: `alias ${quote(tok)} refers to an anchor that is not defined before it` });
      }
    } else if (c === '&') {
      anchors.add(tok.slice(1));
      if (!ANCHOR_NAME.test(tok.slice(1))) {
        syntax.push({ offset: start, err: 3, detail: `anchor ${quote(tok)} has an invalid name` });
      }
      refuse(start, 19, 'anchor', `anchor ${quote(tok)} is not allowed; remove it and repeat the value where needed`);
    } else if (c === '!') {
      refuse(start, 20, 'tag', `tag ${quote(tok)} is not allowed; remove it (values are always read as text)`);
    }
    if (tok === '-' || tok === '?') where = AFTER_BLOCK_INDICATOR;
    else if (tok === ':') where = where === AT_LINE_START ? AFTER_BLOCK_INDICATOR : ELSEWHERE;
    else where = ELSEWHERE;
  }
  return { token, syntax };
}

/**
 * libyaml refuses a `\\u` / `\\U` escape of a surrogate or past U+10FFFF (a scanner error);
 * the yaml package turns a lone surrogate into U+FFFD and joins a pair.
 */
function badUnicodeEscapes(quoted: string, start: number, syntax: SyntaxProblem[]): void {
  for (let i = 1; i < quoted.length - 1; i++) {
    if (quoted.charAt(i) !== '\\') continue;
    const kind = quoted.charAt(i + 1);
    const digits = kind === 'u' ? 4 : kind === 'U' ? 8 : 0;
    const hex = quoted.slice(i + 2, i + 2 + digits);
    if (digits > 0 && /^[0-9A-Fa-f]+$/.test(hex) && hex.length === digits) {
      const code = Number.parseInt(hex, 16);
      if ((code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff) {
        syntax.push({ offset: start + i, err: 3, detail: `the escape "\\${kind}${hex}" is no Unicode character (surrogate halves cannot be written as escapes)` });
        return;
      }
    }
    i++;
  }
}

/** libyaml requires directives to be followed by "---" (parser error otherwise). */
function misplacedDirective(at: number, syntax: SyntaxProblem[]): number {
  syntax.push({ offset: at, err: 4, detail: 'a "%" directive must be followed by a "---" line; remove the directive' });
  return -1;
}

function checkDirective(
  tok: string,
  start: number,
  syntax: SyntaxProblem[],
  refuse: (offset: number, id: number, kind: string, detail: string) => void,
): void {
  const line = tok.replace(/[ \t]+$/, '');
  const name = /^%(\S*)/.exec(line)?.[1] ?? '';
  if (name === 'YAML') {
    const version = /^%YAML[ \t]+([0-9]+)\.[0-9]+$/.exec(line);
    if (version === null) {
      syntax.push({ offset: start, err: 3, detail: `malformed %YAML directive ${quote(line)}` });
    } else if (version[1] !== '1') {
      syntax.push({ offset: start, err: 4, detail: `unsupported YAML version in ${quote(line)}` });
    }
    refuse(start, 3, 'version directive', `"%YAML" directive is not allowed; remove the line`);
  } else if (name === 'TAG') {
    if (!/^%TAG[ \t]+!(?:[0-9A-Za-z-]*!)?[ \t]+\S+$/.test(line)) {
      syntax.push({ offset: start, err: 3, detail: `malformed %TAG directive ${quote(line)}` });
    }
    refuse(start, 4, 'tag directive', `"%TAG" directive is not allowed; remove the line`);
  } else {
    syntax.push({ offset: start, err: 3, detail: `unknown directive ${quote(line)}; lines may not start with "%"` });
  }
}

// ---------------------------------------------------------------------------------------------
// Tabs inside multi-line scalars (libyaml scanner rules the yaml package does not enforce)

function scalarTabProblems(src: string, tokens: readonly CST.Token[]): SyntaxProblem[] {
  const out: SyntaxProblem[] = [];
  // An explicit stack: a hostile file may nest thousands of levels deep.
  const stack: Array<readonly [CST.Token | null | undefined, number]> = tokens.map((t) => [t, -1] as const).reverse();
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const [tok, parentIndent] = next;
    if (tok === null || tok === undefined) continue;
    switch (tok.type) {
      case 'document':
        stack.push([tok.value, -1]);
        break;
      case 'block-map':
        for (const item of tok.items) {
          misplacedIndicators(src, item.start, tok.indent, false, out);
          if (item.sep !== undefined) misplacedIndicators(src, item.sep, tok.indent, true, out);
          if (item.explicitKey === true && item.value !== undefined && !(item.sep ?? []).some((t) => t.type === 'map-value-ind')) {
            out.push({ offset: item.value.offset, err: 4, detail: 'a value follows a "?" key without a ":" line' });
          }
        }
        for (let i = tok.items.length - 1; i >= 0; i--) {
          const item = tok.items[i];
          stack.push([item?.value, tok.indent], [item?.key, tok.indent]);
        }
        break;
      case 'block-seq':
        for (let i = tok.items.length - 1; i >= 0; i--) stack.push([tok.items[i]?.value, tok.indent]);
        break;
      case 'scalar':
        plainScalarTabs(tok.source, tok.offset, parentIndent + 1, out);
        break;
      case 'block-scalar':
        blockScalarTabs(src, tok, parentIndent, out);
        break;
      default:
        break;
    }
  }
  return out;
}

/**
 * libyaml opens a new block mapping wherever a "?" (or a ":" that starts a line) is not in the
 * column of the mapping it should belong to, which then fails to parse; the yaml package attaches
 * such entries to the enclosing mapping instead.
 */
function misplacedIndicators(
  src: string,
  tokens: readonly CST.SourceToken[],
  indent: number,
  valueOnly: boolean,
  out: SyntaxProblem[],
): void {
  for (const t of tokens) {
    if (t.type !== (valueOnly ? 'map-value-ind' : 'explicit-key-ind')) continue;
    // (src has no lone CR left, readPools made them LF: the line starts after the last LF. A
    // search for CR too would scan back to the file's start when it has none, for every ":".)
    const lineStart = src.lastIndexOf('\n', t.offset - 1) + 1;
    const before = src.slice(lineStart, t.offset);
    if (valueOnly && !/^[ ]*$/.test(before)) continue;
    if (t.offset - lineStart !== indent) {
      out.push({ offset: t.offset, err: 4, detail: `${quote(t.source)} is not aligned with the other keys of its mapping` });
    }
  }
}

/** A tab in the leading white space of a continuation line, left of the scalar's indentation. */
function plainScalarTabs(source: string, offset: number, indent: number, out: SyntaxProblem[]): void {
  const re = /\r\n|\r|\n/g;
  let match: RegExpExecArray | null;
  while ((match = re.exec(source)) !== null) {
    const lineStart = match.index + match[0].length;
    for (let i = lineStart; i < source.length; i++) {
      const ch = source.charAt(i);
      if (ch === ' ') continue;
      if (ch === '\t' && i - lineStart < indent) {
        out.push({ offset: offset + i, err: 3, detail: 'a tab is used for indentation in a multi-line value; use spaces' });
        return;
      }
      break;
    }
  }
}

/** libyaml's yaml_parser_scan_block_scalar_breaks: no tab where an indentation space is expected. */
function blockScalarTabs(src: string, tok: CST.BlockScalar, parentIndent: number, out: SyntaxProblem[]): void {
  let header: CST.SourceToken | undefined;
  for (const p of tok.props) if (p.type === 'block-scalar-header') header = p as CST.SourceToken;
  if (header === undefined) return;
  const explicit = /[1-9]/.exec(header.source);
  let indent = explicit === null ? 0 : (parentIndent >= 0 ? parentIndent : 0) + Number(explicit[0]);
  const nl = /\r\n|\r|\n/.exec(src.slice(header.offset));
  if (nl === null) return;
  let pos = header.offset + nl.index + nl[0].length;
  let maxIndent = 0;
  for (const line of tok.source.split(/(?<=\r\n|\r(?!\n)|\n)/)) {
    let col = 0;
    while (col < line.length && line.charAt(col) === ' ' && (indent === 0 || col < indent)) col++;
    if (col > maxIndent) maxIndent = col;
    if ((indent === 0 || col < indent) && line.charAt(col) === '\t') {
      out.push({ offset: pos + col, err: 3, detail: 'a tab is used where block text indentation (spaces) is expected' });
      return;
    }
    if (indent === 0 && !/^[\r\n]*$/.test(line.slice(col))) {
      indent = Math.max(maxIndent, parentIndent + 1, 1);
    }
    pos += line.length;
  }
}

// ---------------------------------------------------------------------------------------------
// Structure

const MAP_START = 0;
const MAP_END = 1;
const SEQ_START = 2;
const SEQ_END = 3;
const SCALAR = 4;

interface YamlEvent {
  readonly type: number;
  readonly offset: number;
  readonly value: string;
}

/**
 * Deeper than this (file mapping, pool mapping, servers list, then one more) checkStructure has
 * always failed at the collection's start event, so what is inside is never looked at.
 */
const EVENT_LEVELS = 4;

/** Empties every collection nested deeper than EVENT_LEVELS, without recursion. */
function pruneDeepCollections(tokens: readonly CST.Token[]): void {
  const stack: Array<readonly [CST.Token | null | undefined, number]> = tokens.map((t) => [t, 0] as const);
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const [tok, level] = next;
    if (tok === null || tok === undefined) continue;
    if (tok.type === 'document') {
      stack.push([tok.value, 1]);
    } else if (tok.type === 'block-map' || tok.type === 'block-seq' || tok.type === 'flow-collection') {
      if (level >= EVENT_LEVELS) {
        tok.items.splice(0);
      } else {
        for (const item of tok.items) stack.push([item.key, level + 1], [item.value, level + 1]);
      }
    }
  }
}

/** The libyaml event stream for a node; an absent node is an empty plain scalar, as in libyaml. */
function emitEvents(node: unknown, fallbackOffset: number, out: YamlEvent[], level = 1): void {
  if (isScalar(node)) {
    out.push({ type: SCALAR, offset: rangeStart(node, fallbackOffset), value: scalarText(node.value) });
  } else if (isMap(node)) {
    const start = rangeStart(node, fallbackOffset);
    out.push({ type: MAP_START, offset: start, value: '' });
    if (level >= EVENT_LEVELS) return;
    for (const pair of node.items) {
      emitEvents(pair.key, start, out, level + 1);
      emitEvents(pair.value, rangeEnd(pair.key, start), out, level + 1);
    }
    out.push({ type: MAP_END, offset: rangeEnd(node, start), value: '' });
  } else if (isSeq(node)) {
    const start = rangeStart(node, fallbackOffset);
    out.push({ type: SEQ_START, offset: start, value: '' });
    if (level >= EVENT_LEVELS) return;
    for (const item of node.items) emitEvents(item, start, out, level + 1);
    out.push({ type: SEQ_END, offset: rangeEnd(node, start), value: '' });
  } else {
    out.push({ type: SCALAR, offset: fallbackOffset, value: '' });
  }
}

const ROOT_DEPTH = 1;
const MAX_DEPTH = 2;

/**
 * conf_validate_structure, step for step (the same counters give the same message in the same
 * odd cases), with pool and key names tracked for a readable explanation.
 */
function checkStructure(
  events: readonly YamlEvent[],
  file: string,
  fail: (offset: number, detail: string, twemproxyText: string, pool?: string | null, key?: string | null) => never,
): void {
  const count = [0, 0, 0];
  let depth = 0;
  let seq = false;
  let inSeq = false;
  let pool: string | null = null;
  let poolOffset = 0;
  let key: string | null = null;
  let keyOffset = 0;
  let keys: string[] = [];
  // The key holding the pool's first list, for naming the right one when a second list comes.
  let listKey: string | null = null;
  let listKeyOffset = 0;
  const text = (t: string): string => `conf: '${file}' ${t}`;

  for (const ev of events) {
    switch (ev.type) {
      case MAP_START:
        if (depth === ROOT_DEPTH && count[depth] !== 1) {
          fail(ev.offset, 'a mapping is used as a pool name; expected a plain name such as "alpha:"', text('has more than one "key:value" at depth 1'));
        } else if (depth >= MAX_DEPTH) {
          const detail = inSeq
            ? `list item is a mapping; expected one server per "- " line as a single text such as "- 127.0.0.1:6379:1" (a trailing ":" or ": " inside an item makes it a mapping; quote the item if needed)`
            : count[MAX_DEPTH] === 1
              ? `key holds a nested mapping; expected a single value on the same line (only "servers:" takes a list)`
              : 'a mapping is used as a key; expected "key: value"';
          fail(ev.offset, detail, text(`has a depth greater than ${MAX_DEPTH}`), pool, inSeq || count[MAX_DEPTH] === 1 ? key : null);
        }
        depth++;
        if (depth === MAX_DEPTH) keys = [];
        break;

      case MAP_END:
        if (depth === MAX_DEPTH) {
          if (seq) {
            seq = false;
          } else {
            const detail = keys.includes('servers')
              ? '"servers" is not a list; expected each server on its own line below "servers:", e.g. "  - 127.0.0.1:6379:1"'
              : 'pool has no "servers:" list; expected "servers:" followed by lines such as "  - 127.0.0.1:6379:1"';
            fail(poolOffset, detail, text(`missing sequence directive at depth ${MAX_DEPTH}`), pool, keys.includes('servers') ? 'servers' : null);
          }
        }
        depth--;
        count[depth] = 0;
        break;

      case SEQ_START:
        if (seq) {
          if (inSeq) {
            fail(ev.offset, 'list item is itself a list; expected one server per "- " line', text('has more than one sequence directive'), pool, key);
          }
          // The second list is "servers:" after another key's list (twemproxy's development
          // branch lists Redis module commands under "command:"): name the other key.
          if (key === 'servers' && listKey !== null && listKey !== 'servers') {
            fail(
              listKeyOffset,
              `key holds a list, and only "servers:" may hold one (this pool's "servers:" list comes after it); expected a single value on the same line, or remove the key`,
              text('has more than one sequence directive'),
              pool,
              listKey,
            );
          }
          fail(keyOffset, 'a second list in this pool; only one key may hold a list (normally "servers:")', text('has more than one sequence directive'), pool, key);
        } else if (depth !== MAX_DEPTH) {
          const detail =
            depth === 0
              ? 'the file is a list; expected pools such as "alpha:" followed by indented "key: value" lines'
              : 'pool is a list; expected indented "key: value" settings ("listen:", "servers:", ...)';
          fail(ev.offset, detail, text(`has sequence at depth ${depth} instead of ${MAX_DEPTH}`), depth === 0 ? null : pool);
        } else if (count[depth] !== 1) {
          fail(ev.offset, 'a list is used as a key; expected "key: value"', text(`has invalid "key:value" at depth ${depth}`), pool);
        }
        listKey = key;
        listKeyOffset = keyOffset;
        seq = true;
        inSeq = true;
        break;

      case SEQ_END:
        count[depth] = 0;
        inSeq = false;
        break;

      default: // SCALAR
        if (depth === 0) {
          fail(ev.offset, `the file holds the single value ${quote(ev.value)}; expected pools such as "alpha:" followed by indented "key: value" lines`, text('has invalid empty "key:" at depth 0'));
        } else if (depth === ROOT_DEPTH && count[depth] !== 0) {
          const detail =
            ev.value === ''
              ? 'pool has no settings; expected indented "listen:" and "servers:" lines below the pool name'
              : `pool has the value ${quote(ev.value)} instead of settings; expected indented "listen:" and "servers:" lines below the pool name`;
          fail(ev.offset, detail, text(`has invalid mapping "key:" at depth ${ROOT_DEPTH}`), pool);
        } else if (depth === MAX_DEPTH && count[depth] === 2) {
          count[depth] = 0;
        }
        if (depth === ROOT_DEPTH) {
          pool = ev.value;
          poolOffset = ev.offset;
        }
        if (depth === MAX_DEPTH && !inSeq && count[depth] === 0) {
          key = ev.value;
          keyOffset = ev.offset;
          keys.push(ev.value);
        }
        count[depth] = (count[depth] ?? 0) + 1;
        break;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Pools

/** The pools of a document that passed checkStructure. */
function collectPools(root: unknown, lines: LineMap, src: string): RawPool[] {
  const rawScalar = (node: unknown, fallbackOffset: number): RawScalar => rawScalarOf(node, fallbackOffset, lines, src);
  const pools: RawPool[] = [];
  if (!isMap(root)) return pools;
  for (const pair of root.items) {
    const name = rawScalar(pair.key, 0);
    const entries: RawEntry[] = [];
    if (isMap(pair.value)) {
      for (const item of pair.value.items) {
        const key = rawScalar(item.key, name.offset);
        if (isSeq(item.value)) {
          const values = item.value.items.map((v) => rawScalar(v, key.offset));
          entries.push({ key, values, isList: true });
        } else {
          entries.push({ key, values: [rawScalar(item.value, rangeEnd(item.key, key.offset))], isList: false });
        }
      }
    }
    pools.push({ name, entries });
  }
  return pools;
}

function rawScalarOf(node: unknown, fallbackOffset: number, lines: LineMap, src: string): RawScalar {
  const offset = rangeStart(node, fallbackOffset);
  let value = isScalar(node) ? scalarText(node.value) : '';
  // A block value whose last line ends the file without a line break has no final break in
  // libyaml, whatever its chomping ("timeout: |" then "  400" at the end is 400); the yaml
  // package adds one.
  if (
    isScalar(node) &&
    (node.type === 'BLOCK_LITERAL' || node.type === 'BLOCK_FOLDED') &&
    rangeEnd(node, 0) >= src.length &&
    /[^ \t\r\n]$/.test(src) &&
    value.endsWith('\n')
  ) {
    value = value.slice(0, -1);
  }
  return { value, offset, line: lines.line(offset) };
}

/** No node, or the zero-width empty scalar the yaml package puts where nothing was written. */
function isAbsent(node: unknown): boolean {
  if (node === null || node === undefined) return true;
  if (!isScalar(node) || scalarText(node.value) !== '') return false;
  const range = node.range;
  return range === null || range === undefined || range[0] === range[1];
}

function scalarText(value: unknown): string {
  return typeof value === 'string' ? value : value === null || value === undefined ? '' : String(value);
}

function rangeStart(node: unknown, fallback: number): number {
  const range = (node as YamlNode | null | undefined)?.range;
  return range ? range[0] : fallback;
}

function rangeEnd(node: unknown, fallback: number): number {
  const range = (node as YamlNode | null | undefined)?.range;
  return range ? range[1] : fallback;
}

function firstLine(message: string): string {
  const nl = message.indexOf('\n');
  return (nl < 0 ? message : message.slice(0, nl)).trim();
}
