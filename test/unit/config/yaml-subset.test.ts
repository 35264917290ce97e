// yaml-subset.ts internals that messages and speed depend on: the padding of quoted values whose
// continuation lines are under-indented (which libyaml accepts and the yaml package does not).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { padByRounds, padQuotedContinuations } from '../../../src/config/yaml-subset.js';

describe('padQuotedContinuations', () => {
  // Expected texts are what the round-by-round implementation (before the single pass) returned.
  const cases: ReadonlyArray<readonly [string, string, string]> = [
    ['double-quoted, two short lines', 'alpha:\n  redis_auth: "abc\n def\n  ghi"\n', 'alpha:\n  redis_auth: "abc\n              def\n              ghi"\n'],
    ["single-quoted with a '' escape", "alpha:\n  hash_tag: 'a''\n b'\n", "alpha:\n  hash_tag: 'a''\n            b'\n"],
    ['escaped quote and backslash', 'alpha:\n  redis_auth: "a\\"\n b\\\\"\n', 'alpha:\n  redis_auth: "a\\"\n              b\\\\"\n'],
    ['a document marker line is left for libyaml to fail on', 'alpha:\n  redis_auth: "a\n---\n b"\n', 'alpha:\n  redis_auth: "a\n---\n              b"\n'],
    ['an unclosed quote is left alone', 'alpha:\n  redis_auth: "abc\n def\n', 'alpha:\n  redis_auth: "abc\n def\n'],
    [
      'list items, a quote in the comment after the closing one',
      'alpha:\n  servers:\n   - "127.0.0.1:\n 6379:1" # "x\n   - \'h:\n1:1\'\n',
      'alpha:\n  servers:\n   - "127.0.0.1:\n     6379:1" # "x\n   - \'h:\n     1:1\'\n',
    ],
    ['CR LF and a tab', 'alpha:\r\n  redis_auth: "a\r\n\tb"\r\n', 'alpha:\r\n  redis_auth: "a\r\n             \tb"\r\n'],
    ['a second value on the closing line of the first', 'alpha:\n  k: "a\n b" "c\n d"\n', 'alpha:\n  k: "a\n     b" "c\n        d"\n'],
    ['a block scalar between two values', 'a: "x\n y"\nb: |\n  "q\n r"\nc: "s\n t"\n', 'a: "x\n   y"\nb: |\n  "q\n r"\nc: "s\n   t"\n'],
    // Inside a flow collection a lexer restarted after the first value misreads the second; the
    // check pass notices and the rounds finish the job.
    ['two values in a flow sequence', 'alpha: ["a\n b", "c\n d"]\n', 'alpha: ["a\n        b", "c\n            d"]\n'],
    ['flow sequence over several lines', 'alpha: ["a\n b",\n "c\n d"]\n', 'alpha: ["a\n        b",\n "c\n d"]\n'],
    ['nothing to pad', 'alpha:\n  listen: 127.0.0.1:22121\n  hash_tag: "{}"\n', 'alpha:\n  listen: 127.0.0.1:22121\n  hash_tag: "{}"\n'],
  ];
  for (const [name, input, expected] of cases) {
    it(`gives the same text as before: ${name}`, () => {
      assert.equal(padQuotedContinuations(input), expected);
      assert.equal(padByRounds(input), expected);
    });
  }

  it('gives the same text as re-lexing after each padding, on garbled files', () => {
    const pool = (i: number): string =>
      `p${i}:\n  listen: 127.0.0.1:${i}\n  redis_auth: "a${i}\n b\n  c"\n  hash_tag: '{\n }'\n  servers:\n   - "127.0.0.1:\n 1:1"\n`;
    const valid = [0, 1, 2, 3].map(pool).join('');
    const tokens = fc.constantFrom(
      ':', ': ', ' ', '  ', '\t', '\n', '\n ', '\r\n', '- ', '?', '#', '"', "'", '\\', '\\"', "''", '[', ']', '{', '}', ',', '|', '>', '---', '&a', '!t', '%Y',
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), fc.nat(3), tokens), { minLength: 1, maxLength: 6 }), (edits) => {
        let text = valid;
        for (const [at, drop, insert] of edits) {
          const i = at % (text.length + 1);
          text = text.slice(0, i) + insert + text.slice(i + drop);
        }
        assert.equal(padQuotedContinuations(text), padByRounds(text), JSON.stringify(text));
      }),
      { numRuns: 1500 },
    );
  });

  it('pads many values in one file (each one a line apart)', () => {
    let input = '';
    let expected = '';
    for (let i = 0; i < 300; i++) {
      input += `p${i}:\n  redis_auth: "s${i}\n w\n e"\n`;
      expected += `p${i}:\n  redis_auth: "s${i}\n              w\n              e"\n`;
    }
    assert.equal(padQuotedContinuations(input), expected);
  });
});
