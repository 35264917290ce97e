/**
 * Gives memory back after a crowd of clients has left.
 *
 * An idle client costs about 3 KB, most of it V8 heap (its net.Socket and stream state). When
 * thousands leave, V8 frees their objects at its next collections but keeps the pages they sat
 * on, scattered among survivors, and its memory reducer compacts them late or never: RSS stays
 * at the crowd's level. Once the connection count has fallen far below its peak, two full
 * collections (the first frees, the second compacts what the first left fragmented) return
 * those pages: measured with 10,000 clients, RSS fell from 97 to 71 MB against 58 MB before
 * they came, for ~9 ms of pause each. The pauses are why it waits for a large drop and runs at
 * most every TRIM_MIN_INTERVAL_MS.
 *
 * Full collections on demand need node's --expose-gc (the launcher passes it); without it
 * there is nothing to call and the trimmer stays off.
 */
import { log, LOG_INFO } from '../util/log.js';
import type { ConnectionCounters } from './server-pool.js';

/** How often the connection count is looked at. */
export const TRIM_CHECK_MS = 1_000;
/** Trim once at least this many connections have gone since the peak... */
export const TRIM_MIN_DROP = 1_000;
/** ...and the count has fallen to at most this share of the peak. */
export const TRIM_MAX_SHARE_LEFT = 0.5;
/** Never trim more often than this. */
export const TRIM_MIN_INTERVAL_MS = 5_000;

/** A full, synchronous collection: node's `gc` global under --expose-gc. */
export type FullCollect = () => void;

/** The `gc` global when node runs with --expose-gc, else null. */
export function exposedGc(): FullCollect | null {
  const gc = (globalThis as { gc?: unknown }).gc;
  return typeof gc === 'function' ? (gc as FullCollect) : null;
}

export class HeapTrimmer {
  private readonly counters: ConnectionCounters;
  private readonly collect: FullCollect;
  /** Highest connection count since the last trim. */
  private peak = 0;
  private lastTrimAt = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | null = null;
  /** Trims done (for logs and tests). */
  trims = 0;

  constructor(counters: ConnectionCounters, collect: FullCollect) {
    this.counters = counters;
    this.collect = collect;
  }

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => this.check(Date.now()), TRIM_CHECK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * One look at the connection count; trims when it has dropped enough. Between checks the
   * peak can be missed (a crowd that comes and goes within a second): such a crowd left little
   * behind on the old-generation pages anyway, its objects died young.
   */
  check(now: number): boolean {
    const current = this.counters.current;
    if (current > this.peak) this.peak = current;
    const dropped = this.peak - current;
    if (dropped < TRIM_MIN_DROP || current > this.peak * TRIM_MAX_SHARE_LEFT) return false;
    if (now - this.lastTrimAt < TRIM_MIN_INTERVAL_MS) return false;
    if (log.level >= LOG_INFO) log.info(`heap trim: ${dropped} connections gone since the peak of ${this.peak}`);
    this.lastTrimAt = now;
    this.peak = current;
    this.trims++;
    this.collect();
    // The second collection in a later turn, so that requests waiting meanwhile get served.
    setImmediate(this.collect);
    return true;
  }
}
