/**
 * The process-wide bound on memory held for clients, as Redis's maxmemory-clients. The limits
 * in limits.ts bound each client; this bounds their sum, which a crowd of clients that each
 * stay under their own limits (slow readers, requests sent a byte at a time, replies held
 * behind a slow server) could otherwise take to many gigabytes. Past the limit, the clients
 * holding the most are closed until the sum is under it again: pausing cannot help here,
 * since the bytes of a client that does not read, or of a request not yet whole, only go
 * when the client does.
 *
 * What a client holds (ClientConn keeps the tally up to date as the figures change):
 * - the bytes of its requests parsed and not yet answered,
 * - the reply bytes held until earlier requests are answered or fragments merged,
 * - the bytes of a request still arriving,
 * - the bytes of replies to it that a server connection is still gathering,
 * - the reply bytes its socket has queued and the kernel not yet taken, once past the
 *   write high-water mark (below it, up to 16 KB per client are not counted; what the
 *   kernel took since the last write is found when the limit is passed).
 * These are message lengths, not the memory behind them: a small message held long keeps
 * the whole read (up to 64 KB) it came in alive, and the requests of a closed client stay in
 * its servers' queues (bounded per connection, limits.ts) until they are answered.
 */
import { scheduleFlush, type Flushable } from './write-batch.js';

/** What the limit needs to know of a client. */
export interface MemoryHolder {
  /** Bytes counted for this client now. */
  readonly heldBytes: number;
  /** Bring figures that are counted only now and then (unsent replies) up to date. */
  refreshHeld(): void;
  /**
   * Close the client at once and take its bytes off the tally; false when it was being closed
   * already. `held` and `limit` are for the log.
   */
  evict(held: number, limit: string): boolean;
}

/** What one process takes of --limit-client-memory, and how its log names it. */
export interface ClientMemoryShare {
  /** Bytes, 0 for no limit. */
  readonly bytes: number;
  readonly label: string;
}

export class ClientMemory implements Flushable {
  /** Bytes held for every client of the process (the sum of their heldBytes). */
  held = 0;
  /** The bound on `held`; Infinity for none. */
  readonly limit: number;
  /** The limit as the log names it. */
  private readonly label: string;
  /** Clients closed for the limit since the start. */
  evictions = 0;
  flushQueued = false;
  /** The client sets to choose from (each pool's). */
  private readonly groups: Set<ReadonlySet<MemoryHolder>> = new Set();

  /** `limit` 0 for none; `label` names it in the log (default: `--limit-client-memory <limit>`). */
  constructor(limit: number, label = `--limit-client-memory ${limit}`) {
    this.limit = limit > 0 ? limit : Infinity;
    this.label = label;
  }

  /**
   * Count `bytes` more (fewer when negative); past the limit, evict after this loop turn. (Only
   * a real growth schedules: flush() recounts, and a recount that changes nothing must not
   * queue it again, or clients it cannot close would keep it running.)
   */
  grow(bytes: number): void {
    if ((this.held += bytes) > this.limit && bytes > 0) scheduleFlush(this);
  }

  shrink(bytes: number): void {
    this.held -= bytes;
  }

  /** Clients of `group` may be evicted (a pool's client set; untrack it when the pool goes). */
  track(group: ReadonlySet<MemoryHolder>): void {
    this.groups.add(group);
  }

  untrack(group: ReadonlySet<MemoryHolder>): void {
    this.groups.delete(group);
  }

  /**
   * Run after the loop turn's reads (write-batch.ts): evicting from inside a parse or a
   * reply dispatch would close a client under its own call stack.
   */
  flush(): void {
    if (this.held <= this.limit) return;
    const holders: MemoryHolder[] = [];
    for (const group of this.groups) {
      for (const c of group) {
        c.refreshHeld();
        if (c.heldBytes > 0) holders.push(c);
      }
    }
    // Replies taken since they were counted may have brought the sum under the limit.
    if (this.held <= this.limit) return;
    holders.sort((a, b) => b.heldBytes - a.heldBytes);
    for (let i = 0; i < holders.length && this.held > this.limit; i++) {
      if (holders[i]!.evict(this.held, this.label)) this.evictions++;
    }
  }
}
