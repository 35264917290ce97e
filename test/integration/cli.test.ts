// The real executable (this build's src/cli.js under the current node): texts, option errors,
// -t, and run mode with its pid file, log, signals, bind failures and -d.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, startMemcached, startRedis, WALNUT_NODE_FLAGS } from '../../scripts/lib/processes.js';
import { DAEMON_START_WAIT_MS } from '../../src/cli/daemon.js';
import { SHUTDOWN_GRACE_MS } from '../../src/cli/run.js';
import { bannerText, describeStatsText, usageText } from '../../src/cli/usage.js';
import { walnutVersion } from '../../src/version.js';
import { withTakenPort } from './support/taken-port.js';

/** The CLI compiled next to this test (<out>/test/integration → <out>/src/cli.js). */
const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

const dir = mkdtempSync(join(tmpdir(), 'walnut-cli-'));
const children = new Set<ChildProcess>();
const daemonPids = new Set<number>();
after(() => {
  for (const c of children) c.kill('SIGKILL');
  for (const pid of daemonPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Starts the CLI; `done` resolves with its exit status and output. */
function start(args: string[], cwd: string = dir): { child: ChildProcess; done: Promise<Result> } {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<Result>((resolve) => {
    child.on('close', (code) => {
      children.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
  return { child, done };
}

function run(args: string[], cwd?: string): Promise<Result> {
  return start(args, cwd).done;
}

let fileNo = 0;
function tempFile(name: string, content?: string): string {
  const path = join(dir, `${fileNo++}-${name}`);
  if (content !== undefined) writeFileSync(path, content);
  return path;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a value other than undefined (fails the test after 20 s). */
async function waitFor<T>(what: string, check: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** The stats document, or undefined while the port does not answer. */
function readStats(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (text += d));
    socket.on('error', () => resolve(undefined));
    socket.on('end', () => resolve(text));
  });
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Waits until the log at `path` contains `line` (as a whole line after the timestamp). */
function waitForLog(path: string, line: string): Promise<true> {
  return waitFor(`log line ${JSON.stringify(line)} in ${path}`, () =>
    readText(path)
      .split('\n')
      .some((l) => l.replace(/^\[[^\]]*\] /, '') === line)
      ? true
      : undefined,
  );
}

function poolYaml(listenPort: number, backendPort: number, name = 'alpha'): string {
  return [`${name}:`, `  listen: 127.0.0.1:${listenPort}`, '  servers:', `    - 127.0.0.1:${backendPort}:1`, ''].join('\n');
}

/** Walnut in front of a backend that accepts and never answers, with a request in flight on it. */
interface InFlight {
  readonly child: ChildProcess;
  readonly done: Promise<Result>;
  readonly listenPort: number;
  readonly statsPort: number;
  readonly logPath: string;
  /** Null when started without -p. */
  readonly pidPath: string | null;
  /** Drops the backend's connections: the request in flight fails, which ends a drain. */
  failRequest(): void;
  /** Closes the client and the backend. */
  close(): Promise<void>;
}

async function startWithRequestInFlight(name: string, withPidFile: boolean): Promise<InFlight> {
  let gotRequest: () => void = () => undefined;
  const requestSeen = new Promise<void>((resolve) => (gotRequest = resolve));
  const backendSockets = new Set<Socket>();
  const backend: Server = createServer((s) => {
    backendSockets.add(s);
    s.on('data', () => gotRequest());
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  const address = backend.address();
  assert.ok(address !== null && typeof address === 'object');
  const [listenPort, statsPort] = [await freePort(), await freePort()];
  const conf = tempFile(`${name}.yml`, poolYaml(listenPort, address.port));
  const logPath = tempFile(`${name}.log`);
  const pidPath = withPidFile ? tempFile(`${name}.pid`) : null;
  const pidArgs = pidPath === null ? [] : ['-p', pidPath];
  const { child, done } = start(['-c', conf, '-s', String(statsPort), '-a', '127.0.0.1', '-o', logPath, ...pidArgs]);
  let client: Socket | null = null;
  const failRequest = (): void => {
    for (const s of backendSockets) s.destroy();
  };
  const close = async (): Promise<void> => {
    client?.destroy();
    failRequest();
    await new Promise<void>((resolve) => backend.close(() => resolve()));
  };
  try {
    await waitFor('stats port', () => readStats(statsPort));
    client = connect(listenPort, '127.0.0.1');
    client.on('error', () => undefined);
    client.write('get somekey\r\n');
    await requestSeen;
  } catch (err) {
    await close();
    throw err;
  }
  return { child, done, listenPort, statsPort, logPath, pidPath, failRequest, close };
}

/** The launcher users run; it loads the dist/ build (npm test builds into dist/). */
const LAUNCHER = fileURLToPath(new URL('../../../bin/walnut.js', import.meta.url));
const LAUNCHER_BUILT = existsSync(fileURLToPath(new URL('../../../dist/src/cli.js', import.meta.url)));

describe('the launcher bin/walnut.js', () => {
  test('its #! line carries the node flags the tests and benchmarks start Walnut with', () => {
    const shebang = readFileSync(LAUNCHER, 'utf8').split('\n', 1)[0];
    assert.equal(shebang, `#!/usr/bin/env -S node ${WALNUT_NODE_FLAGS.join(' ')}`);
  });

  test('runs as an executable, node started with the flags of its #! line, SIGTERM exits 0', { skip: !LAUNCHER_BUILT && 'dist/ not built' }, async () => {
    const [listenPort, statsPort] = [await freePort(), await freePort()];
    const conf = tempFile('launcher.yml', poolYaml(listenPort, 1));
    const child = spawn(LAUNCHER, ['-c', conf, '-s', String(statsPort)], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    await waitFor('stats port', () => readStats(statsPort));
    // `env -S` exec'd node in place: same pid, node's own command line.
    const argv = readFileSync(`/proc/${child.pid!}/cmdline`, 'latin1').split('\0');
    const flags = WALNUT_NODE_FLAGS.length;
    assert.deepEqual(argv.slice(1, 1 + flags), WALNUT_NODE_FLAGS, argv.join(' '));
    assert.equal(argv[1 + flags], LAUNCHER);
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.ok(!stderr.includes('node was started without'), stderr);
  });

  test('run by `node bin/walnut.js`, without the flags, it says so on stderr and runs', { skip: !LAUNCHER_BUILT && 'dist/ not built' }, async () => {
    const [listenPort, statsPort] = [await freePort(), await freePort()];
    const conf = tempFile('launcher-bare.yml', poolYaml(listenPort, 1));
    const child = spawn(process.execPath, [LAUNCHER, '-c', conf, '-s', String(statsPort)], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    await waitFor('stats port', () => readStats(statsPort));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.equal(
      stderr.split('\n', 1)[0],
      `walnut: node was started without ${WALNUT_NODE_FLAGS.join(' ')}: run ./bin/walnut.js itself, whose #! line passes them, or give them to node (README, "Running it in production")`,
    );
  });

  test('`node bin/walnut.js` with an option that only prints says nothing of the flags', { skip: !LAUNCHER_BUILT && 'dist/ not built' }, async () => {
    for (const args of [['-V'], ['-Dh'], ['--help'], ['-t', '-c', join(dir, 'missing.yml')]]) {
      const child = spawn(process.execPath, [LAUNCHER, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      children.add(child);
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      await new Promise((resolve) => child.once('close', resolve));
      assert.ok(stderr.length > 0, args.join(' '));
      assert.ok(!stderr.includes('node was started without'), `${args.join(' ')}: ${stderr}`);
    }
  });
});

describe('texts', { concurrency: true }, () => {
  test('-V prints the banner on stderr and exits 0', async () => {
    const r = await run(['-V']);
    assert.deepEqual(r, { code: 0, stdout: '', stderr: bannerText() });
    assert.ok(r.stderr.startsWith(`This is walnut-${walnutVersion()} (twemproxy 0.5.0 compatible)\n`));
  });

  test('-h prints banner and usage', async () => {
    assert.deepEqual(await run(['-h']), { code: 0, stdout: '', stderr: bannerText() + usageText() });
    assert.deepEqual(await run(['--help']), { code: 0, stdout: '', stderr: bannerText() + usageText() });
  });

  test('-D prints banner and the stats description', async () => {
    assert.deepEqual(await run(['-D']), { code: 0, stdout: '', stderr: bannerText() + describeStatsText() });
  });

  test('-hD prints banner, usage, then the stats description', async () => {
    assert.deepEqual(await run(['-Dh']), {
      code: 0,
      stdout: '',
      stderr: bannerText() + usageText() + describeStatsText(),
    });
  });

  test('-V wins over -t (and no configuration is read)', async () => {
    assert.deepEqual(await run(['-t', '-V', '-c', join(dir, 'missing.yml')]), {
      code: 0,
      stdout: '',
      stderr: bannerText(),
    });
  });

  test('option errors: the message line, the usage block, exit 1', async () => {
    const cases: [string[], string][] = [
      [['-x'], "walnut: invalid option -- 'x'"],
      [['--bogus'], "walnut: invalid option -- '\0'"],
      [['-s', '0'], 'walnut: option -s value 0 is not a valid port'],
      [['-V', '-m', '100'], 'walnut: mbuf chunk size must be between 512 and 16777216 bytes'],
      [['-c'], 'walnut: option -c requires a file name'],
    ];
    const results = await Promise.all(cases.map(([args]) => run(args)));
    cases.forEach(([args, line], k) => {
      assert.deepEqual(results[k], { code: 1, stdout: '', stderr: `${line}\n${usageText()}` }, args.join(' '));
    });
  });
});

describe('-t', { concurrency: true }, () => {
  test('a valid file: "syntax is ok", exit 0', async () => {
    const conf = tempFile('good.yml', poolYaml(22121, 11211));
    assert.deepEqual(await run(['-t', '-c', conf]), {
      code: 0,
      stdout: '',
      stderr: `walnut: configuration file '${conf}' syntax is ok\n`,
    });
  });

  test('an invalid file: one "syntax is invalid" line with the reason, exit 1', async () => {
    const conf = tempFile('bad.yml', 'alpha:\n  listen: 127.0.0.1:22121\n  hash: nosuch\n  servers:\n    - 127.0.0.1:11211:1\n');
    const r = await run(['--test-conf', `--conf-file=${conf}`]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    const prefix = `walnut: configuration file '${conf}' syntax is invalid: `;
    assert.ok(r.stderr.startsWith(prefix), r.stderr);
    assert.equal(r.stderr.indexOf('\n'), r.stderr.length - 1, 'exactly one line');
    assert.match(r.stderr.slice(prefix.length), /hash/);
    assert.match(r.stderr.slice(prefix.length), /nosuch/);
  });

  test('a missing file: one "syntax is invalid" line, exit 1', async () => {
    const conf = join(dir, 'does-not-exist.yml');
    const r = await run(['-t', '-c', conf]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^walnut: configuration file '${conf}' syntax is invalid: [^\\n]+\\n$`));
  });

  test('a file name that is not UTF-8: refused as such, not read as another name', async () => {
    // nutcracker opens "\xff.yml" byte for byte; Node's argv holds "\ufffd.yml", another file.
    writeFileSync(Buffer.concat([Buffer.from(`${dir}/`), Buffer.of(0xff), Buffer.from('.yml')]), poolYaml(22121, 11211));
    // spawn() takes strings only, so a shell makes the byte.
    const child = spawn('sh', ['-c', 'exec "$0" "$1" -t -c "$(printf \'\\377.yml\')"', process.execPath, CLI], {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 1);
    assert.equal(stderr.split('\n')[0], 'walnut: option -c file name is not valid UTF-8, which Walnut cannot open');
  });

  test('default file: conf/walnut.yml, or conf/nutcracker.yml when only that one exists', async () => {
    const cwd = join(dir, `cwd-${fileNo++}`);
    mkdirSync(join(cwd, 'conf'), { recursive: true });
    const none = await run(['-t'], cwd);
    assert.equal(none.code, 1);
    assert.equal(
      none.stderr,
      "walnut: configuration file 'conf/walnut.yml' syntax is invalid: conf/walnut.yml: cannot open: No such file or directory; no -c given: tried conf/walnut.yml, then twemproxy's default conf/nutcracker.yml, and neither exists; expected one of them, or a file named with -c [conf: failed to open configuration 'conf/walnut.yml': No such file or directory]\n",
    );
    writeFileSync(join(cwd, 'conf', 'nutcracker.yml'), poolYaml(22121, 11211));
    assert.deepEqual(await run(['-t'], cwd), {
      code: 0,
      stdout: '',
      stderr: "walnut: configuration file 'conf/nutcracker.yml' syntax is ok\n",
    });
    writeFileSync(join(cwd, 'conf', 'walnut.yml'), 'not: [a valid config\n');
    const r = await run(['-t'], cwd);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.startsWith("walnut: configuration file 'conf/walnut.yml' syntax is invalid: "), r.stderr);
  });
});

describe('run mode', () => {
  test('pid file, start line, stats, SIGTTIN/SIGTTOU, SIGUSR2, SIGHUP reopen, SIGTERM clean exit', async () => {
    const [listenPort, statsPort] = [await freePort(), await freePort()];
    const conf = tempFile('run.yml', poolYaml(listenPort, 1));
    const logPath = tempFile('run.log');
    const pidPath = tempFile('run.pid');
    const { child, done } = start(['-c', conf, '-s', String(statsPort), '-a', '127.0.0.1', '-o', logPath, '-p', pidPath]);
    const statsText = await waitFor('stats port', () => readStats(statsPort));
    const doc = JSON.parse(statsText) as Record<string, unknown>;
    assert.equal(doc['service'], 'nutcracker');
    assert.ok(typeof doc['alpha'] === 'object');
    assert.equal(readText(pidPath), String(child.pid));
    await waitForLog(logPath, `walnut-${walnutVersion()} started on pid ${child.pid}`);

    // The pool listener accepts connections.
    await new Promise<void>((resolve, reject) => {
      const s: Socket = connect(listenPort, '127.0.0.1', () => {
        s.destroy();
        resolve();
      });
      s.on('error', reject);
    });

    child.kill('SIGTTIN');
    await waitForLog(logPath, 'signal 21 (SIGTTIN) received, up logging level');
    await waitForLog(logPath, 'up log level to 6');
    child.kill('SIGTTOU');
    await waitForLog(logPath, 'signal 22 (SIGTTOU) received, down logging level');
    await waitForLog(logPath, 'down log level to 5');
    child.kill('SIGUSR2');
    await waitForLog(logPath, 'signal 12 (SIGUSR2) received');

    // Log rotation: after SIGHUP, lines go to a new file at the same path.
    renameSync(logPath, `${logPath}.1`);
    child.kill('SIGHUP');
    await waitForLog(`${logPath}.1`, 'signal 1 (SIGHUP) received, reopening log file');
    child.kill('SIGUSR1');
    await waitForLog(logPath, 'signal 10 (SIGUSR1) received');

    child.kill('SIGTERM');
    const r = await done;
    assert.equal(r.code, 0);
    assert.equal(existsSync(pidPath), false, 'pid file removed');
    await waitForLog(logPath, 'signal 15 (SIGTERM) received, exiting');
    assert.equal(await readStats(statsPort), undefined, 'stats port closed');
  });

  test('the stats port, read from the moment it listens, never reports a document without the pools', async () => {
    // nutcracker listens on its stats port once its pools exist. Walnut listens first (so a
    // port in use is reported as nutcracker reports it), and its readers used to get a document
    // with no pools at all until the proxy had started: 0.3 s with --workers 2, whose start is
    // the longest. A collector then saw every pool vanish at each restart.
    const [listenPort, statsPort] = [await freePort(), await freePort()];
    const conf = tempFile('early-stats.yml', poolYaml(listenPort, 1));
    const { child, done } = start(['-c', conf, '-s', String(statsPort), '-a', '127.0.0.1', '--workers=2']);
    const first = await waitFor('stats port', () => readStats(statsPort));
    child.kill('SIGTERM');
    assert.equal((await done).code, 0);
    const doc = JSON.parse(first) as Record<string, unknown>;
    assert.equal(typeof doc['alpha'], 'object', first);
  });

  test('SIGTERM with clients connected: new ones refused, the request in flight answered, then exit 0 without waiting for idle clients', async () => {
    const memcached = await startMemcached();
    const [listenPort, statsPort] = [await freePort(), await freePort()];
    const conf = tempFile('drain.yml', poolYaml(listenPort, memcached.port));
    const logPath = tempFile('drain.log');
    const { child, done } = start(['-c', conf, '-s', String(statsPort), '-a', '127.0.0.1', '-o', logPath]);
    const clients: Socket[] = [];
    try {
      await waitFor('stats port', () => readStats(statsPort));
      const open = (): Promise<Socket> =>
        new Promise((resolve, reject) => {
          const s = connect(listenPort, '127.0.0.1', () => resolve(s));
          s.once('error', reject);
          clients.push(s);
        });
      const [busy, idle] = [await open(), await open()];
      let reply = '';
      busy.setEncoding('latin1').on('data', (d: string) => (reply += d));
      const idleClosed = new Promise<void>((resolve) => idle.on('close', () => resolve()));
      idle.on('error', () => undefined);
      busy.on('error', () => undefined);

      await memcached.pause();
      busy.write('get drain:k\r\n');
      await sleep(100);
      const signalledAt = Date.now();
      child.kill('SIGTERM');
      await waitForLog(logPath, 'signal 15 (SIGTERM) received, exiting');
      // The listener closes right after that line is written: a connect in between still lands.
      await waitFor('new clients refused', () =>
        open().then(
          (s) => void s.destroy(),
          (err: NodeJS.ErrnoException) => (err.code === 'ECONNREFUSED' ? true : undefined),
        ),
      );
      assert.equal(reply, '', 'the server is stopped: no reply yet');
      memcached.resume();

      const r = await done;
      const tookMs = Date.now() - signalledAt;
      assert.equal(r.code, 0);
      assert.equal(reply, 'END\r\n', 'the request in flight got its reply before the exit');
      await idleClosed;
      // Exit came with the last reply, not at the end of the grace period (nor never: an idle
      // client used to hold the listener, and with it the exit, open).
      assert.ok(tookMs < SHUTDOWN_GRACE_MS, `exited ${tookMs} ms after SIGTERM`);
    } finally {
      for (const s of clients) s.destroy();
      memcached.resume();
      await memcached.stop();
    }
  });

  test('SIGTERM with memcached noreply sets still queued for a stopped server, their client gone: the server gets every one', async () => {
    const memcached = await startMemcached();
    const [listenPort, statsPort] = [await freePort(), await freePort()];
    const conf = tempFile('drain-noreply.yml', poolYaml(listenPort, memcached.port, 'nr'));
    const logPath = tempFile('drain-noreply.log');
    const { child, done } = start(['-c', conf, '-s', String(statsPort), '-a', '127.0.0.1', '-o', logPath]);
    // More than the kernel's socket buffers take while the server is stopped, so some of it
    // waits in Walnut when the signal comes.
    const count = 12000;
    const value = 'n'.repeat(1024);
    let client: Socket | null = null;
    try {
      await waitFor('stats port', () => readStats(statsPort));
      await memcached.pause();
      const c = await new Promise<Socket>((resolve, reject) => {
        const s = connect(listenPort, '127.0.0.1', () => resolve(s));
        s.once('error', reject);
      });
      client = c;
      c.on('error', () => undefined);
      let sets = '';
      for (let i = 0; i < count; i++) sets += `set nr:${i} 0 0 ${value.length} noreply\r\n${value}\r\n`;
      c.write(sets);
      // Walnut stops reading the client once enough waits for the stopped server: what it
      // read by then (the count stops moving) is what it accepted.
      let accepted = -1;
      let steady = 0;
      await waitFor('Walnut to stop reading the sets', async () => {
        const stats = JSON.parse((await readStats(statsPort)) ?? '{}') as Record<string, Record<string, unknown> | undefined>;
        const server = stats['nr']?.[`127.0.0.1:${memcached.port}`] as { requests?: number } | undefined;
        const requests = server?.requests ?? 0;
        steady = requests === accepted ? steady + 1 : 0;
        accepted = requests;
        await sleep(100);
        return steady >= 3 ? true : undefined;
      });
      assert.ok(accepted > 1000, `${accepted} sets accepted`);
      c.destroy();
      child.kill('SIGTERM');
      await waitForLog(logPath, 'signal 15 (SIGTERM) received, exiting');
      await sleep(300);
      memcached.resume();
      const r = await done;
      assert.equal(r.code, 0);
      const items = await new Promise<string>((resolve, reject) => {
        const s = connect(memcached.port, '127.0.0.1', () => s.write('stats\r\n'));
        let text = '';
        s.setEncoding('latin1').on('data', (d: string) => {
          text += d;
          if (text.endsWith('END\r\n')) {
            s.destroy();
            resolve(/STAT curr_items (\d+)/.exec(text)?.[1] ?? '');
          }
        });
        s.once('error', reject);
      });
      assert.equal(items, String(accepted), 'every set accepted before the signal reached memcached');
    } finally {
      client?.destroy();
      memcached.resume();
      await memcached.stop();
    }
  });

  test('SIGTERM with no client, while a preconnected server has not answered AUTH/SELECT: exit at once', async () => {
    // The connection's setup requests are no client's: shutdown does not wait for them.
    const redis = await startRedis();
    const [listenPort, statsPort] = [await freePort(), await freePort()];
    const yaml = ['db:', `  listen: 127.0.0.1:${listenPort}`, '  redis: true', '  redis_db: 1', '  preconnect: true', '  servers:', `    - 127.0.0.1:${redis.port}:1`, ''];
    const conf = tempFile('drain-setup.yml', yaml.join('\n'));
    const logPath = tempFile('drain-setup.log');
    try {
      await redis.pause();
      const { child, done } = start(['-c', conf, '-s', String(statsPort), '-a', '127.0.0.1', '-o', logPath]);
      await waitFor('stats port', () => readStats(statsPort));
      const signalledAt = Date.now();
      child.kill('SIGTERM');
      const r = await done;
      const tookMs = Date.now() - signalledAt;
      assert.equal(r.code, 0);
      assert.ok(tookMs < SHUTDOWN_GRACE_MS, `exited ${tookMs} ms after SIGTERM`);
    } finally {
      redis.resume();
      await redis.stop();
    }
  });

  test('SIGTERM while a client is slowly reading a large reply: it gets every byte, then Walnut exits 0', async () => {
    const redis = await startRedis();
    const [listenPort, statsPort] = [await freePort(), await freePort()];
    const conf = tempFile('drain-large.yml', ['big:', `  listen: 127.0.0.1:${listenPort}`, '  redis: true', '  servers:', `    - 127.0.0.1:${redis.port}:1`, ''].join('\n'));
    const logPath = tempFile('drain-large.log');
    const { child, done } = start(['-c', conf, '-s', String(statsPort), '-a', '127.0.0.1', '-o', logPath]);
    const value = 'v'.repeat(32 * 1024 * 1024);
    let client: Socket | null = null;
    try {
      await waitFor('stats port', () => readStats(statsPort));
      const c = await new Promise<Socket>((resolve, reject) => {
        const s = connect(listenPort, '127.0.0.1', () => resolve(s));
        s.once('error', reject);
      });
      client = c;
      c.on('error', () => undefined);
      const chunks: Buffer[] = [];
      let received = 0;
      c.on('data', (d: Buffer) => {
        chunks.push(d);
        received += d.length;
      });
      c.write(`*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$${value.length}\r\n${value}\r\n`);
      await waitFor('SET answered', () => (received >= 5 ? true : undefined));
      assert.equal(Buffer.concat(chunks).toString('latin1'), '+OK\r\n');
      chunks.length = 0;
      received = 0;
      // Ask for the value and stop reading: most of it waits in Walnut and the socket buffers.
      c.pause();
      c.write('*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n');
      await sleep(300);
      child.kill('SIGTERM');
      await waitForLog(logPath, 'signal 15 (SIGTERM) received, exiting');
      // Read slowly: a few chunks, then a pause, and so on. Once Walnut has exited, read the
      // rest at full speed: a pause still due from the last tick must not stop the socket again
      // (a paused socket whose buffer is full stops reading, nothing is left to keep the event
      // loop alive, and the test ends with 'Promise resolution is still pending').
      let slowly = true;
      const reading = setInterval(() => {
        c.resume();
        setTimeout(() => slowly && c.pause(), 5);
      }, 50);
      const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
      const r = await done;
      slowly = false;
      clearInterval(reading);
      c.resume();
      await closed;
      assert.equal(r.code, 0);
      const want = `$${value.length}\r\n${value}\r\n`;
      assert.equal(received, want.length, 'the whole reply arrived');
      assert.ok(Buffer.concat(chunks).equals(Buffer.from(want, 'latin1')));
    } finally {
      client?.destroy();
      await redis.stop();
    }
  });

  test('SIGINT with a request in flight, then a second SIGINT: exit 1 at once', async () => {
    const w = await startWithRequestInFlight('inflight', true);
    try {
      w.child.kill('SIGINT');
      await waitForLog(w.logPath, 'signal 2 (SIGINT) received, exiting');
      w.child.kill('SIGINT');
      const r = await w.done;
      assert.equal(r.code, 1);
      assert.equal(existsSync(w.pidPath as string), false, 'pid file removed');
    } finally {
      await w.close();
    }
  });

  test('SIGTERM, then another instance writes the pid file while this one drains: exit 0 leaves the new file alone', async () => {
    // A restart script: `kill $(cat pid)`, then start the new instance, which writes its pid
    // while the old one still serves its requests in flight. The old one must not remove the
    // file on its way out (nutcracker, killed at once by SIGTERM, never removes it).
    const w = await startWithRequestInFlight('handover', true);
    const pidPath = w.pidPath as string;
    try {
      w.child.kill('SIGTERM');
      await waitForLog(w.logPath, 'signal 15 (SIGTERM) received, exiting');
      // The new instance (this test process stands for it) takes the pid file over.
      writeFileSync(pidPath, String(process.pid));
      w.failRequest();
      const r = await w.done;
      assert.equal(r.code, 0);
      assert.equal(readText(pidPath), String(process.pid), 'the other instance keeps its pid file');
    } finally {
      await w.close();
    }
  });

  test('SIGTERM with a request in flight: the stats port is let go at once, as the pool ports are, so that a replacement can start', async () => {
    // `kill $(cat pid); walnut …` with the same configuration: the pool ports were free at once,
    // but the stats port was held for the whole drain (up to 5 s), and the replacement failed
    // on it (nutcracker, killed at once by SIGTERM, holds nothing).
    const w = await startWithRequestInFlight('stats-handover', false);
    const successor: Server = createServer();
    try {
      w.child.kill('SIGTERM');
      await waitForLog(w.logPath, 'signal 15 (SIGTERM) received, exiting');
      // The successor binds both while this one still waits for the request in flight.
      const bind = (server: Server, port: number): Promise<boolean> =>
        new Promise((resolve) => {
          server.once('error', () => resolve(false));
          server.listen(port, '127.0.0.1', () => resolve(true));
        });
      const statsFree = await waitFor('the stats port let go', async () => ((await bind(successor, w.statsPort)) ? true : undefined));
      assert.equal(statsFree, true);
      assert.equal(existsSync(`/proc/${w.child.pid}`), true, 'still draining');
      w.failRequest();
      assert.equal((await w.done).code, 0);
    } finally {
      successor.close();
      await w.close();
    }
  });

  test('invalid configuration: reason logged and on stderr, exit 1, pid file removed', async () => {
    const conf = tempFile('run-bad.yml', 'alpha:\n  listen: 127.0.0.1:1\n  distribution: nosuch\n  servers:\n    - 127.0.0.1:1:1\n');
    const logPath = tempFile('run-bad.log');
    const pidPath = tempFile('run-bad.pid');
    const r = await run(['-c', conf, '-o', logPath, '-p', pidPath, '-s', String(await freePort())]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^walnut: configuration file '${conf}' syntax is invalid: [^\\n]*nosuch[^\\n]*\\n$`));
    assert.equal(existsSync(pidPath), false);
    assert.match(readText(logPath), /nosuch/);
  });

  test('a pool that cannot bind: message naming the pool and address, exit 1, pid file removed', () =>
    withTakenPort(async (port) => {
      const conf = tempFile('busy.yml', poolYaml(port, 1, 'busy_pool'));
      const logPath = tempFile('busy.log');
      const pidPath = tempFile('busy.pid');
      const r = await run(['-c', conf, '-o', logPath, '-p', pidPath, '-a', '127.0.0.1', '-s', String(await freePort())]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /busy_pool/);
      assert.ok(r.stderr.includes(`127.0.0.1:${port}`), r.stderr);
      assert.match(readText(logPath), /busy_pool/);
      assert.equal(existsSync(pidPath), false);
    }));

  test('a stats port that cannot bind: message naming the address, exit 1', () =>
    withTakenPort(async (port) => {
      const conf = tempFile('stats-busy.yml', poolYaml(await freePort(), 1));
      const pidPath = tempFile('stats-busy.pid');
      const r = await run(['-c', conf, '-p', pidPath, '-a', '127.0.0.1', '-s', String(port)]);
      assert.equal(r.code, 1);
      assert.ok(
        r.stderr.includes(`stats server: cannot listen on '127.0.0.1:${port}': Address already in use`),
        r.stderr,
      );
      assert.equal(existsSync(pidPath), false);
    }));

  test('a log file that cannot be opened: stderr message, exit 1', async () => {
    const logPath = join(dir, 'no-such-dir', 'x.log');
    const r = await run(['-c', tempFile('unused.yml', poolYaml(1, 1)), '-o', logPath]);
    assert.deepEqual(r, {
      code: 1,
      stdout: '',
      stderr: `opening log file '${logPath}' failed: No such file or directory\n`,
    });
  });

  test('-d: when the parent exits, the daemon has written its pid file and listens', async () => {
    // nutcracker's daemon writes the pid file and listens about a millisecond after its parent
    // exits, so `nutcracker -d -p x.pid && kill -HUP $(cat x.pid)` works; Walnut's daemon is a
    // new Node process that needed another 150-250 ms, and such a script failed every time.
    const cwd = join(dir, `daemon-${fileNo++}`);
    mkdirSync(cwd);
    const [listenPort, statsPort] = [await freePort(), await freePort()];
    writeFileSync(join(cwd, 'r.yml'), poolYaml(listenPort, 1));
    const pidPath = join(cwd, 'r.pid');
    const started = Date.now();
    const r = await run(['-d', '-c', 'r.yml', '-o', 'r.log', '-p', 'r.pid', '-a', '127.0.0.1', '-s', String(statsPort)], cwd);
    const waited = Date.now() - started;
    const text = readText(pidPath);
    const listens = await new Promise<boolean>((resolve) => {
      const s: Socket = connect(listenPort, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    // Whatever the outcome, the daemon is stopped once the test ends (after() kills these).
    daemonPids.add(await waitFor('daemon pid file', () => (/^\d+$/.test(readText(pidPath)) ? Number(readText(pidPath)) : undefined)));
    assert.deepEqual(r, { code: 0, stdout: '', stderr: '' });
    assert.match(text, /^\d+$/, 'the pid file is there');
    assert.equal(listens, true, 'the pool listens');
    assert.ok(waited < DAEMON_START_WAIT_MS, `told by the daemon, not the bound on the wait (${waited} ms)`);
    const pid = Number(text);
    process.kill(pid, 'SIGTERM');
    await waitFor('daemon exit', () => {
      const stat = readText(`/proc/${pid}/stat`);
      return stat === '' || /^\d+ \(.*\) Z/s.test(stat) ? true : undefined;
    });
    daemonPids.delete(pid);
  });

  test('-d with a configuration the daemon cannot start with: the parent still exits 0, once the daemon has gone', async () => {
    const cwd = join(dir, `daemon-${fileNo++}`);
    mkdirSync(cwd);
    writeFileSync(join(cwd, 'bad.yml'), 'alpha:\n  listen: 127.0.0.1:1\n  distribution: nosuch\n  servers:\n    - 127.0.0.1:1:1\n');
    const started = Date.now();
    const r = await run(['-d', '-c', 'bad.yml', '-o', 'bad.log', '-p', 'bad.pid', '-s', String(await freePort())], cwd);
    assert.deepEqual(r, { code: 0, stdout: '', stderr: '' });
    assert.ok(Date.now() - started < DAEMON_START_WAIT_MS, 'not held up to the bound on the wait');
    assert.match(readText(join(cwd, 'bad.log')), /nosuch[^\n]*\n.*done, rabbit done\n$/s, 'the daemon had already failed');
    assert.equal(existsSync(join(cwd, 'bad.pid')), false);
  });

  test('-d: the parent exits 0; the daemon keeps the working directory and writes the pid file', async () => {
    const cwd = join(dir, `daemon-${fileNo++}`);
    mkdirSync(cwd);
    const [listenPort, statsPort] = [await freePort(), await freePort()];
    writeFileSync(join(cwd, 'd.yml'), poolYaml(listenPort, 1));
    // Relative paths: they only work if the daemon did not chdir.
    const r = await run(['-dv6', '-c', 'd.yml', '-o', 'd.log', '-p', 'd.pid', '-a', '127.0.0.1', '-s', String(statsPort)], cwd);
    assert.deepEqual(r, { code: 0, stdout: '', stderr: '' });
    const pidPath = join(cwd, 'd.pid');
    const pid = await waitFor('daemon pid file', () => {
      const text = readText(pidPath);
      return /^\d+$/.test(text) ? Number(text) : undefined;
    });
    daemonPids.add(pid);
    await waitFor('daemon stats port', () => readStats(statsPort));
    await waitForLog(join(cwd, 'd.log'), `walnut-${walnutVersion()} started on pid ${pid}`);
    process.kill(pid, 'SIGTERM');
    // Gone, or a zombie waiting for whoever adopted it (a container's pid 1 may never reap).
    await waitFor('daemon exit', () => {
      const stat = readText(`/proc/${pid}/stat`);
      return stat === '' || /^\d+ \(.*\) Z/s.test(stat) ? true : undefined;
    });
    daemonPids.delete(pid);
    assert.equal(existsSync(pidPath), false);
  });
});
