// The redis command table and its byte-level, case-insensitive lookup.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  KIND_CLIENT,
  KIND_EVAL,
  KIND_KEY,
  KIND_MSET,
  KIND_MULTI_KEY,
  KIND_PLACEHOLDER,
  KIND_SCRIPT,
  KIND_UNSUPPORTED,
  REDIS_COMMANDS,
  commandByName,
  lookupCommand,
} from '../../../../src/proto/redis/commands.js';

const lookup = (name: string): string | null => {
  const buf = Buffer.from(`xx${name}yy`, 'latin1');
  return lookupCommand(buf, 2, buf.length - 2)?.name ?? null;
};

// The 137 command names of twemproxy (spec 4.2), MOVE included.
const TWEMPROXY = `PING QUIT COMMAND PERSIST PTTL TTL TYPE DUMP DECR GET GETDEL INCR STRLEN HGETALL HKEYS HLEN
HVALS LLEN SCARD SMEMBERS ZCARD AUTH EXPIRE EXPIREAT PEXPIRE PEXPIREAT MOVE APPEND DECRBY GETBIT GETSET
INCRBY INCRBYFLOAT SETNX HEXISTS HGET HSTRLEN LINDEX RPOPLPUSH SISMEMBER ZRANK ZREVRANK ZSCORE GETRANGE
PSETEX SETBIT SETEX SETRANGE HINCRBY HINCRBYFLOAT HSETNX LRANGE LREM LSET LTRIM SMOVE ZCOUNT ZLEXCOUNT
ZINCRBY ZREMRANGEBYLEX ZREMRANGEBYRANK ZREMRANGEBYSCORE LINSERT LMOVE SORT COPY BITCOUNT BITPOS BITFIELD
EXISTS GETEX SET HDEL HMGET HMSET HSCAN HSET HRANDFIELD LPUSH LPUSHX RPUSH RPUSHX LPOP RPOP LPOS SADD
SDIFF SDIFFSTORE SINTER SINTERSTORE SREM SUNION SUNIONSTORE SRANDMEMBER SSCAN SPOP SMISMEMBER PFADD
PFMERGE PFCOUNT ZADD ZDIFF ZDIFFSTORE ZINTER ZINTERSTORE ZMSCORE ZPOPMAX ZPOPMIN ZRANDMEMBER ZRANGE
ZRANGEBYLEX ZRANGEBYSCORE ZRANGESTORE ZREM ZREVRANGE ZREVRANGEBYLEX ZREVRANGEBYSCORE ZSCAN ZUNION
ZUNIONSTORE GEODIST GEOPOS GEOHASH GEOADD GEORADIUS GEORADIUSBYMEMBER GEOSEARCH GEOSEARCHSTORE RESTORE
MGET DEL UNLINK TOUCH MSET EVAL EVALSHA LOLWUT`.split(/\s+/);

describe('redis command table', () => {
  test('names are unique and ids are indexes', () => {
    const names = new Set<string>();
    for (const [i, c] of REDIS_COMMANDS.entries()) {
      assert.equal(c.id, i);
      assert.ok(!names.has(c.name), `duplicate ${c.name}`);
      names.add(c.name);
      assert.equal(c.lower.toString('latin1'), c.name.toLowerCase());
    }
  });

  test('every twemproxy command is known; only MOVE is unsupported', () => {
    assert.equal(TWEMPROXY.length, 137);
    for (const name of TWEMPROXY) {
      const c = commandByName(name);
      assert.equal(c.kind === KIND_UNSUPPORTED, name === 'MOVE', name);
    }
  });

  test('every command is found in upper, lower and mixed case, inside a larger buffer', () => {
    for (const c of REDIS_COMMANDS) {
      assert.equal(lookup(c.name), c.name);
      assert.equal(lookup(c.name.toLowerCase()), c.name);
      const mixed = [...c.name].map((ch, i) => (i % 2 === 0 ? ch.toLowerCase() : ch)).join('');
      assert.equal(lookup(mixed), c.name);
    }
  });

  test('names that are not commands are not found', () => {
    for (const name of ['', 'GE', 'GETT', 'G\u00c5T', 'SET ', ' SET', 'MGET\0', 'X'.repeat(100), 'ZZZZ', 'get\r\n']) {
      assert.equal(lookup(name), null, JSON.stringify(name));
    }
    // Letters fold, other bytes do not: '@' (0x40) is not '`' (0x60).
    assert.equal(lookup('G@T'), null);
  });

  test('routing kinds and key positions', () => {
    assert.equal(commandByName('GET').kind, KIND_KEY);
    assert.equal(commandByName('GET').keyIndex, 1);
    assert.equal(commandByName('ZUNION').keyIndex, 2);
    assert.equal(commandByName('EXISTS').kind, KIND_MULTI_KEY);
    assert.equal(commandByName('MSET').kind, KIND_MSET);
    assert.equal(commandByName('EVALSHA').kind, KIND_EVAL);
    assert.equal(commandByName('COMMAND').kind, KIND_PLACEHOLDER);
    assert.equal(commandByName('CLIENT').kind, KIND_CLIENT);
    assert.equal(commandByName('SCRIPT').kind, KIND_SCRIPT);
    for (const name of ['KEYS', 'SCAN', 'MULTI', 'EXEC', 'WATCH', 'SUBSCRIBE', 'PUBLISH', 'BLPOP', 'CONFIG', 'FLUSHALL', 'FLUSHDB', 'DBSIZE', 'RANDOMKEY', 'RENAME', 'MSETNX', 'BITOP', 'MOVE', 'MIGRATE']) {
      assert.equal(commandByName(name).kind, KIND_UNSUPPORTED, name);
    }
    for (const c of REDIS_COMMANDS) {
      if (c.kind === KIND_KEY) assert.ok(c.arity < 0 ? -c.arity > c.keyIndex : c.arity > c.keyIndex, `${c.name} arity covers its key`);
    }
  });
});
