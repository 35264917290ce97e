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
 * the same kind of freed memory with no crowd to count: glibc keeps the freed buffers in its
 * heap. RSS far above the lowest seen also trims, at most every TRIM_RSS_INTERVAL_MS, since
 * that memory may still be in use; and so does RSS only somewhat above it while what is in use
 * (the bytes held for clients, ClientMemory, and a generous share per open connection) is a
 * small part of the excess, so that the excess is memory freed and not in use, when
 * malloc_trim is there to give it back: a burst of 4 MB values that raised RSS by 136 MB used
 * to leave it there for good. (The share per connection keeps a large crowd that stays, whose
 * objects are most of the excess, from being collected in vain every TRIM_RSS_INTERVAL_MS.)
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
/**
 * ...or this far while what is in use, the bytes held for clients and TRIM_CONNECTION_BYTES per
 * open connection, is under TRIM_IN_USE_SHARE of the excess (with malloc_trim only: without it
 * glibc keeps that memory whatever the collections free)...
 */
export const TRIM_IDLE_RSS_EXCESS = 32 * 1024 * 1024;
export const TRIM_IN_USE_SHARE = 0.25;
/** About three times what an idle connection costs. */
export const TRIM_CONNECTION_BYTES = 4096;
/** ...at most this often for either reason. */
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
  private readonly heldBytes: () => number;
  private lastTrimAt = Number.NEGATIVE_INFINITY;
  private lastRssTrimAt = Number.NEGATIVE_INFINITY;
  /** The lowest RSS seen (bytes). */
  private rssFloor = Number.POSITIVE_INFINITY;
  private timer: NodeJS.Timeout | null = null;
  private trimCount = 0;

  /**
   * `heldBytes`: what is held for clients now (ClientMemory.held); `residentBytes`: the
   * process's RSS (replaced in tests).
   */
  constructor(
    counters: ConnectionCounters,
    collect: FullCollect,
    mallocTrim: MallocTrim | null,
    heldBytes: () => number,
    residentBytes: () => number = () => process.memoryUsage.rss(),
  ) {
    this.counters = counters;
    this.collect = collect;
    this.mallocTrim = mallocTrim;
    this.heldBytes = heldBytes;
    this.residentBytes = residentBytes;
  }

  /** Trims done so far. */
  get trims(): number {
    return this.trimCount;
  }

  start(): void {
    if (this.timer !== null) return;
    // The floor from before any client is accepted: load that starts within the first
    // TRIM_CHECK_MS would otherwise set it, and a burst would then have to rise TRIM_RSS_EXCESS
    // above that load's level before its memory was given back.
    this.readRss();
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
    const rss = this.readRss();
    if (rss < 0) return false; // look again next time
    const crowdLeft = dropped >= TRIM_MIN_DROP && current <= counters.peak * TRIM_MAX_SHARE_LEFT;
    const excess = rss - this.rssFloor;
    const swollen =
      now - this.lastRssTrimAt >= TRIM_RSS_INTERVAL_MS &&
      (excess > TRIM_RSS_EXCESS ||
        (excess > TRIM_IDLE_RSS_EXCESS && this.mallocTrim !== null && this.bytesInUse() < excess * TRIM_IN_USE_SHARE));
    if (!crowdLeft && !swollen) return false;
    if (now - this.lastTrimAt < TRIM_MIN_INTERVAL_MS) return false;
    if (log.level >= LOG_INFO) {
      log.info(
        crowdLeft
          ? `heap trim: ${dropped} connections gone since the peak of ${counters.peak}`
          : `heap trim: RSS ${Math.round(rss / 1048576)} MB, ${Math.round(excess / 1048576)} MB above its lowest, ${Math.round(this.heldBytes() / 1048576)} MB held for ${current} connections`,
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

  private bytesInUse(): number {
    return this.heldBytes() + this.counters.current * TRIM_CONNECTION_BYTES;
  }

  /** The RSS now, which lowers the floor if it is below it; -1 when it cannot be read. */
  private readRss(): number {
    let rss: number;
    try {
      rss = this.residentBytes();
    } catch {
      // Reading RSS opens /proc/self/stat: at the open-files limit (EMFILE) it cannot, and a
      // throw from a timer would end the process.
      return -1;
    }
    if (rss < this.rssFloor) this.rssFloor = rss;
    return rss;
  }

  private secondPass(): void {
    this.collect();
    this.mallocTrim?.();
  }
}
