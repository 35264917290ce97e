// When the heap trimmer runs its full collections: after a large drop from the peak, not on
// small or partial drops, never twice within the minimum interval, and twice per trim (the
// second in a later turn of the event loop).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  HeapTrimmer,
  TRIM_MIN_DROP,
  TRIM_MIN_INTERVAL_MS,
  exposedGc,
} from '../../../src/proxy/heap-trim.js';
import type { ConnectionCounters } from '../../../src/proxy/server-pool.js';

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function setup(): { counters: ConnectionCounters; trimmer: HeapTrimmer; collections: () => number } {
  const counters: ConnectionCounters = { total: 0, current: 0 };
  let n = 0;
  const trimmer = new HeapTrimmer(counters, () => {
    n++;
  });
  return { counters, trimmer, collections: () => n };
}

test('a crowd that leaves gets two full collections, the second one turn later', async () => {
  const { counters, trimmer, collections } = setup();
  counters.current = 10_000;
  assert.equal(trimmer.check(1_000), false, 'at the peak: nothing to give back');
  counters.current = 10;
  assert.equal(trimmer.check(2_000), true);
  assert.equal(collections(), 1);
  await nextTurn();
  assert.equal(collections(), 2);
  assert.equal(trimmer.trims, 1);
});

test('small drops and drops that leave more than half of the peak do not trim', async () => {
  const { counters, trimmer, collections } = setup();
  counters.current = 1_500;
  trimmer.check(0);
  counters.current = 1_500 - (TRIM_MIN_DROP - 1); // half gone, but fewer than TRIM_MIN_DROP
  assert.equal(trimmer.check(1_000), false);
  counters.current = 5_000;
  trimmer.check(2_000);
  counters.current = 2_600; // 2,400 gone, but 52% remain
  assert.equal(trimmer.check(3_000), false);
  await nextTurn();
  assert.equal(collections(), 0);
});

test('trims are at least TRIM_MIN_INTERVAL_MS apart, and the peak restarts after each', async () => {
  const { counters, trimmer, collections } = setup();
  counters.current = 4_000;
  trimmer.check(0);
  counters.current = 0;
  assert.equal(trimmer.check(1_000), true);
  counters.current = 4_000;
  trimmer.check(2_000);
  counters.current = 0;
  assert.equal(trimmer.check(3_000), false, 'too soon after the last trim');
  assert.equal(trimmer.check(1_000 + TRIM_MIN_INTERVAL_MS), true, 'the crowd is still remembered');
  // Nobody came since: the peak is 0 now, so nothing more to do.
  assert.equal(trimmer.check(1_000 + 3 * TRIM_MIN_INTERVAL_MS), false);
  await nextTurn();
  assert.equal(collections(), 4);
  assert.equal(trimmer.trims, 2);
});

test('exposedGc finds node --expose-gc\'s global, and only that', () => {
  const g = globalThis as { gc?: unknown };
  const saved = g.gc;
  try {
    g.gc = undefined;
    assert.equal(exposedGc(), null);
    const fake = (): void => undefined;
    g.gc = fake;
    assert.equal(exposedGc(), fake);
  } finally {
    g.gc = saved;
  }
});
