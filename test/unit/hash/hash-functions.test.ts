// Tests of the twelve key hash functions against twemproxy's reference values (spec table 3.2),
// independent 64-bit / zlib computations, and sub-range properties.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import zlib from 'node:zlib';
import fc from 'fast-check';
import { hashFunction } from '../../../src/hash/hash-functions.js';
import { HASH_NAMES, type HashName } from '../../../src/hash/names.js';

const REFERENCE_KEYS: readonly [string, Buffer][] = [
  ['apple', Buffer.from('apple')],
  ['foo', Buffer.from('foo')],
  ['user:1000', Buffer.from('user:1000')],
  ['byte 0xFF', Buffer.from([0xff])],
];

/** Spec 3.2 reference values, per function, in REFERENCE_KEYS order. */
const REFERENCE: Readonly<Record<HashName, readonly number[]>> = {
  one_at_a_time: [2297466611, 596015325, 3043211087, 2925896852],
  md5: [3195025439, 3675831724, 781738503, 3561969920],
  crc16: [3662830516, 205303702, 3781445233, 7920],
  crc32: [10542, 3187, 8052, 32512],
  crc32a: [2838417488, 2356372769, 2675185635, 4278190080],
  fnv1_64: [473199127, 1805727027, 3550362913, 2046707744],
  fnv1a_64: [1488911807, 4275688823, 2927313545, 2046707310],
  fnv1_32: [67176023, 1083137555, 2796551329, 4210270944],
  fnv1a_32: [280767167, 2851307223, 1350311305, 4193493326],
  hsieh: [3738850110, 1993659431, 3723237737, 44489640],
  murmur: [4142305122, 3303027599, 2384768711, 3679652508],
  jenkins: [1442444624, 2583187353, 76303748, 3784723880],
};

for (const name of HASH_NAMES) {
  test(`${name} matches twemproxy's reference values`, () => {
    const fn = hashFunction(name);
    REFERENCE_KEYS.forEach(([label, key], i) => {
      assert.equal(fn(key, 0, key.length), REFERENCE[name][i], `${name}(${label})`);
    });
  });
}

test('every configurable hash name has a function', () => {
  for (const name of HASH_NAMES) assert.equal(typeof hashFunction(name), 'function');
});

test('crc16 keeps the whole 32-bit register: its low 16 bits are CRC-16/XMODEM', () => {
  // CRC-16/XMODEM of "123456789" is 0x31C3 (the catalogue check value).
  const key = Buffer.from('123456789');
  const h = hashFunction('crc16')(key, 0, key.length);
  assert.equal(h & 0xffff, 0x31c3);
  assert.notEqual(h, 0x31c3, 'the high bits are not truncated');
});

test('hsieh returns 0 for an empty range', () => {
  assert.equal(hashFunction('hsieh')(Buffer.from('abc'), 1, 1), 0);
});

test('jenkins of an empty range returns the untouched initial value 0xdeadbefc', () => {
  assert.equal(hashFunction('jenkins')(Buffer.alloc(4), 2, 2), 0xdeadbefc);
});

/** 64-bit FNV with sign-extended bytes, computed with BigInt as an independent reference. */
function fnv64Reference(key: Uint8Array, alternate: boolean): number {
  const mask = (1n << 64n) - 1n;
  let h = 0xcbf29ce484222325n;
  for (const b of key) {
    const sx = BigInt.asUintN(64, BigInt((b << 24) >> 24));
    if (alternate) h = ((h ^ sx) * 0x100000001b3n) & mask;
    else h = ((h * 0x100000001b3n) & mask) ^ sx;
  }
  return Number(h & 0xffffffffn);
}

test('fnv1_64 and fnv1a_64 equal the low 32 bits of the 64-bit computations', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const key = Buffer.from(bytes);
      assert.equal(hashFunction('fnv1_64')(key, 0, key.length), fnv64Reference(bytes, false));
      assert.equal(hashFunction('fnv1a_64')(key, 0, key.length), fnv64Reference(bytes, true));
    }),
  );
});

const zlibCrc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;

test('crc32a is zlib crc32 and crc32 is its bits 16..30', { skip: zlibCrc32 === undefined }, () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const key = Buffer.from(bytes);
      const standard = zlibCrc32!(bytes);
      assert.equal(hashFunction('crc32a')(key, 0, key.length), standard);
      assert.equal(hashFunction('crc32')(key, 0, key.length), (standard >>> 16) & 0x7fff);
    }),
  );
});

test('md5 is the first digest word, little-endian', () => {
  // MD5("") = d41d8cd9 8f00b204 e9800998 ecf8427e.
  assert.equal(hashFunction('md5')(Buffer.from('xyz'), 3, 3), 0xd98c1dd4);
});

test('hashing a sub-range equals hashing a copy of those bytes; results are uint32', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...HASH_NAMES),
      fc.uint8Array({ maxLength: 80 }),
      fc.uint8Array({ maxLength: 16 }),
      fc.uint8Array({ maxLength: 16 }),
      (name, key, before, after) => {
        const fn = hashFunction(name);
        const copy = Buffer.from(key);
        const big = Buffer.concat([before, key, after]);
        const h = fn(big, before.length, before.length + key.length);
        assert.equal(h, fn(copy, 0, copy.length));
        assert.ok(Number.isInteger(h) && h >= 0 && h <= 0xffffffff, `${name} gave ${h}`);
      },
    ),
    { numRuns: 2000 },
  );
});

test('every function reads exactly its range: bytes outside it do not matter', () => {
  fc.assert(
    fc.property(fc.constantFrom(...HASH_NAMES), fc.uint8Array({ minLength: 1, maxLength: 40 }), (name, key) => {
      const fn = hashFunction(name);
      const a = Buffer.concat([Buffer.alloc(5, 0x00), key, Buffer.alloc(5, 0x00)]);
      const b = Buffer.concat([Buffer.alloc(5, 0xff), key, Buffer.alloc(5, 0xff)]);
      assert.equal(fn(a, 5, 5 + key.length), fn(b, 5, 5 + key.length));
    }),
  );
});
