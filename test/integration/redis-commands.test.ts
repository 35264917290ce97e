// Differential test: every supported command category, sent through Walnut (3 sharded real
// redis-servers) and straight to a single real redis-server, must give identical replies.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { freePort, startRedis, startWalnut, type Running, type RunningProxy } from '../../scripts/lib/processes.js';

type Arg = string | number;
/** [command args..., optional normaliser for commands with random output] */
interface Step {
  args: Arg[];
  normalise?: (reply: unknown) => unknown;
}

const sortedArray = (r: unknown): unknown => (Array.isArray(r) ? [...(r as unknown[])].map(String).sort() : r);
const lengthOf = (r: unknown): unknown => (Array.isArray(r) ? r.length : r);

// Keys spread over the servers; commands touching several keys use a {tag} to co-locate them,
// as with twemproxy.
const STEPS: Step[] = [
  // strings
  { args: ['SET', 'str:1', 'hello'] },
  { args: ['GET', 'str:1'] },
  { args: ['SET', 'str:2', 'v', 'EX', '100', 'NX'] },
  { args: ['SET', 'str:2', 'w', 'XX', 'GET'] },
  { args: ['GETSET', 'str:1', 'world'] },
  { args: ['APPEND', 'str:1', '!!'] },
  { args: ['STRLEN', 'str:1'] },
  { args: ['GETRANGE', 'str:1', '1', '3'] },
  { args: ['SETRANGE', 'str:1', '2', 'XY'] },
  { args: ['GET', 'str:1'] },
  { args: ['SETNX', 'str:1', 'nope'] },
  { args: ['SETEX', 'str:3', '100', 'x'] },
  { args: ['PSETEX', 'str:4', '100000', 'y'] },
  { args: ['INCR', 'num:1'] },
  { args: ['INCRBY', 'num:1', '41'] },
  { args: ['DECR', 'num:1'] },
  { args: ['DECRBY', 'num:1', '10'] },
  { args: ['INCRBYFLOAT', 'num:f', '2.5'] },
  { args: ['INCR', 'str:1'] },
  { args: ['GETDEL', 'str:3'] },
  { args: ['GET', 'str:3'] },
  { args: ['GETEX', 'str:4', 'PERSIST'] },
  { args: ['SETBIT', 'bits', '7', '1'] },
  { args: ['GETBIT', 'bits', '7'] },
  { args: ['BITCOUNT', 'bits'] },
  { args: ['BITPOS', 'bits', '1'] },
  { args: ['BITFIELD', 'bf', 'SET', 'u8', '0', '200', 'GET', 'u8', '0'] },
  // keys
  { args: ['EXPIRE', 'str:1', '1000'] },
  { args: ['TTL', 'str:1'] },
  { args: ['PERSIST', 'str:1'] },
  { args: ['PTTL', 'str:1'] },
  { args: ['PEXPIRE', 'str:2', '900000'] },
  { args: ['EXPIREAT', 'str:4', '4102444800'] },
  { args: ['PEXPIREAT', 'str:4', '4102444800000'] },
  { args: ['TTL', 'str:4'] },
  { args: ['TYPE', 'str:1'] },
  { args: ['TYPE', 'missing'] },
  { args: ['COPY', '{c}src', '{c}dst'] },
  { args: ['SET', '{c}src', 'copied'] },
  { args: ['COPY', '{c}src', '{c}dst'] },
  { args: ['GET', '{c}dst'] },
  { args: ['EXISTS', 'str:1'] },
  // hashes
  { args: ['HSET', 'h', 'a', '1', 'b', '2', 'c', '3'] },
  { args: ['HGET', 'h', 'a'] },
  { args: ['HMSET', 'h', 'd', '4'] },
  { args: ['HMGET', 'h', 'a', 'z', 'd'] },
  { args: ['HGETALL', 'h'] },
  { args: ['HKEYS', 'h'] },
  { args: ['HVALS', 'h'] },
  { args: ['HLEN', 'h'] },
  { args: ['HDEL', 'h', 'd', 'zz'] },
  { args: ['HEXISTS', 'h', 'a'] },
  { args: ['HINCRBY', 'h', 'a', '5'] },
  { args: ['HINCRBYFLOAT', 'h', 'b', '0.5'] },
  { args: ['HSETNX', 'h', 'a', '9'] },
  { args: ['HSTRLEN', 'h', 'b'] },
  { args: ['HSCAN', 'h', '0', 'COUNT', '100'], normalise: (r) => (Array.isArray(r) ? sortedArray(r[1]) : r) },
  { args: ['HRANDFIELD', 'h', '-2'], normalise: lengthOf },
  // lists
  { args: ['RPUSH', 'l', 'a', 'b', 'c', 'd'] },
  { args: ['LPUSH', 'l', 'z'] },
  { args: ['LPUSHX', 'l', 'y'] },
  { args: ['RPUSHX', 'nolist', 'x'] },
  { args: ['LRANGE', 'l', '0', '-1'] },
  { args: ['LLEN', 'l'] },
  { args: ['LINDEX', 'l', '2'] },
  { args: ['LSET', 'l', '0', 'Y'] },
  { args: ['LINSERT', 'l', 'BEFORE', 'b', 'bb'] },
  { args: ['LREM', 'l', '1', 'c'] },
  { args: ['LPOS', 'l', 'b'] },
  { args: ['LTRIM', 'l', '0', '4'] },
  { args: ['LPOP', 'l'] },
  { args: ['RPOP', 'l', '2'] },
  { args: ['RPUSH', '{q}a', '1', '2', '3'] },
  { args: ['RPOPLPUSH', '{q}a', '{q}b'] },
  { args: ['LMOVE', '{q}a', '{q}b', 'LEFT', 'RIGHT'] },
  { args: ['LRANGE', '{q}b', '0', '-1'] },
  // sets
  { args: ['SADD', 's', 'a', 'b', 'c'] },
  { args: ['SREM', 's', 'c', 'x'] },
  { args: ['SMEMBERS', 's'], normalise: sortedArray },
  { args: ['SCARD', 's'] },
  { args: ['SISMEMBER', 's', 'a'] },
  { args: ['SMISMEMBER', 's', 'a', 'q'] },
  { args: ['SRANDMEMBER', 's', '5'], normalise: sortedArray },
  { args: ['SSCAN', 's', '0'], normalise: (r) => (Array.isArray(r) ? sortedArray(r[1]) : r) },
  { args: ['SADD', '{s}1', 'a', 'b', 'c'] },
  { args: ['SADD', '{s}2', 'b', 'c', 'd'] },
  { args: ['SDIFF', '{s}1', '{s}2'], normalise: sortedArray },
  { args: ['SINTER', '{s}1', '{s}2'], normalise: sortedArray },
  { args: ['SUNION', '{s}1', '{s}2'], normalise: sortedArray },
  { args: ['SDIFFSTORE', '{s}3', '{s}1', '{s}2'] },
  { args: ['SINTERSTORE', '{s}4', '{s}1', '{s}2'] },
  { args: ['SUNIONSTORE', '{s}5', '{s}1', '{s}2'] },
  { args: ['SMOVE', '{s}1', '{s}2', 'a'] },
  { args: ['SPOP', '{s}5', '10'], normalise: sortedArray },
  // sorted sets
  { args: ['ZADD', 'z', '1', 'one', '2', 'two', '3', 'three'] },
  { args: ['ZSCORE', 'z', 'two'] },
  { args: ['ZRANK', 'z', 'three'] },
  { args: ['ZREVRANK', 'z', 'three'] },
  { args: ['ZRANGE', 'z', '0', '-1', 'WITHSCORES'] },
  { args: ['ZREVRANGE', 'z', '0', '1'] },
  { args: ['ZRANGEBYSCORE', 'z', '(1', '3'] },
  { args: ['ZREVRANGEBYSCORE', 'z', '3', '-inf'] },
  { args: ['ZCOUNT', 'z', '-inf', '+inf'] },
  { args: ['ZINCRBY', 'z', '10', 'one'] },
  { args: ['ZCARD', 'z'] },
  { args: ['ZMSCORE', 'z', 'one', 'nope'] },
  { args: ['ZADD', 'zl', '0', 'a', '0', 'b', '0', 'c'] },
  { args: ['ZLEXCOUNT', 'zl', '-', '+'] },
  { args: ['ZRANGEBYLEX', 'zl', '[a', '(c'] },
  { args: ['ZREVRANGEBYLEX', 'zl', '+', '-'] },
  { args: ['ZREMRANGEBYLEX', 'zl', '[a', '[a'] },
  { args: ['ZREMRANGEBYRANK', 'zl', '0', '0'] },
  { args: ['ZREMRANGEBYSCORE', 'z', '0', '2'] },
  { args: ['ZPOPMIN', 'z'] },
  { args: ['ZPOPMAX', 'z'] },
  { args: ['ZREM', 'z', 'x'] },
  { args: ['ZSCAN', 'zl', '0'] },
  { args: ['ZRANDMEMBER', 'zl', '-3'], normalise: lengthOf },
  { args: ['ZADD', '{z}1', '1', 'a', '2', 'b'] },
  { args: ['ZADD', '{z}2', '3', 'b', '4', 'c'] },
  { args: ['ZUNIONSTORE', '{z}u', '2', '{z}1', '{z}2'] },
  { args: ['ZINTERSTORE', '{z}i', '2', '{z}1', '{z}2', 'WEIGHTS', '1', '2'] },
  { args: ['ZRANGE', '{z}u', '0', '-1', 'WITHSCORES'] },
  { args: ['ZRANGESTORE', '{z}r', '{z}u', '0', '1'] },
  { args: ['ZDIFFSTORE', '{z}d', '2', '{z}1', '{z}2'] },
  // hyperloglog
  { args: ['PFADD', '{hll}1', 'a', 'b', 'c'] },
  { args: ['PFADD', '{hll}2', 'c', 'd'] },
  { args: ['PFCOUNT', '{hll}1'] },
  { args: ['PFMERGE', '{hll}3', '{hll}1', '{hll}2'] },
  { args: ['PFCOUNT', '{hll}3'] },
  // geo
  { args: ['GEOADD', 'g', '13.361389', '38.115556', 'Palermo', '15.087269', '37.502669', 'Catania'] },
  { args: ['GEODIST', 'g', 'Palermo', 'Catania', 'km'] },
  { args: ['GEOHASH', 'g', 'Palermo'] },
  { args: ['GEOPOS', 'g', 'Catania'] },
  { args: ['GEORADIUS', 'g', '15', '37', '200', 'km', 'ASC'] },
  { args: ['GEOSEARCH', 'g', 'FROMLONLAT', '15', '37', 'BYRADIUS', '200', 'km', 'ASC'] },
  // dump / restore / sort
  { args: ['RPUSH', 'nums', '3', '1', '2'] },
  { args: ['SORT', 'nums'] },
  { args: ['SORT', 'nums', 'DESC', 'LIMIT', '0', '2'] },
  // scripting
  { args: ['EVAL', "return redis.call('SET', KEYS[1], ARGV[1])", '1', 'ev:1', 'scripted'] },
  { args: ['EVAL', "return redis.call('GET', KEYS[1])", '1', 'ev:1'] },
  { args: ['EVAL', 'local s=0 for i=1,100 do s=s+i end return s', '1', 'any'] },
  { args: ['EVALSHA', 'ffffffffffffffffffffffffffffffffffffffff', '1', 'k'] },
  // errors from the server pass through unchanged
  { args: ['LPUSH', 'str:1', 'x'] },
  { args: ['INCR', 'h'] },
  { args: ['ZADD', 'z', 'notanumber', 'm'] },
  // multi-key commands split over servers
  { args: ['MSET', 'm:1', 'a', 'm:2', 'b', 'm:3', 'c', 'm:4', 'd', 'm:5', 'e', 'm:6', 'f'] },
  { args: ['MGET', 'm:1', 'missing:1', 'm:2', 'm:3', 'm:1', 'm:4', 'missing:2', 'm:5', 'm:6'] },
  { args: ['EXISTS', 'm:1', 'm:2', 'missing:1', 'm:3', 'm:3'] },
  { args: ['TOUCH', 'm:1', 'm:2', 'nope', 'm:4'] },
  { args: ['UNLINK', 'm:5', 'm:6', 'nope'] },
  { args: ['DEL', 'm:1', 'm:2', 'm:3', 'nope', 'm:4'] },
  { args: ['MGET', 'm:1', 'm:2', 'm:3'] },
  { args: ['DEL', 'str:1'] },
  { args: ['PING'] },
  { args: ['PING', 'hello there'] },
  { args: ['ECHO', 'echo me'] },
];

describe('redis commands through walnut match a direct redis-server', () => {
  let shards: Running[] = [];
  let direct: Running;
  let walnut: RunningProxy;
  let viaProxy: Redis;
  let viaDirect: Redis;
  let port = 0;

  before(async () => {
    [direct, ...shards] = await Promise.all([startRedis(), startRedis(), startRedis(), startRedis()]);
    port = await freePort();
    const yaml = [
      'sharded:',
      `  listen: 127.0.0.1:${port}`,
      '  redis: true',
      // md5 spreads these test keys over all three shards (fnv1a_64 + ketama clusters similar
      // keys: 10/0/50 for spread:0..59, which real twemproxy does too).
      '  hash: md5',
      '  hash_tag: "{}"',
      '  distribution: ketama',
      '  servers:',
      ...shards.map((s, i) => `    - 127.0.0.1:${s.port}:1 shard${i}`),
      '',
    ].join('\n');
    walnut = await startWalnut(yaml, { listenPorts: [port] });
    viaProxy = new Redis({ port, host: '127.0.0.1', enableReadyCheck: false, maxRetriesPerRequest: 0 });
    viaDirect = new Redis({ port: direct.port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
  });

  after(async () => {
    viaProxy.disconnect();
    viaDirect.disconnect();
    await walnut.stop();
    await Promise.all([direct, ...shards].map((s) => s.stop()));
  });

  const call = async (client: Redis, args: Arg[]): Promise<unknown> => {
    try {
      return await client.call(String(args[0]), ...args.slice(1).map(String));
    } catch (err) {
      return { error: err instanceof Error ? err.message : String(err) };
    }
  };

  test(`${STEPS.length} commands give the same replies`, async () => {
    for (const step of STEPS) {
      const norm = step.normalise ?? ((r: unknown) => r);
      const expected = norm(await call(viaDirect, step.args));
      const actual = norm(await call(viaProxy, step.args));
      assert.deepEqual(actual, expected, `reply to ${step.args.join(' ')}`);
    }
  });

  test('the data really is spread over every shard', async () => {
    const keys = Array.from({ length: 60 }, (_, i) => `spread:${i}`);
    await viaProxy.mset(...keys.flatMap((k) => [k, `value-of-${k}`]));
    const counts = await Promise.all(
      shards.map(async (s) => {
        const c = new Redis({ port: s.port, host: '127.0.0.1' });
        try {
          const found = await c.exists(...keys);
          return found;
        } finally {
          c.disconnect();
        }
      }),
    );
    assert.equal(counts.reduce((a, b) => a + b, 0), keys.length);
    for (const c of counts) assert.ok(c > 0, `every shard holds some keys: ${counts.join(',')}`);
    assert.deepEqual(await viaProxy.mget(...keys), keys.map((k) => `value-of-${k}`));
  });

  test('keys sharing a hash tag land on one shard', async () => {
    const keys = Array.from({ length: 30 }, (_, i) => `user:{42}:field${i}`);
    await viaProxy.mset(...keys.flatMap((k) => [k, 'x']));
    const holders: number[] = [];
    for (const [i, s] of shards.entries()) {
      const c = new Redis({ port: s.port, host: '127.0.0.1' });
      if ((await c.exists(...keys)) > 0) holders.push(i);
      c.disconnect();
    }
    assert.equal(holders.length, 1);
  });

  test('SCRIPT LOAD reaches every shard, so EVALSHA works whatever shard the key is on', async () => {
    const script = "return redis.call('GET', KEYS[1])";
    const sha = createHash('sha1').update(script).digest('hex');
    assert.equal(await viaProxy.script('LOAD', script), sha);
    for (const s of shards) {
      const c = new Redis({ port: s.port, host: '127.0.0.1' });
      assert.deepEqual(await c.script('EXISTS', sha), [1]);
      c.disconnect();
    }
    const keys = Array.from({ length: 30 }, (_, i) => `sha:${i}`);
    await viaProxy.mset(...keys.flatMap((k) => [k, `v-${k}`]));
    for (const k of keys) assert.equal(await viaProxy.evalsha(sha, 1, k), `v-${k}`);
    await assert.rejects(viaProxy.script('FLUSH'), /'SCRIPT' is not supported by the proxy/);
  });

  test('a client library that names its connection (CLIENT SETNAME on connect) works, and each client keeps its own name', async () => {
    const named = new Redis({ port, host: '127.0.0.1', connectionName: 'walnut-test', maxRetriesPerRequest: 0 });
    const other = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
    try {
      assert.equal(await named.client('GETNAME'), 'walnut-test');
      assert.equal(await other.client('GETNAME'), null);
      assert.equal(await named.set('named:k', 'v'), 'OK');
      assert.equal(await named.call('CLIENT', 'SETINFO', 'LIB-NAME', 'ioredis'), 'OK');
    } finally {
      named.disconnect();
      other.disconnect();
    }
  });
});
