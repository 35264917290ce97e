/**
 * Reads a nutcracker YAML file into a validated Config (nc_conf.c conf_create: open, pre-validate,
 * parse, post-validate), resolving listen host names as twemproxy does, also under -t.
 */
import { readFile } from 'node:fs/promises';
import type { Config, PoolConfig } from './config.js';
import { ConfigError, quote } from './config-error.js';
import { analyseConfig, type ListenToResolve } from './validate.js';
import { LineMap } from './yaml-subset.js';
import { strerror } from '../util/errno.js';
import { gaiText, resolveLikeGetaddrinfo } from '../util/host-lookup.js';

/**
 * Resolves a listen host to one address, or rejects with a Node-style error carrying `code`
 * (ENOTFOUND, EAI_AGAIN, ...).
 */
export type ListenResolver = (host: string) => Promise<string>;

/**
 * Read, parse, validate; resolves listen host names (like twemproxy, also under -t). Throws
 * ConfigError. `openNote` ends the message when the file cannot be read (e.g. which default
 * paths were tried).
 */
export async function loadConfig(file: string, openNote: string | null = null): Promise<Config> {
  return loadConfigWith(file, resolveLikeGetaddrinfo, openNote);
}

/** loadConfig with another resolver (tests, or callers that cache lookups). */
export async function loadConfigWith(file: string, resolve: ListenResolver, openNote: string | null = null): Promise<Config> {
  return configFromBytes(await readConfigFile(file, openNote), file, resolve);
}

/** The bytes of a configuration file (`openNote`: why this file, said if it cannot be opened). Throws ConfigError. */
export async function readConfigFile(file: string, openNote: string | null = null): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw fileError(file, err, openNote);
  }
}

/**
 * loadConfig on bytes already read from `file` (named in messages): what --workers workers
 * use, so that each runs the configuration the primary validated, even if the file has
 * changed since. Throws ConfigError.
 */
export async function configFromBytes(
  bytes: Buffer,
  file: string,
  resolve: ListenResolver = resolveLikeGetaddrinfo,
): Promise<Config> {
  const text = decode(bytes, file);
  const analysis = analyseConfig(text, file);

  // twemproxy resolves each listen host as it reads it, so these failures come first.
  const byPool = new Map<string, string>();
  for (const listen of analysis.listens) {
    byPool.set(listen.pool, await resolveListen(listen, file, resolve));
  }
  if (analysis.error !== null) throw analysis.error;
  const config = analysis.config as Config;

  // Pool names are unique once validation passed.
  const pools = config.pools.map((pool): PoolConfig => {
    const address = byPool.get(pool.name);
    if (address === undefined) return pool;
    return Object.freeze({ ...pool, listen: Object.freeze({ ...pool.listen, address }) });
  });
  return Object.freeze({ file: config.file, pools: Object.freeze(pools) });
}

/** Pure part (no file I/O, no DNS): text -> config with listen.address = host as written. Throws ConfigError. */
export function parseConfig(text: string, file: string): Config {
  const analysis = analyseConfig(text, file);
  if (analysis.error !== null) throw analysis.error;
  return analysis.config as Config;
}

async function resolveListen(listen: ListenToResolve, file: string, resolve: ListenResolver): Promise<string> {
  try {
    return await resolve(listen.host);
  } catch (err) {
    const code = errorCode(err);
    const bracketHint = listen.host.startsWith('[')
      ? '; IPv6 addresses are written without brackets, e.g. "::1:22121"'
      : '';
    throw new ConfigError({
      file,
      line: listen.line,
      pool: listen.pool,
      key: 'listen',
      detail: `cannot resolve host ${quote(listen.host)} of ${quote(listen.raw)}: ${gaiText(code)}; expected a host name or IP address that resolves${bracketHint}`,
      twemproxyText: 'conf: directive "listen" has an invalid value',
    });
  }
}

/** File-system errors twemproxy reports with strerror; errno.ts lacks a few that only files produce. */
const FILE_STRERROR: Readonly<Record<string, string>> = {
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  ELOOP: 'Too many levels of symbolic links',
  EFBIG: 'File too large',
};

function fileError(file: string, err: unknown, note: string | null): ConfigError {
  const code = errorCode(err);
  const text = FILE_STRERROR[code] ?? strerror(code);
  const more = note === null ? '' : `; ${note}`;
  // fopen() succeeds on a directory; libyaml's read then fails (reader error 2).
  if (code === 'EISDIR') {
    return new ConfigError({
      file,
      detail: `cannot read: ${text}; expected a YAML file${more}`,
      twemproxyText: 'conf: failed (err 2) to get the next yaml document',
    });
  }
  return new ConfigError({
    file,
    detail: `cannot open: ${text}${more}`,
    twemproxyText: `conf: failed to open configuration '${file}': ${text}`,
  });
}

function errorCode(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return '';
}

/**
 * Bytes -> text the way libyaml's reader accepts them: UTF-16 when the file starts with its byte
 * order mark, otherwise strict UTF-8 (a leading BOM dropped).
 */
function decode(bytes: Buffer, file: string): string {
  const b0 = bytes[0];
  const b1 = bytes[1];
  if ((b0 === 0xff && b1 === 0xfe) || (b0 === 0xfe && b1 === 0xff)) {
    if (bytes.length % 2 !== 0) throw readerError(file, null, 'the UTF-16 file ends in the middle of a character');
    const body = Buffer.from(bytes.subarray(2));
    if (b0 === 0xfe) body.swap16();
    return body.toString('utf16le');
  }
  const bad = firstInvalidUtf8(bytes);
  if (bad >= 0) {
    const line = new LineMap(bytes.subarray(0, bad).toString('latin1')).line(bad);
    throw readerError(file, line, `byte 0x${(bytes[bad] ?? 0).toString(16).padStart(2, '0')} at offset ${bad} is not valid UTF-8; expected a UTF-8 (or UTF-16 with BOM) file`);
  }
  const text = bytes.toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function readerError(file: string, line: number | null, detail: string): ConfigError {
  return new ConfigError({ file, line, detail, twemproxyText: 'conf: failed (err 2) to get the next yaml document' });
}

/** Offset of the first byte that breaks UTF-8 (overlong forms, surrogates, > U+10FFFF included), or -1. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] as number;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    let cp: number;
    if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
      min = 0x80;
      cp = b & 0x1f;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      min = 0x800;
      cp = b & 0x0f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      min = 0x10000;
      cp = b & 0x07;
    } else {
      return i;
    }
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}
