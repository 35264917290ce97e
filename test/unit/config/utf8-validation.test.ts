// The UTF-8 check of configuration files (firstInvalidUtf8 in src/config/load.ts): strict
// UTF-8 as libyaml's reader takes it, checked against the WHATWG decoder in fatal mode, which
// refuses the same things (overlong forms, surrogates, code points past U+10FFFF, truncated
// sequences). Four-byte sequences (emoji and the like) are accepted in a file's values.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { ConfigError } from '../../../src/config/config-error.js';
import { firstInvalidUtf8, loadConfig } from '../../../src/config/load.js';

const fatal = new TextDecoder('utf-8', { fatal: true });

function decodes(bytes: Uint8Array): boolean {
  try {
    fatal.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** Bytes near the edges of the UTF-8 rules, valid characters of every length, and any byte. */
const piece: fc.Arbitrary<readonly number[]> = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 3 }).map((s) => [...Buffer.from(s, 'utf8')]),
  fc.integer({ min: 0, max: 255 }).map((b) => [b]),
  fc.constantFrom(0x80, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff).map((b) => [b]),
  fc.constantFrom(
    [0xe0, 0x80, 0x80], // overlong U+0000
    [0xe0, 0x9f, 0xbf], // overlong U+07FF
    [0xed, 0x9f, 0xbf], // U+D7FF, the last before the surrogates
    [0xed, 0xa0, 0x80], // U+D800, a surrogate
    [0xf0, 0x8f, 0xbf, 0xbf], // overlong U+FFFF
    [0xf0, 0x90, 0x80, 0x80], // U+10000
    [0xf4, 0x8f, 0xbf, 0xbf], // U+10FFFF
    [0xf4, 0x90, 0x80, 0x80], // U+110000
    [0xf0, 0x9f, 0x98], // a 4-byte sequence cut short
  ),
);

const bytesArb = fc.array(piece, { maxLength: 12 }).map((parts) => Uint8Array.from(parts.flat()));

describe('firstInvalidUtf8', () => {
  it('is -1 exactly when the WHATWG decoder (fatal) accepts the bytes', () => {
    fc.assert(
      fc.property(bytesArb, (bytes) => {
        assert.equal(firstInvalidUtf8(bytes) === -1, decodes(bytes));
      }),
      { numRuns: 3000 },
    );
  });

  it('points at the first sequence that cannot be decoded: all before it decodes, nothing from it does', () => {
    fc.assert(
      fc.property(bytesArb, (bytes) => {
        const at = firstInvalidUtf8(bytes);
        fc.pre(at >= 0);
        assert.ok(decodes(bytes.subarray(0, at)), `the ${at} bytes before it decode`);
        for (let k = 1; k <= 4 && at + k <= bytes.length; k++) {
          assert.ok(!decodes(bytes.subarray(0, at + k)), `no character of ${k} bytes starts at ${at}`);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('takes 4-byte sequences up to U+10FFFF and refuses what lies past or below them', () => {
    assert.equal(firstInvalidUtf8(Buffer.from('key 🔑 U+1F511, U+10000 𐀀, U+10FFFF \u{10ffff}', 'utf8')), -1);
    assert.equal(firstInvalidUtf8(Uint8Array.from([0x61, 0xf4, 0x90, 0x80, 0x80])), 1, 'U+110000');
    assert.equal(firstInvalidUtf8(Uint8Array.from([0x61, 0x62, 0xf0, 0x8f, 0xbf, 0xbf])), 2, 'overlong');
    assert.equal(firstInvalidUtf8(Uint8Array.from([0xf5, 0x80, 0x80, 0x80])), 0, 'lead byte 0xf5');
    assert.equal(firstInvalidUtf8(Uint8Array.from([0xf0, 0x9f, 0x98])), 0, 'cut short at the end');
    assert.equal(firstInvalidUtf8(Uint8Array.from([0xf0, 0x9f, 0x98, 0x61])), 0, 'cut short by an ASCII byte');
  });
});

describe('configuration files with characters outside the BMP', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'walnut-utf8-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, content: Buffer): string => {
    const file = path.join(dir, name);
    writeFileSync(file, content);
    return file;
  };

  it('a redis_auth and a server name with an emoji are read as written', async () => {
    const text = 'alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n  redis_auth: pass🔑word\n  servers:\n   - 127.0.0.1:6379:1 shard-🌰\n';
    const config = await loadConfig(write('emoji.yml', Buffer.from(text, 'utf8')));
    const pool = config.pools[0]!;
    assert.equal(pool.redisAuth, 'pass🔑word');
    assert.equal(pool.servers[0]!.name, 'shard-🌰');
  });

  it('a 4-byte sequence past U+10FFFF is refused, naming its line, byte and offset', async () => {
    const head = Buffer.from('alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n  redis_auth: x', 'utf8');
    const file = write('past.yml', Buffer.concat([head, Buffer.from([0xf4, 0x90, 0x80, 0x80]), Buffer.from('\n')]));
    await assert.rejects(loadConfig(file), (err) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.line, 4);
      assert.equal(err.twemproxyText, 'conf: failed (err 2) to get the next yaml document');
      assert.ok(err.message.includes(`byte 0xf4 at offset ${head.length} is not valid UTF-8`), err.message);
      return true;
    });
  });
});
