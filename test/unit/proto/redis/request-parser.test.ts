// Table-driven tests of the redis request parser: every case is parsed whole, byte by byte and
// at random split points, and must give the same Msgs each time.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ROUTE_ALL, ROUTE_FRAGMENT, ROUTE_KEY, ROUTE_LOCAL, ROUTE_QUIT } from '../../../../src/proto/message.js';
import { CMD_UNKNOWN, REDIS_COMMANDS } from '../../../../src/proto/redis/commands.js';
import { RedisRequestParser } from '../../../../src/proto/redis/request-parser.js';
import { walnutVersion } from '../../../../src/version.js';
import {
  byteChunks,
  chunkings,
  latin1,
  parseRequests,
  req,
  RequestRecorder,
  splitAt,
  type ReqEvent,
} from './redis-harness.js';

interface ExpectReq {
  route: number;
  /** Command name as in the table, or null for unknown. */
  cmd?: string | null;
  key?: string;
  keys?: string[] | null;
  reply?: string | null;
  /** Expected request bytes; defaults to "whatever was sent" only when `sent` is set. */
  data?: string;
}
type Expect = ExpectReq | { framing: string };

interface Case {
  name: string;
  input: Buffer;
  password?: string;
  /** The pool's redis_db. */
  redisDb?: number;
  expect: Expect[];
}

const INFO_BODY = `# Server\r\nwalnut_version:${walnutVersion()}\r\nredis_mode:proxy\r\nprocess_id:${process.pid}\r\n\r\n# Persistence\r\nloading:0\r\n\r\n# Replication\r\nrole:master\r\nconnected_slaves:0\r\n`;
const HELLO_REPLY = `*12\r\n$6\r\nserver\r\n$6\r\nwalnut\r\n$7\r\nversion\r\n$${walnutVersion().length}\r\n${walnutVersion()}\r\n$5\r\nproto\r\n:2\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n`;
const KEY = (key: string, extra: Partial<ExpectReq> = {}): ExpectReq => ({ route: ROUTE_KEY, key, reply: null, keys: null, ...extra });
const LOCAL = (reply: string): ExpectReq => ({ route: ROUTE_LOCAL, reply });
const FRAG = (keys: string[], key: string): ExpectReq => ({ route: ROUTE_FRAGMENT, keys, key, reply: null });
const ARITY = (name: string): ExpectReq => LOCAL(`-ERR wrong number of arguments for '${name}' command\r\n`);
const UNSUPPORTED = (name: string): ExpectReq => LOCAL(`-ERR walnut: '${name}' is not supported by the proxy\r\n`);
const NOAUTH = LOCAL('-NOAUTH Authentication required\r\n');
const NOT_RUN = LOCAL('-ERR walnut: not run: it follows a MULTI the proxy refused (EXEC or DISCARD ends that transaction)\r\n');
const cat = (...bufs: Buffer[]): Buffer => Buffer.concat(bufs);

const binaryKey = Buffer.from([0, 13, 10, 255, 42, 36, 13, 10]);

const CASES: Case[] = [
  // ---- key commands of every class
  { name: 'GET', input: req('GET', 'k'), expect: [KEY('k', { cmd: 'GET', data: req('GET', 'k').toString('latin1') })] },
  { name: 'lower and mixed case names', input: cat(req('get', 'a'), req('gEt', 'b')), expect: [KEY('a', { cmd: 'GET' }), KEY('b', { cmd: 'GET' })] },
  { name: 'SET with options', input: req('SET', 'k', 'v', 'EX', '10', 'NX'), expect: [KEY('k', { cmd: 'SET' })] },
  { name: 'K0 TTL', input: req('TTL', 'k'), expect: [KEY('k')] },
  { name: 'K1 EXPIRE', input: req('EXPIRE', 'k', '10'), expect: [KEY('k')] },
  { name: 'K1 EXPIRE with a Redis 7 option', input: req('EXPIRE', 'k', '10', 'NX'), expect: [KEY('k')] },
  { name: 'K2 GETRANGE', input: req('GETRANGE', 'k', '0', '1'), expect: [KEY('k')] },
  { name: 'K3 LINSERT', input: req('LINSERT', 'l', 'BEFORE', 'a', 'b'), expect: [KEY('l')] },
  { name: 'KN HSET', input: req('HSET', 'h', 'f', 'v', 'g', 'w'), expect: [KEY('h')] },
  { name: 'KN SDIFF routes by the first key', input: req('SDIFF', '{t}a', '{t}b'), expect: [KEY('{t}a')] },
  { name: 'ZUNIONSTORE routes by the destination', input: req('ZUNIONSTORE', 'dst', '2', 'a', 'b'), expect: [KEY('dst')] },
  { name: 'ZDIFF routes by its first key, not numkeys', input: req('ZDIFF', '2', 'a', 'b'), expect: [KEY('a', { cmd: 'ZDIFF' })] },
  { name: 'ZINTER with numkeys only is an arity error', input: req('ZINTER', '2'), expect: [ARITY('zinter')] },
  { name: 'newer single-key commands', input: cat(req('GETEX', 'k', 'PERSIST'), req('HEXPIRE', 'h', '10', 'FIELDS', '1', 'f'), req('XADD', 's', '*', 'f', 'v'), req('EXPIRETIME', 'e')), expect: [KEY('k'), KEY('h'), KEY('s'), KEY('e')] },
  { name: 'binary key with CR LF inside', input: req('GET', binaryKey), expect: [KEY(binaryKey.toString('latin1'))] },
  { name: 'empty key', input: req('SET', '', 'v'), expect: [KEY('')] },
  { name: 'key longer than twemproxy allows', input: req('GET', 'x'.repeat(20000)), expect: [KEY('x'.repeat(20000))] },

  // ---- multi-key commands
  { name: 'MGET with one key is not split', input: req('MGET', 'a'), expect: [KEY('a', { cmd: 'MGET' })] },
  { name: 'MGET with three keys', input: req('MGET', 'a', 'b', 'a'), expect: [FRAG(['a', 'b', 'a'], 'a')] },
  { name: 'DEL UNLINK TOUCH split', input: cat(req('DEL', 'a', 'b'), req('UNLINK', 'c', 'd'), req('TOUCH', 'e', 'f')), expect: [FRAG(['a', 'b'], 'a'), FRAG(['c', 'd'], 'c'), FRAG(['e', 'f'], 'e')] },
  { name: 'EXISTS with several keys is split', input: req('EXISTS', 'a', 'b', 'c'), expect: [FRAG(['a', 'b', 'c'], 'a')] },
  { name: 'EXISTS with one key is not split', input: req('EXISTS', 'a'), expect: [KEY('a', { cmd: 'EXISTS' })] },
  { name: 'MGET without keys', input: req('MGET'), expect: [ARITY('mget')] },
  { name: 'MSET one pair', input: req('MSET', 'k', 'v'), expect: [KEY('k', { cmd: 'MSET' })] },
  { name: 'MSET two pairs', input: req('MSET', 'k1', 'v1', 'k2', 'v2'), expect: [FRAG(['k1', 'v1', 'k2', 'v2'], 'k1')] },
  { name: 'MSET with a missing value', input: req('MSET', 'k1', 'v1', 'k2'), expect: [ARITY('mset')] },
  { name: 'MSET with no pair', input: req('MSET', 'k1'), expect: [ARITY('mset')] },

  // ---- EVAL
  { name: 'EVAL routes by the first key', input: req('EVAL', 'return 1', '2', 'k1', 'k2', 'arg'), expect: [KEY('k1', { cmd: 'EVAL' })] },
  { name: 'EVALSHA', input: req('evalsha', 'abc', '1', 'k'), expect: [KEY('k', { cmd: 'EVALSHA' })] },
  { name: 'EVAL with 0 keys', input: req('EVAL', 'return 1', '0'), expect: [LOCAL('-ERR walnut: a script with 0 keys cannot be routed; pass at least one key\r\n')] },
  { name: 'EVAL with 0 keys and args', input: req('EVAL', 'return 1', '0', 'a'), expect: [LOCAL('-ERR walnut: a script with 0 keys cannot be routed; pass at least one key\r\n')] },
  { name: 'EVAL numkeys above the argument count', input: req('EVAL', 's', '3', 'a', 'b'), expect: [LOCAL("-ERR Number of keys can't be greater than number of args\r\n")] },
  { name: 'EVAL numkeys 2^63 - 1', input: req('EVAL', 's', '9223372036854775807', 'a'), expect: [LOCAL("-ERR Number of keys can't be greater than number of args\r\n")] },
  // twemproxy forwards these (digits, not 0 modulo 2^32) and Redis reads them as no integer.
  { name: 'EVAL numkeys past 2^63 - 1', input: cat(req('EVAL', 's', '9223372036854775808', 'a'), req('EVAL', 's', '9223372036854775809', 'a'), req('EVAL', 's', '99999999999999999999999', 'a')), expect: [LOCAL('-ERR value is not an integer or out of range\r\n'), LOCAL('-ERR value is not an integer or out of range\r\n'), LOCAL('-ERR value is not an integer or out of range\r\n')] },
  { name: 'EVAL numkeys with a leading zero', input: cat(req('EVAL', 's', '05', 'a'), req('EVAL', 's', '01', 'a'), req('EVAL', 's', '00', 'a')), expect: [LOCAL('-ERR value is not an integer or out of range\r\n'), LOCAL('-ERR value is not an integer or out of range\r\n'), LOCAL('-ERR value is not an integer or out of range\r\n')] },
  { name: 'EVAL numkeys not an integer', input: cat(req('EVAL', 's', 'x', 'a'), req('EVAL', 's', '', 'a'), req('EVAL', 's', '+1', 'a'), req('EVAL', 's', '-0', 'a'), req('EVAL', 's', '-9223372036854775809', 'a')), expect: [LOCAL('-ERR value is not an integer or out of range\r\n'), LOCAL('-ERR value is not an integer or out of range\r\n'), LOCAL('-ERR value is not an integer or out of range\r\n'), LOCAL('-ERR value is not an integer or out of range\r\n'), LOCAL('-ERR value is not an integer or out of range\r\n')] },
  { name: 'EVAL negative numkeys', input: cat(req('EVAL', 's', '-1', 'a'), req('EVAL', 's', '-9223372036854775808', 'a')), expect: [LOCAL("-ERR Number of keys can't be negative\r\n"), LOCAL("-ERR Number of keys can't be negative\r\n")] },
  { name: 'EVAL without numkeys', input: req('EVAL', 's'), expect: [ARITY('eval')] },

  // ---- keyless forwarded commands
  { name: 'COMMAND goes to the placeholder key', input: cat(req('COMMAND'), req('COMMAND', 'COUNT'), req('LOLWUT', 'VERSION', '5')), expect: [KEY('placeholder', { cmd: 'COMMAND' }), KEY('placeholder', { cmd: 'COMMAND' }), KEY('placeholder', { cmd: 'LOLWUT' })] },

  // ---- local replies
  { name: 'PING', input: req('PING'), expect: [LOCAL('+PONG\r\n')] },
  {
    name: 'INFO is answered by the proxy (client ready checks need it)',
    input: req('INFO', 'server'),
    expect: [LOCAL(`$${INFO_BODY.length}\r\n${INFO_BODY}\r\n`)],
  },
  { name: 'PING with a message', input: req('ping', 'hello\r\nthere'), expect: [LOCAL('$12\r\nhello\r\nthere\r\n')] },
  { name: 'PING with two arguments', input: req('PING', 'a', 'b'), expect: [ARITY('ping')] },
  { name: 'ECHO', input: cat(req('ECHO', 'msg'), req('ECHO', '')), expect: [LOCAL('$3\r\nmsg\r\n'), LOCAL('$0\r\n\r\n')] },
  { name: 'ECHO without argument', input: req('ECHO'), expect: [ARITY('echo')] },
  { name: 'QUIT', input: req('QUIT'), expect: [{ route: ROUTE_QUIT, reply: '+OK\r\n', cmd: 'QUIT' }] },
  { name: 'QUIT with arguments', input: req('quit', 'now'), expect: [{ route: ROUTE_QUIT, reply: '+OK\r\n' }] },
  { name: 'SELECT 0', input: cat(req('SELECT', '0'), req('select', '000')), expect: [LOCAL('+OK\r\n'), LOCAL('+OK\r\n')] },
  { name: 'SELECT other databases', input: cat(req('SELECT', '1'), req('SELECT', 'x'), req('SELECT', '')), expect: Array(3).fill(LOCAL("-ERR walnut: SELECT is not supported (the pool's database is fixed by redis_db)\r\n")) },
  { name: 'SELECT without argument', input: req('SELECT'), expect: [ARITY('select')] },
  {
    name: "SELECT of the pool's redis_db (a client configured with the same database), or 0",
    redisDb: 3,
    input: cat(req('SELECT', '3'), req('SELECT', '0'), req('SELECT', '4')),
    expect: [LOCAL('+OK\r\n'), LOCAL('+OK\r\n'), LOCAL("-ERR walnut: SELECT is not supported (the pool's database is fixed by redis_db)\r\n")],
  },

  // ---- AUTH
  // The legacy form gets twemproxy's answer; the ACL form is Redis 6+'s for a default user with no password.
  { name: 'AUTH without redis_auth', input: cat(req('AUTH', 'pw'), req('AUTH', 'default', 'pw'), req('AUTH', 'alice', 'pw'), req('GET', 'k')), expect: [LOCAL('-ERR Client sent AUTH, but no password is set\r\n'), LOCAL('+OK\r\n'), LOCAL('-WRONGPASS invalid username-password pair or user is disabled.\r\n'), KEY('k')] },
  {
    name: 'AUTH state machine with redis_auth',
    password: 'sécret',
    input: cat(
      req('GET', 'k'),
      req('PING'),
      req('MGET', 'a', 'b'),
      req('KEYS', '*'),
      req('AUTH', 'wrong'),
      req('AUTH', Buffer.from('sécret', 'utf8')),
      req('GET', 'k'),
      req('AUTH', 'wrong-again'),
      req('GET', 'k'),
      req('AUTH', 'default', Buffer.from('sécret', 'utf8')),
      req('PING'),
      req('AUTH', 'admin', Buffer.from('sécret', 'utf8')),
      req('GET', 'k'),
      req('QUIT'),
    ),
    expect: [
      NOAUTH,
      NOAUTH,
      NOAUTH,
      NOAUTH,
      LOCAL('-ERR invalid password\r\n'),
      LOCAL('+OK\r\n'),
      KEY('k'),
      LOCAL('-ERR invalid password\r\n'),
      NOAUTH,
      LOCAL('+OK\r\n'),
      LOCAL('+PONG\r\n'),
      LOCAL('-WRONGPASS invalid username-password pair or user is disabled.\r\n'),
      NOAUTH,
      { route: ROUTE_QUIT, reply: '+OK\r\n' },
    ],
  },
  { name: 'AUTH compares bytes exactly', password: 'pw', input: cat(req('AUTH', 'PW'), req('AUTH', 'pw '), req('AUTH', 'pw')), expect: [LOCAL('-ERR invalid password\r\n'), LOCAL('-ERR invalid password\r\n'), LOCAL('+OK\r\n')] },
  { name: 'AUTH with too many arguments', password: 'pw', input: cat(req('AUTH', 'a', 'b', 'c'), req('AUTH')), expect: [LOCAL('-ERR syntax error\r\n'), ARITY('auth')] },
  { name: 'unknown commands and arity errors come before NOAUTH, as in Redis', password: 'pw', input: cat(req('FOO'), req('GET')), expect: [LOCAL("-ERR unknown command 'FOO'\r\n"), ARITY('get')] },

  // ---- unknown, unsupported, wrong arity
  { name: 'unknown command', input: req('NOSUCH', 'x'), expect: [{ route: ROUTE_LOCAL, cmd: null, reply: "-ERR unknown command 'NOSUCH'\r\n" }] },
  { name: 'unknown command name keeps its case', input: req('fooBar'), expect: [LOCAL("-ERR unknown command 'fooBar'\r\n")] },
  { name: 'unknown command with CR LF in its name', input: req('a\r\nb'), expect: [LOCAL("-ERR unknown command 'a  b'\r\n")] },
  { name: 'unknown command name truncated to 128 bytes', input: req('Z'.repeat(300)), expect: [LOCAL(`-ERR unknown command '${'Z'.repeat(128)}'\r\n`)] },
  { name: 'empty command name', input: req(''), expect: [LOCAL("-ERR unknown command ''\r\n")] },
  { name: 'a prefix of a command is unknown', input: req('GE', 'k'), expect: [LOCAL("-ERR unknown command 'GE'\r\n")] },
  { name: 'unsupported commands', input: cat(req('keys', '*'), req('BLPOP', 'l', '0'), req('CONFIG', 'GET', 'x'), req('SUBSCRIBE', 'c'), req('MOVE', 'k', '1'), req('RENAME', 'a', 'b'), req('SINTERCARD', '1', 'a'), req('EXEC'), req('DISCARD'), req('MULTI')), expect: ['KEYS', 'BLPOP', 'CONFIG', 'SUBSCRIBE', 'MOVE', 'RENAME', 'SINTERCARD', 'EXEC', 'DISCARD', 'MULTI'].map(UNSUPPORTED) },

  // ---- a transaction whose MULTI is refused: nothing in it runs
  { name: 'commands after a refused MULTI are refused until EXEC, which gets -EXECABORT', input: cat(req('MULTI'), req('SET', 'k', 'v'), req('INCR', 'n'), req('NOSUCH'), req('GET'), req('PING'), req('MULTI'), req('exec'), req('GET', 'k')), expect: [UNSUPPORTED('MULTI'), NOT_RUN, NOT_RUN, NOT_RUN, NOT_RUN, NOT_RUN, NOT_RUN, LOCAL('-EXECABORT Transaction discarded because of previous errors.\r\n'), KEY('k')] },
  { name: 'DISCARD ends a refused transaction with +OK', input: cat(req('MULTI'), req('SET', 'k', 'v'), req('DISCARD'), req('SET', 'k', 'v'), req('DISCARD')), expect: [UNSUPPORTED('MULTI'), NOT_RUN, LOCAL('+OK\r\n'), KEY('k'), UNSUPPORTED('DISCARD')] },
  { name: 'QUIT inside a refused transaction quits', input: cat(req('MULTI'), req('QUIT')), expect: [UNSUPPORTED('MULTI'), { route: ROUTE_QUIT, reply: '+OK\r\n' }] },
  { name: 'a MULTI refused for want of AUTH starts no transaction', password: 'pw', input: cat(req('MULTI'), req('AUTH', 'pw'), req('GET', 'k')), expect: [NOAUTH, LOCAL('+OK\r\n'), KEY('k')] },
  { name: 'wrong arity', input: cat(req('GET'), req('GET', 'a', 'b'), req('SET', 'k'), req('HSET', 'h', 'f'), req('LINSERT', 'l', 'a', 'b')), expect: [ARITY('get'), ARITY('get'), ARITY('set'), ARITY('hset'), ARITY('linsert')] },

  // ---- inline commands
  { name: 'inline PING', input: latin1('PING\r\n'), expect: [LOCAL('+PONG\r\n')] },
  { name: 'inline SET is re-encoded as multi-bulk, quotes as redis-server reads them', input: latin1('SET  k\t"v w"  \r\n'), expect: [KEY('k', { cmd: 'SET', data: req('SET', 'k', 'v w').toString('latin1') })] },
  { name: 'inline with unbalanced quotes', input: latin1('SET k "v\r\nPING\r\n'), expect: [{ framing: '-ERR Protocol error: unbalanced quotes in request\r\n' }] },
  { name: 'inline with a NUL byte', input: latin1('SET k a\0b\r\n'), expect: [{ framing: '-ERR Protocol error: NUL byte in inline request\r\n' }] },
  { name: 'inline with a closing quote not followed by a blank', input: latin1("GET 'k'x\r\n"), expect: [{ framing: '-ERR Protocol error: unbalanced quotes in request\r\n' }] },
  { name: 'inline line ending in a bare LF', input: latin1('get k\n'), expect: [KEY('k', { data: req('get', 'k').toString('latin1') })] },
  { name: 'empty inline lines are ignored', input: latin1('\r\n  \r\n\nPING\r\n'), expect: [LOCAL('+PONG\r\n')] },
  { name: 'inline MGET is split', input: latin1('MGET a b\r\n'), expect: [FRAG(['a', 'b'], 'a')] },
  { name: 'inline unknown command', input: latin1('HELP me\r\n'), expect: [LOCAL("-ERR unknown command 'HELP'\r\n")] },
  { name: 'inline line of exactly 64 KiB', input: latin1(`ECHO ${'x'.repeat(65536 - 6)}\r\n`), expect: [LOCAL(`$${65536 - 6}\r\n${'x'.repeat(65536 - 6)}\r\n`)] },
  { name: 'inline line over 64 KiB', input: latin1(`ECHO ${'x'.repeat(65536 - 5)}\r\nPING\r\n`), expect: [{ framing: '-ERR Protocol error: too big inline request\r\n' }] },
  { name: 'inline QUIT', input: latin1('quit\r\n'), expect: [{ route: ROUTE_QUIT, reply: '+OK\r\n' }] },
  { name: 'inline and multi-bulk mixed', input: cat(latin1('PING\r\n'), req('GET', 'k'), latin1('ECHO hi\r\n')), expect: [LOCAL('+PONG\r\n'), KEY('k'), LOCAL('$2\r\nhi\r\n')] },

  // ---- SCRIPT LOAD: to every server
  { name: 'SCRIPT LOAD goes to every server', input: req('script', 'load', 'return 1'), expect: [{ route: ROUTE_ALL, key: '', reply: null, keys: null, cmd: 'SCRIPT' }] },
  {
    name: 'other SCRIPT subcommands are refused',
    input: cat(req('SCRIPT', 'FLUSH'), req('SCRIPT', 'EXISTS', 'abc'), req('SCRIPT', 'LOAD')),
    expect: Array(3).fill(LOCAL("-ERR walnut: 'SCRIPT' is not supported by the proxy\r\n")),
  },

  // ---- HELLO: RESP2 only
  { name: 'HELLO 3 gets NOPROTO (clients fall back to RESP2)', input: cat(req('HELLO', '3'), req('GET', 'k')), expect: [LOCAL('-NOPROTO unsupported protocol version\r\n'), KEY('k')] },
  { name: 'HELLO with a bad version', input: req('HELLO', 'x'), expect: [LOCAL('-ERR Protocol version is not an integer or out of range\r\n')] },
  { name: 'HELLO and HELLO 2 describe the connection', input: cat(req('HELLO'), req('hello', '2')), expect: [LOCAL(HELLO_REPLY), LOCAL(HELLO_REPLY)] },
  {
    name: 'HELLO 2 SETNAME names the connection',
    input: cat(req('HELLO', '2', 'SETNAME', 'app'), req('CLIENT', 'GETNAME')),
    expect: [LOCAL(HELLO_REPLY), LOCAL('$3\r\napp\r\n')],
  },
  { name: 'HELLO with an unknown option', input: req('HELLO', '2', 'COLOR', 'red'), expect: [LOCAL("-ERR Syntax error in HELLO option 'COLOR'\r\n")] },
  {
    name: 'HELLO before AUTH: NOPROTO for 3, AUTH option checked, authenticates',
    password: 'pw',
    input: cat(req('HELLO', '3'), req('HELLO', '2'), req('HELLO', '2', 'AUTH', 'default', 'bad'), req('GET', 'k'), req('HELLO', '2', 'AUTH', 'default', 'pw'), req('GET', 'k')),
    expect: [
      LOCAL('-NOPROTO unsupported protocol version\r\n'),
      LOCAL(
        '-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n',
      ),
      LOCAL('-WRONGPASS invalid username-password pair or user is disabled.\r\n'),
      LOCAL('-NOAUTH Authentication required\r\n'),
      LOCAL(HELLO_REPLY),
      KEY('k'),
    ],
  },

  // ---- CLIENT: the name is kept by the proxy, per client
  {
    name: 'CLIENT SETNAME then GETNAME, any case',
    input: cat(req('CLIENT', 'GETNAME'), req('client', 'setname', 'my-app'), req('Client', 'GetName'), req('CLIENT', 'SETNAME', ''), req('CLIENT', 'GETNAME')),
    expect: [LOCAL('$-1\r\n'), LOCAL('+OK\r\n'), LOCAL('$6\r\nmy-app\r\n'), LOCAL('+OK\r\n'), LOCAL('$-1\r\n')],
  },
  {
    name: 'CLIENT SETNAME with a space',
    input: req('CLIENT', 'SETNAME', 'my app'),
    expect: [LOCAL('-ERR Client names cannot contain spaces, newlines or special characters.\r\n')],
  },
  { name: 'CLIENT SETNAME arity', input: req('CLIENT', 'SETNAME'), expect: [LOCAL("-ERR wrong number of arguments for 'client|setname' command\r\n")] },
  {
    name: 'CLIENT SETINFO',
    input: cat(req('CLIENT', 'SETINFO', 'LIB-NAME', 'node-redis'), req('CLIENT', 'SETINFO', 'lib-ver', '5.0.0'), req('CLIENT', 'SETINFO', 'color', 'red')),
    expect: [LOCAL('+OK\r\n'), LOCAL('+OK\r\n'), LOCAL("-ERR Unrecognized option 'color'\r\n")],
  },
  { name: 'other CLIENT subcommands are refused', input: req('CLIENT', 'LIST'), expect: [LOCAL("-ERR walnut: 'CLIENT' is not supported by the proxy\r\n")] },
  { name: 'CLIENT alone', input: req('CLIENT'), expect: [LOCAL("-ERR wrong number of arguments for 'client' command\r\n")] },

  // ---- empty multi-bulk
  { name: '*0 and *-1 are ignored', input: cat(latin1('*0\r\n*-1\r\n*-5\r\n'), req('PING')), expect: [LOCAL('+PONG\r\n')] },

  // ---- framing errors
  { name: 'bulk length not a number', input: latin1('*1\r\n$x\r\n'), expect: [{ framing: '-ERR Protocol error: invalid bulk length\r\n' }] },
  { name: 'multibulk count not a number', input: latin1('*x\r\n'), expect: [{ framing: '-ERR Protocol error: invalid multibulk length\r\n' }] },
  { name: 'multibulk count without digits', input: latin1('*\r\n'), expect: [{ framing: '-ERR Protocol error: invalid multibulk length\r\n' }] },
  { name: 'multibulk count CR without LF', input: latin1('*1\rx'), expect: [{ framing: '-ERR Protocol error: invalid multibulk length\r\n' }] },
  { name: 'a bulk not starting with $', input: latin1('*1\r\n:1\r\n'), expect: [{ framing: "-ERR Protocol error: expected '$', got ':'\r\n" }] },
  { name: 'a control byte where $ belongs is escaped', input: latin1('*1\r\n\r\n'), expect: [{ framing: "-ERR Protocol error: expected '$', got '\\x0d'\r\n" }] },
  { name: 'negative bulk length', input: latin1('*1\r\n$-1\r\n'), expect: [{ framing: '-ERR Protocol error: invalid bulk length\r\n' }] },
  { name: 'bulk length without digits', input: latin1('*1\r\n$\r\n'), expect: [{ framing: '-ERR Protocol error: invalid bulk length\r\n' }] },
  { name: 'bulk length over 512 MiB', input: latin1('*1\r\n$536870913\r\n'), expect: [{ framing: '-ERR Protocol error: invalid bulk length\r\n' }] },
  { name: 'bulk data not followed by CR LF', input: latin1('*1\r\n$3\r\nGETX\r\n'), expect: [{ framing: '-ERR Protocol error: bulk data not followed by CRLF\r\n' }] },
  { name: 'bulk data followed by CR and not LF', input: latin1('*1\r\n$4\r\nPING\rX'), expect: [{ framing: '-ERR Protocol error: bulk data not followed by CRLF\r\n' }] },
  {
    name: 'requests before a framing error are kept, nothing after it',
    input: cat(req('GET', 'a'), latin1('*2\r\n$3\r\nGET\r\n#'), req('GET', 'b'), latin1('PING\r\n')),
    expect: [KEY('a'), { framing: "-ERR Protocol error: expected '$', got '#'\r\n" }],
  },
  { name: 'count over INT_MAX', input: latin1('*2147483648\r\n'), expect: [{ framing: '-ERR Protocol error: invalid multibulk length\r\n' }] },
  // Numbers Redis refuses (string2ll): forwarded, they would make it close the server
  // connection that other clients' requests share.
  { name: 'count with a leading zero', input: latin1('*01\r\n$4\r\nPING\r\n'), expect: [{ framing: '-ERR Protocol error: invalid multibulk length\r\n' }] },
  { name: 'count 00', input: latin1('*00\r\n'), expect: [{ framing: '-ERR Protocol error: invalid multibulk length\r\n' }] },
  { name: 'count -0', input: latin1('*-0\r\n'), expect: [{ framing: '-ERR Protocol error: invalid multibulk length\r\n' }] },
  { name: 'bulk length with a leading zero', input: cat(req('GET', 'a'), latin1('*2\r\n$3\r\nGET\r\n$01\r\nb\r\n')), expect: [KEY('a'), { framing: '-ERR Protocol error: invalid bulk length\r\n' }] },
  { name: 'bulk length 00', input: latin1('*1\r\n$00\r\n\r\n'), expect: [{ framing: '-ERR Protocol error: invalid bulk length\r\n' }] },
  { name: 'bulk length -0', input: latin1('*1\r\n$-0\r\n'), expect: [{ framing: '-ERR Protocol error: invalid bulk length\r\n' }] },
  { name: 'bulk length with a plus sign', input: latin1('*1\r\n$+4\r\nPING\r\n'), expect: [{ framing: '-ERR Protocol error: invalid bulk length\r\n' }] },
  { name: 'bulk length 0 and 10 are fine', input: req('SET', '', '0123456789'), expect: [KEY('', { cmd: 'SET' })] },
];

function check(actual: ReqEvent, want: Expect, where: string): void {
  if ('framing' in want) {
    assert.deepEqual(actual, { kind: 'framing', reply: want.framing }, where);
    return;
  }
  assert.equal(actual.kind, 'req', where);
  if (actual.kind !== 'req') return;
  assert.equal(actual.route, want.route, `${where}: route`);
  if (want.reply !== undefined) assert.equal(actual.reply, want.reply, `${where}: reply`);
  if (want.key !== undefined) assert.equal(actual.key, want.key, `${where}: key`);
  if (want.keys !== undefined) assert.deepEqual(actual.keys, want.keys, `${where}: keys`);
  if (want.data !== undefined) assert.equal(actual.data, want.data, `${where}: data`);
  if (want.cmd !== undefined) {
    if (want.cmd === null) assert.equal(actual.cmd, CMD_UNKNOWN, `${where}: cmd`);
    else assert.equal(REDIS_COMMANDS[actual.cmd]?.name, want.cmd, `${where}: cmd`);
  }
}

describe('redis request parser: table of cases, whole / byte by byte / random splits', () => {
  for (const c of CASES) {
    test(c.name, () => {
      const whole = parseRequests([c.input], c.password ?? null, c.redisDb ?? 0);
      assert.equal(whole.events.length, c.expect.length, `event count: ${JSON.stringify(whole.events)}`);
      for (const [i, want] of c.expect.entries()) check(whole.events[i]!, want, `event ${i}`);
      for (const [n, chunks] of chunkings(c.input).entries()) {
        const split = parseRequests(chunks, c.password ?? null, c.redisDb ?? 0);
        assert.deepEqual(split.events, whole.events, `chunking ${n} (${chunks.length} chunks)`);
      }
    });
  }
});

describe('redis request parser: buffers and state', () => {
  test('a request inside one chunk is a zero-copy view of it', () => {
    const chunk = cat(req('SET', 'k', 'v'), req('GET', 'k'));
    const { msgs } = parseRequests([chunk]);
    assert.equal(msgs.length, 2);
    for (const m of msgs) assert.equal(m.data.buffer, chunk.buffer);
    assert.equal(msgs[1]!.data.byteOffset, chunk.byteOffset + req('SET', 'k', 'v').length);
    assert.equal(msgs[0]!.keyBuf, msgs[0]!.data);
  });

  test('a 16 MiB value in 64 KiB chunks is concatenated exactly once', () => {
    const value = Buffer.alloc(16 * 1024 * 1024);
    for (let i = 0; i < value.length; i += 4096) value[i] = i & 0xff;
    const stream = cat(req('SET', 'big', value), req('GET', 'big'));
    const chunks: Buffer[] = [];
    for (let i = 0; i < stream.length; i += 65536) chunks.push(stream.subarray(i, i + 65536));
    const original = Buffer.concat;
    let concats = 0;
    Buffer.concat = ((list: readonly Uint8Array[], total?: number) => {
      concats++;
      return original(list, total);
    }) as typeof Buffer.concat;
    let result;
    try {
      result = parseRequests(chunks);
    } finally {
      Buffer.concat = original;
    }
    assert.equal(concats, 1);
    assert.equal(result.msgs.length, 2);
    assert.ok(result.msgs[0]!.data.equals(req('SET', 'big', value)));
    assert.equal(result.events[0]!.kind === 'req' && result.events[0]!.key, 'big');
    assert.equal(result.events[1]!.kind === 'req' && result.events[1]!.key, 'big');
  });

  test('pendingBytes counts the bytes of an unfinished request', () => {
    const parser = new RedisRequestParser(null);
    const sink = new RequestRecorder();
    const r = req('SET', 'key', 'value');
    parser.feed(cat(req('PING'), r.subarray(0, 10)), sink);
    assert.equal(parser.pendingBytes, 10);
    parser.feed(r.subarray(10, 20), sink);
    assert.equal(parser.pendingBytes, 20);
    parser.feed(r.subarray(20), sink);
    assert.equal(parser.pendingBytes, 0);
    assert.equal(sink.msgs.length, 2);
  });

  test('a framing error is reported once and later input is ignored', () => {
    const parser = new RedisRequestParser(null);
    const sink = new RequestRecorder();
    parser.feed(latin1('*1\r\n$1\r\nxy'), sink);
    parser.feed(req('PING'), sink);
    parser.feed(latin1('*x'), sink);
    assert.deepEqual(sink.events, [{ kind: 'framing', reply: '-ERR Protocol error: bulk data not followed by CRLF\r\n' }]);
    assert.equal(parser.pendingBytes, 0);
  });

  test('a request of 100,000 arguments grows the scratch arrays and keeps every key', () => {
    const keys = Array.from({ length: 100000 }, (_, i) => `k${i}`);
    const stream = cat(req('DEL', ...keys), req('DEL', 'x', 'y'));
    const { events } = parseRequests(splitAt(stream, [7, 1000, 50000, 400000]));
    assert.equal(events.length, 2);
    assert.deepEqual(events[0]!.kind === 'req' && events[0]!.keys, keys);
    assert.deepEqual(events[1]!.kind === 'req' && events[1]!.keys, ['x', 'y']);
  });

  test('inline bytes after a partial line are kept across chunks', () => {
    const { events } = parseRequests(byteChunks(latin1('ECHO abc\r\nPING\r\n')));
    assert.deepEqual(
      events.map((e) => e.kind === 'req' && e.reply),
      ['$3\r\nabc\r\n', '+PONG\r\n'],
    );
  });
});
