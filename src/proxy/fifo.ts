/**
 * A growable ring-buffer FIFO. Request queues (per client, per server connection) are long
 * under pipelining, and Array#shift is O(n) on them; this is O(1) for push and shift.
 * Plays the role of twemproxy's TAILQ-based msg queues (nc_queue.h).
 */
const NO_ITEMS: never[] = [];

export class Fifo<T> {
  /** Empty until the first push: thousands of idle clients should not each hold a ring. */
  private items: (T | undefined)[] = NO_ITEMS;
  private head = 0;
  private count = 0;
  private mask = 0;
  private readonly initialCapacity: number;

  /** `initialCapacity` is rounded up to a power of two; the ring is allocated on first push. */
  constructor(initialCapacity = 8) {
    let capacity = 1;
    while (capacity < initialCapacity) capacity <<= 1;
    this.initialCapacity = capacity;
  }

  get length(): number {
    return this.count;
  }

  push(item: T): void {
    if (this.count === this.items.length) this.grow();
    this.items[(this.head + this.count) & this.mask] = item;
    this.count++;
  }

  /** The oldest item, or undefined when empty. */
  peek(): T | undefined {
    return this.count === 0 ? undefined : this.items[this.head];
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined; // let the GC have it
    this.head = (this.head + 1) & this.mask;
    this.count--;
    return item;
  }

  private grow(): void {
    const old = this.items;
    const capacity = old.length === 0 ? this.initialCapacity : old.length * 2;
    const items = new Array<T | undefined>(capacity);
    for (let i = 0; i < this.count; i++) items[i] = old[(this.head + i) & this.mask];
    this.items = items;
    this.head = 0;
    this.mask = capacity - 1;
  }
}
