/**
 * One `servers:` entry, `host:port:weight [name]` or `/path:weight [name]`, parsed from the
 * right as nc_conf.c conf_add_server does; plus twemproxy's name order (nc_string.c string_compare).
 */
import type { ServerConfig } from './config.js';
import { KETAMA_PORT, MAX_PORT } from './defaults.js';
import { quote } from './config-error.js';
import { byteLength, isDigits, ncAtoi } from './scalar.js';

/** twemproxy's reasons (the text after `conf: directive "servers" `), spelled as it does (sic). */
export const SERVER_FORMAT_REASON =
  'has an invalid "hostname:port:weight [name]"or "/path/unix_socket:weight [name]" format string';
export const SERVER_WEIGHT_REASON = 'has an invalid weight in "hostname:port:weight [name]" format string';
export const SERVER_ZERO_WEIGHT_REASON = 'has a zero weight in "hostname:port:weight [name]" format string';
export const SERVER_PORT_REASON = 'has an invalid port in "hostname:port:weight [name]" format string';

/** Why an entry was rejected: twemproxy's reason and our explanation of it. */
export interface ServerEntryProblem {
  readonly error: string;
  readonly detail: string;
}

const EXPECTED = 'expected "host:port:weight [name]" (e.g. "127.0.0.1:6379:1") or "/path/to/socket:weight [name]"';

/** Parse one `servers:` entry (`host:port:weight [name]` or `/path:weight [name]`). Returns the ServerConfig or an error reason (twemproxy's wording). */
export function parseServerEntry(entry: string): ServerConfig | { error: string } {
  const result = analyseServerEntry(entry);
  return 'error' in result ? { error: result.error } : result;
}

/** parseServerEntry with a human explanation of any problem. */
export function analyseServerEntry(entry: string): ServerConfig | ServerEntryProblem {
  const unix = entry.charCodeAt(0) === 0x2f; /* '/' */
  const what = `${quote(entry)} is not a valid server`;
  // Everything after the last space is the name, so names cannot contain spaces.
  const space = lastIndexBefore(entry, ' ', entry.length);
  const name = space >= 0 ? entry.slice(space + 1) : null;
  let end = space >= 0 ? space : entry.length;
  const nameNote =
    name !== null ? ` (the text after the last space, ${quote(name)}, is read as the server name)` : '';

  const weightColon = lastIndexBefore(entry, ':', end);
  if (weightColon < 0) {
    return problem(SERVER_FORMAT_REASON, `${what}: it has no ${unix ? '":weight"' : '":port:weight"'}${nameNote}; ${EXPECTED}`);
  }
  const weightText = entry.slice(weightColon + 1, end);
  end = weightColon;

  let portText = '';
  const portColon = lastIndexBefore(entry, ':', end);
  if (unix) {
    if (portColon >= 0) {
      return problem(
        SERVER_FORMAT_REASON,
        `${what}: the unix socket path ${quote(entry.slice(0, end))} contains ":"${nameNote}; expected "/path/to/socket:weight [name]" with no ":" in the path`,
      );
    }
  } else {
    if (portColon < 0) {
      return problem(
        SERVER_FORMAT_REASON,
        `${what}: it has only one ":"${nameNote}; ${EXPECTED}`,
      );
    }
    portText = entry.slice(portColon + 1, end);
    end = portColon;
    // twemproxy's right-to-left scan also looks for a NUL byte left of the port and fails if found.
    if (lastIndexBefore(entry, '\u0000', end) >= 0) {
      return problem(SERVER_FORMAT_REASON, `${what}: the host contains a NUL character; ${EXPECTED}`);
    }
  }
  const addr = entry.slice(0, end);

  const weight = ncAtoi(weightText);
  if (weight < 0) {
    if (isDigits(weightText)) {
      return problem(
        SERVER_WEIGHT_REASON,
        `${what}: weight ${quote(weightText)} is out of range (twemproxy's 32-bit parser turns it negative); expected a whole number from 1 to 2147483647`,
      );
    }
    const hint = weightText.includes(' ') ? '; server names cannot contain spaces' : '';
    return problem(
      SERVER_WEIGHT_REASON,
      `${what}: weight ${quote(weightText)} is not a number${nameNote}; expected a whole number of 1 or more written with digits 0-9${hint}`,
    );
  }
  if (weight === 0) {
    return problem(SERVER_ZERO_WEIGHT_REASON, `${what}: weight is 0; expected a whole number of 1 or more`);
  }

  let port = 0;
  if (!unix) {
    port = ncAtoi(portText);
    if (port < 1 || port > MAX_PORT) {
      return problem(
        SERVER_PORT_REASON,
        `${what}: port ${quote(portText)} is not valid; expected a number from 1 to ${MAX_PORT}`,
      );
    }
  }

  // An empty name (entry ending in a space) still counts as given; pname keeps the space then.
  const pname = name !== null && name.length > 0 ? entry.slice(0, space) : entry;
  let serverName: string;
  if (name !== null) serverName = name;
  else if (port === KETAMA_PORT) serverName = addr;
  else serverName = `${addr}:${portText}`;

  return {
    pname,
    name: serverName,
    host: unix ? '' : addr,
    port,
    path: unix ? addr : null,
    weight,
  };
}

/** twemproxy's length-first name order (shorter first, then bytewise). */
export function compareNames(a: string, b: string): number {
  const la = byteLength(a);
  const lb = byteLength(b);
  if (la !== lb) return la - lb;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function problem(error: string, detail: string): ServerEntryProblem {
  return { error, detail };
}

/** Index of the last `ch` strictly before `end`, or -1 (lastIndexOf treats a negative start as 0). */
function lastIndexBefore(text: string, ch: string, end: number): number {
  if (end <= 0) return -1;
  return text.lastIndexOf(ch, end - 1);
}
