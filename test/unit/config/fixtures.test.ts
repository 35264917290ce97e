// Config fixtures (test/fixtures/conf) and the shipped samples (conf/*.yml): every bad file fails
// with twemproxy's text, file, line, pool and key; every good file gives the expected Config.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../../src/config/config-error.js';
import type { Config, PoolConfig } from '../../../src/config/config.js';
import { loadConfig, loadConfigWith, parseConfig } from '../../../src/config/load.js';

/** The checkout root: the first parent that has test/fixtures/conf (tests run from a build dir). */
function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'test', 'fixtures', 'conf'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find test/fixtures/conf above the test file');
    dir = up;
  }
  return dir;
}

const ROOT = repoRoot();
const BAD = path.join(ROOT, 'test', 'fixtures', 'conf', 'bad');
const GOOD = path.join(ROOT, 'test', 'fixtures', 'conf', 'good');

/** No network in tests: IP literals and localhost resolve, anything else does not. */
async function offlineResolver(host: string): Promise<string> {
  if (/^[0-9.]+$/.test(host) || host.includes(':')) return host;
  if (host === 'localhost') return '127.0.0.1';
  throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
}

interface Expectation {
  readonly twemproxyText: string;
  readonly line: number | null;
  readonly pool: string | null;
  readonly key: string | null;
}

/**
 * Reads a bad fixture's expectation: `# expect: <twemproxy text>`, `# at: [pool=..] [key=..]` (or
 * `-`), and the offending line marked with a trailing `# <-` (none when no line applies).
 */
function expectationOf(file: string, text: string): Expectation {
  const expect = /^# expect: (.*)$/m.exec(text)?.[1];
  const at = /^# at: (.*)$/m.exec(text)?.[1];
  assert.ok(expect !== undefined && at !== undefined, `${file} lacks its "# expect:" / "# at:" header`);
  const fields = at.split(' ');
  const field = (name: string): string | null =>
    fields.find((f) => f.startsWith(`${name}=`))?.slice(name.length + 1) ?? null;
  const marked = text.split(/\r\n|\r|\n/).findIndex((l) => l.endsWith(' # <-'));
  return {
    twemproxyText: expect.replaceAll('<file>', file),
    line: marked < 0 ? null : marked + 1,
    pool: field('pool'),
    key: field('key'),
  };
}

function checkError(err: unknown, file: string, want: Expectation): true {
  assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
  assert.equal(err.twemproxyText, want.twemproxyText);
  assert.equal(err.file, file);
  assert.equal(err.line, want.line, `line of: ${err.message}`);
  assert.equal(err.pool, want.pool, `pool of: ${err.message}`);
  assert.equal(err.key, want.key, `key of: ${err.message}`);
  const prefix = want.line === null ? `${file}: ` : `${file}:${want.line}: `;
  assert.ok(err.message.startsWith(prefix), err.message);
  if (want.pool !== null) assert.ok(err.message.includes(`pool ${JSON.stringify(want.pool)}: `), err.message);
  if (want.key !== null) assert.ok(err.message.includes(`key ${JSON.stringify(want.key)}: `), err.message);
  assert.ok(err.message.endsWith(` [${want.twemproxyText}]`), err.message);
  assert.ok(!err.message.includes('\n'), 'message is one line');
  assert.ok(err.detail.length > 20, `a real explanation: ${err.detail}`);
  return true;
}

describe('bad fixtures', () => {
  const files = readdirSync(BAD).filter((f) => f.endsWith('.yml')).sort();
  it('exist', () => assert.ok(files.length > 100));
  for (const name of files) {
    const file = path.join(BAD, name);
    const text = readFileSync(file, 'utf8');
    const want = expectationOf(file, text);
    it(`${name}: ${want.twemproxyText.replace(file, '<file>')}`, async () => {
      await assert.rejects(loadConfigWith(file, offlineResolver), (err) => checkError(err, file, want));
      assert.throws(() => parseConfig(text, file), (err) => checkError(err, file, want));
    });
  }
});

function pool(config: Config, name: string): PoolConfig {
  const found = config.pools.find((p) => p.name === name);
  assert.ok(found, `pool ${name} exists`);
  return found;
}

function good(name: string): Promise<Config> {
  return loadConfigWith(path.join(GOOD, name), offlineResolver);
}

describe('good fixtures', () => {
  it('minimal.yml: every unset key takes twemproxy default', async () => {
    const config = await good('minimal.yml');
    assert.equal(config.file, path.join(GOOD, 'minimal.yml'));
    assert.equal(config.pools.length, 1);
    assert.deepEqual(
      { ...pool(config, 'alpha'), listen: { ...pool(config, 'alpha').listen }, servers: pool(config, 'alpha').servers.map((s) => ({ ...s })) },
      {
        name: 'alpha',
        listen: { raw: '127.0.0.1:22121', host: '127.0.0.1', address: '127.0.0.1', port: 22121, path: null, mode: 0 },
        hash: 'fnv1a_64',
        hashTag: null,
        distribution: 'ketama',
        timeout: 0,
        backlog: 512,
        clientConnections: 0,
        redis: false,
        redisAuth: null,
        redisDb: 0,
        preconnect: false,
        autoEjectHosts: false,
        serverConnections: 1,
        serverRetryTimeout: 30000,
        serverFailureLimit: 2,
        tcpkeepalive: false,
        reuseport: false,
        servers: [{ pname: '127.0.0.1:6379:1', name: '127.0.0.1:6379', host: '127.0.0.1', port: 6379, path: null, weight: 1 }],
      },
    );
  });

  it('all-keys.yml: every key is read (client_connections kept, reuseport accepted)', async () => {
    const p = pool(await good('all-keys.yml'), 'alpha');
    assert.equal(p.listen.host, '0.0.0.0');
    assert.equal(p.hash, 'murmur');
    assert.deepEqual(p.hashTag, Buffer.from('$$'));
    assert.equal(p.distribution, 'modula');
    assert.equal(p.timeout, 250);
    assert.equal(p.backlog, 64);
    assert.equal(p.clientConnections, 100);
    assert.equal(p.redis, true);
    assert.equal(p.redisAuth, 's3cret');
    assert.equal(p.redisDb, 3);
    assert.equal(p.preconnect, true);
    assert.equal(p.autoEjectHosts, true);
    assert.equal(p.serverConnections, 4);
    assert.equal(p.serverRetryTimeout, 1500);
    assert.equal(p.serverFailureLimit, 5);
    assert.equal(p.tcpkeepalive, true);
    assert.equal(p.reuseport, true);
    assert.deepEqual(p.servers.map((s) => [s.pname, s.name, s.weight]), [['127.0.0.1:6379:10', 'primary', 10]]);
  });

  it('numbers.yml: quoted digits, leading zeros, and 32-bit wrap-around as in nc_atoi', async () => {
    const p = pool(await good('numbers.yml'), 'alpha');
    assert.equal(p.timeout, 400);
    assert.equal(p.backlog, 400);
    assert.equal(p.redisDb, 0);
    assert.equal(p.serverRetryTimeout, 400);
    assert.equal(p.serverFailureLimit, 0);
  });

  it('listen-forms.yml: host:port, bare IPv6, unix paths with and without a mode', async () => {
    const config = await good('listen-forms.yml');
    const l = (name: string) => ({ ...pool(config, name).listen });
    assert.deepEqual(l('tcp'), { raw: '127.0.0.1:22121', host: '127.0.0.1', address: '127.0.0.1', port: 22121, path: null, mode: 0 });
    assert.deepEqual(l('ipv6'), { raw: '::1:22122', host: '::1', address: '::1', port: 22122, path: null, mode: 0 });
    assert.deepEqual(l('unix'), { raw: '/tmp/walnut-test-a.sock', host: '', address: '', port: 0, path: '/tmp/walnut-test-a.sock', mode: 0 });
    assert.deepEqual(l('unixmode'), { raw: '/tmp/walnut-test-b.sock 0660', host: '', address: '', port: 0, path: '/tmp/walnut-test-b.sock', mode: 0o660 });
    assert.equal(l('unixjunk').mode, 0);
    assert.equal(l('unixjunk').path, '/tmp/walnut-test-c.sock');
    // Everything after the last space is the permission, even "test.sock" (strtol gives 0).
    assert.deepEqual([l('unixspace').path, l('unixspace').mode], ['/tmp/walnut', 0]);
  });

  it('server-names.yml: names, pnames, weights, sorted length-first', async () => {
    const p = pool(await good('server-names.yml'), 'alpha');
    assert.deepEqual(
      p.servers.map((s) => [s.name, s.pname, s.host, s.port, s.path, s.weight]),
      [
        ['', '127.0.0.1:6384:1 ', '127.0.0.1', 6384, null, 1],
        ['b', '127.0.0.1:6382:1', '127.0.0.1', 6382, null, 1],
        ['zz', '127.0.0.1:6381:7', '127.0.0.1', 6381, null, 7],
        ['aaa', '127.0.0.1:6383:1', '127.0.0.1', 6383, null, 1],
        ['sock', '/run/y.sock:4', '', 0, '/run/y.sock', 4],
        ['::1:6380', '::1:6380:3', '::1', 6380, null, 3],
        ['127.0.0.1', '127.0.0.1:11211:1', '127.0.0.1', 11211, null, 1],
        ['/run/x.sock:', '/run/x.sock:1', '', 0, '/run/x.sock', 1],
        ['10.0.0.1:33093', '10.0.0.1:33093:1', '10.0.0.1', 33093, null, 1],
        ['10.0.0.2:06379', '10.0.0.2:06379:2', '10.0.0.2', 6379, null, 2],
      ],
    );
  });

  it('pool-order.yml: pools sorted by name, shorter first (zeta before alpha, mpool before rpool)', async () => {
    const config = await good('pool-order.yml');
    assert.deepEqual(config.pools.map((p) => p.name), ['zeta', 'alpha', 'mpool', 'rpool']);
  });

  it('yaml-variants.yml: unusual YAML twemproxy accepts reads the same way', async () => {
    const config = await good('yaml-variants.yml');
    const alpha = pool(config, 'alpha');
    assert.equal(alpha.listen.raw, '127.0.0.1:22121');
    assert.equal(alpha.hash, 'md5');
    assert.equal(alpha.distribution, 'ketama');
    assert.equal(alpha.redisAuth, 'multi\nline');
    assert.deepEqual(alpha.servers.map((s) => s.name), ['127.0.0.1:6379', '127.0.0.1:6380']);
    const beta = pool(config, 'beta');
    assert.equal(beta.redisAuth, 'folded words');
    assert.equal(beta.hash, 'crc32a');
    assert.deepEqual(beta.servers.map((s) => s.pname), ['127.0.0.1:6381:1']);
    assert.equal(pool(config, 'gamma').redisAuth, 'two words');
  });

  it('same-address-two-spellings.yml: listen strings are compared as written', async () => {
    const config = await good('same-address-two-spellings.yml');
    assert.deepEqual(config.pools.map((p) => p.listen.raw).sort(), ['127.0.0.1:22121', '127.000.000.001:22121']);
  });

  it('hash-tag-bytes.yml: a hash tag is two bytes', async () => {
    const p = pool(await good('hash-tag-bytes.yml'), 'alpha');
    assert.deepEqual(p.hashTag, Buffer.from([0xc3, 0xa9]));
  });

  it('comment-after-quote.yml: a "#" right after a closing quote or block header is a comment', async () => {
    const p = pool(await good('comment-after-quote.yml'), 'alpha');
    assert.equal(p.listen.raw, '127.0.0.1:22121');
    assert.deepEqual(p.hashTag, Buffer.from('{}'));
    assert.equal(p.redisAuth, 's3cret');
    assert.deepEqual(p.servers.map((s) => [s.name, s.pname]), [['one', '127.0.0.1:6379:1'], ['127.0.0.1:6380', '127.0.0.1:6380:1']]);
  });

  it('closing-quote-alone.yml: a quoted value closing on a line of its own, at column 0', async () => {
    const p = pool(await good('closing-quote-alone.yml'), 'alpha');
    assert.equal(p.redisAuth, 's3cret ');
    assert.deepEqual(p.servers.map((s) => [s.name, s.pname]), [['', '127.0.0.1:6380:1 '], ['one', '127.0.0.1:6379:1']]);
  });

  it('block-value-at-eof.yml: a block value ending the file without a line break has none', async () => {
    assert.equal(pool(await good('block-value-at-eof.yml'), 'alpha').timeout, 400);
    // Not only numbers: a password read with a line break would fail AUTH at run time.
    const text = 'alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n  servers:\n   - 127.0.0.1:6379:1\n  redis_auth: |\n    s3cret';
    assert.equal(parseConfig(text, 'x.yml').pools[0]?.redisAuth, 's3cret');
    assert.equal(parseConfig(`${text}\n`, 'x.yml').pools[0]?.redisAuth, 's3cret\n');
  });

  it('every good fixture loads, with frozen output', async () => {
    for (const name of readdirSync(GOOD).filter((f) => f.endsWith('.yml'))) {
      const config = await good(name);
      assert.ok(Object.isFrozen(config) && Object.isFrozen(config.pools), name);
      for (const p of config.pools) {
        assert.ok(Object.isFrozen(p) && Object.isFrozen(p.listen) && Object.isFrozen(p.servers), `${name} ${p.name}`);
        for (const s of p.servers) assert.ok(Object.isFrozen(s));
      }
    }
  });
});

describe('shipped samples', () => {
  it('conf/nutcracker.yml loads with the settings of twemproxy sample', async () => {
    const config = await loadConfig(path.join(ROOT, 'conf', 'nutcracker.yml'));
    assert.deepEqual(config.pools.map((p) => p.name), ['beta', 'alpha', 'delta', 'gamma', 'omega']);
    const alpha = pool(config, 'alpha');
    assert.deepEqual(
      [alpha.listen.raw, alpha.redis, alpha.autoEjectHosts, alpha.serverRetryTimeout, alpha.serverFailureLimit, alpha.servers.length],
      ['127.0.0.1:22121', true, true, 2000, 1, 1],
    );
    const beta = pool(config, 'beta');
    assert.deepEqual(beta.hashTag, Buffer.from('{}'));
    assert.deepEqual([beta.redis, beta.timeout, beta.autoEjectHosts], [true, 400, false]);
    assert.deepEqual(beta.servers.map((s) => s.name), ['server1', 'server2', 'server3', 'server4']);
    const gamma = pool(config, 'gamma');
    assert.deepEqual(
      [gamma.redis, gamma.timeout, gamma.backlog, gamma.preconnect, gamma.autoEjectHosts, gamma.serverFailureLimit, gamma.servers.length],
      [false, 400, 1024, true, true, 3, 2],
    );
    const delta = pool(config, 'delta');
    assert.deepEqual([delta.timeout, delta.servers.length, delta.serverFailureLimit], [100, 10, 1]);
    const omega = pool(config, 'omega');
    assert.deepEqual([omega.listen.path, omega.hash], ['/tmp/gamma', 'hsieh']);
    assert.deepEqual(omega.servers.map((s) => s.weight), [100000, 1]);
  });

  it('conf/walnut.yml loads: a redis pool and a memcache pool', async () => {
    const config = await loadConfig(path.join(ROOT, 'conf', 'walnut.yml'));
    assert.equal(config.pools.length, 2);
    const [redis, memcache] = [...config.pools].sort((a, b) => a.listen.port - b.listen.port);
    assert.ok(redis && memcache);
    assert.deepEqual([redis.listen.raw, redis.redis], ['127.0.0.1:22121', true]);
    assert.deepEqual(redis.servers.map((s) => [s.host, s.port]), [['127.0.0.1', 6379]]);
    assert.deepEqual([memcache.listen.raw, memcache.redis], ['127.0.0.1:22122', false]);
    assert.deepEqual(memcache.servers.map((s) => [s.host, s.port, s.name]), [['127.0.0.1', 11211, '127.0.0.1']]);
  });
});
