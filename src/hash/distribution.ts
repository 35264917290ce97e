// Server selection from a key hash: ketama continuum, modula slots and random, bit-exact with
// twemproxy's nc_ketama.c (ketama_update/ketama_dispatch), nc_modula.c and nc_random.c.
import { md5Digest } from './hash-functions.js';
import type { DistributionName } from './names.js';

export interface DistributionNode {
  readonly name: string;
  readonly weight: number;
}

export interface Distribution {
  /** index into the nodes array given to build; nodes must be non-empty */
  pick(hash: number): number;
}

const KETAMA_POINTS_PER_SERVER = 160;
const KETAMA_POINTS_PER_HASH = 4;
/** twemproxy formats point strings into a 273-byte buffer: at most 272 bytes are hashed. */
const KETAMA_MAX_POINT_STRING = 272;
/** twemproxy allocates room for (live servers + 10) * 160 points; see ketamaPointCounts. */
const KETAMA_CONTINUUM_ADDITION = 10;

/** Σ weights as twemproxy's uint32_t accumulator sees it. */
function totalWeight32(nodes: readonly DistributionNode[]): number {
  let total = 0;
  for (const node of nodes) total = (total + node.weight) >>> 0;
  return total;
}

/**
 * twemproxy's `(uint32_t)` of a float point count, as gcc compiles it for x86-64: a truncation
 * to 64 bits (cvttss2si, which gives 2^63 for anything that does not fit, infinity included)
 * of which the low 32 bits are kept. Only a weight sum that wrapped past 2^32 makes counts this
 * large: weights 2^31-1, 2^31-1, 2, 1 wrap to a sum of 1, and the two large servers get
 * 2^40 × 1.25 points, which is 0 here (their keys go to the small ones, as in twemproxy).
 */
function uint32OfFloat(x: number): number {
  if (!(x < 2 ** 63)) return 0;
  return Number(BigInt(Math.trunc(x)) & 0xffffffffn);
}

/**
 * Points each node gets on the continuum. twemproxy computes this in `float`; doing it in double
 * gives different counts (e.g. weights 1,1,1,1,21), so every step is rounded to float32.
 */
export function ketamaPointCounts(nodes: readonly DistributionNode[]): number[] {
  const f32 = Math.fround;
  const n = f32(nodes.length);
  const total = f32(totalWeight32(nodes));
  // Only a wrapped 32-bit weight sum can make the counts exceed what twemproxy allocated (there it
  // is a heap overflow); stop filling at that size instead so the build stays bounded.
  let room = (nodes.length + KETAMA_CONTINUUM_ADDITION) * KETAMA_POINTS_PER_SERVER;
  const counts: number[] = [];
  for (const node of nodes) {
    const pct = f32(f32(node.weight) / total);
    let x = f32(f32(f32(pct * KETAMA_POINTS_PER_SERVER) / KETAMA_POINTS_PER_HASH) * n);
    x = f32(x + 1e-10);
    let points = uint32OfFloat(f32(Math.floor(x) * KETAMA_POINTS_PER_HASH));
    if (points > room) points = room;
    room -= points;
    counts.push(points);
  }
  return counts;
}

/** The ketama continuum: point values ascending, with the node index owning each point. */
export interface KetamaContinuum {
  readonly values: Uint32Array;
  readonly owners: Uint32Array;
}

export function ketamaContinuum(nodes: readonly DistributionNode[]): KetamaContinuum {
  const counts = ketamaPointCounts(nodes);
  let size = 0;
  for (const c of counts) size += c;
  const values = new Uint32Array(size);
  const owners = new Uint32Array(size);
  let k = 0;
  for (let i = 0; i < nodes.length; i++) {
    const prefix = Buffer.from(`${nodes[i]!.name}-`, 'utf8');
    const hashes = counts[i]! / KETAMA_POINTS_PER_HASH;
    for (let j = 0; j < hashes; j++) {
      let text = Buffer.concat([prefix, Buffer.from(String(j), 'latin1')]);
      if (text.length > KETAMA_MAX_POINT_STRING) text = text.subarray(0, KETAMA_MAX_POINT_STRING);
      const digest = md5Digest(text);
      for (let a = 0; a < KETAMA_POINTS_PER_HASH; a++) {
        values[k] = digest.readUInt32LE(4 * a);
        owners[k] = i;
        k++;
      }
    }
  }
  // Sort by value; equal values keep generation order (what glibc's merge-sort qsort does).
  const order = Array.from({ length: size }, (_, i) => i);
  order.sort((x, y) => values[x]! - values[y]! || x - y);
  const sorted = { values: new Uint32Array(size), owners: new Uint32Array(size) };
  for (let i = 0; i < size; i++) {
    sorted.values[i] = values[order[i]!]!;
    sorted.owners[i] = owners[order[i]!]!;
  }
  return sorted;
}

/** The most buckets a ketama index keeps (Uint32Array: 256 KB). */
const KETAMA_MAX_BUCKET_BITS = 16;

class Ketama implements Distribution {
  /** Point values, ascending. */
  private readonly values: Uint32Array;
  /** owners[i] is the node index owning values[i]. */
  private readonly owners: Uint32Array;
  /**
   * An index over the continuum by the hash's top bits: the points of bucket b are
   * [bucketStart[b], bucketStart[b + 1]). About two buckets per point, so a lookup mostly
   * compares with at most one point where a binary search over a pool's hundreds of points
   * would take ten hard-to-predict steps.
   */
  private readonly bucketStart: Uint32Array;
  private readonly bucketShift: number;

  constructor(nodes: readonly DistributionNode[]) {
    const continuum = ketamaContinuum(nodes);
    const values = continuum.values;
    this.values = values;
    this.owners = continuum.owners;
    let bits = 1;
    while (bits < KETAMA_MAX_BUCKET_BITS && 1 << bits < 2 * values.length) bits++;
    this.bucketShift = 32 - bits;
    const buckets = 1 << bits;
    const start = new Uint32Array(buckets + 1);
    let p = 0;
    for (let b = 0; b <= buckets; b++) {
      // First point whose value is at or past the bucket's lowest hash (2^32 past the last).
      const low = b * 2 ** this.bucketShift;
      while (p < values.length && values[p]! < low) p++;
      start[b] = p;
    }
    this.bucketStart = start;
  }

  pick(hash: number): number {
    const values = this.values;
    const size = values.length;
    if (size === 0) return 0;
    // First point >= hash; past the last point wraps to the first. Points before the bucket are
    // below the hash, points after it above, so the answer is in the bucket or its end.
    const b = hash >>> this.bucketShift;
    let i = this.bucketStart[b]!;
    const end = this.bucketStart[b + 1]!;
    while (i < end && values[i]! < hash) i++;
    return this.owners[i === size ? 0 : i]!;
  }
}

/** Above this many slots, modula looks the owner up by binary search instead of a slot array. */
const MODULA_MAX_SLOT_ARRAY = 1 << 20;

class Modula implements Distribution {
  private readonly total: number;
  /** slot -> node index, when the slot count is small enough to materialise. */
  private readonly slots: Uint32Array | null;
  /** ends[i] = Σ weights of nodes 0..i (exact doubles), used when slots is null. */
  private readonly ends: Float64Array;

  constructor(nodes: readonly DistributionNode[]) {
    this.total = totalWeight32(nodes);
    this.ends = new Float64Array(nodes.length);
    let sum = 0;
    for (let i = 0; i < nodes.length; i++) {
      sum += nodes[i]!.weight;
      this.ends[i] = sum;
    }
    if (sum <= MODULA_MAX_SLOT_ARRAY) {
      this.slots = new Uint32Array(sum);
      let s = 0;
      for (let i = 0; i < nodes.length; i++) {
        for (let w = 0; w < nodes[i]!.weight; w++) this.slots[s++] = i;
      }
    } else {
      this.slots = null;
    }
  }

  pick(hash: number): number {
    // A weight sum that wrapped to 0 would be a division by zero in twemproxy; use the hash as is.
    const slot = this.total === 0 ? hash : hash % this.total;
    if (this.slots !== null) return this.slots[slot] ?? 0;
    const ends = this.ends;
    let lo = 0;
    let hi = ends.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ends[mid]! <= slot) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

class RandomPick implements Distribution {
  private readonly count: number;

  constructor(count: number) {
    this.count = count;
  }

  pick(): number {
    return Math.floor(Math.random() * this.count);
  }
}

export function buildDistribution(kind: DistributionName, nodes: readonly DistributionNode[]): Distribution {
  switch (kind) {
    case 'ketama':
      return new Ketama(nodes);
    case 'modula':
      return new Modula(nodes);
    case 'random':
      return new RandomPick(nodes.length);
  }
}
