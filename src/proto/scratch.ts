/**
 * Scratch Int32Arrays for the codecs' fragment and coalesce, which run to completion one at a
 * time: a typed array of more than 64 bytes has its own backing store, whose allocation costs
 * 0.3-1 µs on Node 20, more than framing a dozen keys. An array grown past SCRATCH_KEEP entries
 * (a huge multi-key request) is dropped by release() rather than kept for the next call.
 */
export const SCRATCH_KEEP = 65536;

export class IntScratch {
  private readonly arrays: Int32Array[];

  constructor(count: number) {
    this.arrays = Array.from({ length: count }, () => new Int32Array(64));
  }

  /** Array `i` with room for `n` entries; its contents are left over from earlier calls. */
  get(i: number, n: number): Int32Array {
    let a = this.arrays[i]!;
    if (a.length < n) {
      a = new Int32Array(Math.max(n, a.length * 2));
      this.arrays[i] = a;
    }
    return a;
  }

  /** Drop the arrays grown past SCRATCH_KEEP; call once the call using them is over. */
  release(): void {
    const arrays = this.arrays;
    for (let i = 0; i < arrays.length; i++) if (arrays[i]!.length > SCRATCH_KEEP) arrays[i] = new Int32Array(64);
  }
}
