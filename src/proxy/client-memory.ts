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
 * - the reply bytes its socket has queued and the kernel not yet taken, once past the
 *   write high-water mark (below it, up to 16 KB per client are not counted).
 */
import { scheduleFlush, type Flushable } from './write-batch.js';

/** What the limit needs to know of a client. */
export interface MemoryHolder {
  /** Bytes counted for this client now. */
  readonly heldBytes: number;
  /** Close the client at once and take its bytes off the tally; `held` and `limit` are for the log. */
  evict(held: number, limit: number): void;
}

export class ClientMemory implements Flushable {
  /** Bytes held for every client of the process (the sum of their heldBytes). */
  held = 0;
  /** The bound on `held`; 0 for none. */
  readonly limit: number;
  /** Clients closed for the limit since the start. */
  evictions = 0;
  flushQueued = false;
  /** The client sets to choose from (each pool's). */
  private readonly groups: Set<ReadonlySet<MemoryHolder>> = new Set();

  constructor(limit: number) {
    this.limit = limit > 0 ? limit : Infinity;
  }

  /** Count `bytes` more (fewer when negative); past the limit, evict after this loop turn. */
  grow(bytes: number): void {
    if ((this.held += bytes) > this.limit) scheduleFlush(this);
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
    for (const group of this.groups) for (const c of group) if (c.heldBytes > 0) holders.push(c);
    holders.sort((a, b) => b.heldBytes - a.heldBytes);
    for (let i = 0; i < holders.length && this.held > this.limit; i++) {
      this.evictions++;
      holders[i]!.evict(this.held, this.limit);
    }
  }
}
