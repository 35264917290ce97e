// parseListen (nc_conf.c conf_set_listen) and strtolOctal, against the forms of spec 2.3.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  LISTEN_FORMAT_REASON,
  LISTEN_PERM_REASON,
  LISTEN_PORT_REASON,
  LISTEN_VALUE_REASON,
  parseListen,
  strtolOctal,
} from '../../../src/config/listen.js';

describe('parseListen: TCP', () => {
  it('splits host:port at the last colon and leaves the host unresolved', () => {
    assert.deepEqual(parseListen('127.0.0.1:22121'), {
      raw: '127.0.0.1:22121',
      host: '127.0.0.1',
      address: '127.0.0.1',
      port: 22121,
      path: null,
      mode: 0,
    });
    assert.deepEqual(parseListen('::1:22121'), { raw: '::1:22121', host: '::1', address: '::1', port: 22121, path: null, mode: 0 });
    assert.deepEqual(parseListen('localhost:1'), { raw: 'localhost:1', host: 'localhost', address: 'localhost', port: 1, path: null, mode: 0 });
    // A bracketed IPv6 address parses; it is the resolver that refuses "[::1]".
    assert.equal((parseListen('[::1]:22121') as { host: string }).host, '[::1]');
  });

  it('accepts ports 1..65535 written with digits (wrapping at 2^32 like nc_atoi)', () => {
    assert.equal((parseListen('h:65535') as { port: number }).port, 65535);
    assert.equal((parseListen('h:022121') as { port: number }).port, 22121);
    assert.equal((parseListen('h:4294989417') as { port: number }).port, 22121);
  });

  const rejected: ReadonlyArray<readonly [string, string]> = [
    ['127.0.0.1', LISTEN_FORMAT_REASON],
    ['localhost', LISTEN_FORMAT_REASON],
    ['127.0.0.1:', LISTEN_PORT_REASON],
    ['127.0.0.1:0', LISTEN_PORT_REASON],
    ['127.0.0.1:65536', LISTEN_PORT_REASON],
    ['127.0.0.1:+1', LISTEN_PORT_REASON],
    ['127.0.0.1:2212\t', LISTEN_PORT_REASON],
    ['[::1]:', LISTEN_PORT_REASON],
    [':22121', LISTEN_VALUE_REASON],
  ];
  for (const [value, reason] of rejected) {
    it(`${JSON.stringify(value)} -> ${reason}`, () => {
      const got = parseListen(value);
      assert.ok('error' in got, JSON.stringify(got));
      assert.equal(got.error, reason);
      assert.ok(got.detail.includes('expected'), got.detail);
    });
  }
});

describe('parseListen: unix sockets', () => {
  it('takes a path, and an octal permission after the last space', () => {
    assert.deepEqual(parseListen('/tmp/gamma'), { raw: '/tmp/gamma', host: '', address: '', port: 0, path: '/tmp/gamma', mode: 0 });
    assert.deepEqual(parseListen('/tmp/x.sock 0666'), { raw: '/tmp/x.sock 0666', host: '', address: '', port: 0, path: '/tmp/x.sock', mode: 0o666 });
    assert.equal((parseListen('/tmp/x.sock 777') as { mode: number }).mode, 0o777);
    // strtol stops at the first non-octal character; no digits at all give 0 (no chmod).
    assert.equal((parseListen('/tmp/x.sock abc') as { mode: number }).mode, 0);
    assert.equal((parseListen('/tmp/x.sock 8') as { mode: number }).mode, 0);
    assert.equal((parseListen('/tmp/x.sock 0648') as { mode: number }).mode, 0o64);
    assert.deepEqual(parseListen('/tmp/my dir/x.sock 0600'), {
      raw: '/tmp/my dir/x.sock 0600',
      host: '',
      address: '',
      port: 0,
      path: '/tmp/my dir/x.sock',
      mode: 0o600,
    });
  });

  it('refuses permissions above 0777, negative ones and overflowing ones', () => {
    for (const perm of ['01000', '1000', '-1', '37777777777', '7777777777777777777777777']) {
      const got = parseListen(`/tmp/x.sock ${perm}`);
      assert.ok('error' in got && got.error === LISTEN_PERM_REASON, perm);
    }
  });

  it('limits the path to 107 bytes (sockaddr_un)', () => {
    const ok = `/${'x'.repeat(106)}`;
    assert.equal((parseListen(ok) as { path: string }).path, ok);
    const tooLong = parseListen(`/${'x'.repeat(107)}`);
    assert.ok('error' in tooLong && tooLong.error === LISTEN_VALUE_REASON);
    // Bytes, not characters: 54 two-byte characters are 108 bytes.
    const wide = parseListen(`/${'é'.repeat(54)}`);
    assert.ok('error' in wide && wide.detail.includes('109 bytes'));
  });
});

describe('strtolOctal: C strtol(s, NULL, 8) cast to a 32-bit mode_t', () => {
  it('matches C on hand-picked cases', () => {
    assert.equal(strtolOctal('0644'), 0o644);
    assert.equal(strtolOctal(''), 0);
    assert.equal(strtolOctal('\t 12'), 0o12);
    assert.equal(strtolOctal('+644'), 0o644);
    assert.equal(strtolOctal('-0'), 0);
    assert.equal(strtolOctal('-1'), 0xffffffff);
    assert.equal(strtolOctal('0x1ff'), 0);
    // 8^11 + 0644 does not fit 32 bits; the cast keeps the low bits.
    assert.equal(strtolOctal('100000000644'), 0o644);
    assert.equal(strtolOctal('-37777777134'), 0o644);
    assert.equal(strtolOctal('777777777777777777777'), 0xffffffff);
    assert.equal(strtolOctal('1777777777777777777777'), null);
    assert.equal(strtolOctal('-1000000000000000000000'), 0);
    assert.equal(strtolOctal('-1000000000000000000001'), null);
  });

  it('agrees with parseInt for plain octal digit strings that fit', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0o7777777 }), (n) => {
        assert.equal(strtolOctal(n.toString(8)), n);
      }),
    );
  });
});
