// loadConfig / parseConfig: file and encoding handling, twemproxy's order between name resolution
// and other errors, YAML edge cases libyaml and the yaml package disagree on, and a property test.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { ConfigError } from '../../../src/config/config-error.js';
import { loadConfig, loadConfigWith, parseConfig, type ListenResolver } from '../../../src/config/load.js';

const FILE = 'conf/test.yml';
const POOL = 'alpha:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:6379:1\n';

function pool(name: string, listen: string, body = ''): string {
  return `${name}:\n  listen: ${listen}\n${body}  servers:\n   - 127.0.0.1:6379:1\n`;
}

/** Resolves from a table and records every host asked for. */
function tableResolver(table: Record<string, string>): { resolve: ListenResolver; asked: string[] } {
  const asked: string[] = [];
  const resolve: ListenResolver = async (host) => {
    asked.push(host);
    const address = table[host];
    if (address === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return address;
  };
  return { resolve, asked };
}

function configError(err: unknown): ConfigError {
  assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
  return err;
}

function parseError(text: string): ConfigError {
  try {
    parseConfig(text, FILE);
  } catch (err) {
    return configError(err);
  }
  assert.fail(`expected ${JSON.stringify(text)} to be rejected`);
}

let dir = '';
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'walnut-config-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function write(name: string, content: string | Buffer): string {
  const file = path.join(dir, name);
  writeFileSync(file, content);
  return file;
}

describe('loadConfig: files', () => {
  it('reports a missing file with strerror, as conf_open does', async () => {
    const file = path.join(dir, 'missing.yml');
    await assert.rejects(loadConfig(file), (err) => {
      const e = configError(err);
      assert.equal(e.message, `${file}: cannot open: No such file or directory [conf: failed to open configuration '${file}': No such file or directory]`);
      assert.equal(e.line, null);
      assert.equal(e.pool, null);
      return true;
    });
  });

  it('ends the message with how a default path was chosen', async () => {
    const file = path.join(dir, 'walnut.yml');
    await assert.rejects(loadConfig(file, 'no -c given: tried a, then b'), (err) => {
      const e = configError(err);
      assert.equal(e.detail, 'cannot open: No such file or directory; no -c given: tried a, then b');
      assert.equal(e.twemproxyText, `conf: failed to open configuration '${file}': No such file or directory`);
      return true;
    });
  });

  it('reports a directory as unreadable (fopen succeeds, the read fails)', async () => {
    const sub = path.join(dir, 'a-directory');
    mkdirSync(sub);
    await assert.rejects(loadConfig(sub), (err) => {
      const e = configError(err);
      assert.equal(e.twemproxyText, 'conf: failed (err 2) to get the next yaml document');
      assert.ok(e.message.startsWith(`${sub}: cannot read: Is a directory`), e.message);
      return true;
    });
  });

  it('reads UTF-8 with or without a BOM, and UTF-16 with a BOM', async () => {
    const utf8 = await loadConfig(write('utf8.yml', POOL));
    const bom = await loadConfig(write('bom.yml', `\ufeff${POOL}`));
    const le = await loadConfig(write('le.yml', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(POOL, 'utf16le')])));
    const be = await loadConfig(write('be.yml', Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(POOL, 'utf16le').swap16()])));
    for (const config of [utf8, bom, le, be]) {
      assert.deepEqual(config.pools.map((p) => [p.name, p.listen.raw, p.servers[0]?.name]), [['alpha', '127.0.0.1:22121', '127.0.0.1:6379']]);
    }
  });

  it('refuses bytes that are not UTF-8, naming the line (libyaml reader error)', async () => {
    const file = write('latin1.yml', Buffer.concat([Buffer.from('alpha:\n  listen: 127.0.0.1:22121\n  redis_auth: caf'), Buffer.from([0xe9]), Buffer.from('\n')]));
    await assert.rejects(loadConfig(file), (err) => {
      const e = configError(err);
      assert.equal(e.twemproxyText, 'conf: failed (err 2) to get the next yaml document');
      assert.equal(e.line, 3);
      assert.ok(e.message.includes('0xe9'), e.message);
      return true;
    });
  });

  it('resolves listen host names (also what -t does), keeping the host as written', async () => {
    const text = pool('alpha', 'localhost:22121');
    assert.equal(parseConfig(text, FILE).pools[0]?.listen.address, 'localhost');
    const config = await loadConfig(write('localhost.yml', text));
    const listen = config.pools[0]?.listen;
    assert.equal(listen?.host, 'localhost');
    assert.ok(listen?.address === '127.0.0.1' || listen?.address === '::1', listen?.address);
    assert.ok(Object.isFrozen(config.pools[0]) && Object.isFrozen(listen));
  });
});

describe('loadConfig: listen hosts go to getaddrinfo as written', () => {
  // Node's dns.lookup would resolve each of these to 127.0.0.1 (it converts names to IDNA
  // first); twemproxy's getaddrinfo gets the UTF-8 bytes and finds nothing.
  for (const host of ['\uff11\uff12\uff17.\uff10.\uff10.\uff11', 'local\u00adhost', 'localhost\u200b', '127.0\ufeff.0.1', '\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54']) {
    it(`refuses ${JSON.stringify(host)}, which is not ASCII`, async () => {
      const file = write('idna.yml', pool('alpha', JSON.stringify(`${host}:22121`)));
      await assert.rejects(loadConfig(file), (err) => {
        const e = configError(err);
        assert.equal(e.twemproxyText, 'conf: directive "listen" has an invalid value');
        assert.deepEqual([e.line, e.pool, e.key], [2, 'alpha', 'listen']);
        return true;
      });
    });
  }
});

describe('loadConfig: name resolution happens while reading, as in twemproxy', () => {
  const resolver = (): ReturnType<typeof tableResolver> => tableResolver({ '127.0.0.1': '127.0.0.1', 'db.local': '10.1.2.3' });

  it('fills in the resolved address', async () => {
    const { resolve, asked } = resolver();
    const config = await loadConfigWith(write('dns-ok.yml', pool('alpha', 'db.local:22121') + pool('beta', '127.0.0.1:22122')), resolve);
    assert.deepEqual(asked, ['db.local', '127.0.0.1']);
    assert.deepEqual(config.pools.map((p) => [p.name, p.listen.host, p.listen.address]), [
      ['beta', '127.0.0.1', '127.0.0.1'],
      ['alpha', 'db.local', '10.1.2.3'],
    ]);
  });

  it('a resolution failure before a bad value wins', async () => {
    const { resolve } = resolver();
    const file = write('dns-first.yml', pool('beta', 'nosuch.invalid:1') + pool('alpha', '127.0.0.1:2', '  hash: fnv\n'));
    await assert.rejects(loadConfigWith(file, resolve), (err) => {
      const e = configError(err);
      assert.equal(e.twemproxyText, 'conf: directive "listen" has an invalid value');
      assert.deepEqual([e.line, e.pool, e.key], [2, 'beta', 'listen']);
      assert.ok(e.message.includes('cannot resolve host "nosuch.invalid"') && e.message.includes('Name or service not known'), e.message);
      return true;
    });
  });

  it('a bad value before the listen is reported and the later host is never looked up', async () => {
    const { resolve, asked } = resolver();
    const file = write('value-first.yml', pool('beta', '127.0.0.1:1', '  hash: fnv\n') + pool('alpha', 'nosuch.invalid:2'));
    await assert.rejects(loadConfigWith(file, resolve), (err) => configError(err).twemproxyText === 'conf: directive "hash" is not a valid hash');
    assert.deepEqual(asked, ['127.0.0.1']);
  });

  it('a resolution failure wins over post-validation errors anywhere', async () => {
    const { resolve } = resolver();
    const file = write('dns-before-post.yml', pool('beta', '127.0.0.1:1', '  server_connections: 0\n') + pool('alpha', 'nosuch.invalid:2'));
    await assert.rejects(loadConfigWith(file, resolve), (err) => {
      const e = configError(err);
      return e.twemproxyText === 'conf: directive "listen" has an invalid value' && e.pool === 'alpha';
    });
    // parseConfig does not resolve, so it reports the post-validation error.
    assert.equal(parseError(pool('beta', '127.0.0.1:1', '  server_connections: 0\n') + pool('alpha', 'nosuch.invalid:2')).twemproxyText, 'conf: directive "server_connections:" cannot be 0');
  });

  it('explains that IPv6 listen addresses take no brackets', async () => {
    const { resolve } = resolver();
    await assert.rejects(loadConfigWith(write('brackets.yml', pool('alpha', '"[::1]:22121"')), resolve), (err) => {
      const e = configError(err);
      return e.twemproxyText === 'conf: directive "listen" has an invalid value' && e.message.includes('without brackets');
    });
  });
});

describe('parseConfig: YAML that libyaml reads differently from YAML 1.2', () => {
  it('treats a lone CR and NEL as line breaks', () => {
    assert.equal(parseConfig(POOL.replaceAll('\n', '\r'), FILE).pools[0]?.servers[0]?.name, '127.0.0.1:6379');
    assert.equal(parseConfig(POOL.replaceAll('\n', '\r\n'), FILE).pools[0]?.listen.port, 22121);
    assert.equal(parseConfig(POOL.replaceAll('\n', '\u0085'), FILE).pools[0]?.listen.port, 22121);
    // "a<NEL>b" is two lines for libyaml, so "b" is a stray line inside the pool.
    const e = parseError(POOL.replace('  servers:', '  redis_auth: a\u0085b\n  servers:'));
    assert.match(e.twemproxyText ?? '', /^conf: failed \(err \d\) to get the next yaml document$/);
  });

  it('a key without the space after its ":" is pointed out', () => {
    const e = parseError(POOL.replace('listen: ', 'listen:'));
    assert.equal(e.line, 2);
    assert.match(e.message, /a missing space after it \("key: value"\)/);
  });

  it('a pool written twice is called that, not a pool sharing its own listen address', () => {
    const e = parseError(POOL + POOL);
    assert.equal(e.twemproxyText, "conf: pools 'alpha' and 'alpha' have the same listen address '127.0.0.1:22121'");
    assert.equal(e.line, 6);
    assert.match(e.detail, /^pool name is used twice \(first on line 1\), both times listening on "127\.0\.0\.1:22121"/);
  });

  it('refuses \\u escapes of surrogate halves and past U+10FFFF, as libyaml does', () => {
    for (const escape of ['\\ud800', '\\uDFFF', '\\uD800\\uDC00', '\\U00110000']) {
      const e = parseError(POOL.replace('  servers:', `  redis: true\n  redis_auth: "a${escape}b"\n  servers:`));
      assert.equal(e.line, 4, escape);
      assert.match(e.twemproxyText ?? '', /^conf: failed \(err 3\) to get the next yaml document$/, escape);
    }
    const ok = POOL.replace('  servers:', '  redis: true\n  redis_auth: "a\\U0010FFFF\\\\ud800"\n  servers:');
    assert.equal(parseConfig(ok, FILE).pools[0]?.redisAuth, 'a\u{10ffff}\\ud800');
  });

  it('refuses LS and PS, which libyaml reads as line breaks but keeps inside values', () => {
    // nutcracker reads this password as "p<LS>w"; folded as a line break it would be "p w".
    for (const [c, name] of [['\u2028', 'line separator U+2028'], ['\u2029', 'paragraph separator U+2029']] as const) {
      const e = parseError(POOL.replace('  servers:', `  redis_auth: "p${c}w"\n  servers:`));
      assert.equal(e.line, 3);
      assert.equal(e.twemproxyText, null, 'twemproxy accepts the file');
      assert.ok(e.message.startsWith(`${FILE}:3: a ${name} is not allowed: `), e.message);
      assert.ok(e.message.endsWith(`write it as "\\u${c.charCodeAt(0).toString(16)}" inside double quotes`), e.message);
    }
    // The escape reads as the character, as in libyaml.
    const escaped = POOL.replace('  servers:', '  redis: true\n  redis_auth: "p\\u2028w"\n  servers:');
    assert.equal(parseConfig(escaped, FILE).pools[0]?.redisAuth, 'p\u2028w');
  });

  it('refuses tabs where libyaml wants spaces, but not after "key:"', () => {
    assert.equal(parseConfig(POOL.replace('listen: ', 'listen:\t'), FILE).pools[0]?.listen.port, 22121);
    assert.equal(parseConfig(POOL.replace('6379:1\n', '6379:1\t# comment\n'), FILE).pools[0]?.servers.length, 1);
    const cases = [
      POOL.replace('  listen', '\tlisten'),
      POOL.replace('   - ', '   -\t'),
      POOL.replace('  servers', '\t# comment\n  servers'),
      POOL.replace('  servers', '  \t\n  servers'),
      `${POOL}\t`,
      POOL.replace('  servers', '  redis_auth: |\n   \tx\n  servers'),
    ];
    for (const text of cases) {
      const e = parseError(text);
      assert.equal(e.twemproxyText, 'conf: failed (err 3) to get the next yaml document', JSON.stringify(text));
      assert.ok(e.detail.includes('tab'), e.detail);
    }
  });

  it('refuses control characters (libyaml reader) and NUL escapes (twemproxy copies with strndup)', () => {
    const raw = parseError(POOL.replace('  servers', '  redis_auth: a\u0007b\n  servers'));
    assert.equal(raw.twemproxyText, 'conf: failed (err 2) to get the next yaml document');
    assert.equal(raw.line, 3);
    const nul = parseError(POOL.replace('  servers', '  redis: true\n  redis_auth: "a\\0b"\n  servers'));
    assert.deepEqual([nul.line, nul.pool, nul.key], [4, 'alpha', 'redis_auth']);
    assert.ok(nul.detail.includes('NUL'));
    // twemproxy accepts the file (and reads past the value): no twemproxy text to quote.
    assert.equal(nul.twemproxyText, null);
    assert.ok(!nul.message.includes('['), nul.message);
  });

  it('refuses directives that are unknown or not followed by "---"', () => {
    assert.equal(parseError(`%FOO bar\n---\n${POOL}`).twemproxyText, 'conf: failed (err 3) to get the next yaml document');
    assert.equal(parseError(`%YAML 1.1\n${POOL}`).twemproxyText, 'conf: failed (err 4) to get the next yaml document');
    assert.equal(parseError(`${POOL}%YAML 1.1\n`).twemproxyText, 'conf: failed (err 4) to get the next yaml document');
  });

  it('reads very deep nesting (which libyaml parses) down to the structure check', () => {
    assert.equal(parseError(`${'- '.repeat(20000)}x\n`).twemproxyText, `conf: '${FILE}' has sequence at depth 0 instead of 2`);
    assert.equal(
      parseError(`alpha:\n  listen: 127.0.0.1:1\n  servers:\n   ${'- '.repeat(20000)}x\n`).twemproxyText,
      `conf: '${FILE}' has more than one sequence directive`,
    );
  });

  it('counts documents as libyaml does', () => {
    assert.equal(parseError(`${POOL}...\n...\n`).twemproxyText, 'conf: document end token (6) is disallowed');
    assert.equal(parseError(`${POOL}---\n`).twemproxyText, `conf: '${FILE}' must contain only 1 document; found 2 documents`);
    assert.equal(parseError('---\n').twemproxyText, 'conf: document start token (5) is disallowed');
    assert.equal(parseError('# only a comment\n').twemproxyText, `conf: '${FILE}' must contain only 1 document; found 0 documents`);
  });
});

describe('parseConfig: YAML syntax errors say which pool and key', () => {
  const where = (text: string): [number | null, string | null, string | null] => {
    const e = parseError(text);
    assert.match(e.twemproxyText ?? '', /^conf: failed \(err \d\) to get the next yaml document$/, e.message);
    return [e.line, e.pool, e.key];
  };

  it('names the pool and the key of the line', () => {
    const e = parseError(POOL.replace('  servers:', '  hash: "md5"x\n  servers:'));
    assert.equal(
      e.message,
      `${FILE}:3: pool "alpha": key "hash": YAML syntax error: Unexpected scalar at node end [conf: failed (err 4) to get the next yaml document]`,
    );
    assert.deepEqual(where(`${POOL}beta:\n  listen: 127.0.0.1:22122\n  timeout: "1"0\n  servers:\n   - 127.0.0.1:6379:1\n`), [7, 'beta', 'timeout']);
  });

  it('a list item belongs to its key, a continuation line to the value it continues', () => {
    assert.deepEqual(where(POOL.replace('   - 127.0.0.1:6379:1', '   - "127.0.0.1:6379:1" x')), [4, 'alpha', 'servers']);
    assert.deepEqual(where(POOL.replace('  servers:', '  redis_auth: "a\n   b"c\n  servers:')), [4, 'alpha', 'redis_auth']);
  });

  it('skips comments and blank lines, and reads quoted pool names', () => {
    assert.deepEqual(where(POOL.replace('  servers:', '  hash: md5\n  # a comment\n\n  timeout: "1"0\n  servers:')), [6, 'alpha', 'timeout']);
    assert.deepEqual(where(POOL.replace('alpha:', '"my\\tpool":').replace('  servers:', '  hash: "md5"x\n  servers:')), [3, 'my\tpool', 'hash']);
  });

  it('names the pool alone on a line that is no "key:", and nothing outside the pools', () => {
    assert.deepEqual(where(POOL.replace('  servers:', '  just words\n  servers:')), [3, 'alpha', null]);
    assert.deepEqual(where(POOL.replace('listen: ', 'listen:')), [2, 'alpha', null]);
    assert.deepEqual(where(`garbage "x" y\n${POOL}`), [1, null, null]);
  });

  it('says to quote a value that starts with "[" (YAML reads a list, then trips over the rest)', () => {
    const e = parseError(POOL.replace('127.0.0.1:22121', '[::1]:22121'));
    assert.equal(
      e.message,
      `${FILE}:2: pool "alpha": key "listen": YAML syntax error: Unexpected scalar at node end; a value that starts with "[" is read as a YAML list: quote it, e.g. listen: "[::1]:22121" (for an IPv6 address, twemproxy wants it without brackets: listen: ::1:22121) [conf: failed (err 4) to get the next yaml document]`,
    );
    const server = parseError(POOL.replace('- 127.0.0.1:6379:1', '- [::1]:6379:1 # v6'));
    assert.deepEqual([server.line, server.key], [4, 'servers']);
    assert.ok(server.detail.endsWith('quote it, e.g. - "[::1]:6379:1" (for an IPv6 address, twemproxy wants it without brackets: - ::1:6379:1)'), server.detail);
    // Not an address: only the quoting.
    const auth = parseError(POOL.replace('  servers:', '  redis_auth: [x]y\n  servers:'));
    assert.ok(auth.detail.endsWith('quote it, e.g. redis_auth: "[x]y"'), auth.detail);
  });

  it('names them for refused tokens too', () => {
    const e = parseError(POOL.replace('  servers:', '  hash: &h md5\n  servers:'));
    assert.deepEqual([e.line, e.pool, e.key, e.twemproxyText], [3, 'alpha', 'hash', 'conf: anchor token (19) is disallowed']);
  });
});

describe('parseConfig: a quote that is not closed', () => {
  const unclosed = 'alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n  redis_auth: "abc\n  servers:\n   - 127.0.0.1:6379:1\n';

  it('is reported where it opened, not at the end of the file', () => {
    assert.equal(
      parseError(unclosed).message,
      `${FILE}:4: pool "alpha": key "redis_auth": YAML syntax error: quoted value opened at line 4 column 15 is never closed; expected a closing " at the end of the value (a " inside double quotes is written \\") [conf: failed (err 3) to get the next yaml document]`,
    );
    const single = parseError(unclosed.replace('"abc', "'abc"));
    assert.equal(single.line, 4);
    assert.ok(single.detail.startsWith("YAML syntax error: quoted value opened at line 4 column 15 is never closed; expected a closing ' "), single.detail);
  });

  it('also in a list item, a key, and with an escaped last quote', () => {
    const item = parseError(POOL.replace('- 127.0.0.1:6379:1', '- "127.0.0.1:6379:1'));
    assert.deepEqual([item.line, item.key], [4, 'servers']);
    assert.match(item.detail, /^YAML syntax error: quoted value opened at line 4 column 6 is never closed/);
    assert.match(parseError(POOL.replace('  listen:', '  "listen:')).detail, /^YAML syntax error: quoted value opened at line 2 column 3 is never closed/);
    assert.match(parseError(unclosed.replace('"abc', '"abc\\"')).detail, /^YAML syntax error: quoted value opened at line 4 column 15 is never closed/);
  });

  it('points to where it opened when a later quote closes it', () => {
    const e = parseError(unclosed.replace('- 127.0.0.1:6379:1', '- "127.0.0.1:6379:1"'));
    assert.equal(e.line, 6);
    assert.ok(e.detail.endsWith('; this line is inside the quoted value opened at line 4 column 15: is its closing quote missing?'), e.detail);
  });
});

describe('parseConfig: a byte-order mark past the start of the file', () => {
  it('is reported where it is, instead of what it breaks', () => {
    // Before: the pool was said to have no "servers:" list.
    const e = parseError(POOL.replace('  servers:', '\ufeff  servers:'));
    assert.equal(
      e.message,
      `${FILE}:3: pool "alpha": key "servers": byte-order mark (U+FEFF, invisible in most editors) at line 3 column 1; expected one only at the very start of the file: remove this one (joining files, or some editors, leave one behind) [conf: failed (err 4) to get the next yaml document]`,
    );
  });

  it('inside a value: the column, and twemproxy\'s text for the value', () => {
    const e = parseError(POOL.replace('  servers:', '  hash: \ufeffmd5\n  servers:'));
    assert.deepEqual([e.line, e.pool, e.key, e.twemproxyText], [3, 'alpha', 'hash', 'conf: directive "hash" is not a valid hash']);
    assert.ok(e.detail.startsWith('byte-order mark (U+FEFF, invisible in most editors) at line 3 column 9; '), e.detail);
  });

  it('says so when only Walnut refuses the file (libyaml skips one that starts a line)', () => {
    const e = parseError(POOL.replace('   - ', '\ufeff   - '));
    assert.deepEqual([e.line, e.pool, e.key, e.twemproxyText], [4, 'alpha', 'servers', null]);
    assert.ok(e.detail.endsWith("(twemproxy's YAML reader skips one that starts a line; Walnut does not read such files)"), e.detail);
  });

  it('is not blamed for a failure it has no part in, and is fine at the start', () => {
    const e = parseError(POOL.replace('  servers:', '  redis: true\n  redis_auth: "a\ufeffb"\n  hash: nosuch\n  servers:'));
    assert.deepEqual([e.line, e.key, e.twemproxyText], [5, 'hash', 'conf: directive "hash" is not a valid hash']);
    assert.equal(parseConfig(`\ufeff${POOL}`, FILE).pools[0]?.name, 'alpha');
  });

  it('refuses a file the yaml package reads but libyaml does not (two files joined)', () => {
    // Before: accepted, with a pool named "\ufeffbeta"; nutcracker fails on the indentation.
    const e = parseError(`${POOL}\ufeff${POOL.replace('alpha', 'beta').replace('22121', '22122')}`);
    assert.deepEqual([e.line, e.pool, e.twemproxyText], [5, 'beta', 'conf: failed (err 4) to get the next yaml document']);
    assert.ok(e.detail.startsWith('byte-order mark (U+FEFF, invisible in most editors) at line 5 column 1; '), e.detail);
  });

  it('reads a file both read, e.g. one pool after a comment line', () => {
    assert.deepEqual(parseConfig(`# joined\n\ufeff${POOL}`, FILE).pools.map((p) => p.name), ['alpha']);
  });

  it('shows in quoted values when the value is wrong anyway', () => {
    const e = parseError(POOL.replace('  servers:', '  hash: md\ufeffx\n  servers:'));
    assert.ok(e.detail.startsWith('"md\\ufeffx" is not a valid hash'), e.detail);
  });
});

describe('parseConfig: messages', () => {
  it('formats file, line, pool, key, value, expectation and twemproxy text on one line', () => {
    const e = parseError(pool('alpha', '127.0.0.1:22121', '  timeout: 400\n  hash: fnv\n'));
    assert.equal(
      e.message,
      `${FILE}:4: pool "alpha": key "hash": "fnv" is not a valid hash; expected one of one_at_a_time, md5, crc16, crc32, crc32a, fnv1_64, fnv1a_64, fnv1_32, fnv1a_32, hsieh, murmur, jenkins [conf: directive "hash" is not a valid hash]`,
    );
  });

  it('suggests the key that was probably meant', () => {
    assert.ok(parseError(pool('alpha', '127.0.0.1:1', '  server_conections: 2\n')).message.includes('did you mean "server_connections"?'));
    assert.ok(parseError(pool('alpha', '127.0.0.1:1', '  distribution: Ketama\n')).message.includes('did you mean "ketama"?'));
  });

  it('keeps messages on one line whatever the names contain', () => {
    const e = parseError(`"a\\nb":\n  listen: 127.0.0.1:1\n  hash: x\n  servers:\n   - 127.0.0.1:6379:1\n`);
    assert.equal(e.pool, 'a\nb');
    assert.ok(!e.message.includes('\n') && e.message.includes('pool "a\\nb"'), e.message);
  });

  it('says which value is empty where twemproxy says nothing', () => {
    const e = parseError(pool('alpha', '127.0.0.1:1', '  distribution:\n'));
    assert.deepEqual([e.line, e.pool, e.key], [3, 'alpha', 'distribution']);
    assert.equal(e.twemproxyText, `configuration file '${FILE}' syntax is invalid`);
    assert.ok(e.detail.includes('empty') && e.detail.includes('ketama, modula, random'), e.detail);
  });
});

/**
 * Any code points, lone surrogates included, mostly ASCII (fast-check's "binary" string unit does
 * the same but is far slower to run).
 */
function anyText(maxLength: number): fc.Arbitrary<string> {
  const codePoint = fc.oneof(fc.integer({ min: 0, max: 0x7f }), fc.integer({ min: 0, max: 0x10ffff }));
  return fc.array(codePoint, { maxLength }).map((cps) => String.fromCodePoint(...cps));
}

describe('parseConfig: never throws anything but ConfigError', () => {
  const check = (text: string): void => {
    try {
      const config = parseConfig(text, FILE);
      assert.ok(config.pools.length > 0);
    } catch (err) {
      const e = configError(err);
      assert.ok(e.message.startsWith(`${FILE}`) && !e.message.includes('\n'), e.message);
      // twemproxy's text closes the message, unless only Walnut refuses the file.
      assert.ok(e.twemproxyText === null || e.message.endsWith(']'), e.message);
    }
  };
  const tokens = fc.constantFrom(
    'alpha', 'listen', 'servers', 'hash', 'redis', 'true', '127.0.0.1', '6379', '22121', '/tmp/s',
    ':', ': ', ' ', '  ', '\t', '\n', '\r', '\r\n', '- ', '-', '?', '#', '"', "'", '\\', '[', ']', '{', '}',
    ',', '&a', '*a', '!!str', '|', '>', '%YAML 1.1', '---', '...', '~', '0', '\u0000', '\u0085', 'é', '\ufeff',
  );

  it('on random text', () => {
    fc.assert(fc.property(anyText(120), check), { numRuns: 500 });
  });

  it('on YAML-ish token soup', () => {
    fc.assert(fc.property(fc.array(tokens, { maxLength: 60 }).map((t) => t.join('')), check), { numRuns: 1500 });
  });

  it('on garbled versions of a valid file', () => {
    const valid = `${pool('alpha', '127.0.0.1:22121', '  hash: md5\n  redis: true\n')}${pool('beta', '/tmp/b.sock 0600', '  timeout: 400\n')}`;
    const edit = fc.tuple(fc.nat(), fc.nat(3), fc.oneof(tokens, anyText(3)));
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
        let text = valid;
        for (const [at, drop, insert] of edits) {
          const i = at % (text.length + 1);
          text = text.slice(0, i) + insert + text.slice(i + drop);
        }
        check(text);
      }),
      { numRuns: 1500 },
    );
  });
});
