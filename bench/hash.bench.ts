/**
 * Micro-benchmark of key placement (src/hash/): each hash function over typical key lengths, and
 * Placement.serverIndexFor per distribution, plus ketama continuum build time. Plain node, not
 * part of the tests.
 *
 *   npx tsc -p tsconfig.json --outDir .build/hash && node .build/hash/bench/hash.bench.js
 */
import { buildDistribution } from '../src/hash/distribution.js';
import { hashFunction } from '../src/hash/hash-functions.js';
import { DISTRIBUTION_NAMES, HASH_NAMES } from '../src/hash/names.js';
import { Placement } from '../src/hash/placement.js';

const KEY_COUNT = 4096;

/** Keys packed in one buffer like request bytes, with their [start, end) ranges. */
function makeKeys(length: number): { buf: Buffer; starts: Int32Array; ends: Int32Array } {
  const buf = Buffer.alloc(KEY_COUNT * (length + 2));
  const starts = new Int32Array(KEY_COUNT);
  const ends = new Int32Array(KEY_COUNT);
  let p = 0;
  for (let i = 0; i < KEY_COUNT; i++) {
    const key = `user:${i}:`.padEnd(length, 'x').slice(0, length);
    starts[i] = p;
    p += buf.write(key, p, 'latin1');
    ends[i] = p;
    p += buf.write('\r\n', p, 'latin1');
  }
  return { buf, starts, ends };
}

/** Best of 5 rounds of ~`ms`/5 each; returns operations per second. */
function measure(fn: () => number, ops: number, ms = 250): number {
  let sink = 0;
  for (let i = 0; i < 5; i++) sink += fn(); // warm up the JIT
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    let iters = 0;
    const t0 = performance.now();
    let t1 = t0;
    while (t1 - t0 < ms / 5) {
      sink += fn();
      iters++;
      t1 = performance.now();
    }
    best = Math.min(best, (t1 - t0) / iters);
  }
  if (sink === 0.5) console.log('unreachable');
  return ops / (best / 1000);
}

const fmt = (opsPerSec: number): string => `${(opsPerSec / 1e6).toFixed(2).padStart(8)} M/s`;

for (const length of [8, 32, 200]) {
  const { buf, starts, ends } = makeKeys(length);
  console.log(`hash functions, ${length}-byte keys`);
  for (const name of HASH_NAMES) {
    const fn = hashFunction(name);
    const rate = measure(() => {
      let acc = 0;
      for (let i = 0; i < KEY_COUNT; i++) acc ^= fn(buf, starts[i]!, ends[i]!);
      return acc;
    }, KEY_COUNT);
    console.log(`  ${name.padEnd(14)}${fmt(rate)}`);
  }
}

const nodes = Array.from({ length: 10 }, (_, i) => ({ name: `10.0.0.${i + 1}:6379`, weight: 1 + (i % 3), index: i }));
const { buf, starts, ends } = makeKeys(16);
console.log('Placement.serverIndexFor, 10 servers, 16-byte keys, fnv1a_64');
for (const distribution of DISTRIBUTION_NAMES) {
  for (const tag of [null, Buffer.from('{}')]) {
    const placement = new Placement({ hash: 'fnv1a_64', distribution, hashTag: tag }, nodes);
    const rate = measure(() => {
      let acc = 0;
      for (let i = 0; i < KEY_COUNT; i++) acc += placement.serverIndexFor(buf, starts[i]!, ends[i]!);
      return acc;
    }, KEY_COUNT);
    console.log(`  ${`${distribution}${tag === null ? '' : ' +hash_tag'}`.padEnd(18)}${fmt(rate)}`);
  }
}

for (const count of [10, 100]) {
  const many = Array.from({ length: count }, (_, i) => ({ name: `server${i}`, weight: 1 }));
  const t0 = performance.now();
  buildDistribution('ketama', many);
  console.log(`ketama continuum build, ${count} servers: ${(performance.now() - t0).toFixed(1)} ms`);
}
