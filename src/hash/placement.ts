// Key -> server routing for one pool: hash_tag reduction, key hash, distribution over the live
// servers (twemproxy's server_pool_idx / server_pool_hash in nc_server.c).
import { buildDistribution, type Distribution } from './distribution.js';
import { hashFunction, type HashFunction } from './hash-functions.js';
import type { DistributionName, HashName } from './names.js';

export interface PlacementOptions {
  readonly hash: HashName;
  readonly distribution: DistributionName;
  readonly hashTag: Buffer | null;
}

/** Routes keys to servers. Built from the LIVE servers (the pool rebuilds it on ejection/retry). */
export class Placement {
  private readonly hashFn: HashFunction;
  private readonly dist: Distribution | null;
  /** Distribution node index -> pool server index. */
  private readonly poolIndex: Int32Array;
  /** The answer for every key when it does not depend on the key (0 or 1 node), else -2. */
  private readonly fixed: number;
  private readonly isRandom: boolean;
  /** Hash tag bytes, or -1 when no (usable) tag is configured. */
  private readonly tagOpen: number;
  private readonly tagClose: number;

  /** nodes: the live servers in pool order; `index` is the server's index in the whole pool. */
  constructor(
    options: PlacementOptions,
    nodes: readonly { readonly name: string; readonly weight: number; readonly index: number }[],
  ) {
    this.hashFn = hashFunction(options.hash);
    this.poolIndex = Int32Array.from(nodes, (n) => n.index);
    this.isRandom = options.distribution === 'random';
    // With a single server twemproxy hashes nothing; with none there is nowhere to go.
    this.fixed = nodes.length === 0 ? -1 : nodes.length === 1 ? nodes[0]!.index : -2;
    this.dist = nodes.length > 1 ? buildDistribution(options.distribution, nodes) : null;
    const tag = options.hashTag;
    this.tagOpen = tag !== null && tag.length >= 2 ? tag[0]! : -1;
    this.tagClose = tag !== null && tag.length >= 2 ? tag[1]! : -1;
  }

  /** Pool server index for key bytes [start,end) of buf; -1 when there are no live nodes. */
  serverIndexFor(buf: Buffer, start: number, end: number): number {
    const dist = this.dist;
    if (dist === null) return this.fixed;
    if (this.isRandom) return this.poolIndex[dist.pick(0)]!;
    if (this.tagOpen >= 0) {
      // The bytes strictly between the first open byte and the first close byte after it, when
      // there is at least one; otherwise the whole key.
      let open = start;
      while (open < end && buf[open] !== this.tagOpen) open++;
      if (open < end) {
        let close = open + 1;
        while (close < end && buf[close] !== this.tagClose) close++;
        if (close < end && close > open + 1) {
          start = open + 1;
          end = close;
        }
      }
    }
    const hash = end > start ? this.hashFn(buf, start, end) : 0;
    return this.poolIndex[dist.pick(hash)]!;
  }
}
