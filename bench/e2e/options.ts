// Command-line options of the end-to-end benchmark (`npm run bench -- [options]`) and the
// request counts they imply. No twemproxy counterpart.

import { MEMCACHE_TESTS } from './memcache-load.js';
import { REDIS_TESTS } from './redis-benchmark.js';

export const SECTIONS = ['redis', 'memcache', 'connect', 'bulk', 'workers', 'idle'] as const;
export type Section = (typeof SECTIONS)[number];

/** Every test name --skip accepts (SET and GET name a redis and a memcached test each). */
export const TEST_NAMES: readonly string[] = [...new Set<string>([...REDIS_TESTS, ...MEMCACHE_TESTS])];

export interface BenchOptions {
  rounds: number;
  quick: boolean;
  /** Multiplies every request count (--quick uses 0.25). */
  scale: number;
  sections: ReadonlySet<Section>;
  /** Tests left out of the warm-up and the rounds, by name (upper case), in every suite. */
  skip: ReadonlySet<string>;
  idleClients: number;
  /** Extra arguments for Walnut (e.g. --workers 2), split on whitespace. */
  walnutArgs: string[];
  /** Extra arguments for nutcracker (e.g. -v 5, its default verbosity), split on whitespace. */
  twemproxyArgs: string[];
  /** Where result JSON goes; relative paths are taken from the repository root. */
  outDir: string;
  /** Proxies on CPU 0, everything else (servers, load generators) on the other CPUs. */
  pin: boolean;
  help: boolean;
}

export const USAGE = `usage: npm run bench -- [options]

Runs redis-benchmark, a memcached load and short-lived connections (connect, GET, close)
against the servers directly, against C twemproxy (nutcracker) and against Walnut,
interleaved round by round, then times 10,000-key MGETs and compares Walnut --workers 2 with
one process, and measures memory per idle client and after a burst of large values. Prints
tables and writes
bench/results/<time>.json.

  --rounds N         rounds of every test (default 3); figures are medians over rounds
  --quick            1 round with a quarter of the requests (under 2 minutes)
  --scale F          multiply every request count by F (default 1, or 0.25 with --quick)
  --only LIST        run only these sections, comma-separated: ${SECTIONS.join(',')}
  --skip LIST        leave these tests out of the warm-up, the rounds and the workers section,
                     comma-separated: ${TEST_NAMES.join(',')}; "--only redis,memcache
                     --skip MSET,MGET_10" compares with a twemproxy that has served no
                     multi-key command (see bench/README.md)
  --idle-clients N   idle connections for the memory test (default 10000)
  --walnut-args S    extra Walnut arguments, e.g. --walnut-args "--workers 2"
  --twemproxy-args S extra nutcracker arguments, after the bench's own "-v 4 -i 30000"; e.g.
                     --twemproxy-args "-v 5" runs it at its default log level (slower)
  --out DIR          where to write the JSON (default bench/results)
  --pin              proxies on CPU 0, servers and load generators on the other CPUs (steadier
                     figures; needs taskset and 2+ CPUs; skips the workers section)
  -h, --help         this text
`;

/** Parses argv (without node and script); throws an Error with a message for bad input. */
export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  let rounds: number | undefined;
  let quick = false;
  let scale: number | undefined;
  let sections: Set<Section> = new Set(SECTIONS);
  const skip = new Set<string>();
  let idleClients = 10_000;
  let walnutArgs: string[] = [];
  let twemproxyArgs: string[] = [];
  let outDir = 'bench/results';
  let pin = false;
  let help = false;

  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i] as string;
    const eq = raw.startsWith('--') ? raw.indexOf('=') : -1;
    const name = eq > 0 ? raw.slice(0, eq) : raw;
    const inline = eq > 0 ? raw.slice(eq + 1) : undefined;
    const value = (): string => {
      if (inline !== undefined) return inline;
      const v = argv[++i];
      if (v === undefined) throw new Error(`${name} needs a value`);
      return v;
    };
    const positiveInt = (v: string): number => {
      const n = Number(v);
      if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1) throw new Error(`${name}: not a positive integer: ${v}`);
      return n;
    };
    switch (name) {
      case '--rounds':
        rounds = positiveInt(value());
        break;
      case '--quick':
        quick = true;
        break;
      case '--scale': {
        const v = value();
        const n = Number(v);
        if (v.trim() === '' || !Number.isFinite(n) || n <= 0) throw new Error(`--scale: not a positive number: ${v}`);
        scale = n;
        break;
      }
      case '--only': {
        sections = new Set();
        for (const part of value().split(',')) {
          const s = part.trim();
          if (s === '') continue;
          if (!(SECTIONS as readonly string[]).includes(s)) {
            throw new Error(`--only: unknown section ${s} (sections: ${SECTIONS.join(', ')})`);
          }
          sections.add(s as Section);
        }
        if (sections.size === 0) throw new Error('--only: no section given');
        break;
      }
      case '--skip': {
        let given = 0;
        for (const part of value().split(',')) {
          const t = part.trim().toUpperCase();
          if (t === '') continue;
          if (!TEST_NAMES.includes(t)) throw new Error(`--skip: unknown test ${part.trim()} (tests: ${TEST_NAMES.join(', ')})`);
          skip.add(t);
          given++;
        }
        if (given === 0) throw new Error('--skip: no test given');
        break;
      }
      case '--idle-clients':
        idleClients = positiveInt(value());
        break;
      case '--walnut-args':
        walnutArgs = value().split(/\s+/).filter((a) => a !== '');
        break;
      case '--twemproxy-args':
        twemproxyArgs = value().split(/\s+/).filter((a) => a !== '');
        break;
      case '--out':
        outDir = value();
        break;
      case '--pin':
        pin = true;
        break;
      case '-h':
      case '--help':
        help = true;
        break;
      default:
        throw new Error(`unknown option ${raw}`);
    }
  }
  return {
    rounds: rounds ?? (quick ? 1 : 3),
    quick,
    scale: scale ?? (quick ? 0.25 : 1),
    sections,
    skip,
    idleClients,
    walnutArgs,
    twemproxyArgs,
    outDir,
    pin,
    help,
  };
}

/**
 * Requests per run: a base per pipeline depth (sized so one run takes about a second on a
 * small machine), times a per-test weight for heavier commands, times --scale; never fewer than
 * a few batches per client.
 */
export function requestCount(base: number, weight: number, scale: number, clients: number, pipeline: number): number {
  const floor = clients * pipeline * 4;
  return Math.max(floor, Math.round((base * weight * scale) / 1000) * 1000);
}
