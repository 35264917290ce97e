// parseServerEntry (nc_conf.c conf_add_server) and compareNames (string_compare) against the
// cases of spec 2.4 and 2.6.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  SERVER_FORMAT_REASON,
  SERVER_PORT_REASON,
  SERVER_WEIGHT_REASON,
  SERVER_ZERO_WEIGHT_REASON,
  analyseServerEntry,
  compareNames,
  parseServerEntry,
} from '../../../src/config/server-entry.js';

describe('parseServerEntry: accepted forms', () => {
  const cases: ReadonlyArray<readonly [string, { pname: string; name: string; host: string; port: number; path: string | null; weight: number }]> = [
    ['127.0.0.1:6379:1', { pname: '127.0.0.1:6379:1', name: '127.0.0.1:6379', host: '127.0.0.1', port: 6379, path: null, weight: 1 }],
    ['127.0.0.1:6379:1 server1', { pname: '127.0.0.1:6379:1', name: 'server1', host: '127.0.0.1', port: 6379, path: null, weight: 1 }],
    // Port 11211 without a name hashes by host alone (libmemcached compatibility), numerically.
    ['127.0.0.1:11211:1', { pname: '127.0.0.1:11211:1', name: '127.0.0.1', host: '127.0.0.1', port: 11211, path: null, weight: 1 }],
    ['cache:011211:2', { pname: 'cache:011211:2', name: 'cache', host: 'cache', port: 11211, path: null, weight: 2 }],
    ['127.0.0.1:11211:1 mc', { pname: '127.0.0.1:11211:1', name: 'mc', host: '127.0.0.1', port: 11211, path: null, weight: 1 }],
    // The port as written is part of the name.
    ['10.0.0.2:06379:2', { pname: '10.0.0.2:06379:2', name: '10.0.0.2:06379', host: '10.0.0.2', port: 6379, path: null, weight: 2 }],
    // Parsed from the right, so IPv6 hosts keep their colons.
    ['::1:6379:1', { pname: '::1:6379:1', name: '::1:6379', host: '::1', port: 6379, path: null, weight: 1 }],
    ['/run/x.sock:1', { pname: '/run/x.sock:1', name: '/run/x.sock:', host: '', port: 0, path: '/run/x.sock', weight: 1 }],
    ['/run/x.sock:3 local', { pname: '/run/x.sock:3', name: 'local', host: '', port: 0, path: '/run/x.sock', weight: 3 }],
    // An entry ending in a space has an empty name, and pname keeps the space.
    ['127.0.0.1:6379:1 ', { pname: '127.0.0.1:6379:1 ', name: '', host: '127.0.0.1', port: 6379, path: null, weight: 1 }],
    // No upper bound on weights; an empty host is accepted (it fails at connect time).
    ['h:1:100000', { pname: 'h:1:100000', name: 'h:1', host: 'h', port: 1, path: null, weight: 100000 }],
    [':6379:1', { pname: ':6379:1', name: ':6379', host: '', port: 6379, path: null, weight: 1 }],
    // nc_atoi wraps at 2^32: 4294967297 is weight 1, 4295032831 is port 65535.
    ['h:6379:4294967297', { pname: 'h:6379:4294967297', name: 'h:6379', host: 'h', port: 6379, path: null, weight: 1 }],
    ['h:4295032831:1', { pname: 'h:4295032831:1', name: 'h:4295032831', host: 'h', port: 65535, path: null, weight: 1 }],
  ];
  for (const [entry, want] of cases) {
    it(JSON.stringify(entry), () => {
      assert.deepEqual(parseServerEntry(entry), want);
    });
  }
});

describe('parseServerEntry: rejected forms give twemproxy reason', () => {
  const cases: ReadonlyArray<readonly [string, string]> = [
    ['localhost', SERVER_FORMAT_REASON],
    ['127.0.0.1:6379', SERVER_FORMAT_REASON],
    [' 127.0.0.1:6379:1', SERVER_FORMAT_REASON],
    ['/a:b.sock:1', SERVER_FORMAT_REASON],
    ['/run/x.sock', SERVER_FORMAT_REASON],
    ['a\u0000b:6379:1', SERVER_FORMAT_REASON],
    ['', SERVER_FORMAT_REASON],
    ['127.0.0.1:6379:0', SERVER_ZERO_WEIGHT_REASON],
    ['127.0.0.1:6379:4294967296', SERVER_ZERO_WEIGHT_REASON],
    ['/run/x.sock:0', SERVER_ZERO_WEIGHT_REASON],
    ['127.0.0.1:6379:x', SERVER_WEIGHT_REASON],
    ['127.0.0.1:6379:', SERVER_WEIGHT_REASON],
    ['127.0.0.1:6379:+1', SERVER_WEIGHT_REASON],
    ['127.0.0.1:6379:2147483648', SERVER_WEIGHT_REASON],
    ['h:p:1 my name', SERVER_WEIGHT_REASON],
    ['127.0.0.1:6379:1\tname', SERVER_WEIGHT_REASON],
    // Weight is checked before port.
    ['127.0.0.1:0:x', SERVER_WEIGHT_REASON],
    ['127.0.0.1:0:1', SERVER_PORT_REASON],
    ['127.0.0.1:65536:1', SERVER_PORT_REASON],
    ['127.0.0.1::1', SERVER_PORT_REASON],
    ['127.0.0.1:redis:1', SERVER_PORT_REASON],
  ];
  for (const [entry, reason] of cases) {
    it(`${JSON.stringify(entry)} -> ${reason.slice(0, 28)}...`, () => {
      assert.deepEqual(parseServerEntry(entry), { error: reason });
      const detailed = analyseServerEntry(entry);
      assert.ok('error' in detailed);
      assert.ok(detailed.detail.startsWith(`${JSON.stringify(entry)} is not a valid server: `), detailed.detail);
      assert.ok(detailed.detail.includes('expected'), detailed.detail);
    });
  }

  it('explains that a name cannot contain spaces', () => {
    const r = analyseServerEntry('127.0.0.1:6379:1 my name');
    assert.ok('error' in r && r.detail.includes('"name"') && r.detail.includes('cannot contain spaces'), JSON.stringify(r));
  });
});

describe('parseServerEntry: properties', () => {
  const hostChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789.-:'.split(''));
  const host = fc.string({ unit: hostChar, minLength: 1, maxLength: 20 }).filter((h) => !h.startsWith('/'));
  const nameChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789._-:/'.split(''));

  it('host:port:weight [name] gives back its parts', () => {
    fc.assert(
      fc.property(
        host,
        fc.integer({ min: 1, max: 65535 }),
        fc.integer({ min: 1, max: 2147483647 }),
        fc.option(fc.string({ unit: nameChar, minLength: 1, maxLength: 12 }), { nil: null }),
        (h, port, weight, name) => {
          const pname = `${h}:${port}:${weight}`;
          const got = parseServerEntry(name === null ? pname : `${pname} ${name}`);
          const expectedName = name ?? (port === 11211 ? h : `${h}:${port}`);
          assert.deepEqual(got, { pname, name: expectedName, host: h, port, path: null, weight });
        },
      ),
      { numRuns: 500 },
    );
  });

  it('never throws, whatever the text', () => {
    const punctuation = fc.constantFrom(...': /0123456789abc'.split('').map((c) => c.charCodeAt(0)));
    fc.assert(
      fc.property(fc.array(punctuation, { maxLength: 20 }).map((cps) => String.fromCodePoint(...cps)), (entry) => {
        const r = parseServerEntry(entry);
        if ('error' in r) return;
        assert.ok(entry.startsWith(r.pname) && r.weight > 0, JSON.stringify(r));
        assert.ok(r.path === null ? r.port >= 1 && r.port <= 65535 : r.port === 0 && entry.startsWith('/'));
      }),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 0x10ffff }), { maxLength: 40 }).map((cps) => String.fromCodePoint(...cps)), (entry) => {
        const r = parseServerEntry(entry);
        if ('error' in r) return;
        assert.ok(entry.startsWith(r.pname) && r.weight > 0, JSON.stringify(r));
        assert.ok(r.path === null ? r.port >= 1 && r.port <= 65535 : r.port === 0 && entry.startsWith('/'));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('compareNames: length first, then bytes', () => {
  it('orders the spec examples', () => {
    assert.deepEqual(['zz', 'b', 'aaa'].sort(compareNames), ['b', 'zz', 'aaa']);
    assert.deepEqual(
      ['127.0.0.1', '10.0.0.1:33093', '/run/x.sock:'].sort(compareNames),
      ['127.0.0.1', '/run/x.sock:', '10.0.0.1:33093'],
    );
    assert.deepEqual(['alpha', 'zeta'].sort(compareNames), ['zeta', 'alpha']);
    assert.deepEqual(['rpool', 'mpool'].sort(compareNames), ['mpool', 'rpool']);
  });

  it('compares UTF-8 bytes, not UTF-16 units', () => {
    // "é" is 2 bytes, so it is longer than "z"; U+FFFF (3 bytes) sorts before U+10000 (4 bytes).
    assert.ok(compareNames('z', 'é') < 0);
    assert.ok(compareNames('\uffff', '\u{10000}') < 0);
    assert.equal(compareNames('same', 'same'), 0);
  });

  it('is a consistent total order', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 6 }), fc.string({ unit: 'grapheme', maxLength: 6 }), (a, b) => {
        const ab = Math.sign(compareNames(a, b));
        assert.equal(ab, -Math.sign(compareNames(b, a)) || 0);
        assert.equal(ab === 0, a === b);
        const la = Buffer.byteLength(a);
        const lb = Buffer.byteLength(b);
        if (la !== lb) assert.equal(ab, Math.sign(la - lb));
      }),
      { numRuns: 500 },
    );
  });
});
