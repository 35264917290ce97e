/**
 * The redis command table: for every command name, how the proxy routes it and how many
 * arguments it takes. Mirrors twemproxy's nc_redis.c command classes (redis_arg0, redis_arg1,
 * redis_argn, redis_argx, redis_argkvx, redis_argeval ...) and its command-name switch.
 *
 * Arity uses Redis's own convention (the `arity` of COMMAND INFO): N > 0 means exactly N array
 * elements including the name, N < 0 means at least -N. Redis's numbers are used rather than
 * twemproxy's fixed classes because Redis 7 added optional arguments (EXPIRE k s NX, ZRANK k m
 * WITHSCORE ...) that twemproxy rejects; a too-short request is answered locally with Redis's
 * own text, anything longer is the server's to judge.
 *
 * Routing kinds, and why each command is in it:
 *
 * KIND_KEY — forwarded whole to the server of one key at a fixed position (`keyIndex`).
 *   Single-key commands, and multi-key ones whose other keys the user must co-locate with hash
 *   tags (as with twemproxy): RPOPLPUSH SMOVE LMOVE COPY SDIFF* SINTER* SUNION* PFMERGE PFCOUNT
 *   ZDIFFSTORE ZINTERSTORE ZUNIONSTORE ZRANGESTORE GEOSEARCHSTORE SORT LCS.
 *   - Every KEY-class command of twemproxy (spec 4.2 classes K0 K1 K2 K3 KN) except MOVE.
 *   - ZDIFF ZINTER ZUNION take `numkeys` first; twemproxy routes them by the numkeys string,
 *     which only works by accident. Walnut routes them by their first real key (keyIndex 2).
 *   - Added because users of Redis 6-8 expect them and they fit the rule (first key at a fixed
 *     position): EXPIRETIME PEXPIRETIME SUBSTR LCS SORT_RO BITFIELD_RO GEORADIUS_RO
 *     GEORADIUSBYMEMBER_RO; hash-field expiry HEXPIRE HPEXPIRE HEXPIREAT HPEXPIREAT HTTL HPTTL
 *     HEXPIRETIME HPEXPIRETIME HPERSIST HGETDEL HGETEX HSETEX; the single-stream commands XADD
 *     XLEN XRANGE XREVRANGE XDEL XTRIM XACK XPENDING XCLAIM XAUTOCLAIM XSETID.
 * KIND_MULTI_KEY — MGET DEL UNLINK TOUCH EXISTS: every argument is a key. With one key the
 *   request is forwarded whole; with more it is split per server and the replies merged.
 *   EXISTS is split and summed (twemproxy forwards it whole and counts on one server only).
 * KIND_MSET — MSET: key/value pairs, split per server like MULTI_KEY when there are several.
 * KIND_EVAL — EVAL EVALSHA (and the read-only EVAL_RO EVALSHA_RO): `script numkeys key ...`,
 *   routed by the first key. numkeys must be an integer as Redis reads it, at least 1 (a
 *   keyless script has no server) and at most the number of arguments left.
 * KIND_PLACEHOLDER — COMMAND LOLWUT: no key; forwarded to the server of the literal key
 *   `placeholder`, as twemproxy does, so they always reach the same server. COMMAND takes any
 *   arguments (twemproxy only accepts a bare COMMAND).
 * KIND_PING KIND_ECHO KIND_QUIT KIND_AUTH KIND_SELECT — answered by the proxy itself, as Redis
 *   would: PING [msg] (twemproxy closes on PING msg), ECHO, QUIT → +OK then close (twemproxy
 *   sends nothing), AUTH per spec 4.3 plus the ACL form `AUTH default <pw>`, SELECT of 0 or
 *   of the pool's redis_db only (the database is fixed by redis_db; twemproxy rejects every
 *   SELECT).
 * KIND_INFO — INFO is answered by the proxy with a short description of itself (`redis_mode:proxy`,
 *   `loading:0`): client libraries (ioredis's ready check, for one) send INFO on connect and give
 *   up on an error. Forwarding it to one server would describe that server, not the pool.
 * KIND_CLIENT — CLIENT SETNAME, GETNAME and SETINFO are answered by the proxy: the name is the
 *   client's own connection's (libraries such as node-redis send SETNAME on connect when given
 *   a name, and give up on an error). Other CLIENT subcommands are refused as unsupported.
 * KIND_HELLO — HELLO is answered by the proxy, which speaks RESP2 only: `HELLO 3` (any version
 *   but 2) gets Redis's `-NOPROTO`, on which clients (ioredis 6, go-redis, Lettuce) fall back to
 *   RESP2; `HELLO [2] [AUTH user pass] [SETNAME name]` authenticates, names and describes the
 *   connection as Redis does. Allowed before AUTH, as in Redis.
 * KIND_SCRIPT — SCRIPT LOAD is sent to every live server (a script's SHA1 is the same on all of
 *   them) and answered when all agree, so that clients which load a script and then call
 *   EVALSHA (redis-py's register_script) work whatever server the keys live on. Other SCRIPT
 *   subcommands are refused as unsupported.
 * KIND_UNSUPPORTED — real Redis commands a key-sharding proxy cannot serve: they have no key
 *   (KEYS SCAN CONFIG DBSIZE FLUSHALL ...), need connection state on one server (MULTI
 *   EXEC WATCH, pub/sub, blocking pops, other CLIENT subcommands ...), touch keys whose placement the
 *   proxy cannot guarantee or whose key positions depend on the arguments (RENAME RENAMENX
 *   MSETNX BITOP SINTERCARD ZINTERCARD LMPOP ZMPOP OBJECT XGROUP XINFO), or make no sense
 *   behind a proxy (MOVE: the database is fixed by redis_db; MIGRATE; replication and admin
 *   commands). twemproxy closes the connection on all of these (and on MOVE, which it lists but
 *   cannot answer); Walnut names the command in an error so the user knows it is the proxy,
 *   not Redis, refusing, and the connection stays usable.
 * Anything else is unknown, answered with Redis's `unknown command` error.
 */

export const KIND_KEY = 0;
export const KIND_MULTI_KEY = 1;
export const KIND_MSET = 2;
export const KIND_EVAL = 3;
export const KIND_PLACEHOLDER = 4;
export const KIND_PING = 5;
export const KIND_ECHO = 6;
export const KIND_QUIT = 7;
export const KIND_AUTH = 8;
export const KIND_SELECT = 9;
export const KIND_UNSUPPORTED = 10;
export const KIND_INFO = 11;
export const KIND_CLIENT = 12;
export const KIND_HELLO = 13;
export const KIND_SCRIPT = 14;

export interface RedisCommand {
  /** Index in REDIS_COMMANDS; this is Msg.cmd. */
  readonly id: number;
  /** Upper-case name, as Redis documents it. */
  readonly name: string;
  /** Lower-case name bytes: compared against requests, and written into fragments. */
  readonly lower: Buffer;
  readonly kind: number;
  /** Redis arity: > 0 exact element count, < 0 minimum element count. */
  readonly arity: number;
  /** Array position of the routing key (KIND_KEY), 0 when not applicable. */
  readonly keyIndex: number;
}

/** Msg.cmd of a request whose command name is not in the table. */
export const CMD_UNKNOWN = -1;

type Row = readonly [name: string, arity: number];

const KEY1: readonly Row[] = [
  // twemproxy K0 (key only)
  ['PERSIST', 2], ['PTTL', 2], ['TTL', 2], ['TYPE', 2], ['DUMP', 2], ['DECR', 2], ['GET', 2],
  ['GETDEL', 2], ['INCR', 2], ['STRLEN', 2], ['HGETALL', 2], ['HKEYS', 2], ['HLEN', 2],
  ['HVALS', 2], ['LLEN', 2], ['SCARD', 2], ['SMEMBERS', 2], ['ZCARD', 2],
  // twemproxy K1 (key + 1); the EXPIRE family and ZRANK/ZREVRANK take options since Redis 7
  ['EXPIRE', -3], ['EXPIREAT', -3], ['PEXPIRE', -3], ['PEXPIREAT', -3], ['APPEND', 3],
  ['DECRBY', 3], ['GETBIT', 3], ['GETSET', 3], ['INCRBY', 3], ['INCRBYFLOAT', 3], ['SETNX', 3],
  ['HEXISTS', 3], ['HGET', 3], ['HSTRLEN', 3], ['LINDEX', 3], ['RPOPLPUSH', 3], ['SISMEMBER', 3],
  ['ZRANK', -3], ['ZREVRANK', -3], ['ZSCORE', 3],
  // twemproxy K2 (key + 2)
  ['GETRANGE', 4], ['PSETEX', 4], ['SETBIT', 4], ['SETEX', 4], ['SETRANGE', 4], ['HINCRBY', 4],
  ['HINCRBYFLOAT', 4], ['HSETNX', 4], ['LRANGE', 4], ['LREM', 4], ['LSET', 4], ['LTRIM', 4],
  ['SMOVE', 4], ['ZCOUNT', 4], ['ZLEXCOUNT', 4], ['ZINCRBY', 4], ['ZREMRANGEBYLEX', 4],
  ['ZREMRANGEBYRANK', 4], ['ZREMRANGEBYSCORE', 4],
  // twemproxy K3 (key + 3)
  ['LINSERT', 5], ['LMOVE', 5],
  // twemproxy KN (key + any)
  ['SORT', -2], ['COPY', -3], ['BITCOUNT', -2], ['BITPOS', -3], ['BITFIELD', -2], ['GETEX', -2],
  ['SET', -3], ['HDEL', -3], ['HMGET', -3], ['HMSET', -4], ['HSCAN', -3], ['HSET', -4],
  ['HRANDFIELD', -2], ['LPUSH', -3], ['LPUSHX', -3], ['RPUSH', -3], ['RPUSHX', -3], ['LPOP', -2],
  ['RPOP', -2], ['LPOS', -3], ['SADD', -3], ['SDIFF', -2], ['SDIFFSTORE', -3], ['SINTER', -2],
  ['SINTERSTORE', -3], ['SREM', -3], ['SUNION', -2], ['SUNIONSTORE', -3], ['SRANDMEMBER', -2],
  ['SSCAN', -3], ['SPOP', -2], ['SMISMEMBER', -3], ['PFADD', -2], ['PFMERGE', -2],
  ['PFCOUNT', -2], ['ZADD', -4], ['ZDIFFSTORE', -4], ['ZINTERSTORE', -4], ['ZMSCORE', -3],
  ['ZPOPMAX', -2], ['ZPOPMIN', -2], ['ZRANDMEMBER', -2], ['ZRANGE', -4], ['ZRANGEBYLEX', -4],
  ['ZRANGEBYSCORE', -4], ['ZRANGESTORE', -5], ['ZREM', -3], ['ZREVRANGE', -4],
  ['ZREVRANGEBYLEX', -4], ['ZREVRANGEBYSCORE', -4], ['ZSCAN', -3], ['ZUNIONSTORE', -4],
  ['GEODIST', -4], ['GEOPOS', -2], ['GEOHASH', -2], ['GEOADD', -5], ['GEORADIUS', -6],
  ['GEORADIUSBYMEMBER', -5], ['GEOSEARCH', -7], ['GEOSEARCHSTORE', -8], ['RESTORE', -4],
  // Walnut additions (Redis 6.2 - 8)
  ['EXPIRETIME', 2], ['PEXPIRETIME', 2], ['SUBSTR', 4], ['LCS', -3], ['SORT_RO', -2],
  ['BITFIELD_RO', -2], ['GEORADIUS_RO', -6], ['GEORADIUSBYMEMBER_RO', -5],
  ['HEXPIRE', -6], ['HPEXPIRE', -6], ['HEXPIREAT', -6], ['HPEXPIREAT', -6], ['HTTL', -5],
  ['HPTTL', -5], ['HEXPIRETIME', -5], ['HPEXPIRETIME', -5], ['HPERSIST', -5], ['HGETDEL', -5],
  ['HGETEX', -5], ['HSETEX', -6],
  ['XADD', -5], ['XLEN', 2], ['XRANGE', -4], ['XREVRANGE', -4], ['XDEL', -3], ['XTRIM', -4],
  ['XACK', -4], ['XPENDING', -3], ['XCLAIM', -6], ['XAUTOCLAIM', -6], ['XSETID', -3],
];

/** `numkeys` comes first, so the first key is the second argument. */
const KEY2: readonly Row[] = [['ZDIFF', -3], ['ZINTER', -3], ['ZUNION', -3]];

const MULTI_KEY: readonly Row[] = [['MGET', -2], ['DEL', -2], ['UNLINK', -2], ['TOUCH', -2], ['EXISTS', -2]];

const EVAL: readonly Row[] = [['EVAL', -3], ['EVALSHA', -3], ['EVAL_RO', -3], ['EVALSHA_RO', -3]];

const UNSUPPORTED: readonly string[] = [
  // keyless or whole-keyspace
  'KEYS', 'SCAN', 'RANDOMKEY', 'DBSIZE', 'FLUSHALL', 'FLUSHDB', 'SWAPDB', 'CONFIG',
  'TIME', 'LASTSAVE', 'SAVE', 'BGSAVE', 'BGREWRITEAOF', 'SHUTDOWN', 'DEBUG', 'SLOWLOG',
  'LATENCY', 'MEMORY', 'MODULE', 'ACL', 'CLUSTER', 'READONLY', 'READWRITE', 'ASKING', 'RESET',
  'FAILOVER', 'SLAVEOF', 'REPLICAOF', 'ROLE', 'MONITOR', 'SYNC', 'PSYNC', 'REPLCONF', 'WAIT',
  'WAITAOF', 'FUNCTION', 'FCALL', 'FCALL_RO', 'PFDEBUG', 'PFSELFTEST',
  // connection state on one server
  'MULTI', 'EXEC', 'DISCARD', 'WATCH', 'UNWATCH', 'SUBSCRIBE', 'UNSUBSCRIBE', 'PSUBSCRIBE',
  'PUNSUBSCRIBE', 'SSUBSCRIBE', 'SUNSUBSCRIBE', 'PUBLISH', 'SPUBLISH', 'PUBSUB',
  // blocking
  'BLPOP', 'BRPOP', 'BRPOPLPUSH', 'BLMOVE', 'BLMPOP', 'BZPOPMIN', 'BZPOPMAX', 'BZMPOP',
  'XREAD', 'XREADGROUP',
  // keys at positions that depend on the arguments, or keys the proxy cannot co-locate
  'RENAME', 'RENAMENX', 'MSETNX', 'BITOP', 'MOVE', 'MIGRATE', 'OBJECT', 'LMPOP', 'ZMPOP',
  'SINTERCARD', 'ZINTERCARD', 'XGROUP', 'XINFO',
];

const commands: RedisCommand[] = [];

function add(name: string, kind: number, arity: number, keyIndex: number): void {
  commands.push({ id: commands.length, name, lower: Buffer.from(name.toLowerCase(), 'latin1'), kind, arity, keyIndex });
}

for (const [name, arity] of KEY1) add(name, KIND_KEY, arity, 1);
for (const [name, arity] of KEY2) add(name, KIND_KEY, arity, 2);
for (const [name, arity] of MULTI_KEY) add(name, KIND_MULTI_KEY, arity, 1);
add('MSET', KIND_MSET, -3, 1);
for (const [name, arity] of EVAL) add(name, KIND_EVAL, arity, 3);
add('COMMAND', KIND_PLACEHOLDER, -1, 0);
add('LOLWUT', KIND_PLACEHOLDER, -1, 0);
add('PING', KIND_PING, -1, 0);
add('ECHO', KIND_ECHO, 2, 0);
add('QUIT', KIND_QUIT, -1, 0);
add('AUTH', KIND_AUTH, -2, 0);
add('SELECT', KIND_SELECT, 2, 0);
add('INFO', KIND_INFO, -1, 0);
add('CLIENT', KIND_CLIENT, -2, 0);
add('HELLO', KIND_HELLO, -1, 0);
add('SCRIPT', KIND_SCRIPT, -2, 0);
for (const name of UNSUPPORTED) add(name, KIND_UNSUPPORTED, -1, 0);

export const REDIS_COMMANDS: readonly RedisCommand[] = commands;

// ---- lookup: case-folded FNV-1a of the name bytes → open-addressing table → byte compare

const TABLE_BITS = 10;
const TABLE_MASK = (1 << TABLE_BITS) - 1;
/** Slot → command id + 1 (0 = empty). */
const table = new Int16Array(1 << TABLE_BITS);
/** No command name is longer; longer names are unknown without hashing. */
let maxNameLen = 0;

/** Byte → lower-case byte (only A-Z change). */
const FOLD = new Uint8Array(256);
for (let b = 0; b < 256; b++) FOLD[b] = b >= 65 && b <= 90 ? b + 32 : b;

function foldedHash(buf: Buffer, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ FOLD[buf[i]!]!, 0x01000193);
  return h >>> 0;
}

for (const cmd of commands) {
  if (cmd.lower.length > maxNameLen) maxNameLen = cmd.lower.length;
  let slot = foldedHash(cmd.lower, 0, cmd.lower.length) & TABLE_MASK;
  while (table[slot] !== 0) slot = (slot + 1) & TABLE_MASK;
  table[slot] = cmd.id + 1;
}

/** Whether bytes [start, end) of buf are `lower` (lower-case ASCII) in any letter case. */
export function equalsFolded(buf: Buffer, start: number, end: number, lower: Buffer): boolean {
  if (end - start !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) if (FOLD[buf[start + i]!] !== lower[i]) return false;
  return true;
}

/** The command whose name is bytes [start, end) of buf, case-insensitively; null if unknown. */
export function lookupCommand(buf: Buffer, start: number, end: number): RedisCommand | null {
  const len = end - start;
  if (len === 0 || len > maxNameLen) return null;
  let slot = foldedHash(buf, start, end) & TABLE_MASK;
  for (;;) {
    const entry = table[slot]!;
    if (entry === 0) return null;
    const cmd = commands[entry - 1]!;
    const lower = cmd.lower;
    if (lower.length === len) {
      let i = 0;
      while (i < len && FOLD[buf[start + i]!] === lower[i]) i++;
      if (i === len) return cmd;
    }
    slot = (slot + 1) & TABLE_MASK;
  }
}

/** The command named `name` (any case); throws for names not in the table (tests, setup). */
export function commandByName(name: string): RedisCommand {
  const buf = Buffer.from(name, 'latin1');
  const cmd = lookupCommand(buf, 0, buf.length);
  if (cmd === null) throw new Error(`no redis command ${name}`);
  return cmd;
}
