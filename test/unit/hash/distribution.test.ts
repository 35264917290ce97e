// Tests of the ketama continuum (point counts, point values, lookup), modula slots and random
// selection (spec 3.3-3.5).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  buildDistribution,
  ketamaContinuum,
  ketamaPointCounts,
  type DistributionNode,
} from '../../../src/hash/distribution.js';

const node = (name: string, weight = 1): DistributionNode => ({ name, weight });

test('ketama point counts are computed in float32: weights 1,1,1,1,21 give 28,28,28,28,672', () => {
  const nodes = ['a', 'b', 'c', 'd', 'e'].map((n, i) => node(n, i === 4 ? 21 : 1));
  assert.deepEqual(ketamaPointCounts(nodes), [28, 28, 28, 28, 672]);
  assert.equal(ketamaContinuum(nodes).values.length, 784);
});

test('ketama point counts: weights 100000 and 1 give 316 and 0', () => {
  assert.deepEqual(ketamaPointCounts([node('big', 100000), node('small', 1)]), [316, 0]);
});

test('ketama point counts of a weight sum wrapped past 2^32 are what twemproxy\'s uint32 conversion gives', () => {
  // Σ = 2^32 + 1 wraps to 1: the large servers' 2^40 × 1.25 points truncate to 0 in 32 bits,
  // and the others get 2 × 640 and 640 (through nutcracker, keys land on the last two only).
  const nodes = [node('a', 2147483647), node('b', 2147483647), node('c', 2), node('d', 1)];
  assert.deepEqual(ketamaPointCounts(nodes), [0, 0, 1280, 640]);
  // A sum that wraps to exactly 0: every count is infinite, which truncates to 0.
  assert.deepEqual(ketamaPointCounts([node('a', 2147483648), node('b', 2147483648)]), [0, 0]);
});

test('ketama gives 160 points to each server of equal weight', () => {
  for (const n of [1, 2, 3, 7, 10]) {
    const nodes = Array.from({ length: n }, (_, i) => node(`s${i}`, 3));
    assert.deepEqual(ketamaPointCounts(nodes), Array<number>(n).fill(160));
  }
});

test('a server with 0 points never receives a key', () => {
  const dist = buildDistribution('ketama', [node('big', 100000), node('small', 1)]);
  fc.assert(fc.property(fc.nat({ max: 0xffffffff }), (h) => assert.equal(dist.pick(h), 0)));
});

test('ketama point values: MD5 words of "server1-8" are on the continuum, owned by server1', () => {
  const nodes = [node('server1'), node('server2'), node('server3')];
  const { values, owners } = ketamaContinuum(nodes);
  for (const word of [3853726576, 2667054752]) {
    const at = values.indexOf(word);
    assert.ok(at >= 0, `${word} is a point`);
    assert.equal(owners[at], 0);
  }
});

test('ketama points are the four little-endian MD5 words of "<name>-<j>"', () => {
  const { values, owners } = ketamaContinuum([node('127.0.0.1:6379'), node('10.0.0.1')]);
  const expected: [number, number][] = [];
  ['127.0.0.1:6379', '10.0.0.1'].forEach((name, owner) => {
    for (let j = 0; j < 40; j++) {
      const d = createHash('md5').update(`${name}-${j}`).digest();
      for (let a = 0; a < 4; a++) expected.push([d.readUInt32LE(4 * a), owner]);
    }
  });
  expected.sort((x, y) => x[0] - y[0]);
  assert.deepEqual(Array.from(values), expected.map((e) => e[0]));
  assert.deepEqual(Array.from(owners), expected.map((e) => e[1]));
});

test('ketama point strings are truncated to 272 bytes', () => {
  const base = 'n'.repeat(300);
  // Same first 272 bytes of every point string: identical continua.
  const a = ketamaContinuum([node(base + 'A'), node('other')]);
  const b = ketamaContinuum([node(base + 'B'), node('other')]);
  assert.deepEqual(a.values, b.values);
  const d = createHash('md5').update(base.slice(0, 272)).digest();
  assert.ok(a.values.includes(d.readUInt32LE(0)));
  // A name shorter than the limit keeps its "-<j>" suffix, so the continua differ.
  const c = ketamaContinuum([node('n'.repeat(200) + 'A'), node('other')]);
  const e = ketamaContinuum([node('n'.repeat(200) + 'B'), node('other')]);
  assert.notDeepEqual(c.values, e.values);
});

test('ketama continuum is sorted and lookup is the first point >= hash, wrapping', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 6 }),
      fc.array(fc.nat({ max: 0xffffffff }), { minLength: 1, maxLength: 50 }),
      (weights, hashes) => {
        const nodes = weights.map((w, i) => node(`host${i}:${6000 + i}`, w));
        const { values, owners } = ketamaContinuum(nodes);
        for (let i = 1; i < values.length; i++) assert.ok(values[i - 1]! <= values[i]!);
        const dist = buildDistribution('ketama', nodes);
        // Every point and its neighbours: the lookup index's bucket edges fall among them.
        const near = [...values].flatMap((v) => [v - 1, v, v + 1]).filter((h) => h >= 0 && h <= 0xffffffff);
        const probes = [...hashes, 0, 0xffffffff, ...near];
        for (const h of probes) {
          let at = values.findIndex((v) => v >= h);
          if (at < 0) at = 0;
          assert.equal(dist.pick(h), owners[at]);
        }
      },
    ),
    { numRuns: 60 },
  );
});

test('ketama with equal weights: removing a server only moves that server\'s keys', () => {
  const all = ['a', 'b', 'c', 'd'].map((n) => node(n));
  const full = buildDistribution('ketama', all);
  const without = buildDistribution('ketama', all.filter((n) => n.name !== 'c'));
  const remaining = ['a', 'b', 'd'];
  fc.assert(
    fc.property(fc.nat({ max: 0xffffffff }), (h) => {
      const before = all[full.pick(h)]!.name;
      const after = remaining[without.pick(h)]!;
      if (before !== 'c') assert.equal(after, before);
    }),
  );
});

/** Reference modula: the weight-expanded slot list, indexed by hash mod total. */
function modulaReference(weights: readonly number[], h: number): number {
  const total = weights.reduce((s, w) => s + w, 0);
  let slot = h % total;
  for (let i = 0; i < weights.length; i++) {
    if (slot < weights[i]!) return i;
    slot -= weights[i]!;
  }
  throw new Error('unreachable');
}

test('modula: server = weight-expanded slot[hash mod total weight]', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 8 }),
      fc.nat({ max: 0xffffffff }),
      (weights, h) => {
        const dist = buildDistribution('modula', weights.map((w, i) => node(`s${i}`, w)));
        assert.equal(dist.pick(h), modulaReference(weights, h));
      },
    ),
  );
  const dist = buildDistribution('modula', [node('a', 2), node('b', 1), node('c', 3)]);
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7].map((h) => dist.pick(h)), [0, 0, 1, 2, 2, 2, 0, 0]);
});

test('modula with very large weights (no slot array) gives the same answer', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 3_000_000 }), { minLength: 2, maxLength: 5 }),
      fc.array(fc.nat({ max: 0xffffffff }), { minLength: 1, maxLength: 20 }),
      (weights, hashes) => {
        weights[0] = 2_000_000;
        const dist = buildDistribution('modula', weights.map((w, i) => node(`s${i}`, w)));
        for (const h of hashes) assert.equal(dist.pick(h), modulaReference(weights, h));
      },
    ),
    { numRuns: 50 },
  );
});

test('random ignores the hash and the weights and hits every node', () => {
  const nodes = [node('a', 1), node('b', 1000), node('c', 1), node('d', 1)];
  const dist = buildDistribution('random', nodes);
  const hits = [0, 0, 0, 0];
  for (let i = 0; i < 4000; i++) {
    const picked = dist.pick(12345);
    assert.ok(Number.isInteger(picked) && picked >= 0 && picked < nodes.length);
    hits[picked]!++;
  }
  for (const count of hits) assert.ok(count > 0);
  // Weight 1000 vs 1 would give 'b' ~99.7% if weights counted; uniform gives ~25%.
  assert.ok(hits[1]! < 3000, `b got ${hits[1]} of 4000`);
});

test('every distribution returns an index into the node array', () => {
  fc.assert(
    fc.property(
      fc.constantFrom('ketama' as const, 'modula' as const, 'random' as const),
      fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 8 }),
      fc.nat({ max: 0xffffffff }),
      (kind, weights, h) => {
        const dist = buildDistribution(kind, weights.map((w, i) => node(`n${i}`, w)));
        const picked = dist.pick(h);
        assert.ok(Number.isInteger(picked) && picked >= 0 && picked < weights.length);
      },
    ),
    { numRuns: 200 },
  );
});

test('ketama lookup stays exact when the continuum outgrows its index (250 servers, 40,000 points)', () => {
  const nodes = Array.from({ length: 250 }, (_, i) => node(`10.0.${i >> 8}.${i & 255}:11211`));
  const { values, owners } = ketamaContinuum(nodes);
  assert.ok(values.length > 1 << 15, 'more points than the largest index has buckets');
  const dist = buildDistribution('ketama', nodes);
  const firstAtOrAbove = (h: number): number => {
    let lo = 0;
    let hi = values.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (values[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return lo === values.length ? 0 : lo;
  };
  const probes = [0, 0xffffffff];
  for (let i = 0; i < values.length; i += 7) probes.push(values[i]!, Math.max(0, values[i]! - 1), Math.min(0xffffffff, values[i]! + 1));
  fc.assert(fc.property(fc.nat({ max: 0xffffffff }), (h) => dist.pick(h) === owners[firstAtOrAbove(h)]), { numRuns: 2000 });
  for (const h of probes) assert.equal(dist.pick(h), owners[firstAtOrAbove(h)], `hash ${h}`);
});
