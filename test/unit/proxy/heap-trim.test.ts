// When the heap trimmer runs its full collections: after a large drop from the peak (even one
// that came and went between two looks), not on small or partial drops, never twice within the
// minimum interval, and twice per trim (the second in a later turn of the event loop, followed
// by malloc_trim); and the malloc_trim addon that scripts/build.sh builds.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  countConnectionOpened,
  newConnectionCounters,
  type ConnectionCounters,
} from '../../../src/proxy/connection-counters.js';
import { readFileSync } from 'node:fs';
import {
  HeapTrimmer,
  TRIM_MIN_DROP,
  TRIM_MIN_INTERVAL_MS,
  TRIM_CONNECTION_BYTES,
  TRIM_IDLE_RSS_EXCESS,
  TRIM_IN_USE_SHARE,
  TRIM_RSS_EXCESS,
  TRIM_RSS_INTERVAL_MS,
  exposedGc,
  loadMallocTrim,
} from '../../../src/proxy/heap-trim.js';

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface Setup {
  counters: ConnectionCounters;
  trimmer: HeapTrimmer;
  collections: () => number;
  mallocTrims: () => number;
  /** What happened, in order: 'gc' and 'malloc_trim'. */
  events: string[];
  open: (n: number) => void;
  close: (n: number) => void;
  /** Sets the RSS the trimmer reads (bytes). */
  setRss: (bytes: number) => void;
  /** Sets the bytes held for clients the trimmer reads. */
  setHeld: (bytes: number) => void;
}

/** `withMallocTrim`: whether the addon is there (false: the trimmer gets null). */
function setup(withMallocTrim = true): Setup {
  const counters = newConnectionCounters();
  let n = 0;
  let m = 0;
  const events: string[] = [];
  let rss = 60 * 1024 * 1024;
  let held = 0;
  const trimmer = new HeapTrimmer(
    counters,
    () => {
      n++;
      events.push('gc');
    },
    withMallocTrim
      ? () => {
          m++;
          events.push('malloc_trim');
          return true;
        }
      : null,
    () => held,
    () => rss,
  );
  return {
    counters,
    trimmer,
    collections: () => n,
    mallocTrims: () => m,
    events,
    open: (k) => {
      for (let i = 0; i < k; i++) countConnectionOpened(counters);
    },
    close: (k) => {
      counters.current -= k;
    },
    setRss: (bytes) => {
      rss = bytes;
    },
    setHeld: (bytes) => {
      held = bytes;
    },
  };
}

test('a crowd that leaves gets two full collections, the second one turn later, then malloc_trim', async () => {
  const { trimmer, collections, mallocTrims, events, open, close, counters } = setup();
  open(10_000);
  assert.equal(trimmer.check(1_000), false, 'at the peak: nothing to give back');
  close(9_990);
  assert.equal(trimmer.check(2_000), true);
  assert.equal(collections(), 1);
  assert.equal(mallocTrims(), 0);
  await nextTurn();
  assert.equal(collections(), 2);
  assert.deepEqual(events, ['gc', 'gc', 'malloc_trim']);
  assert.equal(trimmer.trims, 1);
  assert.equal(counters.peak, 10, 'the peak starts again from what is left');
});

test('a crowd that came and went between two looks is seen through the peak', () => {
  const { trimmer, open, close } = setup();
  open(5);
  assert.equal(trimmer.check(0), false);
  open(3_000);
  close(3_000);
  assert.equal(trimmer.check(1_000), true);
});

test('small drops and drops that leave more than half of the peak do not trim', async () => {
  const { trimmer, collections, mallocTrims, open, close } = setup();
  open(1_500);
  close(TRIM_MIN_DROP - 1); // more than half gone, but fewer than TRIM_MIN_DROP
  assert.equal(trimmer.check(1_000), false);
  open(5_000 - (1_500 - (TRIM_MIN_DROP - 1)));
  close(2_400); // 2,400 gone, but 52% remain
  assert.equal(trimmer.check(3_000), false);
  await nextTurn();
  assert.equal(collections(), 0);
  assert.equal(mallocTrims(), 0);
});

test('trims are at least TRIM_MIN_INTERVAL_MS apart', async () => {
  const { trimmer, collections, open, close } = setup();
  open(4_000);
  close(4_000);
  assert.equal(trimmer.check(1_000), true);
  open(4_000);
  close(4_000);
  assert.equal(trimmer.check(3_000), false, 'too soon after the last trim');
  assert.equal(trimmer.check(1_000 + TRIM_MIN_INTERVAL_MS), true, 'the second crowd is still remembered');
  // Nobody came since: the peak is 0 now, so nothing more to do.
  assert.equal(trimmer.check(1_000 + 3 * TRIM_MIN_INTERVAL_MS), false);
  await nextTurn();
  assert.equal(collections(), 4);
  assert.equal(trimmer.trims, 2);
});

test('RSS far above the lowest seen trims too, at most every TRIM_RSS_INTERVAL_MS, with no crowd', async () => {
  const { trimmer, collections, setRss, setHeld, open, counters } = setup();
  const MB = 1024 * 1024;
  setHeld(TRIM_RSS_EXCESS); // the memory is in use: only this rule applies
  open(10);
  setRss(60 * MB);
  assert.equal(trimmer.check(1_000), false, 'at its lowest');
  setRss(60 * MB + TRIM_RSS_EXCESS); // exactly the excess: not yet
  assert.equal(trimmer.check(2_000), false);
  setRss(60 * MB + TRIM_RSS_EXCESS + MB);
  assert.equal(trimmer.check(3_000), true, 'a burst left its memory behind');
  assert.equal(counters.peak, 10, 'the connection peak is kept');
  assert.equal(trimmer.check(3_000 + TRIM_RSS_INTERVAL_MS - 1), false, 'still high: the memory may be in use, wait');
  assert.equal(trimmer.check(3_000 + TRIM_RSS_INTERVAL_MS), true);
  // Memory came back: the floor stays where it was, and nothing more is done.
  setRss(61 * MB);
  assert.equal(trimmer.check(3_000 + 3 * TRIM_RSS_INTERVAL_MS), false);
  await nextTurn();
  assert.equal(collections(), 4);
  assert.equal(trimmer.trims, 2);
});

test('the lowest RSS seen is the floor: growth from a higher start is measured from it', () => {
  const { trimmer, setRss, setHeld } = setup();
  const MB = 1024 * 1024;
  setHeld(TRIM_RSS_EXCESS);
  setRss(500 * MB);
  assert.equal(trimmer.check(1_000), false);
  setRss(100 * MB);
  assert.equal(trimmer.check(2_000), false);
  setRss(100 * MB + TRIM_RSS_EXCESS + MB); // below the first reading plus the excess, above the floor
  assert.equal(trimmer.check(3_000), true);
});

test('the floor is read when the trimmer starts, before any client: load from the first second on does not raise it', () => {
  const { trimmer, setRss, setHeld } = setup();
  const MB = 1024 * 1024;
  setHeld(TRIM_RSS_EXCESS);
  setRss(60 * MB);
  trimmer.start();
  try {
    // The first look comes TRIM_CHECK_MS later, with clients already at work.
    setRss(200 * MB);
    assert.equal(trimmer.check(1_000), false);
    setRss(60 * MB + TRIM_RSS_EXCESS + MB); // above the start by the excess, not above the first look
    assert.equal(trimmer.check(2_000), true);
  } finally {
    trimmer.stop();
  }
});

test('RSS somewhat above the lowest trims when little of the excess is in use, with malloc_trim only', () => {
  const MB = 1024 * 1024;
  const excess = TRIM_IDLE_RSS_EXCESS + MB;
  const inUse = Math.floor(excess * TRIM_IN_USE_SHARE); // the least that stops it
  {
    const { trimmer, setRss, setHeld, open } = setup();
    setRss(60 * MB);
    assert.equal(trimmer.check(1_000), false);
    setRss(60 * MB + TRIM_IDLE_RSS_EXCESS); // exactly the excess: not yet
    assert.equal(trimmer.check(2_000), false);
    setRss(60 * MB + excess);
    open(4);
    setHeld(inUse - 4 * TRIM_CONNECTION_BYTES); // held for clients, and their connections
    assert.equal(trimmer.check(3_000), false, 'in use');
    setHeld(inUse - 4 * TRIM_CONNECTION_BYTES - 1);
    assert.equal(trimmer.check(4_000), true, 'the excess is memory freed, not in use');
    setHeld(0);
    assert.equal(trimmer.check(4_000 + TRIM_RSS_INTERVAL_MS - 1), false, 'at most every TRIM_RSS_INTERVAL_MS');
    assert.equal(trimmer.check(4_000 + TRIM_RSS_INTERVAL_MS), true);
    // A crowd that stays: its connections account for the excess, nothing is held.
    open(Math.ceil(inUse / TRIM_CONNECTION_BYTES));
    assert.equal(trimmer.check(4_000 + 2 * TRIM_RSS_INTERVAL_MS), false, 'the crowd is in use');
  }
  {
    // Without the addon glibc keeps that memory whatever the collections free.
    const { trimmer, setRss } = setup(false);
    setRss(60 * MB);
    assert.equal(trimmer.check(1_000), false);
    setRss(60 * MB + excess);
    assert.equal(trimmer.check(2_000), false);
    setRss(60 * MB + TRIM_RSS_EXCESS + MB);
    assert.equal(trimmer.check(3_000), true, 'the far excess still trims');
  }
});

test("exposedGc finds node --expose-gc's global, and only that", () => {
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

test('the malloc_trim addon loads when scripts/build.sh built it, and trims', () => {
  // build.sh records what it did: "built", or "skipped: <why>" (no compiler, no Node headers).
  const status = readFileSync(new URL('../../../native/malloc_trim.status', import.meta.url), 'utf8').trim();
  const trim = loadMallocTrim();
  if (status.startsWith('skipped: ')) {
    assert.equal(trim, null);
    return;
  }
  assert.equal(status, 'built');
  assert.ok(trim !== null, 'dist/native/malloc_trim.node loads and has trim()');
  // Whether glibc had pages to give back depends on the heap: either answer is a boolean.
  assert.equal(typeof trim(), 'boolean');
});
