// Command-line parsing: a small clone of glibc getopt_long as twemproxy's nc.c (nc_get_options)
// drives it, so every option form, error and quirk of nutcracker's command line carries over.
import { existsSync } from 'node:fs';

/** The program name used in messages (nutcracker prints `nutcracker:`). */
export const PROGRAM = 'walnut';

export const MBUF_MIN_SIZE = 512;
export const MBUF_MAX_SIZE = 16777216;
export const LOG_LEVEL_MAX = 11;

/** Defaults, shared with the usage text so the two cannot disagree. */
export const DEFAULTS = {
  verbosity: 5,
  confFile: 'conf/walnut.yml',
  /** Used instead of confFile when only this one exists (twemproxy's default path). */
  legacyConfFile: 'conf/nutcracker.yml',
  statsPort: 22222,
  statsAddr: '0.0.0.0',
  statsInterval: 30000,
  mbufSize: 16384,
  workers: 1,
  limitClientMemory: 'auto',
} as const;

/** Everything the command line can set, after validation. */
export interface CliOptions {
  /** -h: print banner and usage. */
  readonly showHelp: boolean;
  /** -V, -h or -D: print the banner and exit. */
  readonly showVersion: boolean;
  /** -D: print the stats description. */
  readonly describeStats: boolean;
  /** -t: test the configuration and exit. */
  readonly testConf: boolean;
  /** -d: run as a daemon. */
  readonly daemonize: boolean;
  /** -v as given (not clamped: the logger clamps to 0..11 when it starts, as twemproxy). */
  readonly verbosity: number;
  /** -o; null (not given) or '' mean stderr. */
  readonly output: string | null;
  /** -c exactly as given, or null when absent (see resolveConfFile). */
  readonly confFile: string | null;
  readonly statsPort: number;
  readonly statsAddr: string;
  /** -i in ms: validated only (Walnut's stats are live, see stats-server.ts). */
  readonly statsInterval: number;
  /** -p, or null for no pid file. */
  readonly pidFile: string | null;
  /** -m: validated only, as -i (Walnut's buffers are sized by Node, not in mbufs). */
  readonly mbufSize: number;
  /** --workers: worker processes sharing the listeners (see cluster/worker-pool.ts), or 'auto'. */
  readonly workers: number | 'auto';
  /**
   * --limit-client-memory: bytes that all clients together may hold (0: no limit), or 'auto'
   * (see cli/client-memory-limit.ts).
   */
  readonly limitClientMemory: number | 'auto';
}

export type ParseResult =
  | { readonly ok: true; readonly options: CliOptions }
  /** `error` is the message line without its newline; the caller prints it and the usage. */
  | { readonly ok: false; readonly error: string };

/** Short options as twemproxy's getopt string: a trailing ':' marks a required argument. */
const SHORT_OPTIONS = 'hVtdDv:o:c:s:i:a:p:m:';

/** The option codes of the options with no short form. */
const WORKERS = 'workers';
const LIMIT_CLIENT_MEMORY = 'limit-client-memory';

interface LongOption {
  readonly name: string;
  readonly hasArg: boolean;
  /** Short option letter it stands for, or the code of a long-only option. */
  readonly code: string;
}

const LONG_OPTIONS: readonly LongOption[] = [
  { name: 'help', hasArg: false, code: 'h' },
  { name: 'version', hasArg: false, code: 'V' },
  { name: 'test-conf', hasArg: false, code: 't' },
  { name: 'daemonize', hasArg: false, code: 'd' },
  { name: 'describe-stats', hasArg: false, code: 'D' },
  { name: 'verbose', hasArg: true, code: 'v' },
  { name: 'output', hasArg: true, code: 'o' },
  { name: 'conf-file', hasArg: true, code: 'c' },
  { name: 'stats-port', hasArg: true, code: 's' },
  { name: 'stats-interval', hasArg: true, code: 'i' },
  { name: 'stats-addr', hasArg: true, code: 'a' },
  { name: 'pid-file', hasArg: true, code: 'p' },
  { name: 'mbuf-size', hasArg: true, code: 'm' },
  { name: 'workers', hasArg: true, code: WORKERS },
  // (No other option starts with an l: every abbreviation nutcracker takes still means the same.)
  { name: LIMIT_CLIENT_MEMORY, hasArg: true, code: LIMIT_CLIENT_MEMORY },
];

/** One option occurrence found in argv. */
interface Token {
  readonly code: string;
  readonly value: string | null;
  /** Index in argv of the word holding the option. */
  readonly index: number;
  /** Index in argv of the word holding the value (index, or the next word); -1 without one. */
  readonly valueIndex: number;
  /** Position of a short option letter in its word; -1 for a long option. */
  readonly charIndex: number;
}

/**
 * Why scanning stopped: an unknown option (`optopt` is the byte getopt reports: the letter,
 * or NUL for an unknown or ambiguous long option), or a missing argument for option `code`.
 */
type ScanError = { readonly kind: 'invalid'; readonly optopt: string } | { readonly kind: 'missing'; readonly code: string };

interface Scan {
  readonly tokens: Token[];
  readonly error: ScanError | null;
}

function shortHasArg(c: string): boolean | null {
  // ':' is the argument marker, never an option (getopt reports `-:` as invalid).
  if (c === ':') return null;
  const at = SHORT_OPTIONS.indexOf(c);
  if (at < 0) return null;
  return SHORT_OPTIONS[at + 1] === ':';
}

/**
 * glibc's long option lookup: an exact name wins; otherwise a unique prefix; several prefix
 * matches are ambiguous (all our options differ, so glibc's "same target" exception never
 * applies).
 */
function findLong(name: string): LongOption | 'ambiguous' | null {
  let found: LongOption | null = null;
  let count = 0;
  for (const opt of LONG_OPTIONS) {
    if (opt.name === name) return opt;
    if (opt.name.startsWith(name)) {
      found = opt;
      count++;
    }
  }
  if (count > 1) return 'ambiguous';
  return found;
}

/**
 * glibc's getopt stops at the first non-option word when POSIXLY_CORRECT is in the environment,
 * whatever its value (`nutcracker -V extra -x` then shows the version, and `extra -t` runs).
 */
export function posixlyCorrect(env: NodeJS.ProcessEnv = process.env): boolean {
  return env['POSIXLY_CORRECT'] !== undefined;
}

/**
 * Walks argv as GNU getopt_long does in its default (permuting) mode: non-option words are
 * skipped wherever they are (unless `stopAtNonOption`, POSIXLY_CORRECT's mode, where the first
 * one ends option processing), `--` ends option processing, `-` alone is a non-option, short
 * options group (`-dt`), an argument is the rest of the word (`-v5`) or else the next word
 * whatever it looks like (`-o -c` logs to a file named `-c`), long options take `=value` or the
 * next word. Stops at the first error, keeping the options before it (their validation errors
 * come first, as nc_get_options validates while it scans).
 */
function scan(argv: readonly string[], stopAtNonOption: boolean): Scan {
  const tokens: Token[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') break;
    if (word.length < 2 || word[0] !== '-') {
      if (stopAtNonOption) break;
      continue;
    }
    if (word[1] === '-') {
      const eq = word.indexOf('=');
      const name = eq < 0 ? word.slice(2) : word.slice(2, eq);
      const opt = findLong(name);
      if (opt === null || opt === 'ambiguous') return { tokens, error: { kind: 'invalid', optopt: '\0' } };
      if (!opt.hasArg) {
        // `--help=x`: glibc reports the option's own letter.
        if (eq >= 0) return { tokens, error: { kind: 'invalid', optopt: opt.code } };
        tokens.push({ code: opt.code, value: null, index: i, valueIndex: -1, charIndex: -1 });
        continue;
      }
      if (eq >= 0) {
        tokens.push({ code: opt.code, value: word.slice(eq + 1), index: i, valueIndex: i, charIndex: -1 });
        continue;
      }
      if (i + 1 >= argv.length) return { tokens, error: { kind: 'missing', code: opt.code } };
      tokens.push({ code: opt.code, value: argv[i + 1]!, index: i, valueIndex: i + 1, charIndex: -1 });
      i++;
      continue;
    }
    for (let j = 1; j < word.length; j++) {
      const c = word[j]!;
      const hasArg = shortHasArg(c);
      if (hasArg === null) return { tokens, error: { kind: 'invalid', optopt: c } };
      if (!hasArg) {
        tokens.push({ code: c, value: null, index: i, valueIndex: -1, charIndex: j });
        continue;
      }
      if (j + 1 < word.length) {
        tokens.push({ code: c, value: word.slice(j + 1), index: i, valueIndex: i, charIndex: j });
      } else if (i + 1 < argv.length) {
        tokens.push({ code: c, value: argv[i + 1]!, index: i, valueIndex: i + 1, charIndex: j });
        i++;
      } else {
        return { tokens, error: { kind: 'missing', code: c } };
      }
      break;
    }
  }
  return { tokens, error: null };
}

/** Below it, a limit would close clients busy with nothing out of the ordinary. */
export const MIN_CLIENT_MEMORY_LIMIT = 1024 * 1024;

const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1, b: 1, k: 1e3, kb: 1024, m: 1e6, mb: 1024 ** 2, g: 1e9, gb: 1024 ** 3,
};

/**
 * A size as Redis's configuration reads one (memtoll): digits, then optionally a unit in any
 * case, k/m/g for powers of 1000 and kb/mb/gb for powers of 1024. null when it is not one.
 */
export function parseSize(text: string): number | null {
  const m = /^(\d+)([a-z]*)$/i.exec(text);
  if (m === null) return null;
  const unit = SIZE_UNITS[m[2]!.toLowerCase()];
  if (unit === undefined) return null;
  const n = Number(m[1]) * unit;
  return Number.isSafeInteger(n) ? n : null;
}

/** The largest C int: nc_atoi's result type. */
const INT_MAX = 2147483647;

/**
 * twemproxy's nc_atoi: the whole string must be ASCII digits, else -1 (so an empty string,
 * a sign or spaces are all "not a number"). A value past INT_MAX is -1 too: nutcracker's int
 * wraps, and its own check for a negative result then refuses 2147483648..4294967295 with
 * "requires a number". Larger values wrap to anything (4294967301 is port 5 to nutcracker);
 * refusing them all keeps the refusals nutcracker makes without copying the accident.
 */
function atoi(text: string): number {
  if (text.length === 0) return -1;
  let value = 0;
  for (let k = 0; k < text.length; k++) {
    const d = text.charCodeAt(k) - 48;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
    if (value > INT_MAX) return -1;
  }
  return value;
}

function scanErrorText(error: ScanError): string {
  if (error.kind === 'invalid') return `${PROGRAM}: invalid option -- '${error.optopt}'`;
  switch (error.code) {
    case 'o':
    case 'c':
    case 'p':
      return `${PROGRAM}: option -${error.code} requires a file name`;
    case 'a':
      return `${PROGRAM}: option -a requires a string`;
    case WORKERS:
      return `${PROGRAM}: option --workers requires a positive number or 'auto'`;
    case LIMIT_CLIENT_MEMORY:
      return `${PROGRAM}: option --limit-client-memory requires a size (bytes, or a number with k, kb, m, mb, g or gb), 0 for no limit, or 'auto'`;
    default:
      return `${PROGRAM}: option -${error.code} requires a number`;
  }
}

/**
 * Parses argv (without node and script paths) the way `nutcracker` parses its own; `env` is
 * read for POSIXLY_CORRECT only. `notUtf8` holds the indexes of the words that reached the
 * process as bytes that are not UTF-8 (see raw-argv.ts): Node has turned those bytes into
 * U+FFFD, so a file name among them would name another file.
 */
export function parseArgs(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  notUtf8: ReadonlySet<number> = new Set(),
): ParseResult {
  let showHelp = false;
  let showVersion = false;
  let describeStats = false;
  let testConf = false;
  let daemonize = false;
  let verbosity: number = DEFAULTS.verbosity;
  let output: string | null = null;
  let confFile: string | null = null;
  let statsPort: number = DEFAULTS.statsPort;
  let statsAddr: string = DEFAULTS.statsAddr;
  let statsInterval: number = DEFAULTS.statsInterval;
  let pidFile: string | null = null;
  let mbufSize: number = DEFAULTS.mbufSize;
  let workers: number | 'auto' = DEFAULTS.workers;
  let limitClientMemory: number | 'auto' = DEFAULTS.limitClientMemory;

  const fail = (error: string): ParseResult => ({ ok: false, error });
  const { tokens, error } = scan(argv, posixlyCorrect(env));
  for (const { code, value, valueIndex } of tokens) {
    const arg = value ?? '';
    if ((code === 'o' || code === 'c' || code === 'p') && notUtf8.has(valueIndex)) {
      // nutcracker opens such a name byte for byte; Walnut would open or create a file of
      // another name (a pid file where no script looks), so it refuses instead.
      return fail(`${PROGRAM}: option -${code} file name is not valid UTF-8, which Walnut cannot open`);
    }
    switch (code) {
      case 'h':
        showHelp = true;
        showVersion = true;
        break;
      case 'V':
        showVersion = true;
        break;
      case 't':
        testConf = true;
        break;
      case 'd':
        daemonize = true;
        break;
      case 'D':
        describeStats = true;
        showVersion = true;
        break;
      case 'v': {
        const n = atoi(arg);
        if (n < 0) return fail(`${PROGRAM}: option -v requires a number`);
        verbosity = n;
        break;
      }
      case 'o':
        output = arg;
        break;
      case 'c':
        confFile = arg;
        break;
      case 's': {
        const n = atoi(arg);
        if (n < 0) return fail(`${PROGRAM}: option -s requires a number`);
        if (n < 1 || n > 65535) return fail(`${PROGRAM}: option -s value ${n} is not a valid port`);
        statsPort = n;
        break;
      }
      case 'i': {
        const n = atoi(arg);
        if (n < 0) return fail(`${PROGRAM}: option -i requires a number`);
        statsInterval = n;
        break;
      }
      case 'a':
        statsAddr = arg;
        break;
      case 'p':
        pidFile = arg;
        break;
      case 'm': {
        const n = atoi(arg);
        if (n <= 0) return fail(`${PROGRAM}: option -m requires a non-zero number`);
        if (n < MBUF_MIN_SIZE || n > MBUF_MAX_SIZE) {
          return fail(`${PROGRAM}: mbuf chunk size must be between ${MBUF_MIN_SIZE} and ${MBUF_MAX_SIZE} bytes`);
        }
        mbufSize = n;
        break;
      }
      case WORKERS: {
        if (arg === 'auto') {
          workers = 'auto';
          break;
        }
        const n = atoi(arg);
        if (n <= 0) return fail(scanErrorText({ kind: 'missing', code: WORKERS }));
        workers = n;
        break;
      }
      case LIMIT_CLIENT_MEMORY: {
        if (arg === 'auto') {
          limitClientMemory = 'auto';
          break;
        }
        const n = parseSize(arg);
        if (n === null) return fail(scanErrorText({ kind: 'missing', code: LIMIT_CLIENT_MEMORY }));
        if (n !== 0 && n < MIN_CLIENT_MEMORY_LIMIT) {
          return fail(`${PROGRAM}: option --limit-client-memory value ${arg} is below the least limit, 1mb (0 sets no limit)`);
        }
        limitClientMemory = n;
        break;
      }
      default:
        // scan() only produces codes from the tables above.
        return fail(`${PROGRAM}: invalid option -- '${code}'`);
    }
  }
  if (error !== null) return fail(scanErrorText(error));
  return {
    ok: true,
    options: {
      showHelp,
      showVersion,
      describeStats,
      testConf,
      daemonize,
      verbosity,
      output,
      confFile,
      statsPort,
      statsAddr,
      statsInterval,
      pidFile,
      mbufSize,
      workers,
      limitClientMemory,
    },
  };
}

/** The configuration file to read, and how it was chosen when -c did not name it. */
export interface ConfFileChoice {
  readonly file: string;
  /** For a message when the file cannot be read: the default paths tried; null with -c. */
  readonly note: string | null;
}

/**
 * The configuration file to use: `-c` as given; else conf/walnut.yml, unless only twemproxy's
 * conf/nutcracker.yml exists (so a checkout laid out for nutcracker runs unchanged).
 */
export function resolveConfFile(options: CliOptions, exists: (path: string) => boolean = existsSync): ConfFileChoice {
  if (options.confFile !== null) return { file: options.confFile, note: null };
  if (exists(DEFAULTS.confFile)) return { file: DEFAULTS.confFile, note: null };
  if (exists(DEFAULTS.legacyConfFile)) {
    return {
      file: DEFAULTS.legacyConfFile,
      note: `no -c given and ${DEFAULTS.confFile} does not exist, so twemproxy's default ${DEFAULTS.legacyConfFile} was used`,
    };
  }
  return {
    file: DEFAULTS.confFile,
    note: `no -c given: tried ${DEFAULTS.confFile}, then twemproxy's default ${DEFAULTS.legacyConfFile}, and neither exists; expected one of them, or a file named with -c`,
  };
}

/**
 * argv with every -d / --daemonize removed (for the re-spawned daemon child), found with the
 * same scanner so that a `d` inside an option argument (`-c dd.yml`, `-vd`) is left alone:
 * `-dt` becomes `-t`, `-d` and `--daem` disappear.
 */
export function argvWithoutDaemonize(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): string[] {
  const drop = new Map<number, Set<number>>();
  // The child inherits the environment, so it will read argv in the same mode.
  for (const t of scan(argv, posixlyCorrect(env)).tokens) {
    if (t.code !== 'd') continue;
    let chars = drop.get(t.index);
    if (chars === undefined) {
      chars = new Set();
      drop.set(t.index, chars);
    }
    chars.add(t.charIndex);
  }
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    const chars = drop.get(i);
    if (chars === undefined) {
      out.push(word);
      continue;
    }
    if (chars.has(-1)) continue;
    let kept = '-';
    for (let j = 1; j < word.length; j++) if (!chars.has(j)) kept += word[j];
    if (kept !== '-') out.push(kept);
  }
  return out;
}
