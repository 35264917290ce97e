// libmemcached's memccapable -a (ASCII protocol conformance) against memcached itself, C
// twemproxy (nutcracker) and Walnut, each in front of its own fresh memcached: every test
// nutcracker passes must pass on Walnut too, and so must the 23 Walnut passes.
// bench/memccapable.sh prints the full table.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { freePort, startMemcached, startNutcracker, startWalnut, type Running, type RunningProxy } from '../../scripts/lib/processes.js';
import { memcachePoolYaml } from './support/memcache-client.js';
import { parseMemccapableOutput, runMemccapable, type MemccapableRun } from './support/memcache-memccapable.js';

/**
 * The 23 tests Walnut passes (bench/results/memccapable.md): all but the 4 whose commands a
 * proxy does not forward (flush_all, stats, verbosity). Any of them failing is a regression.
 */
const WALNUT_MUST_PASS = [
  'ascii version',
  'ascii quit',
  'ascii set',
  'ascii set noreply',
  'ascii get',
  'ascii gets',
  'ascii mget',
  'ascii add',
  'ascii add noreply',
  'ascii replace',
  'ascii replace noreply',
  'ascii cas',
  'ascii cas noreply',
  'ascii delete',
  'ascii delete noreply',
  'ascii incr',
  'ascii incr noreply',
  'ascii decr',
  'ascii decr noreply',
  'ascii append',
  'ascii append noreply',
  'ascii prepend',
  'ascii prepend noreply',
];

/** The ones Walnut fails, each for the reason given in bench/results/memccapable.md. */
const WALNUT_FAILS = ['ascii verbosity', 'ascii flush', 'ascii flush noreply', 'ascii stat'];

const passed = (run: MemccapableRun): string[] => run.results.filter((r) => r.outcome === 'pass').map((r) => r.name);

describe('memccapable -a: Walnut passes whatever nutcracker passes', () => {
  let backends: Running[] = [];
  let walnut: RunningProxy;
  let nutcracker: RunningProxy;
  let direct: MemccapableRun;
  let viaNutcracker: MemccapableRun;
  let viaWalnut: MemccapableRun;

  before(async () => {
    backends = await Promise.all([startMemcached(), startMemcached(), startMemcached()]);
    const [walnutPort, nutcrackerPort] = await Promise.all([freePort(), freePort()]);
    [walnut, nutcracker] = await Promise.all([
      startWalnut(memcachePoolYaml([{ name: 'mc', port: walnutPort, servers: [backends[1]!.port] }]), { listenPorts: [walnutPort] }),
      startNutcracker(memcachePoolYaml([{ name: 'mc', port: nutcrackerPort, servers: [backends[2]!.port] }]), {
        listenPorts: [nutcrackerPort],
      }),
    ]);
    // Each run takes about a second; a test that waits for a reply fails after -t 1 s, and a
    // run that hangs anyway is killed after 40 s.
    const opts = { protocol: 'ascii', ioTimeoutSec: 1, killAfterMs: 40_000 } as const;
    [direct, viaNutcracker, viaWalnut] = await Promise.all([
      runMemccapable(backends[0]!.port, opts),
      runMemccapable(nutcrackerPort, opts),
      runMemccapable(walnutPort, opts),
    ]);
  });

  after(async () => {
    await Promise.all([walnut.stop(), nutcracker.stop()]);
    await Promise.all(backends.map((b) => b.stop()));
  });

  test('the harness: memcached itself passes every ASCII test', () => {
    assert.equal(direct.killed, false);
    assert.ok(direct.results.length >= 20, `parsed ${direct.results.length} tests:\n${direct.output}`);
    assert.deepEqual(
      direct.results.filter((r) => r.outcome !== 'pass'),
      [],
      direct.output,
    );
    assert.equal(direct.exitCode, 0);
  });

  test('every test ran to completion on both proxies', () => {
    const names = direct.results.map((r) => r.name);
    for (const run of [viaNutcracker, viaWalnut]) {
      assert.equal(run.killed, false, run.output);
      assert.deepEqual(run.results.map((r) => r.name), names, run.output);
    }
  });

  test('every test nutcracker passes also passes on Walnut', () => {
    const onWalnut = new Set(passed(viaWalnut));
    // Not vacuous: nutcracker 0.5.0 passes a handful (quit, mget, incr, decr, append, prepend).
    assert.ok(passed(viaNutcracker).length > 0, viaNutcracker.output);
    const missing = passed(viaNutcracker).filter((name) => !onWalnut.has(name));
    assert.deepEqual(missing, [], `nutcracker passes, Walnut fails:\n${viaWalnut.output}`);
  });

  test('Walnut passes 23 of 27: every test but those of flush_all, stats and verbosity', () => {
    const onWalnut = new Set(passed(viaWalnut));
    assert.equal(WALNUT_MUST_PASS.length, 23);
    assert.deepEqual(WALNUT_MUST_PASS.filter((name) => !onWalnut.has(name)), [], viaWalnut.output);
    assert.ok(onWalnut.size >= WALNUT_MUST_PASS.length, viaWalnut.output);
    // The list and the known failures together are every test memccapable runs.
    assert.deepEqual([...WALNUT_MUST_PASS, ...WALNUT_FAILS].sort(), direct.results.map((r) => r.name).sort());
  });

  test('the output parser: padded names, statuses on either stream, details, a missing status', () => {
    const pad = (name: string): string => name.padEnd(40, ' ');
    const output =
      `${pad('ascii version')}\n[FAIL]\n\n./src/bin/memcapable.cc:1117: check == 0` +
      `${pad('ascii quit')}[pass]\n` +
      `${pad('ascii flush')}[SERVER_ERROR no\r\n]\n[FAIL]\n` +
      `${pad('ascii flush noreply')}[pass]\n` +
      `${pad('ascii stat')}`;
    assert.deepEqual(parseMemccapableOutput(output), [
      { name: 'ascii version', outcome: 'fail', detail: './src/bin/memcapable.cc:1117: check == 0' },
      { name: 'ascii quit', outcome: 'pass', detail: '' },
      { name: 'ascii flush', outcome: 'fail', detail: '[SERVER_ERROR no\\r' },
      { name: 'ascii flush noreply', outcome: 'pass', detail: '' },
      { name: 'ascii stat', outcome: 'fail', detail: '' },
    ]);
  });
});
