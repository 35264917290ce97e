/**
 * Gives memory back after a crowd of clients has left.
 *
 * An idle client costs about 1.3 KB: its ClientConn, parser and stream objects on the V8 heap
 * and Node's C++ side of its handle. When thousands leave, V8 frees their objects at its next
 * collections but keeps the pages they sat on, scattered among survivors, and its memory
 * reducer compacts them late or never: RSS stays at the crowd's level. Once the connection
 * count has fallen far below its peak, two full collections (the first frees, the second
 * compacts what the first left fragmented) return those pages: measured with 10,000 clients
 * when each was a net.Socket (3 KB), RSS fell from 97 to 71 MB against 58 MB before they
 * came, for ~9 ms of pause each. The pauses are why it waits for a large drop and runs at
 * most every TRIM_MIN_INTERVAL_MS. With --workers, each worker counts and trims its own.
 *
 * The rest is malloc's: Node's C++ side of each socket (about 500 bytes) lies freed in the
 * middle of glibc's heap, which gives memory back only from its top. After the second
 * collection (which frees the last of those objects) malloc_trim releases it, through the
 * optional addon native/malloc_trim.c: 5 MB more with 10,000 clients, bringing RSS back below
 * its level before they came. Without the addon (not built) that part stays in the process.
 *
 * A burst of large requests or replies (each bounded by limits.ts, but hundreds of MB) leaves
 * the same kind of freed memory with no crowd to count: RSS far above the lowest seen also
 * trims, at most every TRIM_RSS_INTERVAL_MS, since that memory may still be in use.
 *
 * Full collections on demand need node's --expose-gc (the launcher passes it); without it
 * there is nothing to call and the trimmer stays off.
 */
import { createRequire } from 'node:module';
import { log, LOG_INFO } from '../util/log.js';
import type { ConnectionCounters } from './connection-counters.js';

/** How often the connection count is looked at. */
export const TRIM_CHECK_MS = 1_000;
/** Trim once at least this many connections have gone since the peak... */
export const TRIM_MIN_DROP = 1_000;
/** ...and the count has fallen to at most this share of the peak. */
export const TRIM_MAX_SHARE_LEFT = 0.5;
/** Never trim more often than this. */
export const TRIM_MIN_INTERVAL_MS = 5_000;
/** Trim when RSS is this far above the lowest seen... */
export const TRIM_RSS_EXCESS = 256 * 1024 * 1024;
/** ...at most this often for that reason. */
export const TRIM_RSS_INTERVAL_MS = 60_000;

/** A full, synchronous collection: node's `gc` global under --expose-gc. */
export type FullCollect = () => void;

/** The `gc` global when node runs with --expose-gc, else null. */
export function exposedGc(): FullCollect | null {
  const gc = (globalThis as { gc?: unknown }).gc;
  return typeof gc === 'function' ? (gc as FullCollect) : null;
}

/** glibc's malloc_trim(0): true when memory went back to the system. */
export type MallocTrim = () => boolean;

/** malloc_trim from the addon scripts/build.sh builds into dist/native/, or null when absent. */
export function loadMallocTrim(): MallocTrim | null {
  try {
    const addon = createRequire(import.meta.url)('../../native/malloc_trim.node') as { trim?: unknown };
    return typeof addon.trim === 'function' ? (addon.trim as MallocTrim) : null;
  } catch {
    return null; // not built (no C compiler or Node headers at build time)
  }
}

export class HeapTrimmer {
  private readonly counters: ConnectionCounters;
  private readonly collect: FullCollect;
  private readonly mallocTrim: MallocTrim | null;
  private readonly residentBytes: () => number;
  private lastTrimAt = Number.NEGATIVE_INFINITY;
  private lastRssTrimAt = Number.NEGATIVE_INFINITY;
  /** The lowest RSS seen (bytes). */
  private rssFloor = Number.POSITIVE_INFINITY;
  private timer: NodeJS.Timeout | null = null;
  private trimCount = 0;

  /** `residentBytes`: the process's RSS (replaced in tests). */
  constructor(
    counters: ConnectionCounters,
    collect: FullCollect,
    mallocTrim: MallocTrim | null,
    residentBytes: () => number = () => process.memoryUsage.rss(),
  ) {
    this.counters = counters;
    this.collect = collect;
    this.mallocTrim = mallocTrim;
    this.residentBytes = residentBytes;
  }

  /** Trims done so far. */
  get trims(): number {
    return this.trimCount;
  }

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => this.check(performance.now()), TRIM_CHECK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * One look at the connection count against its peak (kept by countConnectionOpened, so a
   * crowd that comes and goes between two looks is seen too); trims when it has dropped
   * enough. `now` is in milliseconds of a monotonic clock (performance.now()).
   */
  check(now: number): boolean {
    const counters = this.counters;
    const current = counters.current;
    const dropped = counters.peak - current;
    let rss: number;
    try {
      rss = this.residentBytes();
    } catch {
      // Reading RSS opens /proc/self/stat: at the open-files limit (EMFILE) it cannot, and a
      // throw from this timer would end the process. Look again next time.
      return false;
    }
    if (rss < this.rssFloor) this.rssFloor = rss;
    const crowdLeft = dropped >= TRIM_MIN_DROP && current <= counters.peak * TRIM_MAX_SHARE_LEFT;
    const swollen = rss > this.rssFloor + TRIM_RSS_EXCESS && now - this.lastRssTrimAt >= TRIM_RSS_INTERVAL_MS;
    if (!crowdLeft && !swollen) return false;
    if (now - this.lastTrimAt < TRIM_MIN_INTERVAL_MS) return false;
    if (log.level >= LOG_INFO) {
      log.info(
        crowdLeft
          ? `heap trim: ${dropped} connections gone since the peak of ${counters.peak}`
          : `heap trim: RSS ${Math.round(rss / 1048576)} MB, ${Math.round((rss - this.rssFloor) / 1048576)} MB above its lowest`,
      );
    }
    if (swollen) this.lastRssTrimAt = now;
    this.lastTrimAt = now;
    if (crowdLeft) counters.peak = current;
    this.trimCount++;
    this.collect();
    // The second collection in a later turn, so that requests waiting meanwhile get served.
    setImmediate(() => this.secondPass());
    return true;
  }

  private secondPass(): void {
    this.collect();
    this.mallocTrim?.();
  }
}
