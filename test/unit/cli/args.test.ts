// Command-line parsing: every option form, every error line of spec 1.2, getopt_long quirks
// (grouping, swallowing, abbreviations, permutation), and the -d removal for the daemon child.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  argvWithoutDaemonize,
  DEFAULTS,
  parseArgs,
  resolveConfFile,
  type CliOptions,
} from '../../../src/cli/args.js';

const DEFAULT_OPTIONS: CliOptions = {
  showHelp: false,
  showVersion: false,
  describeStats: false,
  testConf: false,
  daemonize: false,
  verbosity: 5,
  output: null,
  confFile: null,
  statsPort: 22222,
  statsAddr: '0.0.0.0',
  statsInterval: 30000,
  pidFile: null,
  mbufSize: 16384,
  workers: 1,
  limitClientMemory: 'auto',
};

/** No POSIXLY_CORRECT, whatever the environment the tests run in. */
const PERMUTING: NodeJS.ProcessEnv = {};
const POSIXLY_CORRECT: NodeJS.ProcessEnv = { POSIXLY_CORRECT: '' };

function ok(argv: string[], env: NodeJS.ProcessEnv = PERMUTING): CliOptions {
  const r = parseArgs(argv, env);
  if (!r.ok) assert.fail(`${JSON.stringify(argv)} failed: ${r.error}`);
  return r.options;
}

function err(argv: string[], env: NodeJS.ProcessEnv = PERMUTING): string {
  const r = parseArgs(argv, env);
  if (r.ok) assert.fail(`${JSON.stringify(argv)} parsed: ${JSON.stringify(r.options)}`);
  return r.error;
}

describe('parseArgs: values', () => {
  test('no arguments gives the documented defaults', () => {
    assert.deepEqual(ok([]), DEFAULT_OPTIONS);
  });

  const cases: [string[], Partial<CliOptions>][] = [
    [['-h'], { showHelp: true, showVersion: true }],
    [['--help'], { showHelp: true, showVersion: true }],
    [['-V'], { showVersion: true }],
    [['--version'], { showVersion: true }],
    [['-t'], { testConf: true }],
    [['--test-conf'], { testConf: true }],
    [['-d'], { daemonize: true }],
    [['--daemonize'], { daemonize: true }],
    [['-D'], { describeStats: true, showVersion: true }],
    [['--describe-stats'], { describeStats: true, showVersion: true }],
    [['-v', '7'], { verbosity: 7 }],
    // The largest C int, and leading zeros that do not make it larger.
    [['-i', '2147483647'], { statsInterval: 2147483647 }],
    [['-v', '000000000000000000000000011'], { verbosity: 11 }],
    [['-v7'], { verbosity: 7 }],
    [['--verbose=7'], { verbosity: 7 }],
    [['--verbose', '7'], { verbosity: 7 }],
    [['-v', '0'], { verbosity: 0 }],
    // Not clamped here: the logger clamps when it starts.
    [['-v', '99'], { verbosity: 99 }],
    [['-v', '007'], { verbosity: 7 }],
    [['-o', 'x.log'], { output: 'x.log' }],
    [['-ox.log'], { output: 'x.log' }],
    [['--output=x.log'], { output: 'x.log' }],
    [['--output', 'x.log'], { output: 'x.log' }],
    [['-o', ''], { output: '' }],
    [['--output='], { output: '' }],
    [['-c', '/etc/a.yml'], { confFile: '/etc/a.yml' }],
    [['-c/etc/a.yml'], { confFile: '/etc/a.yml' }],
    [['--conf-file=/etc/a.yml'], { confFile: '/etc/a.yml' }],
    [['--conf-file', '/etc/a.yml'], { confFile: '/etc/a.yml' }],
    [['--conf-file=a=b.yml'], { confFile: 'a=b.yml' }],
    [['-s', '1'], { statsPort: 1 }],
    [['-s65535'], { statsPort: 65535 }],
    [['--stats-port=8080'], { statsPort: 8080 }],
    [['--stats-port', '8080'], { statsPort: 8080 }],
    [['-a', '127.0.0.1'], { statsAddr: '127.0.0.1' }],
    [['-a::1'], { statsAddr: '::1' }],
    [['--stats-addr=localhost'], { statsAddr: 'localhost' }],
    [['--stats-addr', 'localhost'], { statsAddr: 'localhost' }],
    [['-i', '0'], { statsInterval: 0 }],
    [['-i100'], { statsInterval: 100 }],
    [['--stats-interval=100'], { statsInterval: 100 }],
    [['--stats-interval', '100'], { statsInterval: 100 }],
    [['-p', 'w.pid'], { pidFile: 'w.pid' }],
    [['-pw.pid'], { pidFile: 'w.pid' }],
    [['--pid-file=w.pid'], { pidFile: 'w.pid' }],
    [['--pid-file', 'w.pid'], { pidFile: 'w.pid' }],
    [['-m', '512'], { mbufSize: 512 }],
    [['-m16777216'], { mbufSize: 16777216 }],
    [['--mbuf-size=1024'], { mbufSize: 1024 }],
    [['--mbuf-size', '1024'], { mbufSize: 1024 }],
    [['--workers=4'], { workers: 4 }],
    [['--workers', '4'], { workers: 4 }],
    [['--workers=auto'], { workers: 'auto' }],
    [['--workers', 'auto'], { workers: 'auto' }],
    // --limit-client-memory reads sizes as Redis's configuration does.
    [['--limit-client-memory=0'], { limitClientMemory: 0 }],
    [['--limit-client-memory', 'auto'], { limitClientMemory: 'auto' }],
    [['--limit-client-memory=1048576'], { limitClientMemory: 1048576 }],
    [['--limit-client-memory=2mb'], { limitClientMemory: 2 * 1024 * 1024 }],
    [['--limit-client-memory=2M'], { limitClientMemory: 2_000_000 }],
    [['--limit-client-memory=3GB'], { limitClientMemory: 3 * 1024 ** 3 }],
    [['--limit-client-memory=3g'], { limitClientMemory: 3e9 }],
    [['--limit-client-memory=2048kb'], { limitClientMemory: 2 * 1024 * 1024 }],
    [['--limit-client-memory=1048576b'], { limitClientMemory: 1048576 }],
    [['--limit=5mb'], { limitClientMemory: 5 * 1024 * 1024 }],
    // glibc accepts any unambiguous prefix of a long option.
    [['--verb=3'], { verbosity: 3 }],
    [['--vers'], { showVersion: true }],
    [['--stats-p=99'], { statsPort: 99 }],
    [['--conf', 'c.yml'], { confFile: 'c.yml' }],
    [['--w=2'], { workers: 2 }],
    [['--h'], { showHelp: true, showVersion: true }],
    // Grouped flags, with a trailing option taking the rest of the word or the next word.
    [['-dt'], { daemonize: true, testConf: true }],
    [['-tdD'], { daemonize: true, testConf: true, describeStats: true, showVersion: true }],
    [['-dtv3'], { daemonize: true, testConf: true, verbosity: 3 }],
    [['-tc', '/x.yml'], { testConf: true, confFile: '/x.yml' }],
    [['-tc/x.yml'], { testConf: true, confFile: '/x.yml' }],
    // An argument swallows the next word whatever it looks like.
    [['-o', '-c', 'x.yml'], { output: '-c' }],
    [['--output', '-c'], { output: '-c' }],
    [['-c', '--help'], { confFile: '--help' }],
    [['-c', '-d'], { confFile: '-d' }],
    [['-p', '--', '-t'], { pidFile: '--', testConf: true }],
    // Last one wins.
    [['-v', '3', '-v', '4'], { verbosity: 4 }],
    [['-c', 'a.yml', '--conf-file=b.yml'], { confFile: 'b.yml' }],
    [['--workers=auto', '--workers=3'], { workers: 3 }],
    // Positional words are skipped wherever they are (GNU permutation); `--` ends options.
    [['foo', '-t', 'bar'], { testConf: true }],
    [['-', '-t'], { testConf: true }],
    [['--', '-t'], {}],
    [['-t', '--', '-d'], { testConf: true }],
  ];
  for (const [argv, expected] of cases) {
    test(`${JSON.stringify(argv)}`, () => {
      assert.deepEqual(ok(argv), { ...DEFAULT_OPTIONS, ...expected });
    });
  }
});

describe('parseArgs: errors (spec 1.2, with walnut: instead of nutcracker:)', () => {
  const cases: [string[], string][] = [
    [['-v', 'x'], 'walnut: option -v requires a number'],
    [['-v', ''], 'walnut: option -v requires a number'],
    [['-v', '-1'], 'walnut: option -v requires a number'],
    [['-v', '+1'], 'walnut: option -v requires a number'],
    [['-v', ' 5'], 'walnut: option -v requires a number'],
    [['-v', '0x5'], 'walnut: option -v requires a number'],
    [['--verbose='], 'walnut: option -v requires a number'],
    [['--verb=x'], 'walnut: option -v requires a number'],
    [['-s', 'x'], 'walnut: option -s requires a number'],
    [['-i', 'x'], 'walnut: option -i requires a number'],
    [['-i', '-5'], 'walnut: option -i requires a number'],
    [['-s', '0'], 'walnut: option -s value 0 is not a valid port'],
    [['-s', '65536'], 'walnut: option -s value 65536 is not a valid port'],
    // The value is printed as a number (printf %d), not as typed.
    [['-s', '070000'], 'walnut: option -s value 70000 is not a valid port'],
    [['-m', 'x'], 'walnut: option -m requires a non-zero number'],
    [['-m', '0'], 'walnut: option -m requires a non-zero number'],
    [['-m', ''], 'walnut: option -m requires a non-zero number'],
    [['-m', '511'], 'walnut: mbuf chunk size must be between 512 and 16777216 bytes'],
    [['-m', '16777217'], 'walnut: mbuf chunk size must be between 512 and 16777216 bytes'],
    [['--mbuf=100000000'], 'walnut: mbuf chunk size must be between 512 and 16777216 bytes'],
    [['-o'], 'walnut: option -o requires a file name'],
    [['-c'], 'walnut: option -c requires a file name'],
    [['-p'], 'walnut: option -p requires a file name'],
    [['--output'], 'walnut: option -o requires a file name'],
    [['--conf'], 'walnut: option -c requires a file name'],
    [['--pid-file'], 'walnut: option -p requires a file name'],
    [['-m'], 'walnut: option -m requires a number'],
    [['-v'], 'walnut: option -v requires a number'],
    [['-s'], 'walnut: option -s requires a number'],
    [['-i'], 'walnut: option -i requires a number'],
    [['-t', '-i'], 'walnut: option -i requires a number'],
    [['--stats-interval'], 'walnut: option -i requires a number'],
    [['-a'], 'walnut: option -a requires a string'],
    [['--stats-addr'], 'walnut: option -a requires a string'],
    [['-x'], "walnut: invalid option -- 'x'"],
    [['-?'], "walnut: invalid option -- '?'"],
    [['-:'], "walnut: invalid option -- ':'"],
    [['-W', 'x'], "walnut: invalid option -- 'W'"],
    [['-hx'], "walnut: invalid option -- 'x'"],
    [['-dtz'], "walnut: invalid option -- 'z'"],
    // Unknown and ambiguous long options: getopt's optopt is NUL.
    [['--bogus'], "walnut: invalid option -- '\0'"],
    [['--stats=1'], "walnut: invalid option -- '\0'"],
    [['--d'], "walnut: invalid option -- '\0'"],
    [['--ver'], "walnut: invalid option -- '\0'"],
    [['--=x'], "walnut: invalid option -- '\0'"],
    [['--helpme'], "walnut: invalid option -- '\0'"],
    // A flag given a value: optopt is the flag's own letter.
    [['--help=x'], "walnut: invalid option -- 'h'"],
    [['--version=1'], "walnut: invalid option -- 'V'"],
    [['--test-conf=1'], "walnut: invalid option -- 't'"],
    // --workers is ours.
    [['--workers'], "walnut: option --workers requires a positive number or 'auto'"],
    [['--workers=0'], "walnut: option --workers requires a positive number or 'auto'"],
    [['--workers=many'], "walnut: option --workers requires a positive number or 'auto'"],
    [['--workers='], "walnut: option --workers requires a positive number or 'auto'"],
    ...['', '-1', '1.5gb', '2 mb', '10tb', 'gb', 'lots', '99999999999999999999'].map((v): [string[], string] => [
      [`--limit-client-memory=${v}`],
      "walnut: option --limit-client-memory requires a size (bytes, or a number with k, kb, m, mb, g or gb), 0 for no limit, or 'auto'",
    ]),
    [['--limit-client-memory'], "walnut: option --limit-client-memory requires a size (bytes, or a number with k, kb, m, mb, g or gb), 0 for no limit, or 'auto'"],
    [['--limit-client-memory=1048575'], 'walnut: option --limit-client-memory value 1048575 is below the least limit, 1mb (0 sets no limit)'],
    [['--limit-client-memory=1m'], 'walnut: option --limit-client-memory value 1m is below the least limit, 1mb (0 sets no limit)'],
    // The first problem wins, as nc_get_options returns at the first bad option.
    [['-s', 'abc', '-s', '0'], 'walnut: option -s requires a number'],
    [['-v', 'x', '--bogus'], 'walnut: option -v requires a number'],
    [['--bogus', '-v', 'x'], "walnut: invalid option -- '\0'"],
    [['-m', '1', '-c'], 'walnut: mbuf chunk size must be between 512 and 16777216 bytes'],
    // Past C's INT_MAX nutcracker's int goes negative: "requires a number", whatever the range.
    [['-v', '2147483648'], 'walnut: option -v requires a number'],
    [['-i', '4294967295'], 'walnut: option -i requires a number'],
    [['-s', '2147483648'], 'walnut: option -s requires a number'],
    [['-m', '2147483648'], 'walnut: option -m requires a non-zero number'],
    // Where nutcracker's int wraps round to a positive value it takes what it wrapped to (port 5
    // here); refused instead, and never printed as 1e+22.
    [['-s', '4294967301'], 'walnut: option -s requires a number'],
    [['-s', '9999999999999999999999'], 'walnut: option -s requires a number'],
  ];
  for (const [argv, expected] of cases) {
    test(`${JSON.stringify(argv)}`, () => {
      assert.equal(err(argv), expected);
    });
  }
});

describe('parseArgs: every spelling of an option means the same', () => {
  /** A value option: its letter, long name and a value generator. */
  const valueOptions = [
    { c: 'v', long: 'verbose', key: 'verbosity', gen: fc.integer({ min: 0, max: 11 }) },
    { c: 's', long: 'stats-port', key: 'statsPort', gen: fc.integer({ min: 1, max: 65535 }) },
    { c: 'i', long: 'stats-interval', key: 'statsInterval', gen: fc.integer({ min: 0, max: 100000 }) },
    { c: 'm', long: 'mbuf-size', key: 'mbufSize', gen: fc.integer({ min: 512, max: 16777216 }) },
    { c: 'o', long: 'output', key: 'output', gen: fc.string({ minLength: 1 }) },
    { c: 'c', long: 'conf-file', key: 'confFile', gen: fc.string({ minLength: 1 }) },
    { c: 'a', long: 'stats-addr', key: 'statsAddr', gen: fc.string({ minLength: 1 }) },
    { c: 'p', long: 'pid-file', key: 'pidFile', gen: fc.string({ minLength: 1 }) },
  ] as const;
  const flags = [
    { c: 'd', long: 'daemonize', key: 'daemonize' },
    { c: 't', long: 'test-conf', key: 'testConf' },
  ] as const;

  type Item = { kind: 'value'; index: number; value: string; form: number } | { kind: 'flag'; index: number; form: number };

  const item: fc.Arbitrary<Item> = fc.oneof(
    fc
      .integer({ min: 0, max: valueOptions.length - 1 })
      .chain((index) =>
        fc.record({
          kind: fc.constant('value' as const),
          index: fc.constant(index),
          value: (valueOptions[index]!.gen as fc.Arbitrary<number | string>).map(String),
          form: fc.integer({ min: 0, max: 3 }),
        }),
      ),
    fc.record({
      kind: fc.constant('flag' as const),
      index: fc.integer({ min: 0, max: flags.length - 1 }),
      form: fc.integer({ min: 0, max: 1 }),
    }),
  );

  function render(it: Item): string[] {
    if (it.kind === 'flag') {
      const f = flags[it.index]!;
      return it.form === 0 ? [`-${f.c}`] : [`--${f.long}`];
    }
    const o = valueOptions[it.index]!;
    switch (it.form) {
      case 0:
        return [`-${o.c}`, it.value];
      case 1:
        return [`-${o.c}${it.value}`];
      case 2:
        return [`--${o.long}=${it.value}`];
      default:
        return [`--${o.long}`, it.value];
    }
  }

  test('random option lists in random spellings parse to the last value of each option', () => {
    fc.assert(
      fc.property(fc.array(item, { maxLength: 12 }), (items) => {
        const expected: Record<string, unknown> = { ...DEFAULT_OPTIONS };
        for (const it of items) {
          if (it.kind === 'flag') expected[flags[it.index]!.key] = true;
          else {
            const o = valueOptions[it.index]!;
            expected[o.key] = ['o', 'c', 'a', 'p'].includes(o.c) ? it.value : Number(it.value);
          }
        }
        const argv = items.flatMap(render);
        assert.deepEqual(ok(argv), expected);
        // The daemon child's argv means the same minus -d.
        assert.deepEqual(ok(argvWithoutDaemonize(argv, PERMUTING)), { ...expected, daemonize: false });
      }),
    );
  });
});

describe('POSIXLY_CORRECT in the environment: options end at the first non-option word, as in glibc', () => {
  test('an option after a positional word is not read (nutcracker -V extra -x shows the version)', () => {
    assert.deepEqual(ok(['-V', 'extra', '-x'], POSIXLY_CORRECT), { ...DEFAULT_OPTIONS, showVersion: true });
    assert.equal(err(['-V', 'extra', '-x']), "walnut: invalid option -- 'x'");
  });
  test('a positional word first: nothing is read, whatever its value (set, even empty, is enough)', () => {
    assert.deepEqual(ok(['extra', '-t', '-c', 'x.yml'], { POSIXLY_CORRECT: '1' }), DEFAULT_OPTIONS);
  });
  test('the first -c stands when a second one follows a positional word; `-` is positional too', () => {
    assert.equal(ok(['-t', '-c', 'a.yml', 'extra', '-c', 'b.yml'], POSIXLY_CORRECT).confFile, 'a.yml');
    assert.deepEqual(ok(['-t', '-', '-x'], POSIXLY_CORRECT), { ...DEFAULT_OPTIONS, testConf: true });
  });
  test('the daemon child keeps a -d that was only a positional word', () => {
    assert.deepEqual(argvWithoutDaemonize(['-d', 'pos', '-d'], POSIXLY_CORRECT), ['pos', '-d']);
    assert.deepEqual(argvWithoutDaemonize(['-d', 'pos', '-d'], PERMUTING), ['pos']);
  });
});

describe('argvWithoutDaemonize', () => {
  const cases: [string[], string[]][] = [
    [['-d', '-c', 'x.yml'], ['-c', 'x.yml']],
    [['-dt'], ['-t']],
    [['-td'], ['-t']],
    [['-dd'], []],
    [['-dv5'], ['-v5']],
    [['-tdc', 'd.yml'], ['-tc', 'd.yml']],
    [['--daemonize', '-v', '6'], ['-v', '6']],
    [['--daem'], []],
    // A `d` inside an argument is data, not the flag.
    [['-c', '-d'], ['-c', '-d']],
    [['-vd'], ['-vd']],
    [['-cd.yml'], ['-cd.yml']],
    [['--conf-file', '--daemonize'], ['--conf-file', '--daemonize']],
    // Positional words and everything after `--` are kept as they are.
    [['pos', '-d', 'pos2'], ['pos', 'pos2']],
    [['-d', '--', '-d'], ['--', '-d']],
  ];
  for (const [argv, expected] of cases) {
    test(`${JSON.stringify(argv)} -> ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(argvWithoutDaemonize(argv, PERMUTING), expected);
    });
  }
});

describe('resolveConfFile', () => {
  const files = (...present: string[]) => (p: string) => present.includes(p);
  test('-c wins, even when the defaults exist', () => {
    assert.deepEqual(resolveConfFile(ok(['-c', 'mine.yml']), files(DEFAULTS.confFile, DEFAULTS.legacyConfFile)), { file: 'mine.yml', note: null });
  });
  test('conf/walnut.yml by default', () => {
    assert.deepEqual(resolveConfFile(ok([]), files(DEFAULTS.confFile, DEFAULTS.legacyConfFile)), { file: 'conf/walnut.yml', note: null });
  });
  test('conf/nutcracker.yml when it is the only one there, saying so', () => {
    assert.deepEqual(resolveConfFile(ok([]), files(DEFAULTS.legacyConfFile)), {
      file: 'conf/nutcracker.yml',
      note: "no -c given and conf/walnut.yml does not exist, so twemproxy's default conf/nutcracker.yml was used",
    });
  });
  test('conf/walnut.yml when neither is there, with both paths for the message', () => {
    assert.deepEqual(resolveConfFile(ok([]), files()), {
      file: 'conf/walnut.yml',
      note: "no -c given: tried conf/walnut.yml, then twemproxy's default conf/nutcracker.yml, and neither exists; expected one of them, or a file named with -c",
    });
  });
});
