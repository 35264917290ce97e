// Tests of Placement: hash_tag extraction (spec 3.1), empty keys, one/zero live nodes, random,
// pool-index mapping, and the routing table observed on the binary (spec 3.6).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { hashFunction } from '../../../src/hash/hash-functions.js';
import { DISTRIBUTION_NAMES, HASH_NAMES, type DistributionName, type HashName } from '../../../src/hash/names.js';
import { Placement } from '../../../src/hash/placement.js';

interface TestNode {
  readonly name: string;
  readonly weight: number;
  readonly index: number;
}

const numbered = (count: number): TestNode[] =>
  Array.from({ length: count }, (_, i) => ({ name: `s${i}`, weight: 1, index: i }));

function route(placement: Placement, key: string | Buffer): number {
  const buf = typeof key === 'string' ? Buffer.from(key) : key;
  return placement.serverIndexFor(buf, 0, buf.length);
}

// With modula over 1000 weight-1 nodes the server index is hash % 1000, so the routed index tells
// which bytes were hashed.
const WIDE = numbered(1000);

test('hash_tag {} extraction follows the spec examples', () => {
  const examples: [string, string][] = [
    ['user:{u1}:x', 'u1'],
    ['{}abc', '{}abc'],
    ['{abc', '{abc'],
    ['a}b{c}', 'c'],
    ['{a}{b}', 'a'],
    ['plain', 'plain'],
    ['x{y}z{w}', 'y'],
    ['{user1000}.following', 'user1000'],
    ['}{', '}{'],
    ['{{a}}', '{a'],
  ];
  for (const hash of ['crc32a', 'fnv1a_64', 'md5'] as const) {
    const fn = hashFunction(hash);
    const placement = new Placement({ hash, distribution: 'modula', hashTag: Buffer.from('{}') }, WIDE);
    for (const [key, hashed] of examples) {
      const bytes = Buffer.from(hashed);
      assert.equal(route(placement, key), fn(bytes, 0, bytes.length) % 1000, `${hash}: ${key} hashes ${hashed}`);
    }
  }
});

test('hash_tag extraction works on a sub-range of a larger buffer', () => {
  const fn = hashFunction('crc32a');
  const placement = new Placement({ hash: 'crc32a', distribution: 'modula', hashTag: Buffer.from('{}') }, WIDE);
  // The tag closes only outside the range: the whole in-range key is hashed.
  const buf = Buffer.from('{ab{cd}');
  assert.equal(placement.serverIndexFor(buf, 0, 5), fn(buf, 0, 5) % 1000);
  assert.equal(placement.serverIndexFor(buf, 3, 7), fn(Buffer.from('cd'), 0, 2) % 1000);
});

test('keys sharing a tag go to one server', () => {
  const placement = new Placement(
    { hash: 'fnv1a_64', distribution: 'ketama', hashTag: Buffer.from('{}') },
    numbered(5),
  );
  fc.assert(
    fc.property(fc.string({ minLength: 1, maxLength: 10 }), fc.string(), fc.string(), (tag, pre, post) => {
      fc.pre(!tag.includes('}') && !pre.includes('{'));
      assert.equal(route(placement, `${pre}{${tag}}${post}`), route(placement, tag));
    }),
  );
});

test('the hash tag may use the same byte to open and close', () => {
  const fn = hashFunction('crc32a');
  const placement = new Placement({ hash: 'crc32a', distribution: 'modula', hashTag: Buffer.from('$$') }, WIDE);
  assert.equal(route(placement, 'a$bc$d'), fn(Buffer.from('bc'), 0, 2) % 1000);
  assert.equal(route(placement, 'a$$d'), fn(Buffer.from('a$$d'), 0, 4) % 1000);
});

test('an empty key hashes to 0 without calling the hash function', () => {
  // fnv1a_64 of no bytes would be its offset basis 0x84222325 = 2216829733: 2216829733 % 1000 = 733.
  const modula = new Placement({ hash: 'fnv1a_64', distribution: 'modula', hashTag: null }, WIDE);
  assert.equal(route(modula, ''), 0);
  // jenkins of no bytes would be 0xdeadbefc.
  const jenkins = new Placement({ hash: 'jenkins', distribution: 'modula', hashTag: null }, WIDE);
  assert.equal(route(jenkins, ''), 0);
});

test('a single live node always gets the key, whatever the distribution', () => {
  for (const distribution of DISTRIBUTION_NAMES) {
    const placement = new Placement({ hash: 'md5', distribution, hashTag: Buffer.from('{}') }, [
      { name: 'only', weight: 7, index: 4 },
    ]);
    for (const key of ['', 'a', 'user:{1}', 'x'.repeat(300)]) assert.equal(route(placement, key), 4);
  }
});

test('no live nodes gives -1', () => {
  for (const distribution of DISTRIBUTION_NAMES) {
    const placement = new Placement({ hash: 'fnv1a_64', distribution, hashTag: null }, []);
    assert.equal(route(placement, 'foo'), -1);
  }
});

test('answers are pool indices of the live nodes, not positions in the live list', () => {
  const live: TestNode[] = [
    { name: 'server1', weight: 1, index: 0 },
    { name: 'server3', weight: 1, index: 2 },
    { name: 'server4', weight: 1, index: 3 },
  ];
  const placement = new Placement({ hash: 'crc32a', distribution: 'modula', hashTag: null }, live);
  const fn = hashFunction('crc32a');
  for (const key of ['foo', 'bar', 'baz', 'apple', 'user:1000']) {
    const bytes = Buffer.from(key);
    assert.equal(route(placement, key), live[fn(bytes, 0, bytes.length) % 3]!.index);
  }
});

test('random ignores the key and hits every live node, never an ejected one', () => {
  const live: TestNode[] = [
    { name: 'a', weight: 1, index: 1 },
    { name: 'b', weight: 50, index: 4 },
    { name: 'c', weight: 1, index: 6 },
  ];
  const placement = new Placement({ hash: 'fnv1a_64', distribution: 'random', hashTag: null }, live);
  const seen = new Map<number, number>();
  const key = Buffer.from('same-key-every-time');
  for (let i = 0; i < 3000; i++) {
    const index = placement.serverIndexFor(key, 0, key.length);
    seen.set(index, (seen.get(index) ?? 0) + 1);
  }
  assert.deepEqual([...seen.keys()].sort((x, y) => x - y), [1, 4, 6]);
});

test('serverIndexFor always returns the pool index of one of the given nodes', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...HASH_NAMES),
      fc.constantFrom(...DISTRIBUTION_NAMES),
      fc.uniqueArray(fc.nat({ max: 40 }), { minLength: 1, maxLength: 6 }),
      fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 6, maxLength: 6 }),
      fc.option(fc.constantFrom('{}', '[]', '::'), { nil: null }),
      fc.array(fc.uint8Array({ maxLength: 40 }), { minLength: 1, maxLength: 10 }),
      (hash: HashName, distribution: DistributionName, indices, weights, tag, keys) => {
        const nodes = indices.map((index, i) => ({ name: `10.0.0.${index}:6379`, weight: weights[i]!, index }));
        const placement = new Placement({ hash, distribution, hashTag: tag === null ? null : Buffer.from(tag) }, nodes);
        for (const key of keys) assert.ok(indices.includes(route(placement, Buffer.from(key))));
      },
    ),
    { numRuns: 150 },
  );
});

test('routing table observed on the binary (spec 3.6)', () => {
  const keys: (string | Buffer)[] = ['foo', 'bar', 'baz', 'apple', 'user:1000', Buffer.from([0xff]), 'a'.repeat(50)];
  const named = ['server1', 'server2', 'server3'].map((name, index) => ({ name, weight: 1, index }));
  const cases: { hash: HashName; distribution: DistributionName; nodes: TestNode[]; expected: string[] }[] = [
    {
      hash: 'fnv1a_64',
      distribution: 'ketama',
      nodes: named,
      expected: ['server1', 'server2', 'server2', 'server1', 'server1', 'server2', 'server2'],
    },
    {
      hash: 'md5',
      distribution: 'ketama',
      nodes: [
        { name: '127.0.0.1:33024', weight: 1, index: 0 },
        { name: '127.0.0.1:33025', weight: 2, index: 1 },
        { name: '127.0.0.1:33026', weight: 3, index: 2 },
      ],
      expected: ['33024', '33026', '33026', '33025', '33026', '33026', '33026'].map((p) => `127.0.0.1:${p}`),
    },
    {
      hash: 'fnv1a_64',
      distribution: 'modula',
      nodes: named,
      expected: ['server3', 'server2', 'server2', 'server3', 'server3', 'server1', 'server1'],
    },
  ];
  for (const c of cases) {
    const placement = new Placement({ hash: c.hash, distribution: c.distribution, hashTag: null }, c.nodes);
    const got = keys.map((key) => c.nodes[route(placement, key)]!.name);
    assert.deepEqual(got, c.expected, `${c.distribution} ${c.hash}`);
  }
});
