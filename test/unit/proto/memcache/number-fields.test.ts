// The numeric fields of memcached request lines (src/proto/memcache/commands.ts), checked
// against BigInt: <flags> (unsigned 32-bit), incr/decr <value> and <cas unique> (unsigned
// 64-bit), <exptime> (signed, within 64 bits), and the storage <bytes> length. memcached
// parses them with strtoul/strtol, so a leading "+" and leading zeros are accepted; Walnut
// must frame exactly those lines as memcached does (its data block length above all).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  MC_MAX_DATA_LENGTH,
  mcParseLength,
  mcValidExptime,
  mcValidU32,
  mcValidU64,
} from '../../../../src/proto/memcache/commands.js';

const U32_MAX = 2n ** 32n - 1n;
const U64_MAX = 2n ** 64n - 1n;
const I64_MAX = 2n ** 63n - 1n;

/** The value of an optionally signed decimal, or null when the text is not one. */
function decimal(text: string, signs: string): bigint | null {
  const m = /^([+-]?)([0-9]+)$/.exec(text);
  if (m === null || (m[1] !== '' && !signs.includes(m[1]!))) return null;
  const v = BigInt(m[2]!);
  return m[1] === '-' ? -v : v;
}

const ref = {
  u32: (t: string): boolean => {
    const v = decimal(t, '+');
    return v !== null && v <= U32_MAX;
  },
  u64: (t: string): boolean => {
    const v = decimal(t, '+');
    return v !== null && v <= U64_MAX;
  },
  // strtol's range: -2^63 .. 2^63 - 1.
  exptime: (t: string): boolean => {
    const v = decimal(t, '+-');
    return v !== null && v <= I64_MAX && v >= -I64_MAX - 1n;
  },
  length: (t: string): number => {
    const v = decimal(t, '+');
    return v !== null && v <= BigInt(MC_MAX_DATA_LENGTH) ? Number(v) : -1;
  },
};

/** A field as a client might write it: around the limits, with signs, zeros and stray bytes. */
const field: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: fc.constantFrom('0', '1', '5', '9', '+', '-', ' ', 'x', '\t'), maxLength: 24 }),
  fc
    .tuple(
      fc.constantFrom('', '+', '-', '++', '+-'),
      fc.constantFrom('', '0', '000'),
      fc.constantFrom(0n, 1n, U32_MAX, I64_MAX, U64_MAX, BigInt(MC_MAX_DATA_LENGTH), 10n ** 19n, 10n ** 20n),
      fc.integer({ min: -2, max: 2 }),
    )
    .map(([sign, zeros, base, delta]) => {
      const v = base + BigInt(delta);
      return v < 0n ? `${sign}${zeros}${-v}` : `${sign}${zeros}${v}`;
    }),
);

/** `field` inside a larger buffer, so that the validators must keep to [start, end). */
function framed(text: string): [Buffer, number, number] {
  const buf = Buffer.from(`9${text}9`, 'latin1');
  return [buf, 1, 1 + text.length];
}

describe('memcache numeric fields', () => {
  it('<flags>: an unsigned 32-bit decimal, "+" allowed', () => {
    fc.assert(fc.property(field, (t) => assert.equal(mcValidU32(...framed(t)), ref.u32(t), t)), { numRuns: 5000 });
  });

  it('incr/decr <value> and <cas unique>: an unsigned 64-bit decimal, "+" allowed', () => {
    fc.assert(fc.property(field, (t) => assert.equal(mcValidU64(...framed(t)), ref.u64(t), t)), { numRuns: 5000 });
  });

  it('<exptime>: a signed decimal within 64 bits, either sign', () => {
    fc.assert(fc.property(field, (t) => assert.equal(mcValidExptime(...framed(t)), ref.exptime(t), t)), { numRuns: 5000 });
  });

  it('<bytes>: the length, "+" allowed, at most INT_MAX - 2; -1 for anything else', () => {
    fc.assert(fc.property(field, (t) => assert.equal(mcParseLength(...framed(t)), ref.length(t), t)), { numRuns: 5000 });
  });

  it('the edges, written out', () => {
    const cases: [string, boolean, boolean, boolean, number][] = [
      // text, u32, u64, exptime, length
      ['+5', true, true, true, 5],
      ['+', false, false, false, -1],
      ['-0', false, false, true, -1],
      ['', false, false, false, -1],
      ['4294967295', true, true, true, -1],
      ['+0004294967295', true, true, true, -1],
      ['4294967296', false, true, true, -1],
      ['9223372036854775807', false, true, true, -1],
      ['-9223372036854775807', false, false, true, -1],
      ['9223372036854775808', false, true, false, -1],
      ['-9223372036854775808', false, false, true, -1],
      ['-9223372036854775809', false, false, false, -1],
      ['18446744073709551615', false, true, false, -1],
      ['18446744073709551616', false, false, false, -1],
      ['2147483645', true, true, true, 2147483645],
      ['+2147483646', true, true, true, -1],
    ];
    for (const [t, u32, u64, exptime, length] of cases) {
      assert.deepEqual(
        [mcValidU32(...framed(t)), mcValidU64(...framed(t)), mcValidExptime(...framed(t)), mcParseLength(...framed(t))],
        [u32, u64, exptime, length],
        JSON.stringify(t),
      );
    }
  });
});
