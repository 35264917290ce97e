/**
 * Table-driven tests of the memcache request parser (src/proto/memcache/request-parser.ts):
 * every command and every error class, each case run whole, byte by byte and at random split
 * points; plus twemproxy's test_all.c memcache request cases adapted to Walnut's behaviour.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ROUTE_FRAGMENT, ROUTE_KEY, ROUTE_LOCAL, ROUTE_QUIT } from '../../../../src/proto/message.js';
import {
  MC_ADD,
  MC_APPEND,
  MC_CAS,
  MC_DECR,
  MC_DELETE,
  MC_GAT,
  MC_GATS,
  MC_GET,
  MC_GETS,
  MC_INCR,
  MC_META_SET,
  MC_PREPEND,
  MC_QUIT,
  MC_REPLACE,
  MC_SET,
  MC_TOUCH,
  MC_UNKNOWN,
  MC_UNSUPPORTED,
  MC_VERSION,
} from '../../../../src/proto/memcache/commands.js';
import { MC_RETRIEVAL_LINE_CAP, MemcacheRequestParser } from '../../../../src/proto/memcache/request-parser.js';
import type { ReqEvent } from './memcache-harness.js';
import { RequestRecorder, chunkings, latin1, parseRequests } from './memcache-harness.js';

const BAD_FORMAT = 'CLIENT_ERROR bad command line format\r\n';
const BAD_DATA = 'CLIENT_ERROR bad data chunk\r\n';
const BAD_DELTA = 'CLIENT_ERROR invalid numeric delta argument\r\n';
const BAD_EXPTIME = 'CLIENT_ERROR invalid exptime argument\r\n';
const DELETE_USAGE = 'CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n';
const ERROR = 'ERROR\r\n';
const LINE_TOO_LONG = 'CLIENT_ERROR line too long\r\n';
/**
 * A binary-protocol request header: magic 0x80, `opcode`, total body length `body` (< 256),
 * opaque `opaque` (4 bytes), the rest 0.
 */
const binaryHeader = (opcode: string, opaque: string, body = 0): string =>
  `\x80${opcode}${'\0'.repeat(9)}${String.fromCharCode(body)}${opaque}${'\0'.repeat(8)}`;
/** Walnut's refusal of it: a binary response, status 0x0083 (not supported), same opcode and opaque. */
const binaryRefusal = (opcode: string, opaque: string): string =>
  `\x81${opcode}\0\0\0\0\0\x83\0\0\0\x28${opaque}${'\0'.repeat(8)}walnut: binary protocol is not supported`;
const unsupported = (name: string): string => `CLIENT_ERROR walnut: '${name}' is not supported by the proxy\r\n`;

function fwd(cmd: number, data: string, key: string, noreply = false): ReqEvent {
  return { kind: 'req', route: ROUTE_KEY, cmd, data, key, keys: null, noreply, reply: null };
}
function frag(cmd: number, data: string, keys: string[]): ReqEvent {
  return { kind: 'req', route: ROUTE_FRAGMENT, cmd, data, key: keys[0]!, keys, noreply: false, reply: null };
}
function local(cmd: number, reply: string): ReqEvent {
  return { kind: 'req', route: ROUTE_LOCAL, cmd, data: '', key: '', keys: null, noreply: false, reply };
}
function quit(reply: string | null = null, cmd = MC_QUIT): ReqEvent {
  return { kind: 'req', route: ROUTE_QUIT, cmd, data: '', key: '', keys: null, noreply: false, reply };
}
function framing(reply: string): ReqEvent {
  return { kind: 'framing', reply };
}

interface Case {
  name: string;
  input: string;
  events: ReqEvent[];
  /** pendingBytes after the whole input (0 when omitted). */
  pending?: number;
}

const K250 = 'k'.repeat(250);
const K251 = 'k'.repeat(251);
const BIN = 'a\r\nb\nc\r\0\xff\r\n';

/**
 * A retrieval line (`<head> k... k...\r\n`) whose length before its LF is exactly `length`:
 * keys of 200 bytes, the last one shorter.
 */
function retrievalLine(head: string, length: number): string {
  const parts: string[] = [head];
  let len = head.length + 1; // the CR
  while (len + 1 + 200 + 2 <= length) {
    parts.push(`${'k'.repeat(196)}${String(parts.length % 10000).padStart(4, '0')}`);
    len += 201;
  }
  parts.push('z'.repeat(length - len - 1));
  const line = `${parts.join(' ')}\r\n`;
  assert.equal(line.length - 1, length);
  return line;
}

/** The keys of a retrieval line whose first `skip` tokens after the command are not keys. */
function keysOf(line: string, skip: number): string[] {
  return line.slice(0, -2).split(' ').filter((t) => t !== '').slice(skip);
}

const cases: Case[] = [
  // ---- retrieval
  { name: 'get one key', input: 'get key\r\n', events: [fwd(MC_GET, 'get key\r\n', 'key')] },
  { name: 'gets one key', input: 'gets u\r\n', events: [fwd(MC_GETS, 'gets u\r\n', 'u')] },
  {
    name: 'leading and repeated spaces are kept in the forwarded bytes',
    input: '  get   key  \r\n',
    events: [fwd(MC_GET, '  get   key  \r\n', 'key')],
  },
  { name: 'get 250-byte key', input: `get ${K250}\r\n`, events: [fwd(MC_GET, `get ${K250}\r\n`, K250)] },
  {
    name: 'key with control and high bytes',
    input: 'get a\tb\x01\xff\r\n',
    events: [fwd(MC_GET, 'get a\tb\x01\xff\r\n', 'a\tb\x01\xff')],
  },
  { name: 'get several keys', input: 'get a bb c\r\n', events: [frag(MC_GET, 'get a bb c\r\n', ['a', 'bb', 'c'])] },
  { name: 'get duplicate keys', input: 'get a a\r\n', events: [frag(MC_GET, 'get a a\r\n', ['a', 'a'])] },
  { name: 'gets several keys', input: 'gets x y \r\n', events: [frag(MC_GETS, 'gets x y \r\n', ['x', 'y'])] },
  { name: 'gat one key', input: 'gat 3600 key\r\n', events: [fwd(MC_GAT, 'gat 3600 key\r\n', 'key')] },
  { name: 'gat negative exptime', input: 'gat -1 key\r\n', events: [fwd(MC_GAT, 'gat -1 key\r\n', 'key')] },
  { name: 'gats several keys', input: 'gats 10 a b\r\n', events: [frag(MC_GATS, 'gats 10 a b\r\n', ['a', 'b'])] },
  { name: 'get without key', input: 'get\r\n', events: [local(MC_GET, BAD_FORMAT)] },
  { name: 'get with only a space', input: 'get \r\n', events: [local(MC_GET, BAD_FORMAT)] },
  { name: 'gets without key', input: 'gets\r\n', events: [local(MC_GETS, BAD_FORMAT)] },
  { name: 'get 251-byte key', input: `get ${K251}\r\n`, events: [local(MC_GET, BAD_FORMAT)] },
  { name: 'get with one bad key among many', input: `get a ${K251} b\r\n`, events: [local(MC_GET, BAD_FORMAT)] },
  // memcached takes `gat <exptime>` without a key: an empty result, or its exptime error.
  { name: 'gat without key', input: 'gat 10\r\n', events: [local(MC_GAT, 'END\r\n')] },
  { name: 'gats without key, bad exptime', input: 'gats abc\r\n', events: [local(MC_GATS, BAD_EXPTIME)] },
  { name: 'gat without anything', input: 'gat\r\n', events: [local(MC_GAT, BAD_FORMAT)] },
  { name: 'gat bad exptime', input: 'gat abc k\r\n', events: [local(MC_GAT, BAD_EXPTIME)] },
  { name: 'gats bad exptime', input: 'gats 1x a b\r\n', events: [local(MC_GATS, BAD_EXPTIME)] },

  // ---- storage
  {
    name: 'set',
    input: 'set key 0 600 5\r\nvalue\r\n',
    events: [fwd(MC_SET, 'set key 0 600 5\r\nvalue\r\n', 'key')],
  },
  {
    name: 'set noreply with binary data holding CR LF',
    input: `set key 1 0 ${BIN.length} noreply\r\n${BIN}\r\n`,
    events: [fwd(MC_SET, `set key 1 0 ${BIN.length} noreply\r\n${BIN}\r\n`, 'key', true)],
  },
  {
    name: 'add with a data block holding a bare LF',
    input: 'add key 0 0 1 noreply\r\n\n\r\n',
    events: [fwd(MC_ADD, 'add key 0 0 1 noreply\r\n\n\r\n', 'key', true)],
  },
  {
    name: 'replace with empty data',
    input: 'replace key 0 9 0 noreply\r\n\r\n',
    events: [fwd(MC_REPLACE, 'replace key 0 9 0 noreply\r\n\r\n', 'key', true)],
  },
  {
    name: 'append',
    input: 'append key 0 600 5\r\nvalue\r\n',
    events: [fwd(MC_APPEND, 'append key 0 600 5\r\nvalue\r\n', 'key')],
  },
  {
    name: 'prepend',
    input: 'prepend key 0 600 5\r\nvalue\r\n',
    events: [fwd(MC_PREPEND, 'prepend key 0 600 5\r\nvalue\r\n', 'key')],
  },
  {
    name: 'cas',
    input: 'cas key 0 600 5 123456\r\nvalue\r\n',
    events: [fwd(MC_CAS, 'cas key 0 600 5 123456\r\nvalue\r\n', 'key')],
  },
  {
    name: 'cas noreply with max unique',
    input: 'cas key 0 1 1 18446744073709551615 noreply\r\nx\r\n',
    events: [fwd(MC_CAS, 'cas key 0 1 1 18446744073709551615 noreply\r\nx\r\n', 'key', true)],
  },
  {
    name: 'negative storage exptime is accepted (memcached expires the item at once)',
    input: 'set k 0 -1 1\r\nx\r\n',
    events: [fwd(MC_SET, 'set k 0 -1 1\r\nx\r\n', 'k')],
  },
  {
    name: 'flags at the 32-bit maximum',
    input: 'set k 4294967295 0 1\r\nx\r\n',
    events: [fwd(MC_SET, 'set k 4294967295 0 1\r\nx\r\n', 'k')],
  },
  {
    name: 'set with a 250-byte key',
    input: `set ${K250} 0 0 1\r\nx\r\n`,
    events: [fwd(MC_SET, `set ${K250} 0 0 1\r\nx\r\n`, K250)],
  },
  {
    name: 'pipelined storage and retrieval',
    input: 'set a 0 0 3\r\nget\r\nget a\r\n',
    events: [fwd(MC_SET, 'set a 0 0 3\r\nget\r\n', 'a'), fwd(MC_GET, 'get a\r\n', 'a')],
  },
  // Shapes next to what the storage fast path takes (run whole they reach it, byte by byte not).
  {
    name: 'set: a 250-byte key, noreply, 9-digit numbers',
    input: `set ${K250} 999999999 999999999 1 noreply\r\nx\r\n`,
    events: [fwd(MC_SET, `set ${K250} 999999999 999999999 1 noreply\r\nx\r\n`, K250, true)],
  },
  {
    name: 'set: 10-digit flags and length with leading zeros, trailing spaces',
    input: 'set k 4294967295 0 0000000001  \r\nx\r\n',
    events: [fwd(MC_SET, 'set k 4294967295 0 0000000001  \r\nx\r\n', 'k')],
  },
  {
    name: 'set: a last token that is not quite noreply',
    input: 'set k 0 0 1 norepl\r\nx\r\nget k\r\n',
    events: [local(MC_SET, BAD_FORMAT), fwd(MC_GET, 'get k\r\n', 'k')],
  },
  {
    name: 'cas: a 20-digit unique over 64 bits',
    input: 'cas k 0 0 1 18446744073709551616\r\nx\r\nget k\r\n',
    events: [local(MC_CAS, BAD_FORMAT), fwd(MC_GET, 'get k\r\n', 'k')],
  },
  {
    name: 'set: data one byte long, then a pipelined get',
    input: 'set k 0 0 1\r\nxy\r\nget k\r\n',
    events: [local(MC_SET, BAD_DATA), local(MC_UNKNOWN, ERROR), fwd(MC_GET, 'get k\r\n', 'k')],
  },
  {
    name: 'set with a 251-byte key: error, data block skipped',
    input: `set ${K251} 0 0 5\r\nhello\r\nget k\r\n`,
    events: [local(MC_SET, BAD_FORMAT), fwd(MC_GET, 'get k\r\n', 'k')],
  },
  {
    name: 'set with bad flags: error, data block skipped',
    input: 'set k x 0 5\r\nhello\r\nget k\r\n',
    events: [local(MC_SET, BAD_FORMAT), fwd(MC_GET, 'get k\r\n', 'k')],
  },
  {
    name: 'set with negative flags: error, data block skipped',
    input: 'set k -1 0 1\r\nx\r\nget k\r\n',
    events: [local(MC_SET, BAD_FORMAT), fwd(MC_GET, 'get k\r\n', 'k')],
  },
  {
    name: 'set with flags over 32 bits: error, data block skipped',
    input: 'set k 4294967296 0 1\r\nx\r\n',
    events: [local(MC_SET, BAD_FORMAT)],
  },
  {
    name: 'set with bad exptime: error, data block skipped',
    input: 'set k 0 1y 2\r\nxx\r\n',
    events: [local(MC_SET, BAD_FORMAT)],
  },
  {
    name: 'set with an extra token: error, data block skipped',
    input: 'set k 0 0 5 extra\r\nhello\r\n',
    events: [local(MC_SET, BAD_FORMAT)],
  },
  {
    name: 'set with an unparseable length: error, the next line is a command',
    input: 'set k 0 0 abc\r\nhello\r\n',
    events: [local(MC_SET, BAD_FORMAT), local(MC_UNKNOWN, ERROR)],
  },
  {
    name: 'set with a negative length: error, no data skipped',
    input: 'set k 0 0 -1\r\nget k\r\n',
    events: [local(MC_SET, BAD_FORMAT), fwd(MC_GET, 'get k\r\n', 'k')],
  },
  {
    name: 'set with a length over INT_MAX - 2',
    input: 'set k 0 0 2147483646\r\nget k\r\n',
    events: [local(MC_SET, BAD_FORMAT), fwd(MC_GET, 'get k\r\n', 'k')],
  },
  { name: 'set missing its length', input: 'set k 0 0\r\n', events: [local(MC_SET, BAD_FORMAT)] },
  { name: 'add alone', input: 'add\r\n', events: [local(MC_ADD, BAD_FORMAT)] },
  {
    // memcached takes a cas line only with 6 or 7 tokens: to it this is no cas and `5` no
    // length, so it reads `value` as a command (ERROR, ERROR, END); skipping 7 bytes from there
    // would swallow the client's next request instead.
    name: 'cas missing its unique: an error, and no data block skipped',
    input: 'cas key 0 600 5 \r\nvalue\r\nget a\r\n',
    events: [local(MC_CAS, BAD_FORMAT), local(MC_UNKNOWN, ERROR), fwd(MC_GET, 'get a\r\n', 'a')],
  },
  {
    name: 'set with too many tokens: an error, and no data block skipped',
    input: 'set k 0 0 5 6 7\r\nhello\r\nget a\r\n',
    events: [local(MC_SET, BAD_FORMAT), local(MC_UNKNOWN, ERROR), fwd(MC_GET, 'get a\r\n', 'a')],
  },
  {
    name: 'cas with a non-numeric unique',
    input: 'cas k 0 0 1 abc\r\nx\r\n',
    events: [local(MC_CAS, BAD_FORMAT)],
  },
  {
    name: 'data longer than declared: bad data chunk, parsing resumes after bytes + 2',
    input: 'set k 0 0 5\r\nhelloXX\r\nget k\r\n',
    events: [local(MC_SET, BAD_DATA), local(MC_UNKNOWN, ERROR), fwd(MC_GET, 'get k\r\n', 'k')],
  },
  {
    name: 'data shorter than declared swallows the next line',
    input: 'set k 0 0 5\r\nhi\r\nget k\r\n',
    events: [local(MC_SET, BAD_DATA), local(MC_UNKNOWN, ERROR)],
  },
  {
    name: 'bad chunk with noreply: no reply at all (as memcached)',
    input: 'set key 0 5 10 noreply\r\nvalue12345\r\rget a\r\n',
    events: [fwd(MC_GET, 'get a\r\n', 'a')],
  },
  {
    name: 'bad header with noreply: no reply, data skipped',
    input: 'set k x 0 5 noreply\r\nhello\r\nget k\r\n',
    events: [fwd(MC_GET, 'get k\r\n', 'k')],
  },

  // ---- incr / decr / touch / delete
  { name: 'incr', input: 'incr key 1\r\n', events: [fwd(MC_INCR, 'incr key 1\r\n', 'key')] },
  {
    name: 'incr with max delta, noreply',
    input: 'incr key 18446744073709551615 noreply\r\n',
    events: [fwd(MC_INCR, 'incr key 18446744073709551615 noreply\r\n', 'key', true)],
  },
  { name: 'decr', input: 'decr key 0\r\n', events: [fwd(MC_DECR, 'decr key 0\r\n', 'key')] },
  { name: 'incr alone', input: 'incr\r\n', events: [local(MC_INCR, BAD_FORMAT)] },
  { name: 'decr without value', input: 'decr key\r\n', events: [local(MC_DECR, BAD_FORMAT)] },
  { name: 'decr with an extra token', input: 'decr key 0 extra\r\n', events: [local(MC_DECR, BAD_FORMAT)] },
  { name: 'incr non-numeric', input: 'incr key 0notanint\r\n', events: [local(MC_INCR, BAD_DELTA)] },
  { name: 'incr negative', input: 'incr key -1\r\n', events: [local(MC_INCR, BAD_DELTA)] },
  { name: 'incr over 64 bits', input: 'incr key 18446744073709551616\r\n', events: [local(MC_INCR, BAD_DELTA)] },
  { name: 'incr 251-byte key', input: `incr ${K251} 1\r\n`, events: [local(MC_INCR, BAD_FORMAT)] },
  { name: 'incr error with noreply is silent', input: 'incr k x noreply\r\n', events: [] },
  { name: 'incr without a delta but with noreply is silent', input: 'incr k noreply\r\n', events: [] },
  // With a token count memcached does not take for decr it answers ERROR, noreply or not.
  {
    name: 'decr with too many tokens is answered despite noreply',
    input: 'decr get k 3 noreply\r\n',
    events: [local(MC_DECR, BAD_FORMAT)],
  },
  { name: 'touch', input: 'touch key 12345\r\n', events: [fwd(MC_TOUCH, 'touch key 12345\r\n', 'key')] },
  {
    name: 'touch negative noreply',
    input: 'touch key -1 noreply\r\n',
    events: [fwd(MC_TOUCH, 'touch key -1 noreply\r\n', 'key', true)],
  },
  { name: 'touch missing arg', input: 'touch missingarg\r\n', events: [local(MC_TOUCH, BAD_FORMAT)] },
  { name: 'touch bad exptime', input: 'touch k abc\r\n', events: [local(MC_TOUCH, BAD_EXPTIME)] },
  { name: 'touch error with noreply is silent', input: 'touch k x noreply\r\n', events: [] },
  { name: 'delete', input: 'delete key\r\n', events: [fwd(MC_DELETE, 'delete key\r\n', 'key')] },
  { name: 'delete noreply', input: 'delete a noreply\r\n', events: [fwd(MC_DELETE, 'delete a noreply\r\n', 'a', true)] },
  { name: 'delete legacy 0', input: 'delete k 0\r\n', events: [fwd(MC_DELETE, 'delete k 0\r\n', 'k')] },
  {
    name: 'delete legacy 0 noreply',
    input: 'delete k 0 noreply\r\n',
    events: [fwd(MC_DELETE, 'delete k 0 noreply\r\n', 'k', true)],
  },
  { name: 'delete key named noreply', input: 'delete noreply\r\n', events: [fwd(MC_DELETE, 'delete noreply\r\n', 'noreply')] },
  { name: 'delete without key', input: 'delete \r\n', events: [local(MC_DELETE, BAD_FORMAT)] },
  { name: 'delete with a hold time', input: 'delete k 5\r\n', events: [local(MC_DELETE, DELETE_USAGE)] },
  { name: 'delete with two extra tokens', input: 'delete k x y\r\n', events: [local(MC_DELETE, DELETE_USAGE)] },
  { name: 'delete error with noreply is silent', input: 'delete k 5 noreply\r\n', events: [] },
  { name: 'delete with too many tokens is answered despite noreply', input: 'delete k 0 0 noreply\r\n', events: [local(MC_DELETE, DELETE_USAGE)] },
  { name: 'delete 251-byte key', input: `delete ${K251}\r\n`, events: [local(MC_DELETE, BAD_FORMAT)] },
  // memcached checks the hold time first: a bad one gets the usage text whatever the key's length.
  { name: 'delete 251-byte key with a hold time', input: `delete ${K251} 5\r\n`, events: [local(MC_DELETE, DELETE_USAGE)] },
  { name: 'delete 251-byte key with a legacy 0', input: `delete ${K251} 0\r\n`, events: [local(MC_DELETE, BAD_FORMAT)] },

  // ---- version / quit
  { name: 'version', input: 'version\r\n', events: [fwd(MC_VERSION, 'version\r\n', 'placeholder')] },
  { name: 'version trailing spaces', input: 'version  \r\n', events: [fwd(MC_VERSION, 'version  \r\n', 'placeholder')] },
  // memcached 1.6 ignores what follows `version` (memccapable sends `version foo bar` and
  // `version noreply`); the server is sent a plain `version`.
  { name: 'version extra', input: 'version extra\r\n', events: [fwd(MC_VERSION, 'version\r\n', 'placeholder')] },
  {
    name: 'version with several extra tokens',
    input: ' version  foo bar \r\nget a\r\n',
    events: [fwd(MC_VERSION, 'version\r\n', 'placeholder'), fwd(MC_GET, 'get a\r\n', 'a')],
  },
  { name: 'version noreply still gets its reply', input: 'version noreply\r\n', events: [fwd(MC_VERSION, 'version\r\n', 'placeholder')] },
  { name: 'version with a bare LF', input: 'version foo\nget a\r\n', events: [local(MC_VERSION, BAD_FORMAT), fwd(MC_GET, 'get a\r\n', 'a')] },
  { name: 'version with a CR inside', input: 'version fo\ro\r\n', events: [local(MC_VERSION, BAD_FORMAT)] },
  { name: 'versions is not version', input: 'versions\r\n', events: [local(MC_UNKNOWN, ERROR)] },
  { name: 'quit ignores what follows', input: 'quit\r\nget a\r\n', events: [quit()] },
  { name: 'quit extra', input: 'quit extra\r\nget a\r\n', events: [local(MC_QUIT, BAD_FORMAT), fwd(MC_GET, 'get a\r\n', 'a')] },

  // ---- unknown and unsupported commands
  { name: 'uppercase GET', input: 'GET a\r\n', events: [local(MC_UNKNOWN, ERROR)] },
  { name: 'uppercase DELETE', input: 'DELETE key\r\n', events: [local(MC_UNKNOWN, ERROR)] },
  { name: 'unknown command', input: 'foo bar\r\nget a\r\n', events: [local(MC_UNKNOWN, ERROR), fwd(MC_GET, 'get a\r\n', 'a')] },
  { name: 'empty line', input: '\r\n', events: [local(MC_UNKNOWN, ERROR)] },
  { name: 'blank line', input: '   \r\n', events: [local(MC_UNKNOWN, ERROR)] },
  { name: 'prefix of a command', input: 'ge a\r\n', events: [local(MC_UNKNOWN, ERROR)] },
  ...['flush_all', 'stats', 'stats items', 'verbosity 1', 'shutdown', 'slabs reassign 1 2', 'lru_crawler metadump all',
    'watch', 'cache_memlimit 10', 'misbehave', 'mg foo v', 'md foo', 'ma foo', 'mn', 'me foo'].map((line): Case => ({
    name: `unsupported: ${line}`,
    input: `${line}\r\nget a\r\n`,
    events: [local(MC_UNSUPPORTED, unsupported(line.split(' ')[0]!)), fwd(MC_GET, 'get a\r\n', 'a')],
  })),
  {
    name: 'unsupported meta set: its data block is skipped',
    input: 'ms foo 2 T0\r\nhi\r\nget a\r\n',
    events: [local(MC_META_SET, unsupported('ms')), fwd(MC_GET, 'get a\r\n', 'a')],
  },
  {
    name: 'unsupported with noreply: reply then close',
    input: 'flush_all noreply\r\nget a\r\n',
    events: [quit(unsupported('flush_all'), MC_UNSUPPORTED)],
  },

  // ---- line ends
  { name: 'bare LF', input: 'get a\nget b\r\n', events: [local(MC_GET, BAD_FORMAT), fwd(MC_GET, 'get b\r\n', 'b')] },
  { name: 'CR inside a key', input: 'get a\rb\r\n', events: [local(MC_GET, BAD_FORMAT)] },
  { name: 'CR CR LF', input: 'get key\r\r\n', events: [local(MC_GET, BAD_FORMAT)] },
  // memcached reads the line as a C string: it would answer 'get a' (or 'set a' with ERROR, then
  // run the data line as a command), one reply more or less than the client is owed.
  { name: 'NUL inside a key', input: 'get a\0b\r\nget c\r\n', events: [local(MC_GET, BAD_FORMAT), fwd(MC_GET, 'get c\r\n', 'c')] },
  { name: 'NUL inside a gets key', input: 'gets a\0\r\n', events: [local(MC_GETS, BAD_FORMAT)] },
  { name: 'NUL among keys', input: 'get a b\0 c\r\n', events: [local(MC_GET, BAD_FORMAT)] },
  {
    name: 'NUL inside a storage key: error, data block skipped',
    input: 'set a\0b 0 0 5\r\nhello\r\nget k\r\n',
    events: [local(MC_SET, BAD_FORMAT), fwd(MC_GET, 'get k\r\n', 'k')],
  },
  { name: 'NUL in a storage header number', input: 'set k 0\0 0 1\r\nx\r\n', events: [local(MC_SET, BAD_FORMAT)] },
  { name: 'NUL in delete', input: 'delete k\0\r\n', events: [local(MC_DELETE, BAD_FORMAT)] },
  { name: 'CR CR without LF waits', input: 'get key\r\r', events: [], pending: 9 },
  { name: 'unknown with bare LF', input: 'foo\n', events: [local(MC_UNKNOWN, ERROR)] },
  {
    name: 'storage header with bare LF: error, data block skipped',
    input: 'set k 0 0 1\nx\r\nget k\r\n',
    events: [local(MC_SET, BAD_FORMAT), fwd(MC_GET, 'get k\r\n', 'k')],
  },

  // ---- the binary protocol: every request refused in kind, the connection kept
  {
    name: 'binary requests are each refused, their bodies skipped by length',
    input: `${binaryHeader('\x00', 'ab12', 1)}k${binaryHeader('\x01', 'cd34', 14)}${'\0'.repeat(8)}kvalue${binaryHeader('\x0a', 'ef56')}`,
    events: [local(MC_UNKNOWN, binaryRefusal('\x00', 'ab12')), local(MC_UNKNOWN, binaryRefusal('\x01', 'cd34')), local(MC_UNKNOWN, binaryRefusal('\x0a', 'ef56'))],
  },
  { name: 'a binary body still to come is skipped, not held', input: `${binaryHeader('\x01', 'ab12', 200)}${'v'.repeat(50)}`, events: [local(MC_UNKNOWN, binaryRefusal('\x01', 'ab12'))], pending: 0 },
  { name: 'binary QUIT is refused and closes', input: `${binaryHeader('\x07', 'ab12')}${binaryHeader('\x00', 'cd34')}`, events: [quit(binaryRefusal('\x07', 'ab12'), MC_UNKNOWN)] },
  { name: 'binary QUITQ is refused and closes', input: `${binaryHeader('\x00', 'ab12')}${binaryHeader('\x17', 'cd34')}get a\r\n`, events: [local(MC_UNKNOWN, binaryRefusal('\x00', 'ab12')), quit(binaryRefusal('\x17', 'cd34'), MC_UNKNOWN)] },
  {
    name: 'a binary connection sending a header without the magic cannot be framed',
    input: `${binaryHeader('\x00', 'ab12')}get a b c d e f g h i j k l\r\n`,
    events: [local(MC_UNKNOWN, binaryRefusal('\x00', 'ab12')), framing(`\x81e\0\0\0\0\0\x83\0\0\0\x28e f ${'\0'.repeat(8)}walnut: binary protocol is not supported`)],
  },

  // ---- partial input
  { name: 'partial line', input: 'get ke', events: [], pending: 6 },
  { name: 'partial data block', input: 'set k 0 0 5\r\nhel', events: [], pending: 16 },
  // Skipped bytes are not held: they do not count toward the request size limit.
  { name: 'rejected header waiting to skip its data', input: 'cas key 0 600 5 x\r\nva', events: [local(MC_CAS, BAD_FORMAT)], pending: 0 },

  // ---- framing errors
  { name: 'binary header not whole yet', input: '\x80\x00\x00\x05get a\r\n', events: [], pending: 11 },
  {
    // memcached decides on the protocol at a connection's first byte only; later a 0x80 is
    // part of a text line (here an unknown command, ERROR, as memcached answers).
    name: 'binary request after an ASCII one: a text line',
    input: `get a\r\n${binaryHeader('\x01', 'WXYZ')}get b\r\n`,
    events: [fwd(MC_GET, 'get a\r\n', 'a'), local(MC_UNKNOWN, ERROR)],
  },
  { name: 'line of 2048 bytes before LF is accepted', input: `${'x'.repeat(2047)}\r\n`, events: [local(MC_UNKNOWN, ERROR)] },
  { name: 'line of 2049 bytes before LF', input: `${'x'.repeat(2048)}\r\nget a\r\n`, events: [framing(LINE_TOO_LONG)] },
  { name: 'endless line', input: `set ${'x'.repeat(3000)}`, events: [framing(LINE_TOO_LONG)] },
  { name: 'version line over 2048 bytes', input: `version${' '.repeat(3000)}x\r\n`, events: [framing(LINE_TOO_LONG)] },
  {
    name: 'more than 124 leading spaces: not a retrieval line for the cap',
    input: `${' '.repeat(125)}get ${'k '.repeat(1000)}\r\n`,
    events: [framing(LINE_TOO_LONG)],
  },
  {
    name: 'a get line over 2048 bytes',
    input: `get ${'k '.repeat(1500)}\r\n`,
    events: [frag(MC_GET, `get ${'k '.repeat(1500)}\r\n`, new Array<string>(1500).fill('k'))],
  },
  { name: 'a long get line with a long key', input: `get ${'a'.repeat(3000)}\r\n`, events: [local(MC_GET, BAD_FORMAT)] },
  {
    name: 'a one-key get line of 2048 bytes before LF is forwarded as it came',
    input: `get ${' '.repeat(2040)}key\r\n`,
    events: [fwd(MC_GET, `get ${' '.repeat(2040)}key\r\n`, 'key')],
  },
  {
    name: 'a longer one-key get line is rebuilt (ROUTE_FRAGMENT)',
    input: `  gets ${' '.repeat(3000)}key   \r\n`,
    events: [frag(MC_GETS, `  gets ${' '.repeat(3000)}key   \r\n`, ['key'])],
  },
  {
    name: 'a get line of 66,000 bytes (over the old 64 KiB cap)',
    input: `get ${'k '.repeat(33000)}\r\n`,
    events: [frag(MC_GET, `get ${'k '.repeat(33000)}\r\n`, new Array<string>(33000).fill('k'))],
  },
  {
    name: 'a gat line of 65537 bytes before LF',
    input: `gat 1 ${'k '.repeat(32763)}kkkk\r\n`,
    events: [frag(MC_GAT, `gat 1 ${'k '.repeat(32763)}kkkk\r\n`, [...new Array<string>(32763).fill('k'), 'kkkk'])],
  },
  (() => {
    const line = retrievalLine('get', MC_RETRIEVAL_LINE_CAP);
    return { name: 'a get line of exactly MC_RETRIEVAL_LINE_CAP bytes before LF', input: line, events: [frag(MC_GET, line, keysOf(line, 1))] };
  })(),
  {
    name: 'a get line one byte over the cap: CLIENT_ERROR, and the next request is parsed',
    input: `${retrievalLine('get', MC_RETRIEVAL_LINE_CAP + 1)}get a\r\n`,
    events: [local(MC_GET, LINE_TOO_LONG), fwd(MC_GET, 'get a\r\n', 'a')],
  },
  {
    name: 'gats over the cap, with leading spaces and a bare LF',
    input: `  ${retrievalLine('gats 0', MC_RETRIEVAL_LINE_CAP + 5000).slice(0, -2)}\nversion\r\n`,
    events: [local(MC_GATS, LINE_TOO_LONG), fwd(MC_VERSION, 'version\r\n', 'placeholder')],
  },
  {
    name: 'gat and gets over the cap, back to back',
    input: `${retrievalLine('gat 10', MC_RETRIEVAL_LINE_CAP + 1)}${retrievalLine('gets', MC_RETRIEVAL_LINE_CAP + 70000)}gat 1 b\r\n`,
    events: [local(MC_GAT, LINE_TOO_LONG), local(MC_GETS, LINE_TOO_LONG), fwd(MC_GAT, 'gat 1 b\r\n', 'b')],
  },
  {
    // The error comes as soon as the cap is passed; the rest is discarded, nothing is held.
    name: 'an endless get line over the cap: CLIENT_ERROR, nothing pending',
    input: `get ${'k'.repeat(MC_RETRIEVAL_LINE_CAP + 10)}`,
    events: [local(MC_GET, LINE_TOO_LONG)],
  },
  {
    name: 'an endless get line within the cap is pending',
    input: `get ${'k '.repeat(5000)}`,
    events: [],
    pending: 4 + 10000,
  },
  { name: 'nothing after a framing error', input: `${'y'.repeat(2100)}\r\nget a\r\n`, events: [framing(LINE_TOO_LONG)] },
];

describe('memcache request parser: table', () => {
  let seed = 1;
  for (const c of cases) {
    const input = latin1(c.input);
    // Long inputs byte by byte would be slow and add nothing over the random splits.
    const runs = input.length > 5000 ? chunkings(input, seed++, 3, false) : chunkings(input, seed++);
    it(c.name, () => {
      for (const run of runs) {
        const got = parseRequests(run.chunks);
        assert.deepEqual(got.events, c.events, run.name);
        assert.equal(got.pending, c.pending ?? 0, `${run.name}: pendingBytes`);
      }
    });
  }
});

describe('memcache request parser: twemproxy test_all.c cases', () => {
  // test_memcache_parse_req_success: each must be forwarded whole, with the right type and noreply.
  const success: Array<[string, number]> = [
    ['add key 0 600 5\r\nvalue\r\n', MC_ADD],
    ['add key 0 0 1 noreply\r\n\n\r\n', MC_ADD],
    ['append key 0 600 5\r\nvalue\r\n', MC_APPEND],
    ['append key 0 1 0 noreply\r\n\r\n', MC_APPEND],
    ['cas key 0 600 5 123456\r\nvalue\r\n', MC_CAS],
    ['cas key 0 1 1 1 noreply\r\nx\r\n', MC_CAS],
    ['decr key 0\r\n', MC_DECR],
    ['decr key 0 noreply\r\n', MC_DECR],
    ['delete a noreply\r\n', MC_DELETE],
    ['delete key\r\n', MC_DELETE],
    ['gat 3600 key\r\n', MC_GAT],
    [`get a b ${'x'.repeat(250)}\r\n`, MC_GET],
    ['get key\r\n', MC_GET],
    ['gets u\r\n', MC_GETS],
    ['incr key 1\r\n', MC_INCR],
    ['incr key 9223372036854775807 noreply\r\n', MC_INCR],
    ['prepend key 0 600 5\r\nvalue\r\n', MC_PREPEND],
    ['prepend key 0 600 0 noreply\r\n\r\n', MC_PREPEND],
    ['quit\r\n', MC_QUIT],
    ['replace key 0 600 5\r\nvalue\r\n', MC_REPLACE],
    ['replace key 0 9 0 noreply\r\n\r\n', MC_REPLACE],
    ['set key 0 5 10 noreply\r\nvalue12345\r\n', MC_SET],
    ['set key 0 600 5\r\nvalue\r\n', MC_SET],
    ['touch key 12345\r\n', MC_TOUCH],
    ['touch key 12345 noreply\r\n', MC_TOUCH],
    ['version\r\n', MC_VERSION],
  ];
  for (const [input, cmd] of success) {
    it(`accepts ${JSON.stringify(input.slice(0, 40))}`, () => {
      for (const run of chunkings(latin1(input), cmd)) {
        const { events, pending } = parseRequests(run.chunks);
        assert.equal(events.length, 1, run.name);
        const e = events[0]!;
        assert.equal(e.kind, 'req');
        if (e.kind !== 'req') return;
        assert.equal(e.cmd, cmd, run.name);
        assert.notEqual(e.route, ROUTE_LOCAL, run.name);
        assert.equal(e.noreply, input.includes(' noreply'), run.name);
        if (cmd === MC_QUIT) assert.equal(e.route, ROUTE_QUIT);
        else assert.equal(e.data, input, run.name);
        assert.equal(pending, 0);
      }
    });
  }

  // test_memcache_parse_req_failure: twemproxy closes the connection; Walnut never forwards
  // them and answers like memcached. [input, expected local replies (in order)].
  const failure: Array<[string, string[]]> = [
    [`add ${'x'.repeat(251)} 0 600 5\r\nvalue\r\n`, [BAD_FORMAT]],
    ['add\r\n', [BAD_FORMAT]],
    ['get\r\n', [BAD_FORMAT]],
    ['get \r\n', [BAD_FORMAT]],
    ['get key\r\r', []], // no LF yet: nothing is forwarded
    ['append key 0 600\r\n', [BAD_FORMAT]],
    ['cas key 0 600 5 \r\n', [BAD_FORMAT]],
    ['decr key 0 extra\r\n', [BAD_FORMAT]],
    ['decr key\r\n', [BAD_FORMAT]],
    ['delete \r\n', [BAD_FORMAT]],
    ['DELETE key\r\n', [ERROR]],
    ['gets\r\n', [BAD_FORMAT]],
    ['incr\r\n', [BAD_FORMAT]],
    ['incr key 0notanint\r\n', [BAD_DELTA]],
    ['prepend key 0 600 5\r\nvalueextra\r\n', [BAD_DATA, ERROR]],
    ['prepend key 0 600 0 noreply\r\r', []], // bad chunk, suppressed by noreply
    ['replace key 0 9 ?\r\n\r\n', [BAD_FORMAT, ERROR]],
    ['set key 0 5 10 noreply\r\nvalue12345\r\r', []], // bad chunk, suppressed by noreply
    ['set key 0 600 5\r\nvaluee\r\n', [BAD_DATA, ERROR]],
    ['touch missingarg\r\n', [BAD_FORMAT]],
    // (`version extra` is rejected by twemproxy; Walnut answers it as memcached 1.6 does.)
  ];
  for (const [input, replies] of failure) {
    it(`rejects ${JSON.stringify(input.slice(0, 40))}`, () => {
      for (const run of chunkings(latin1(input), replies.length + 77)) {
        const { events } = parseRequests(run.chunks);
        for (const e of events) {
          assert.equal(e.kind, 'req', run.name);
          if (e.kind === 'req') assert.equal(e.route, ROUTE_LOCAL, `${run.name}: nothing may be forwarded`);
        }
        assert.deepEqual(
          events.map((e) => (e.kind === 'req' ? e.reply : null)),
          replies,
          run.name,
        );
      }
    });
  }
});

describe('memcache request parser: buffers', () => {
  it('a request inside one chunk is a zero-copy view of it', () => {
    const chunk = latin1('get a\r\nset k 0 0 3\r\nabc\r\nget x y\r\n');
    const parser = new MemcacheRequestParser();
    const sink = new RequestRecorder();
    parser.feed(chunk, sink);
    assert.equal(sink.msgs.length, 3);
    for (const m of sink.msgs) {
      assert.equal(m.data.buffer, chunk.buffer);
      assert.equal(m.keyBuf, m.data);
    }
    assert.equal(sink.msgs[1]!.data.byteOffset - chunk.byteOffset, 7);
  });

  it('a 1 MiB value in 64 KiB chunks arrives whole and intact', () => {
    const size = 1024 * 1024 + 17;
    const value = Buffer.alloc(size);
    for (let i = 0; i < size; i++) value[i] = (i * 131 + (i >> 8)) & 0xff;
    const stream = Buffer.concat([latin1(`set big 0 0 ${size}\r\n`), value, latin1('\r\nget big\r\n')]);
    const chunks: Buffer[] = [];
    for (let i = 0; i < stream.length; i += 65536) chunks.push(Buffer.from(stream.subarray(i, i + 65536)));
    const parser = new MemcacheRequestParser();
    const sink = new RequestRecorder();
    let maxPending = 0;
    for (const c of chunks) {
      parser.feed(c, sink);
      maxPending = Math.max(maxPending, parser.pendingBytes);
    }
    assert.equal(sink.msgs.length, 2);
    const set = sink.msgs[0]!;
    assert.equal(set.cmd, MC_SET);
    assert.equal(set.data.length, stream.length - 'get big\r\n'.length);
    assert.ok(set.data.equals(stream.subarray(0, set.data.length)));
    assert.equal(set.keyBuf.toString('latin1', set.keyStart, set.keyEnd), 'big');
    assert.equal(sink.events[1]!.kind === 'req' && sink.events[1]!.data, 'get big\r\n');
    assert.ok(maxPending > size - 65536, `pendingBytes grew to ${maxPending}`);
    assert.equal(parser.pendingBytes, 0);
  });

  it('a storage request whose command line spans chunks keeps its key offsets', () => {
    const { msgs } = parseRequests([latin1('se'), latin1('t ke'), latin1('y 0 0 2\r'), latin1('\nab'), latin1('\r\n')]);
    assert.equal(msgs.length, 1);
    const m = msgs[0]!;
    assert.equal(m.data.toString('latin1'), 'set key 0 0 2\r\nab\r\n');
    assert.equal(m.keyBuf.toString('latin1', m.keyStart, m.keyEnd), 'key');
  });

  it('an endless get line holds at most MC_RETRIEVAL_LINE_CAP bytes, is answered once, and parsing resumes after its LF', () => {
    const parser = new MemcacheRequestParser();
    const sink = new RequestRecorder();
    parser.feed(latin1('get a\r\nget '), sink);
    const piece = latin1('k0123456 '.repeat(7282)); // 65,538 bytes, not a multiple of anything
    let maxPending = 0;
    let fed = 4;
    while (fed < 3 * MC_RETRIEVAL_LINE_CAP) {
      parser.feed(Buffer.from(piece), sink);
      fed += piece.length;
      maxPending = Math.max(maxPending, parser.pendingBytes);
    }
    assert.ok(maxPending <= MC_RETRIEVAL_LINE_CAP && maxPending > MC_RETRIEVAL_LINE_CAP - piece.length, `pendingBytes reached ${maxPending}`);
    assert.equal(parser.pendingBytes, 0);
    assert.deepEqual(sink.events, [fwd(MC_GET, 'get a\r\n', 'a'), local(MC_GET, LINE_TOO_LONG)]);
    parser.feed(latin1('k\r'), sink);
    parser.feed(latin1('\nget b\r\n'), sink);
    assert.deepEqual(sink.events.slice(2), [fwd(MC_GET, 'get b\r\n', 'b')]);
    assert.equal(parser.pendingBytes, 0);
  });

  it('a get line just under the cap in 64 KiB chunks: one copy, all keys', () => {
    const line = retrievalLine('get', MC_RETRIEVAL_LINE_CAP);
    const buf = latin1(line);
    const chunks: Buffer[] = [];
    for (let i = 0; i < buf.length; i += 65536) chunks.push(Buffer.from(buf.subarray(i, i + 65536)));
    const { msgs, pending } = parseRequests(chunks);
    assert.equal(msgs.length, 1);
    const m = msgs[0]!;
    assert.equal(m.route, ROUTE_FRAGMENT);
    assert.ok(m.data.equals(buf));
    assert.equal(m.nkeys, keysOf(line, 1).length);
    assert.equal(pending, 0);
  });

  it('reports the framing error once and then ignores input', () => {
    const parser = new MemcacheRequestParser();
    const sink = new RequestRecorder();
    parser.feed(latin1(`set ${'x'.repeat(2000)}`), sink);
    parser.feed(latin1(`${'x'.repeat(100)}\r\nget b\r\nget c\r\n`), sink);
    parser.feed(latin1('get d\r\n'), sink);
    assert.deepEqual(sink.events, [framing(LINE_TOO_LONG)]);
    assert.equal(parser.pendingBytes, 0);
  });
});
