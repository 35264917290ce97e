// Signals held while run mode loads: kept from their default action (death, or a stop) and
// delivered once run mode's handlers exist. Each case runs in a child process, since the
// default action would take the test runner with it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';

const MODULE = new URL('../../../src/cli/startup-signals.js', import.meta.url).href;
const RUN_MODULE = new URL('../../../src/cli/run.js', import.meta.url).href;
const ARGS_MODULE = new URL('../../../src/cli/args.js', import.meta.url).href;

/**
 * A child body: hold, take a SIGTERM while "loading", then run runProxy with `args`, which
 * returns before installing any handler. (-e has no script, so a -d parent cannot start a
 * daemon here even if it tried: spawnDaemon fails.)
 */
function earlyReturnBody(args: string[]): string {
  return `
    const { runProxy } = await import(${JSON.stringify(RUN_MODULE)});
    const { parseArgs } = await import(${JSON.stringify(ARGS_MODULE)});
    const held = holdStartupSignals();
    process.kill(process.pid, 'SIGTERM');
    await settle();
    const args = ${JSON.stringify(args)};
    const parsed = parseArgs(args);
    const code = await runProxy(parsed.options, '/nonexistent/walnut.yml', args, null, held);
    console.log('returned ' + code);
  `;
}

/** Runs `body` as an ES module in a fresh node with holdStartupSignals imported. */
function runChild(body: string): { stdout: string; status: number | null; signal: NodeJS.Signals | null } {
  const script = `import { holdStartupSignals } from ${JSON.stringify(MODULE)};\n` +
    'const settle = () => new Promise((resolve) => setTimeout(resolve, 100));\n' +
    body;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000 });
  return { stdout: r.stdout, status: r.status, signal: r.signal };
}

describe('signals during startup', () => {
  test('without holding, SIGHUP kills the process (what the hold is for)', () => {
    const r = runChild(`process.kill(process.pid, 'SIGHUP'); await settle(); console.log('survived');`);
    assert.equal(r.signal, 'SIGHUP');
    assert.equal(r.stdout, '');
  });

  test('held signals survive, and reach the handlers installed before release, in order', () => {
    const r = runChild(`
      const held = holdStartupSignals();
      for (const name of ['SIGHUP', 'SIGTTIN', 'SIGUSR1', 'SIGTERM']) {
        process.kill(process.pid, name);
        await settle();
      }
      console.log('loaded');
      const seen = [];
      for (const name of ['SIGHUP', 'SIGTTIN', 'SIGUSR1', 'SIGTERM']) process.on(name, (s) => seen.push(s));
      held.release();
      held.release();
      console.log(seen.join(' '));
      process.kill(process.pid, 'SIGHUP');
      await settle();
      console.log(seen.join(' '));
    `);
    assert.equal(r.signal, null);
    assert.equal(r.status, 0);
    assert.equal(r.stdout, 'loaded\nSIGHUP SIGTTIN SIGUSR1 SIGTERM\nSIGHUP SIGTTIN SIGUSR1 SIGTERM SIGHUP\n');
  });

  test('the parent of -d gives a held SIGTERM its default action before it starts the daemon', () => {
    // Held to the end, the SIGTERM was dropped: the daemon started and the parent exited 0.
    const r = runChild(earlyReturnBody(['-d', '-c', '/nonexistent/walnut.yml']));
    assert.equal(r.signal, 'SIGTERM');
    assert.equal(r.stdout, '');
  });

  test('a log file that cannot be opened: a held SIGTERM still gets its default action', () => {
    const r = runChild(earlyReturnBody(['-o', '/nonexistent/dir/walnut.log', '-c', '/nonexistent/walnut.yml']));
    assert.equal(r.signal, 'SIGTERM');
    assert.equal(r.stdout, '');
  });

  test('a signal not yet handed to JS at release still gets its default action', () => {
    // A signal raised in synchronous code (here, as one arriving while run mode's modules
    // evaluate) reaches JS only on the next turn of the event loop, after release: it was lost
    // when release removed the last listener.
    const r = runChild(`
      const held = holdStartupSignals();
      process.kill(process.pid, 'SIGTERM');
      held.release();
      await settle();
      console.log('survived');
    `);
    assert.equal(r.signal, 'SIGTERM');
    assert.equal(r.stdout, '');
  });

  test('one not yet handed to JS at release reaches a handler installed meanwhile, once', () => {
    const r = runChild(`
      const held = holdStartupSignals();
      process.kill(process.pid, 'SIGHUP');
      process.on('SIGHUP', (s) => console.log(s));
      held.release();
      await settle();
      console.log('survived');
    `);
    assert.equal(r.signal, null);
    assert.equal(r.stdout, 'SIGHUP\nsurvived\n');
  });

  test('a held signal nobody handles after release gets its default action then', () => {
    const r = runChild(`
      const held = holdStartupSignals();
      process.kill(process.pid, 'SIGUSR2');
      await settle();
      console.log('held');
      held.release();
      await settle();
      console.log('survived');
    `);
    assert.equal(r.signal, 'SIGUSR2');
    assert.equal(r.stdout, 'held\n');
  });
});
