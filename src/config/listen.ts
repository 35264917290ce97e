/**
 * The `listen:` value: `host:port` (split at the last colon) or `/path [mode]` for a unix socket.
 * Mirrors nc_conf.c conf_set_listen plus the pure checks of nc_util.c nc_resolve (unix path length).
 */
import type { ListenConfig } from './config.js';
import { quote } from './config-error.js';
import { MAX_PORT, MAX_SOCKET_MODE, UNIX_PATH_MAX } from './defaults.js';
import { byteLength, ncAtoi } from './scalar.js';

/** twemproxy's reasons (the text after `conf: directive "listen" `). */
export const LISTEN_FORMAT_REASON = 'has an invalid "hostname:port" format string';
export const LISTEN_PORT_REASON = 'has an invalid port in "hostname:port" format string';
export const LISTEN_PERM_REASON =
  'has an invalid file permission in "socket_path permission" format string';
/** CONF_ERROR: name resolution failed or the unix path does not fit sockaddr_un. */
export const LISTEN_VALUE_REASON = 'has an invalid value';

/** Why a listen value was rejected: twemproxy's reason and our explanation. */
export interface ListenProblem {
  readonly error: string;
  readonly detail: string;
}

const EXPECTED = 'expected "host:port" (e.g. "127.0.0.1:22121") or a unix socket "/path/to/socket [mode]"';

/**
 * Parse a `listen:` value without resolving the host: `address` is the host as written (load.ts
 * fills in the resolved address).
 */
export function parseListen(value: string): ListenConfig | ListenProblem {
  if (value.charCodeAt(0) === 0x2f /* '/' */) return parseUnixListen(value);

  const colon = value.lastIndexOf(':');
  if (colon < 0) {
    return { error: LISTEN_FORMAT_REASON, detail: `${quote(value)} has no ":port"; ${EXPECTED}` };
  }
  const host = value.slice(0, colon);
  const portText = value.slice(colon + 1);
  const port = ncAtoi(portText);
  if (port < 1 || port > MAX_PORT) {
    return {
      error: LISTEN_PORT_REASON,
      detail: `port ${quote(portText)} in ${quote(value)} is not valid; expected a number from 1 to ${MAX_PORT}`,
    };
  }
  // getaddrinfo("") always fails, so twemproxy rejects an empty host at resolution time.
  if (host.length === 0) {
    return {
      error: LISTEN_VALUE_REASON,
      detail: `host in ${quote(value)} is empty; expected "host:port", e.g. "0.0.0.0:${portText}" to listen on all addresses`,
    };
  }
  return { raw: value, host, address: host, port, path: null, mode: 0 };
}

function parseUnixListen(value: string): ListenConfig | ListenProblem {
  // The text after the last space is an octal permission, parsed like strtol(s, NULL, 8).
  const space = value.lastIndexOf(' ');
  let path = value;
  let mode = 0;
  if (space >= 0) {
    path = value.slice(0, space);
    const permText = value.slice(space + 1);
    const perm = strtolOctal(permText);
    if (perm === null || perm > MAX_SOCKET_MODE) {
      return {
        error: LISTEN_PERM_REASON,
        detail: `permission ${quote(permText)} in ${quote(value)} is not valid; expected an octal mode of at most 0777 after the last space, e.g. "/tmp/walnut.sock 0666"`,
      };
    }
    mode = perm;
  }
  const length = byteLength(path);
  if (length >= UNIX_PATH_MAX) {
    return {
      error: LISTEN_VALUE_REASON,
      detail: `unix socket path ${quote(path)} is ${length} bytes long; expected fewer than ${UNIX_PATH_MAX} bytes`,
    };
  }
  return { raw: value, host: '', address: '', port: 0, path, mode };
}

const LONG_MAX = (1n << 63n) - 1n;

/**
 * C strtol(text, NULL, 8) followed by the cast to a 32-bit mode_t: leading white space, an
 * optional sign, then octal digits up to the first other character (none gives 0). Returns null
 * when strtol would report ERANGE.
 */
export function strtolOctal(text: string): number | null {
  let i = 0;
  while (i < text.length && ' \t\n\v\f\r'.includes(text.charAt(i))) i++;
  let negative = false;
  if (text.charAt(i) === '+' || text.charAt(i) === '-') {
    negative = text.charAt(i) === '-';
    i++;
  }
  let magnitude = 0n;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x37) break;
    magnitude = magnitude * 8n + BigInt(c - 0x30);
    if (magnitude > LONG_MAX + 1n) return null;
    i++;
  }
  if (!negative && magnitude > LONG_MAX) return null;
  const signed = negative ? -magnitude : magnitude;
  return Number(BigInt.asUintN(32, signed));
}

/** True when parseListen rejected the value. */
export function isListenProblem(value: ListenConfig | ListenProblem): value is ListenProblem {
  return 'error' in value;
}
