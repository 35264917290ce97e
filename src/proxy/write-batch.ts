/**
 * Write batching. Every reply or request produced while handling this turn of the event loop
 * is gathered per socket and written once, after all readable sockets have been served
 * (setImmediate runs in libuv's check phase, right after the poll phase). One write per socket
 * per loop turn instead of one per message is what makes pipelining cheap; twemproxy gets the
 * same effect from writev over its mbuf chains (nc_message.c msg_send_chain). A flushable can
 * also wait for the next turn's batch (flushNextTurn: a client's replies, for the rest of its
 * pipeline).
 */
import { copyBytes } from '../util/bytes.js';
import type { Writer } from './stream-handle.js';

/** Something that has output to write when the batch runs. */
export interface Flushable {
  /** True while queued for the next batch run (set and cleared by the scheduler). */
  flushQueued: boolean;
  flush(): void;
}

/**
 * queue[0, queued) wait for the batch; the slots are kept between batches (emptied to null so
 * that nothing stays reachable through them), since `length = 0` would give the array's room
 * back to V8 and the next turn's first push would allocate it again: without pipelining, one
 * allocation per request. nextTurn[0, nextQueued) wait for the next loop turn's batch.
 */
let queue: (Flushable | null)[] = [];
let queued = 0;
let nextTurn: (Flushable | null)[] = [];
let nextQueued = 0;
let scheduled = false;

function runBatch(): void {
  // flush() may queue more work (rarely); the loop picks up anything appended, so `scheduled`
  // stays set until it is done and no second, empty batch is scheduled for it. (A throw out
  // of flush() is fatal: run.ts logs it and exits.)
  for (let i = 0; i < queued; i++) {
    const f = queue[i]!;
    queue[i] = null;
    f.flushQueued = false;
    f.flush();
  }
  queued = 0;
  scheduled = false;
  if (nextQueued > 0) {
    // An immediate set up while immediates run waits for the next loop turn, and that turn's
    // poll for I/O does not block while it is pending.
    const emptied = queue;
    queue = nextTurn;
    queued = nextQueued;
    nextTurn = emptied;
    nextQueued = 0;
    scheduled = true;
    setImmediate(runBatch);
  }
}

export function scheduleFlush(f: Flushable): void {
  if (f.flushQueued) return;
  f.flushQueued = true;
  queue[queued++] = f;
  if (!scheduled) {
    scheduled = true;
    setImmediate(runBatch);
  }
}

/**
 * From inside its flush(): flush `f` again in the next loop turn's batch, after the sockets
 * that turn finds readable have been read. (A scheduleFlush until then changes nothing.)
 */
export function flushNextTurn(f: Flushable): void {
  f.flushQueued = true;
  nextTurn[nextQueued++] = f;
}

/** Below this size a buffer is copied into a joint write; above it, it is written as is. */
const COPY_LIMIT = 4096;

/**
 * Slots an OutBuffer keeps between writes. Emptying an array with `length = 0` gives its room
 * back to V8, so the next push allocates again: once per write, which was a tenth of all the
 * garbage per request. A batch larger than this (deep pipelining) does not pin its room.
 */
const KEPT_SLOTS = 64;
const FREE_SLOT = Buffer.alloc(0);

/** Buffers waiting to be written to one socket. */
export class OutBuffer {
  /** bufs[0, count) wait; later slots are free (FREE_SLOT). */
  private bufs: Buffer[] = [];
  private count = 0;
  bytes = 0;

  get empty(): boolean {
    return this.count === 0;
  }

  push(buf: Buffer): void {
    if (buf.length === 0) return;
    this.bufs[this.count++] = buf;
    this.bytes += buf.length;
  }

  /**
   * Write everything with one system call: runs of small buffers are joined into one copy,
   * large buffers are passed through untouched. Returns false when the socket is backed up
   * (the writer reports the drain).
   */
  writeTo(writer: Writer): boolean {
    const bufs = this.bufs;
    const n = this.count;
    let ok = true;
    if (n === 1) {
      ok = writer.write(bufs[0]!);
    } else if (n > 1) {
      if (this.bytes <= COPY_LIMIT * n && allSmall(bufs, n)) {
        // The common case (many small replies or requests): one copy, one write.
        ok = writer.write(join(bufs, 0, n, this.bytes));
      } else {
        const parts: Buffer[] = [];
        let runStart = 0;
        let runBytes = 0;
        for (let i = 0; i < n; i++) {
          const b = bufs[i]!;
          if (b.length <= COPY_LIMIT) {
            runBytes += b.length;
            continue;
          }
          if (i > runStart) parts.push(join(bufs, runStart, i, runBytes));
          parts.push(b);
          runStart = i + 1;
          runBytes = 0;
        }
        if (n > runStart) parts.push(join(bufs, runStart, n, runBytes));
        ok = writer.writev(parts);
      }
    }
    // The writer keeps the Buffers, not the array: reuse it, without keeping them alive.
    // (A loop: Array#fill is a call into C++, dearer than the few stores a batch needs.)
    if (n > KEPT_SLOTS) this.bufs = [];
    else for (let i = 0; i < n; i++) bufs[i] = FREE_SLOT;
    this.count = 0;
    this.bytes = 0;
    return ok;
  }
}

function allSmall(bufs: readonly Buffer[], n: number): boolean {
  for (let i = 0; i < n; i++) if (bufs[i]!.length > COPY_LIMIT) return false;
  return true;
}

function join(bufs: Buffer[], from: number, to: number, bytes: number): Buffer {
  if (to - from === 1) return bufs[from]!;
  const joined = Buffer.allocUnsafe(bytes);
  let at = 0;
  for (let i = from; i < to; i++) {
    const b = bufs[i]!;
    at += copyBytes(b, 0, b.length, joined, at);
  }
  return joined;
}
