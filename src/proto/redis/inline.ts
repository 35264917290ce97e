/**
 * Inline commands (`SET k "hello world"` typed into telnet): the line split into arguments the
 * way redis-server splits it (sdssplitargs in its sds.c), so that an inline request means the
 * same through Walnut, which forwards it re-encoded as a multi-bulk, as sent directly:
 * - arguments are separated by blanks (space, tab, CR, LF, and VT and FF between arguments);
 * - "double quotes" take the escapes \n \r \t \b \a, \xHH, and \<any byte> for that byte;
 * - 'single quotes' take \' only;
 * - a quote may open in the middle of an argument (a"b" is ab), but a closing quote must be
 *   followed by a blank or the end of the line, and every quote must close: otherwise the line
 *   is refused (redis-server: "Protocol error: unbalanced quotes in request", and a close).
 * A line holding a NUL byte is refused too: redis-server looks for the line's end with strchr,
 * which stops at the NUL, so it runs nothing and waits until 64 KiB have come, then closes.
 * This path is cold (people typing), so it favours plainness over speed.
 */

const NUL = 0;
const TAB = 9;
const LF = 10;
const VT = 11;
const FF = 12;
const CR = 13;
const SP = 32;
const DQUOTE = 34;
const SQUOTE = 39;
const BACKSLASH = 92;

function isBlank(b: number): boolean {
  return b === SP || b === TAB || b === LF || b === VT || b === FF || b === CR;
}

function endsArgument(b: number): boolean {
  return b === SP || b === TAB || b === LF || b === CR;
}

function hexValue(b: number | undefined): number {
  if (b === undefined) return -1;
  if (b >= 48 && b <= 57) return b - 48;
  if (b >= 97 && b <= 102) return b - 87;
  if (b >= 65 && b <= 70) return b - 55;
  return -1;
}

const ESCAPED: Record<number, number> = { 110: LF, 114: CR, 116: TAB, 98: 8, 97: 7 }; // n r t b a

export const UNBALANCED_QUOTES = 'unbalanced quotes in request';
export const NUL_IN_INLINE = 'NUL byte in inline request';

/**
 * The arguments of inline line buf[start, end) (without its LF; a CR before the LF is dropped
 * here), or why the line is refused (UNBALANCED_QUOTES, NUL_IN_INLINE). No arguments for a
 * blank line.
 */
export function splitInline(buf: Buffer, start: number, end: number): Buffer[] | string {
  if (end > start && buf[end - 1] === CR) end--;
  const nul = buf.indexOf(NUL, start);
  if (nul >= 0 && nul < end) return NUL_IN_INLINE;
  const args: Buffer[] = [];
  const arg: number[] = [];
  let p = start;
  for (;;) {
    while (p < end && isBlank(buf[p]!)) p++;
    if (p === end) return args;
    arg.length = 0;
    let quote = 0;
    for (;;) {
      if (p === end) {
        if (quote !== 0) return UNBALANCED_QUOTES; // never closed
        break;
      }
      const b = buf[p]!;
      if (quote === DQUOTE) {
        if (b === BACKSLASH && p + 1 < end) {
          const next = buf[p + 1]!;
          const hi = next === 120 ? hexValue(p + 3 < end ? buf[p + 2] : undefined) : -1; // \xHH
          const lo = hi >= 0 ? hexValue(buf[p + 3]) : -1;
          if (lo >= 0) {
            arg.push(hi * 16 + lo);
            p += 4;
          } else {
            arg.push(ESCAPED[next] ?? next);
            p += 2;
          }
          continue;
        }
        if (b === DQUOTE) {
          if (p + 1 < end && !isBlank(buf[p + 1]!)) return UNBALANCED_QUOTES;
          p++;
          break;
        }
        arg.push(b);
        p++;
      } else if (quote === SQUOTE) {
        if (b === BACKSLASH && p + 1 < end && buf[p + 1] === SQUOTE) {
          arg.push(SQUOTE);
          p += 2;
          continue;
        }
        if (b === SQUOTE) {
          if (p + 1 < end && !isBlank(buf[p + 1]!)) return UNBALANCED_QUOTES;
          p++;
          break;
        }
        arg.push(b);
        p++;
      } else {
        if (endsArgument(b)) break;
        if (b === DQUOTE || b === SQUOTE) quote = b;
        else arg.push(b);
        p++;
      }
    }
    args.push(Buffer.from(arg));
  }
}
