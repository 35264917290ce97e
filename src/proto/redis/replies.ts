/**
 * Replies the proxy itself sends to redis clients: local answers (PING, AUTH ...), Redis's own
 * error texts for bad requests, and twemproxy's `-ERR <strerror>` for transport failures
 * (nc_redis.c redis_reply / redis_post_coalesce, nc_request.c req_forward_error).
 *
 * The constants are shared by every Msg that uses them: never mutate them.
 */

import { walnutVersion } from '../../version.js';

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

export const R_PONG = latin1('+PONG\r\n');
export const R_OK = latin1('+OK\r\n');
/** twemproxy's text (Redis itself ends it with a period). */
export const R_NOAUTH = latin1('-NOAUTH Authentication required\r\n');
export const R_INVALID_PASSWORD = latin1('-ERR invalid password\r\n');
export const R_AUTH_NOT_SET = latin1('-ERR Client sent AUTH, but no password is set\r\n');
export const R_SYNTAX = latin1('-ERR syntax error\r\n');
export const R_SELECT_UNSUPPORTED = latin1(
  '-ERR walnut: SELECT is not supported (the pool\'s database is fixed by redis_db)\r\n',
);
export const R_EVAL_NO_KEYS = latin1('-ERR walnut: a script with 0 keys cannot be routed; pass at least one key\r\n');
/** Redis's texts for a bad EVAL numkeys. */
export const R_NOT_INTEGER = latin1('-ERR value is not an integer or out of range\r\n');
export const R_EVAL_TOO_MANY_KEYS = latin1('-ERR Number of keys can\'t be greater than number of args\r\n');
/** Redis's reply to EVALSHA with a digest that is not 40 bytes long (checked before numkeys). */
export const R_NOSCRIPT = latin1('-NOSCRIPT No matching script. Please use EVAL.\r\n');
export const R_EVAL_NEGATIVE_KEYS = latin1('-ERR Number of keys can\'t be negative\r\n');
export const R_NIL = latin1('$-1\r\n');
/** Redis's texts for CLIENT SETNAME and HELLO. */
export const R_BAD_CLIENT_NAME = latin1('-ERR Client names cannot contain spaces, newlines or special characters.\r\n');
export const R_NOPROTO = latin1('-NOPROTO unsupported protocol version\r\n');
export const R_HELLO_BAD_VERSION = latin1('-ERR Protocol version is not an integer or out of range\r\n');
export const R_WRONGPASS = latin1('-WRONGPASS invalid username-password pair or user is disabled.\r\n');
export const R_HELLO_NOAUTH = latin1(
  '-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n',
);
/**
 * A transaction whose MULTI was refused: its commands are not run, and its EXEC gets Redis's
 * reply to a transaction that had an error while queueing.
 */
export const R_NOT_RUN_IN_REFUSED_MULTI = latin1(
  '-ERR walnut: not run: it follows a MULTI the proxy refused (EXEC or DISCARD ends that transaction)\r\n',
);
export const R_EXECABORT = latin1('-EXECABORT Transaction discarded because of previous errors.\r\n');
/** twemproxy's reply when a fragmented command gets an unexpected sub-reply (strerror(EINVAL)). */
export const R_INVALID_ARGUMENT = latin1('-ERR Invalid argument\r\n');

/** INFO, answered by the proxy: what a client's connect-time check looks for, and no more. */
export function infoReply(): Buffer {
  const body =
    `# Server\r\nwalnut_version:${walnutVersion()}\r\nredis_mode:proxy\r\nprocess_id:${process.pid}\r\n` +
    '\r\n# Persistence\r\nloading:0\r\n' +
    // valkey-glide looks for the primary here; clients write through the proxy as to one.
    '\r\n# Replication\r\nrole:master\r\nconnected_slaves:0\r\n';
  return latin1(`$${Buffer.byteLength(body, 'latin1')}\r\n${body}\r\n`);
}

/** HELLO's description of the connection, as a RESP2 flat map (what Redis sends to a RESP2 client). */
export function helloReply(): Buffer {
  const bulk = (v: string): string => `$${Buffer.byteLength(v, 'latin1')}\r\n${v}\r\n`;
  const body =
    bulk('server') + bulk('walnut') + bulk('version') + bulk(walnutVersion()) + bulk('proto') + ':2\r\n' +
    bulk('mode') + bulk('standalone') + bulk('role') + bulk('master') + bulk('modules') + '*0\r\n';
  return latin1(`*12\r\n${body}`);
}

/** `-ERR <text>\r\n`, the form of every proxy-generated error. */
export function errReply(text: string): Buffer {
  return latin1(`-ERR ${text}\r\n`);
}

/** Framing error reply: `-ERR Protocol error: <what>\r\n` (Redis's wording). */
export function protocolError(what: string): Buffer {
  return latin1(`-ERR Protocol error: ${what}\r\n`);
}

/** Redis's arity error; `lower` is the lower-case command name. */
export function wrongArityReply(lower: Buffer): Buffer {
  return latin1(`-ERR wrong number of arguments for '${lower.toString('latin1')}' command\r\n`);
}

export function unsupportedReply(name: string): Buffer {
  return latin1(`-ERR walnut: '${name}' is not supported by the proxy\r\n`);
}

/** Longest part of an unknown command name repeated in the error. */
export const UNKNOWN_NAME_MAX = 128;

/**
 * Redis's `unknown command` error (without its `with args beginning with` part) for the name in
 * bytes [start, end) of buf, cut to UNKNOWN_NAME_MAX bytes; CR and LF become spaces so the name
 * cannot break the reply line (Redis does the same).
 */
export function unknownCommandReply(buf: Buffer, start: number, end: number): Buffer {
  const head = latin1("-ERR unknown command '");
  const tail = latin1("'\r\n");
  const n = Math.min(end - start, UNKNOWN_NAME_MAX);
  const out = Buffer.allocUnsafe(head.length + n + tail.length);
  head.copy(out, 0);
  for (let i = 0; i < n; i++) {
    const b = buf[start + i]!;
    out[head.length + i] = b === 13 || b === 10 ? 32 : b;
  }
  tail.copy(out, head.length + n);
  return out;
}

/** A bulk string reply holding bytes [start, end) of buf (PING <msg>, ECHO). */
export function bulkReply(buf: Buffer, start: number, end: number): Buffer {
  const len = end - start;
  const head = `$${len}\r\n`;
  const out = Buffer.allocUnsafe(head.length + len + 2);
  out.write(head, 0, 'latin1');
  buf.copy(out, head.length, start, end);
  out[head.length + len] = 13;
  out[head.length + len + 1] = 10;
  return out;
}
