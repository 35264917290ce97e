// Splitting inline commands as redis-server does. The expected values were checked against
// redis-server 7.0 (RPUSH the line's arguments, LRANGE them back) and its "unbalanced quotes"
// refusals.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { NUL_IN_INLINE, splitInline, UNBALANCED_QUOTES } from '../../../../src/proto/redis/inline.js';

function split(line: string): string[] | string {
  const buf = Buffer.from(line, 'latin1');
  const args = splitInline(buf, 0, buf.length);
  return typeof args === 'string' ? args : args.map((a) => a.toString('latin1'));
}

describe('splitInline', () => {
  const cases: [string, string[] | string][] = [
    ['PING', ['PING']],
    ['', []],
    [' \t \r', []],
    ['SET  k\tv\r', ['SET', 'k', 'v']],
    ['a\vb', ['a\vb']], // VT and FF are blanks only between arguments
    ['\va \fb', ['a', 'b']],
    ['SET k "hello world"', ['SET', 'k', 'hello world']],
    ['SET k "a\\"b"', ['SET', 'k', 'a"b']],
    ['SET k "\\x41\\x4a\\x4G"', ['SET', 'k', 'AJx4G']],
    ['SET k "\\xFF\\x4A\\xaB"', ['SET', 'k', '\xff\x4a\xab']], // upper-case hex digits too
    ['SET k "\\x4"', ['SET', 'k', 'x4']], // \x and one digit before the quote: no escape
    ['SET k "\\n\\r\\t\\b\\a\\q\\\\"', ['SET', 'k', '\n\r\t\b\x07q\\']],
    ["SET k 'it\\'s \\n'", ['SET', 'k', "it's \\n"]],
    ['SET k a"b c"', ['SET', 'k', 'ab c']],
    ['SET k ""', ['SET', 'k', '']],
    ['SET k "v"\r', ['SET', 'k', 'v']],
    ['SET k "v"x', UNBALANCED_QUOTES],
    ["SET k 'v'x", UNBALANCED_QUOTES],
    ['SET k "v', UNBALANCED_QUOTES],
    ["SET k 'v", UNBALANCED_QUOTES],
    ['SET k "v\\', UNBALANCED_QUOTES],
    ['GET a\0b c', NUL_IN_INLINE], // redis-server would wait for a line end it cannot find
  ];
  for (const [line, want] of cases) {
    test(JSON.stringify(line), () => assert.deepEqual(split(line), want));
  }

  test('any bytes, written in double quotes with \\xHH escapes, come back as they were', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 20 }), { minLength: 1, maxLength: 5 }), fc.constantFrom(' ', '\t', '  '), (args, sep) => {
        const line = args.map((a) => `"${[...a].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('')}"`).join(sep);
        const got = splitInline(Buffer.from(line, 'latin1'), 0, line.length);
        assert.deepEqual(got, args.map((a) => Buffer.from(a)));
      }),
    );
  });

  test('garbage never throws', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 60 }), (bytes) => {
        const buf = Buffer.from(bytes);
        const got = splitInline(buf, 0, buf.length);
        assert.ok(typeof got === 'string' || Array.isArray(got));
      }),
    );
  });
});
