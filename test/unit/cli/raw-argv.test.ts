// Arguments that are not UTF-8: found in the kernel's copy of the command line, and refused
// as file names (Node has already replaced their bytes with U+FFFD in process.argv).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseArgs } from '../../../src/cli/args.js';
import { wordsNotUtf8 } from '../../../src/cli/raw-argv.js';

/** /proc/self/cmdline for these words: each ends with a NUL. */
function cmdline(...words: (string | Buffer)[]): Buffer {
  return Buffer.concat(words.flatMap((w) => [typeof w === 'string' ? Buffer.from(w) : w, Buffer.of(0)]));
}

const LATIN1_NAME = Buffer.from([0x63, 0xe9, 0x2e, 0x79, 0x6d, 0x6c]); // "cé.yml" in Latin-1
const AS_NODE_SEES_IT = LATIN1_NAME.toString('utf8');

test('a word whose bytes are not UTF-8 is found at its index in argv, after node, its flags and the script', () => {
  const raw = cmdline('/usr/bin/node', '--expose-gc', '/x/cli.js', '-t', '-c', LATIN1_NAME);
  assert.deepEqual(wordsNotUtf8(['-t', '-c', AS_NODE_SEES_IT], raw), new Set([2]));
});

test('UTF-8 words, an empty word, no cmdline, or a cmdline that is not this argv: nothing found', () => {
  assert.deepEqual(wordsNotUtf8(['-c', 'é.yml', ''], cmdline('node', 'cli.js', '-c', 'é.yml', '')), new Set());
  assert.deepEqual(wordsNotUtf8(['-c', AS_NODE_SEES_IT], null), new Set());
  assert.deepEqual(wordsNotUtf8(['-t', '-c', AS_NODE_SEES_IT], cmdline('-c', LATIN1_NAME)), new Set());
  assert.deepEqual(wordsNotUtf8(['-c', 'other.yml'], cmdline('node', 'cli.js', '-c', LATIN1_NAME)), new Set());
});

test('-c, -o and -p refuse such a name, in every spelling; other words are not affected', () => {
  const bad = AS_NODE_SEES_IT;
  const cases: [string[], number, string][] = [
    [['-t', '-c', bad], 2, 'c'],
    [[`--conf-file=${bad}`], 0, 'c'],
    [[`-tc${bad}`], 0, 'c'],
    [['-o', bad], 1, 'o'],
    [['--pid-file', bad], 1, 'p'],
  ];
  for (const [argv, index, code] of cases) {
    const r = parseArgs(argv, {}, new Set([index]));
    assert.deepEqual(r, { ok: false, error: `walnut: option -${code} file name is not valid UTF-8, which Walnut cannot open` }, JSON.stringify(argv));
  }
  // A positional word or a stats address (which then fails to resolve, as in nutcracker).
  assert.equal(parseArgs(['-t', bad], {}, new Set([1])).ok, true);
  assert.equal(parseArgs(['-a', bad], {}, new Set([1])).ok, true);
});
