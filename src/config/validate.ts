/**
 * Interprets raw pools into a Config: the conf_commands table (nc_conf.c conf_set_* and
 * conf_add_server, applied in file order), then conf_post_validate (defaults, per-pool checks,
 * duplicate listen addresses and pool names) and twemproxy's sorting of servers and pools.
 */
import type { Config, ListenConfig, PoolConfig, ServerConfig } from './config.js';
import { ConfigError, quote } from './config-error.js';
import { DEFAULTS } from './defaults.js';
import { isListenProblem, parseListen } from './listen.js';
import { ncAtoi, isDigits, byteLength } from './scalar.js';
import { analyseServerEntry, compareNames } from './server-entry.js';
import { contextOf, positionOf, readPools, type RawPool, type RawScalar } from './yaml-subset.js';
import { DISTRIBUTION_NAMES, HASH_NAMES, type DistributionName, type HashName } from '../hash/names.js';

/** A TCP listen address twemproxy resolves while parsing (conf_set_listen -> nc_resolve). */
export interface ListenToResolve {
  readonly pool: string;
  readonly line: number;
  readonly host: string;
  readonly port: number;
  /** The listen value as written. */
  readonly raw: string;
}

/**
 * The outcome of checking a file without touching the network. twemproxy resolves each listen
 * host the moment it reads it, so a resolution failure wins over any error later in the file:
 * `listens` holds the listens read before `error` (all of them when there is none).
 */
export interface Analysis {
  readonly config: Config | null;
  readonly error: ConfigError | null;
  readonly listens: readonly ListenToResolve[];
}

/** The text on stderr when twemproxy rejects a file without a log message (empty scalars). */
export function syntaxInvalidText(file: string): string {
  return `configuration file '${file}' syntax is invalid`;
}

/** Check and interpret a configuration text; never throws for bad input. */
export function analyseConfig(text: string, file: string): Analysis {
  const analysis = analyseText(text, file);
  // A leading BOM is dropped when the file is read, or skipped by the YAML lexer.
  const bom = text.indexOf(BOM, 1);
  if (bom < 0) return analysis;
  if (analysis.error === null) return checkStrayBomReading(text, file, analysis);
  return { ...analysis, error: strayBomError(text, file, bom, analysis.error) ?? analysis.error };
}

function analyseText(text: string, file: string): Analysis {
  let pools: RawPool[];
  try {
    pools = readPools(text, file);
  } catch (err) {
    if (err instanceof ConfigError) return { config: null, error: err, listens: [] };
    throw err;
  }
  const listens: ListenToResolve[] = [];
  try {
    const drafts = interpret(pools, file, listens);
    return { config: postValidate(drafts, file), error: null, listens };
  } catch (err) {
    if (err instanceof ConfigError) return { config: null, error: err, listens };
    throw err;
  }
}

const BOM = '\ufeff';

/**
 * The yaml package keeps a byte-order mark that starts a line as part of what follows (a pool
 * named "\ufeffbeta" when two files with marks are joined), where libyaml skips it and counts
 * a column, which usually breaks the indentation: a file read without error is refused when
 * libyaml, as near as asLibyamlReadsIt gets, would not read it.
 */
function checkStrayBomReading(text: string, file: string, analysis: Analysis): Analysis {
  const lineStart = /[\n\r\u0085\u2028\u2029]\ufeff/.exec(text);
  if (lineStart === null) return analysis;
  const asLibyaml = analyseText(asLibyamlReadsIt(text), file);
  if (asLibyaml.error === null) return analysis;
  return { config: null, error: bomError(text, file, lineStart.index + 1, asLibyaml.error.twemproxyText), listens: asLibyaml.listens };
}

/**
 * A byte-order mark past the start of the file (left by an editor, or by joining files) makes
 * the file fail in ways that name something else, e.g. a pool without servers. When the file
 * without it passes or fails differently, the mark is what to report.
 */
function strayBomError(text: string, file: string, bom: number, error: ConfigError): ConfigError | null {
  const without = text.slice(0, 1) + text.slice(1).replaceAll(BOM, '');
  const clean = analyseText(without, file).error;
  if (clean !== null && clean.twemproxyText === error.twemproxyText && clean.line === error.line && clean.pool === error.pool && clean.key === error.key) {
    return null;
  }
  const asLibyaml = analyseText(asLibyamlReadsIt(text), file).error;
  return bomError(text, file, bom, asLibyaml?.twemproxyText ?? null);
}

/** The stray mark at `bom` as the reason; `twemproxyText` null when libyaml reads the file. */
function bomError(text: string, file: string, bom: number, twemproxyText: string | null): ConfigError {
  const without = text.slice(0, 1) + text.slice(1).replaceAll(BOM, '');
  const { line, column } = positionOf(text, bom);
  const { pool, key } = contextOf(without, bom - countOf(text.slice(1, bom), BOM));
  const walnutOnly = twemproxyText === null ? " (twemproxy's YAML reader skips one that starts a line; Walnut does not read such files)" : '';
  return new ConfigError({
    file,
    line,
    pool,
    key,
    detail: `byte-order mark (U+FEFF, invisible in most editors) at line ${line} column ${column}; expected one only at the very start of the file: remove this one (joining files, or some editors, leave one behind)${walnutOnly}`,
    twemproxyText,
  });
}

/**
 * The text as libyaml reads it, near enough for twemproxy's verdict (it matched nutcracker 0.5.0
 * for a BOM put at each position of a sample file): a BOM that starts a line is skipped where a
 * token is looked for, taking one column, but it is no space, so the plain value of the line
 * before cannot go on over that line (the " #" ends it); any other BOM is part of the text.
 */
function asLibyamlReadsIt(text: string): string {
  return text.replace(/([\n\r\u0085\u2028\u2029]+)\ufeff/g, ' #$1 ');
}

function countOf(text: string, char: string): number {
  let n = 0;
  for (let i = text.indexOf(char); i >= 0; i = text.indexOf(char, i + 1)) n++;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Interpretation (conf_parse + conf_commands)

interface ServerDraft {
  readonly server: ServerConfig;
  readonly line: number;
}

/** A pool being read: every setting is optional until postValidate fills in defaults. */
interface PoolDraft {
  readonly name: RawScalar;
  /** key -> line where it was set, for "is a duplicate". */
  readonly seen: Map<string, number>;
  listen: ListenConfig | null;
  listenLine: number;
  hash: HashName | null;
  hashTag: Buffer | null;
  distribution: DistributionName | null;
  redisAuth: string | null;
  readonly numbers: Map<NumberKey, { value: number; line: number }>;
  readonly flags: Map<FlagKey, boolean>;
  readonly servers: ServerDraft[];
}

type NumberKey =
  | 'timeout'
  | 'backlog'
  | 'client_connections'
  | 'redis_db'
  | 'server_connections'
  | 'server_retry_timeout'
  | 'server_failure_limit';
type FlagKey = 'redis' | 'preconnect' | 'auto_eject_hosts' | 'tcpkeepalive' | 'reuseport';

/** A rejected value: twemproxy's reason (after `conf: directive "<key>" `) and our explanation. */
interface Problem {
  readonly reason: string;
  readonly detail: string;
}

interface Directive {
  /** What a valid value looks like, for messages. */
  readonly expect: string;
  /** False for servers: each entry adds one, twemproxy has no duplicate check there. */
  readonly once: boolean;
  readonly apply: (draft: PoolDraft, value: RawScalar, listens: ListenToResolve[]) => Problem | null;
}

const NUMBER_DIGITS = 'written with the digits 0-9 only (no sign, decimal point or unit)';
const NOT_A_NUMBER = 'is not a number';
const NOT_A_BOOL = 'is not "true" or "false"';

/** `what` names the quantity, e.g. "a whole number of milliseconds". */
function numberDirective(key: NumberKey, what: string): Directive {
  return {
    expect: `${what} ${NUMBER_DIGITS}`,
    once: true,
    apply(draft, value) {
      const n = ncAtoi(value.value);
      if (n < 0) {
        const detail = isDigits(value.value)
          ? `${quote(value.value)} is out of range (twemproxy's 32-bit parser turns it negative); expected ${what} below 2147483648`
          : `${quote(value.value)} is not a number; expected ${what} ${NUMBER_DIGITS}`;
        return { reason: NOT_A_NUMBER, detail };
      }
      draft.numbers.set(key, { value: n, line: value.line });
      return null;
    },
  };
}

function flagDirective(key: FlagKey): Directive {
  return {
    expect: 'true or false',
    once: true,
    apply(draft, value) {
      if (value.value === 'true') draft.flags.set(key, true);
      else if (value.value === 'false') draft.flags.set(key, false);
      else {
        return {
          reason: NOT_A_BOOL,
          detail: `${quote(value.value)} is not a boolean; expected exactly true or false (lowercase)`,
        };
      }
      return null;
    },
  };
}

const HASH_LIST = HASH_NAMES.join(', ');
const DISTRIBUTION_LIST = DISTRIBUTION_NAMES.join(', ');

const DIRECTIVES: Readonly<Record<string, Directive>> = {
  listen: {
    expect: '"host:port" (e.g. "127.0.0.1:22121") or "/path/to/socket [mode]"',
    once: true,
    apply(draft, value, listens) {
      const listen = parseListen(value.value);
      if (isListenProblem(listen)) return { reason: listen.error, detail: listen.detail };
      draft.listen = listen;
      draft.listenLine = value.line;
      if (listen.path === null) {
        listens.push({ pool: draft.name.value, line: value.line, host: listen.host, port: listen.port, raw: listen.raw });
      }
      return null;
    },
  },
  hash: {
    expect: `one of ${HASH_LIST}`,
    once: true,
    apply(draft, value) {
      const hash = HASH_NAMES.find((h) => h === value.value);
      if (hash === undefined) {
        return {
          reason: 'is not a valid hash',
          detail: `${quote(value.value)} is not a valid hash; expected one of ${HASH_LIST}${suggest(value.value, HASH_NAMES)}`,
        };
      }
      draft.hash = hash;
      return null;
    },
  },
  hash_tag: {
    expect: 'two characters, e.g. "{}"',
    once: true,
    apply(draft, value) {
      const bytes = Buffer.from(value.value, 'utf8');
      if (bytes.length !== 2) {
        return {
          reason: 'is not a valid hash tag string with two characters',
          detail: `${quote(value.value)} is ${bytes.length} byte${bytes.length === 1 ? '' : 's'} long; expected exactly two characters (bytes), the tag's start and end, e.g. "{}" or "$$"`,
        };
      }
      draft.hashTag = bytes;
      return null;
    },
  },
  distribution: {
    expect: `one of ${DISTRIBUTION_LIST}`,
    once: true,
    apply(draft, value) {
      const dist = DISTRIBUTION_NAMES.find((d) => d === value.value);
      if (dist === undefined) {
        return {
          reason: 'is not a valid distribution',
          detail: `${quote(value.value)} is not a valid distribution; expected one of ${DISTRIBUTION_LIST}${suggest(value.value, DISTRIBUTION_NAMES)}`,
        };
      }
      draft.distribution = dist;
      return null;
    },
  },
  timeout: numberDirective('timeout', 'a whole number of milliseconds'),
  backlog: numberDirective('backlog', 'a whole number'),
  client_connections: numberDirective('client_connections', 'a whole number'),
  redis: flagDirective('redis'),
  redis_auth: {
    expect: 'the password text',
    once: true,
    apply(draft, value) {
      draft.redisAuth = value.value;
      return null;
    },
  },
  redis_db: numberDirective('redis_db', 'a whole number'),
  preconnect: flagDirective('preconnect'),
  auto_eject_hosts: flagDirective('auto_eject_hosts'),
  server_connections: numberDirective('server_connections', 'a whole number'),
  server_retry_timeout: numberDirective('server_retry_timeout', 'a whole number of milliseconds'),
  server_failure_limit: numberDirective('server_failure_limit', 'a whole number'),
  tcpkeepalive: flagDirective('tcpkeepalive'),
  // Not in twemproxy 0.5.0 (only its later HEAD): accepted on purpose.
  reuseport: flagDirective('reuseport'),
  servers: {
    expect: '"host:port:weight [name]" or "/path/to/socket:weight [name]"',
    once: false,
    apply(draft, value) {
      const server = analyseServerEntry(value.value);
      if ('error' in server) return { reason: server.error, detail: server.detail };
      draft.servers.push({ server, line: value.line });
      return null;
    },
  },
};

const KEY_NAMES = Object.keys(DIRECTIVES);

const NOT_SUPPORTED: Readonly<Record<string, string>> = {
  sentinels: 'twemproxy 0.5.0 has no sentinel support',
  client_timeout: 'use "timeout" (milliseconds) for the per-request timeout',
  server_timeout: 'use "timeout" (milliseconds) for the per-request timeout',
};

/** conf_parse: pools and keys in file order; the first problem aborts, as in twemproxy. */
function interpret(pools: readonly RawPool[], file: string, listens: ListenToResolve[]): PoolDraft[] {
  const drafts: PoolDraft[] = [];
  for (const pool of pools) {
    const poolName = pool.name.value;
    rejectNul(pool.name, file, null, null, 'the pool name');
    if (poolName === '') {
      throw new ConfigError({
        file,
        line: pool.name.line,
        detail: 'pool name is empty; expected a name such as "alpha:"',
        twemproxyText: syntaxInvalidText(file),
      });
    }
    const draft: PoolDraft = {
      name: pool.name,
      seen: new Map(),
      listen: null,
      listenLine: pool.name.line,
      hash: null,
      hashTag: null,
      distribution: null,
      redisAuth: null,
      numbers: new Map(),
      flags: new Map(),
      servers: [],
    };
    drafts.push(draft);

    for (const entry of pool.entries) {
      const key = entry.key.value;
      rejectNul(entry.key, file, poolName, null, 'the key');
      if (key === '') {
        throw new ConfigError({
          file,
          line: entry.key.line,
          pool: poolName,
          detail: `a key is empty; expected one of ${KEY_NAMES.join(', ')}`,
          twemproxyText: syntaxInvalidText(file),
        });
      }
      for (const value of entry.values) {
        const directive = DIRECTIVES[key];
        rejectNul(value, file, poolName, key, 'the value');
        if (value.value === '') {
          throw new ConfigError({
            file,
            line: value.line,
            pool: poolName,
            key,
            detail:
              directive === undefined
                ? `the value is empty (and ${quote(key)} is not a known key); expected one of ${KEY_NAMES.join(', ')} with a value`
                : `${entry.isList ? 'a list item' : 'the value'} is empty; expected ${directive.expect}`,
            twemproxyText: syntaxInvalidText(file),
          });
        }
        if (directive === undefined) {
          const note = NOT_SUPPORTED[key];
          throw new ConfigError({
            file,
            line: entry.key.line,
            pool: poolName,
            key,
            detail: `unknown key${note === undefined ? '' : ` (${note})`}; expected one of ${KEY_NAMES.join(', ')}${suggest(key, KEY_NAMES)}`,
            twemproxyText: `conf: directive "${key}" is unknown`,
          });
        }
        const previous = draft.seen.get(key);
        if (directive.once && previous !== undefined) {
          throw new ConfigError({
            file,
            line: value.line,
            pool: poolName,
            key,
            detail: `key is given twice in this pool (first on line ${previous}); expected it at most once`,
            twemproxyText: `conf: directive "${key}" is a duplicate`,
          });
        }
        const problem = directive.apply(draft, value, listens);
        if (problem !== null) {
          throw new ConfigError({
            file,
            line: value.line,
            pool: poolName,
            key,
            detail: problem.detail,
            twemproxyText: `conf: directive "${key}" ${problem.reason}`,
          });
        }
        if (!draft.seen.has(key)) draft.seen.set(key, value.line);
      }
    }
  }
  return drafts;
}

// ---------------------------------------------------------------------------------------------
// Post-validation (conf_post_validate / conf_validate_pool / conf_validate_server)

interface CheckedPool {
  readonly draft: PoolDraft;
  readonly config: PoolConfig;
}

function postValidate(drafts: readonly PoolDraft[], file: string): Config {
  if (drafts.length === 0) {
    throw new ConfigError({
      file,
      detail: 'the file defines no pools; expected at least one pool',
      twemproxyText: `conf: '${file}' has no pools`,
    });
  }
  const checked = drafts.map((d) => validatePool(d, file));

  // Pools sorted by listen string (stable, like glibc's merge sort); first equal neighbours fail.
  const byListen = [...checked].sort((a, b) => compareNames(a.config.listen.raw, b.config.listen.raw));
  for (let i = 0; i + 1 < byListen.length; i++) {
    const a = byListen[i] as CheckedPool;
    const b = byListen[i + 1] as CheckedPool;
    if (a.config.listen.raw === b.config.listen.raw) {
      throw new ConfigError({
        file,
        line: b.draft.listenLine,
        pool: b.config.name,
        key: 'listen',
        detail:
          a.config.name === b.config.name
            ? `pool name is used twice (first on line ${a.draft.name.line}), both times listening on ${quote(b.config.listen.raw)}; expected each pool once, with its own name and listen address`
            : `${quote(b.config.listen.raw)} is also the listen address of pool ${quote(a.config.name)} (line ${a.draft.listenLine}); expected a different listen address for each pool`,
        twemproxyText: `conf: pools '${a.config.name}' and '${b.config.name}' have the same listen address '${a.config.listen.raw}'`,
      });
    }
  }

  const byName = [...checked].sort((a, b) => compareNames(a.config.name, b.config.name));
  for (let i = 0; i + 1 < byName.length; i++) {
    const a = byName[i] as CheckedPool;
    const b = byName[i + 1] as CheckedPool;
    if (a.config.name === b.config.name) {
      throw new ConfigError({
        file,
        line: b.draft.name.line,
        pool: b.config.name,
        detail: `pool name is used twice (first on line ${a.draft.name.line}); expected each pool name once`,
        twemproxyText: `conf: '${file}' has pools with same name ${a.config.name}'`,
      });
    }
  }

  return deepFreeze({ file, pools: byName.map((c) => c.config) });
}

function validatePool(draft: PoolDraft, file: string): CheckedPool {
  const name = draft.name.value;
  const listen = draft.listen;
  if (listen === null) {
    throw new ConfigError({
      file,
      line: draft.name.line,
      pool: name,
      key: 'listen',
      detail: 'pool has no "listen:" key; expected e.g. "listen: 127.0.0.1:22121"',
      twemproxyText: 'conf: directive "listen:" is missing',
    });
  }
  const num = (key: NumberKey, fallback: number): number => draft.numbers.get(key)?.value ?? fallback;
  const flag = (key: FlagKey, fallback: boolean): boolean => draft.flags.get(key) ?? fallback;

  const serverConnections = draft.numbers.get('server_connections');
  if (serverConnections !== undefined && serverConnections.value === 0) {
    throw new ConfigError({
      file,
      line: serverConnections.line,
      pool: name,
      key: 'server_connections',
      detail: '"0" is not allowed; expected 1 or more connections per server',
      twemproxyText: 'conf: directive "server_connections:" cannot be 0',
    });
  }
  const redis = flag('redis', DEFAULTS.redis);
  if (!redis && draft.redisAuth !== null) {
    throw new ConfigError({
      file,
      line: draft.seen.get('redis_auth') ?? draft.name.line,
      pool: name,
      key: 'redis_auth',
      detail: 'redis_auth is set but this is not a redis pool; expected "redis: true" in the pool, or no redis_auth',
      twemproxyText: 'conf: directive "redis_auth:" is only valid for a redis pool',
    });
  }
  if (draft.servers.length === 0) {
    throw new ConfigError({
      file,
      line: draft.name.line,
      pool: name,
      key: 'servers',
      detail: 'pool has no servers; expected a "servers:" list with at least one "- host:port:weight" line',
      twemproxyText: `conf: pool '${name}' has no servers`,
    });
  }
  const servers = [...draft.servers].sort((a, b) => compareNames(a.server.name, b.server.name));
  for (let i = 0; i + 1 < servers.length; i++) {
    const a = servers[i] as ServerDraft;
    const b = servers[i + 1] as ServerDraft;
    if (a.server.name === b.server.name) {
      throw new ConfigError({
        file,
        line: b.line,
        pool: name,
        key: 'servers',
        detail: `${quote(b.server.pname)} has the same server name ${quote(b.server.name)} as ${quote(a.server.pname)} (line ${a.line}); expected unique names (${nameRule(b.server)})`,
        twemproxyText: `conf: pool '${name}' has servers with same name '${a.server.name}'`,
      });
    }
  }

  const config: PoolConfig = {
    name,
    listen,
    hash: draft.hash ?? DEFAULTS.hash,
    hashTag: draft.hashTag ?? DEFAULTS.hashTag,
    distribution: draft.distribution ?? DEFAULTS.distribution,
    timeout: num('timeout', DEFAULTS.timeout),
    backlog: num('backlog', DEFAULTS.backlog),
    // twemproxy parses and then ignores this; we keep it and enforce it.
    clientConnections: num('client_connections', DEFAULTS.clientConnections),
    redis,
    redisAuth: draft.redisAuth ?? DEFAULTS.redisAuth,
    redisDb: num('redis_db', DEFAULTS.redisDb),
    preconnect: flag('preconnect', DEFAULTS.preconnect),
    autoEjectHosts: flag('auto_eject_hosts', DEFAULTS.autoEjectHosts),
    serverConnections: num('server_connections', DEFAULTS.serverConnections),
    serverRetryTimeout: num('server_retry_timeout', DEFAULTS.serverRetryTimeout),
    serverFailureLimit: num('server_failure_limit', DEFAULTS.serverFailureLimit),
    tcpkeepalive: flag('tcpkeepalive', DEFAULTS.tcpkeepalive),
    reuseport: flag('reuseport', DEFAULTS.reuseport),
    servers: servers.map((s) => s.server),
  };
  return { draft, config };
}

/** How the duplicated name came about, so the user knows which way to fix it. */
function nameRule(server: ServerConfig): string {
  if (server.pname !== server.name && !server.pname.startsWith(`${server.name}:`)) {
    return 'the names written after the two entries are the same';
  }
  if (server.path !== null) return 'a unix socket server without a name is named "<path>:"; add a name after a space';
  if (server.port === 11211) {
    return 'servers on port 11211 without a name are named by host alone; add a name after a space';
  }
  return 'a server without a name is named "host:port", whatever its weight; add a name after a space';
}

// ---------------------------------------------------------------------------------------------
// Helpers

/**
 * twemproxy copies scalars with strndup, so a NUL written as "\0" truncates the copy and leaves
 * the rest undefined; we refuse such values instead of guessing.
 */
function rejectNul(scalar: RawScalar, file: string, pool: string | null, key: string | null, what: string): void {
  if (!scalar.value.includes('\u0000')) return;
  throw new ConfigError({
    file,
    line: scalar.line,
    pool,
    key,
    detail: `${what} ${quote(scalar.value)} contains a NUL character; expected text without "\\0" (twemproxy accepts it and then reads past the value's end)`,
    twemproxyText: null,
  });
}

/** " (did you mean ...?)" for a near miss, else ''. */
function suggest(value: string, candidates: readonly string[]): string {
  const lower = value.toLowerCase();
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = c.toLowerCase() === lower ? 0 : editDistance(lower, c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  const limit = Math.max(1, Math.min(3, Math.floor(byteLength(value) / 3)));
  return best !== null && bestDistance <= limit ? ` (did you mean ${quote(best)}?)` : '';
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a.charAt(i - 1) === b.charAt(j - 1) ? 0 : 1;
      cur.push(Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Buffer.isBuffer(value) && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
