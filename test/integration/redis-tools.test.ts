// Real Redis tools through Walnut: redis-cli for interactive-style use, redis-benchmark for
// pipelined load (figures go in the notes; here only correctness: no errors).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { freePort, startRedis, startWalnut, type Running, type RunningProxy } from '../../scripts/lib/processes.js';

const run = promisify(execFile);

describe('redis-cli and redis-benchmark through walnut', () => {
  let shards: Running[] = [];
  let walnut: RunningProxy;
  let port: number;

  before(async () => {
    shards = await Promise.all([startRedis(), startRedis(), startRedis()]);
    port = await freePort();
    const yaml = [
      'tools:',
      `  listen: 127.0.0.1:${port}`,
      '  redis: true',
      '  servers:',
      ...shards.map((s) => `    - 127.0.0.1:${s.port}:1`),
      '',
    ].join('\n');
    walnut = await startWalnut(yaml, { listenPorts: [port] });
  });

  after(async () => {
    await walnut.stop();
    await Promise.all(shards.map((s) => s.stop()));
  });

  const cli = async (...args: string[]): Promise<string> =>
    (await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args])).stdout;

  test('redis-cli commands', async () => {
    assert.equal(await cli('PING'), 'PONG\n');
    assert.equal(await cli('SET', 'cli:a', 'hello world'), 'OK\n');
    assert.equal(await cli('GET', 'cli:a'), 'hello world\n');
    assert.equal(await cli('MSET', 'cli:b', '2', 'cli:c', '3'), 'OK\n');
    assert.equal(await cli('MGET', 'cli:a', 'cli:b', 'cli:c', 'cli:none'), 'hello world\n2\n3\n\n');
    assert.equal(await cli('DEL', 'cli:a', 'cli:b', 'cli:none'), '2\n');
    assert.match(await cli('KEYS', '*'), /ERR .*KEYS/);
  });

  test('redis-cli reading commands from stdin (pipe mode)', async () => {
    const child = execFile('redis-cli', ['-h', '127.0.0.1', '-p', String(port)]);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stdin?.end('SET pipe:k v1\nINCR pipe:n\nINCR pipe:n\nGET pipe:k\n');
    await new Promise((resolve) => child.on('close', resolve));
    assert.equal(out, 'OK\n1\n2\nv1\n');
  });

  for (const depth of ['1', '16']) {
    test(`redis-benchmark -t get,set,mset -P ${depth} runs without errors`, async () => {
      const { stdout, stderr } = await run(
        'redis-benchmark',
        ['-h', '127.0.0.1', '-p', String(port), '-t', 'get,set,mset', '-P', depth, '-n', '20000', '-c', '20', '-r', '1000', '-q'],
        { timeout: 120000 },
      );
      const lines = stdout.split(/\r|\n/).filter((l) => l.includes('requests per second'));
      assert.equal(lines.length, 3, `3 tests reported: ${stdout}`);
      assert.doesNotMatch(stdout + stderr, /error/i);
      const stats = (await walnut.stats()) as Record<string, Record<string, unknown>>;
      assert.equal(stats['tools']?.['forward_error'], 0);
    });

    test(`redis-benchmark MGET of 10 random keys -P ${depth} runs without errors`, async () => {
      const keys = Array.from({ length: 10 }, () => 'key:__rand_int__');
      const { stdout, stderr } = await run(
        'redis-benchmark',
        ['-h', '127.0.0.1', '-p', String(port), '-P', depth, '-n', '20000', '-c', '20', '-r', '1000', '-q', 'MGET', ...keys],
        { timeout: 120000 },
      );
      assert.match(stdout, /MGET.*requests per second/);
      assert.doesNotMatch(stdout + stderr, /error/i);
    });
  }
});
