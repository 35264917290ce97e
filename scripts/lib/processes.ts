// Starts and stops real servers for integration tests, benchmarks and the demo: redis-server,
// memcached, Walnut and C twemproxy (nutcracker) on loopback ports (cf. twemproxy's
// tests/lib/server_modules.py). Every process started here is SIGKILLed when this process exits.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** How often readiness probes are retried, and how long a server gets to become ready. */
const POLL_MS = 20;
const READY_TIMEOUT_MS = 10_000;
/** stop(): time between SIGTERM and SIGKILL. */
const STOP_GRACE_MS = 3_000;
/** Auto-chosen ports can be taken by someone else between freePort() and bind: retry a few. */
const PORT_ATTEMPTS = 3;

/** A server process started by this module. */
export interface Running {
  /** The TCP port it serves on (127.0.0.1). */
  readonly port: number;
  readonly pid: number;
  /** SIGTERM, wait for exit (SIGKILL after 3 s), remove its temporary directory. Idempotent. */
  stop(): Promise<void>;
  /**
   * SIGSTOP: the process keeps its sockets open but stops answering (a hung server). Resolves
   * once every thread is stopped: kill(2) returns before a busy thread has taken the signal, and
   * a request sent in that moment would still be answered.
   */
  pause(): Promise<void>;
  /** SIGCONT after pause(). */
  resume(): void;
  /** Send a signal (default SIGTERM) without waiting; see `exited`. */
  kill(signal?: NodeJS.Signals): void;
  /** Resolves with the exit code, or null when a signal ended the process. */
  readonly exited: Promise<number | null>;
}

/** A proxy process (Walnut or nutcracker) with its stats port, config file and log file. */
export interface RunningProxy extends Running {
  readonly statsPort: number;
  readonly configPath: string;
  readonly logPath: string;
  /** Connects to the stats port and returns the JSON document it sends, parsed. */
  stats(): Promise<unknown>;
}

/** Options for startWalnut / startNutcracker. */
export interface ProxyOptions {
  /** Every `listen:` TCP port in the YAML; the proxy is ready when all accept connections. */
  listenPorts: number[];
  /** Stats port (-s); a free one when omitted. */
  statsPort?: number;
  /** Extra command-line arguments. */
  args?: string[];
  /** Unix socket `listen:` paths; the proxy is ready only when these accept connections too. */
  listenPaths?: string[];
  /**
   * Raise the open-file limit (soft and hard) of the proxy to this: it is started through
   * `bash -c 'ulimit -n N; exec ...'`, for tests that open thousands of connections.
   */
  fdLimit?: number;
}

// ---------------------------------------------------------------------------------------------
// Locations

/** Walks up from `start` to the nearest directory holding a package.json. */
function findPackageRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${start}`);
    dir = parent;
  }
}

/** The repository root (the folder with package.json above this module, compiled or not). */
export const repoRoot: string = findPackageRoot(dirname(fileURLToPath(import.meta.url)));

/**
 * Walnut's compiled CLI from the same build as this module: this file compiles to
 * <out>/scripts/lib/processes.js, the CLI to <out>/src/cli.js, so dist/ and .build/<x>/ each
 * test their own build.
 */
export const walnutCli: string = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

/** The C twemproxy binary (Debian installs it in /usr/sbin, often not on PATH). */
export const nutcrackerBin: string = existsSync('/usr/sbin/nutcracker') ? '/usr/sbin/nutcracker' : 'nutcracker';

// ---------------------------------------------------------------------------------------------
// Cleanup on exit

interface Tracked {
  child: ChildProcess;
  tempDir: string;
}

/**
 * Every process started and not yet stopped, with its temp dir. A process that exits by itself
 * (a test's SIGKILL) stays here until stop() or the exit hook, which remove its temp dir.
 */
const live = new Set<Tracked>();
let exitHookInstalled = false;

function killAllNow(): void {
  for (const t of live) {
    try {
      t.child.kill('SIGKILL');
    } catch {
      // already gone
    }
    rmSync(t.tempDir, { recursive: true, force: true });
  }
  live.clear();
}

/**
 * One 'exit' handler kills whatever is still running, so a failing or aborted test never leaves
 * servers behind. 'exit' does not fire when a signal kills us, so for SIGINT/SIGTERM/SIGHUP we
 * do the same and re-raise, but only when nobody else handles that signal (the demo does its
 * own orderly shutdown, and a listener here must not change its behaviour).
 */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', killAllNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      if (process.listenerCount(sig) > 1) return;
      killAllNow();
      process.removeListener(sig, onSignal);
      process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

// ---------------------------------------------------------------------------------------------
// Small utilities

/**
 * Ports come from a block below Linux's ephemeral range (32768 and up) that this process has
 * claimed for itself. Port 0's answer came from the ephemeral range, where the kernel also picks
 * the local end of every outgoing connection and another test file running alongside picks its
 * ports too: a server told to listen there found it taken now and then ("Address already in
 * use"). A block is claimed with a file created exclusively under the temporary directory,
 * taken over when the process named in it is gone.
 */
const PORT_BLOCK_BASE = 20_000;
const PORT_BLOCK_SIZE = 250;
const PORT_BLOCKS = 48;
let portBlock: { next: number; end: number } | null = null;

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Claim files to remove at exit: one 'exit' listener for all of them (a test that takes many blocks hit Node's 10-listener warning). */
const claimsHeld = new Map<string, string>();

function releaseAtExit(claim: string, me: string): void {
  if (claimsHeld.size === 0) {
    process.once('exit', () => {
      for (const [path, owner] of claimsHeld) {
        try {
          if (readFileSync(path, 'latin1') === owner) rmSync(path);
        } catch {
          // already gone
        }
      }
    });
  }
  claimsHeld.set(claim, me);
}

async function claimPortBlock(): Promise<{ next: number; end: number } | null> {
  const dir = join(tmpdir(), 'walnut-test-ports');
  mkdirSync(dir, { recursive: true });
  const me = String(process.pid);
  for (let i = 0; i < PORT_BLOCKS; i++) {
    const k = (process.pid + i) % PORT_BLOCKS;
    const claim = join(dir, `block-${k}`);
    let mine = false;
    try {
      writeFileSync(claim, me, { flag: 'wx' });
      mine = true;
    } catch {
      let owner = NaN;
      try {
        owner = Number(readFileSync(claim, 'latin1'));
      } catch {
        // released meanwhile: try the next block rather than race for this one
      }
      if (Number.isNaN(owner) || pidAlive(owner)) continue;
      // The owner is gone: take over by rename (atomic), then make sure no other process
      // taking it over at the same moment renamed after us.
      const mineTmp = `${claim}.${me}`;
      writeFileSync(mineTmp, me);
      renameSync(mineTmp, claim);
      await new Promise((r) => setTimeout(r, 20));
      mine = readFileSync(claim, 'latin1') === me;
    }
    if (!mine) continue;
    releaseAtExit(claim, me);
    const start = PORT_BLOCK_BASE + k * PORT_BLOCK_SIZE;
    return { next: start, end: start + PORT_BLOCK_SIZE };
  }
  return null;
}

/** Whether a server can listen on 127.0.0.1:port right now. */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A TCP port on 127.0.0.1 that is free and that no other caller of freePort, in this process
 * or another, is handed while this process runs (see PORT_BLOCK_BASE).
 */
export async function freePort(): Promise<number> {
  portBlock ??= await claimPortBlock();
  const block = portBlock;
  if (block !== null) {
    while (block.next < block.end) {
      const port = block.next++;
      if (await canListen(port)) return port;
    }
  }
  // Every block taken, or this one used up: fall back to a port the kernel says is free.
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('freePort: no TCP address');
  return address.port;
}

/**
 * A port on 127.0.0.1 that refuses connections and will go on refusing them: a "server that
 * is down". One from freePort() will not do: a test running alongside can start listening on
 * it, or the kernel can hand it out as the local end of an outgoing connection, which then
 * connects to itself. Ports below 1024 are neither picked by freePort() (the kernel's
 * ephemeral range) nor used by any server the tests start; the first that refuses is taken.
 */
export async function refusingPort(): Promise<number> {
  for (let port = 1; port < 1024; port++) {
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
    });
    if (refused) return port;
  }
  throw new Error('refusingPort: every port below 1024 accepts connections');
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Opens a connection (a 127.0.0.1 port, or a unix socket path), sends `request` (if any) and
 * resolves true once the received text satisfies `done`; false on any error, close or after
 * timeoutMs. Never rejects.
 */
function probe(
  target: number | string,
  request: string | null,
  done: (received: string) => boolean,
  timeoutMs = 1_000,
  host = '127.0.0.1',
): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = typeof target === 'number' ? connect(target, host) : connect(target);
    let received = '';
    let settled = false;
    const finish = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('error', () => finish(false));
    socket.on('close', () => finish(false));
    socket.on('connect', () => {
      if (request === null) finish(true);
      else socket.write(request);
    });
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (done(received)) finish(true);
    });
  });
}

function readLog(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '(no log file)';
  }
}

/** Thrown when a process exits before it became ready (so callers can retry another port). */
class EarlyExitError extends Error {}

// ---------------------------------------------------------------------------------------------
// The managed process

class ManagedProcess implements Running {
  readonly port: number;
  readonly pid: number;
  private readonly exitPromise: Promise<number | null>;
  private readonly child: ChildProcess;
  private readonly tracked: Tracked;
  private stopping: Promise<void> | null = null;
  private hasExited = false;

  /** Takes ownership of `child` and of `tempDir` (removed by stop() and at exit). */
  constructor(child: ChildProcess, pid: number, port: number, tempDir: string) {
    this.child = child;
    this.port = port;
    this.pid = pid;
    this.tracked = { child, tempDir };
    live.add(this.tracked);
    this.exitPromise = new Promise((resolve) => {
      child.once('exit', (code) => {
        this.hasExited = true;
        resolve(code);
      });
    });
  }

  /**
   * The child is unref'd (a forgotten server must not keep the test process alive), so whoever
   * waits for its exit re-refs it: otherwise the event loop could empty first and the wait
   * would never end.
   */
  get exited(): Promise<number | null> {
    this.child.ref();
    return this.exitPromise;
  }

  /** Whether the process has exited, for launch(); unlike `exited` it leaves the child unref'd. */
  get exitedYet(): boolean {
    return this.hasExited;
  }

  async pause(): Promise<void> {
    this.kill('SIGSTOP');
    for (let i = 0; i < 200 && !this.hasExited && !allThreadsStopped(this.pid); i++) await sleep(5);
  }

  resume(): void {
    this.kill('SIGCONT');
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (!this.hasExited) this.child.kill(signal);
  }

  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    if (!this.hasExited) {
      this.child.kill('SIGTERM');
      // A paused process only acts on SIGTERM once it runs again.
      this.child.kill('SIGCONT');
      const timer = setTimeout(() => this.kill('SIGKILL'), STOP_GRACE_MS);
      await this.exited;
      clearTimeout(timer);
    }
    live.delete(this.tracked);
    await rm(this.tracked.tempDir, { recursive: true, force: true });
  }
}

interface SpawnSpec {
  /** For messages: "redis-server", "walnut", ... */
  what: string;
  command: string;
  args: string[];
  /** Owned by the process from now on. */
  tempDir: string;
  logPath: string;
  port: number;
  /** Resolves true once the process serves requests. */
  ready: () => Promise<boolean>;
}

/**
 * Spawns the process with stdout/stderr appended to spec.logPath, wraps it with `make` and
 * waits until spec.ready() says yes. On failure (spawn error, early exit, timeout) the process
 * is stopped, its temporary directory removed, and the error carries the log.
 */
async function launch<T extends ManagedProcess>(
  spec: SpawnSpec,
  make: (child: ChildProcess, pid: number) => T,
): Promise<T> {
  installExitHook();
  const fd = openSync(spec.logPath, 'a');
  let child: ChildProcess;
  try {
    // detached: own process group, so a terminal's Ctrl-C reaches only us and we stop the
    // servers in order (the demo), instead of every server dying on its own at once.
    child = spawn(spec.command, spec.args, { cwd: repoRoot, stdio: ['ignore', fd, fd], detached: true });
  } finally {
    closeSync(fd);
  }
  const commandLine = `command: ${spec.command} ${spec.args.map((a) => (a === '' ? "''" : a)).join(' ')}`;
  if (child.pid === undefined) {
    const err = await new Promise<Error>((resolve) => child.once('error', resolve));
    await rm(spec.tempDir, { recursive: true, force: true });
    throw new Error(`${spec.what}: cannot start: ${err.message}\n${commandLine}`);
  }
  // A server nobody stopped must not keep the test process (and node --test) waiting: let
  // this process end, and the exit hook kills the server.
  child.unref();
  const proc = make(child, child.pid);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (proc.exitedYet) {
      const code = await proc.exited;
      const log = readLog(spec.logPath);
      await proc.stop();
      throw new EarlyExitError(
        `${spec.what} exited (code ${String(code)}) before it was ready on port ${spec.port}\n` +
          `${commandLine}\nlog ${spec.logPath}:\n${log}`,
      );
    }
    if (await spec.ready()) return proc;
    if (Date.now() > deadline) {
      const log = readLog(spec.logPath);
      await proc.stop();
      throw new Error(
        `${spec.what} not ready on port ${spec.port} after ${READY_TIMEOUT_MS} ms\n` +
          `${commandLine}\nlog ${spec.logPath}:\n${log}`,
      );
    }
    await sleep(POLL_MS);
  }
}

/** Runs `start(port)` on the given port, or on fresh free ports until one is not taken. */
async function withPort<T>(fixed: number | undefined, start: (port: number) => Promise<T>): Promise<T> {
  if (fixed !== undefined) return start(fixed);
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await freePort());
    } catch (err) {
      if (!(err instanceof EarlyExitError) || attempt >= PORT_ATTEMPTS) throw err;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Backends

/**
 * Starts redis-server on 127.0.0.1 (or `host`, another loopback address such as 127.0.0.2)
 * without persistence, its working directory a fresh temp dir. Resolves once PING answers
 * +PONG (after AUTH when a password is set).
 */
export async function startRedis(
  opts: { port?: number; password?: string; args?: string[]; unixSocket?: string; host?: string } = {},
): Promise<Running> {
  const host = opts.host ?? '127.0.0.1';
  return withPort(opts.port, async (port) => {
    const tempDir = await mkdtemp(join(tmpdir(), 'walnut-redis-'));
    const args = ['--port', String(port), '--bind', host, '--save', '', '--appendonly', 'no'];
    args.push('--daemonize', 'no', '--dir', tempDir);
    if (opts.password !== undefined) args.push('--requirepass', opts.password);
    if (opts.unixSocket !== undefined) args.push('--unixsocket', opts.unixSocket, '--unixsocketperm', '777');
    args.push(...(opts.args ?? []));
    const auth = opts.password === undefined ? '' : `AUTH ${opts.password}\r\n`;
    return launch(
      {
        what: 'redis-server',
        command: 'redis-server',
        args,
        tempDir,
        logPath: join(tempDir, 'redis.log'),
        port,
        ready: () => probe(port, `${auth}PING\r\n`, (r) => r.includes('+PONG\r\n'), 1_000, host),
      },
      (child, pid) => new ManagedProcess(child, pid, port, tempDir),
    );
  });
}

/** Starts memcached on 127.0.0.1 (TCP only); resolves once `version` answers. */
export async function startMemcached(opts: { port?: number; args?: string[] } = {}): Promise<Running> {
  return withPort(opts.port, async (port) => {
    const tempDir = await mkdtemp(join(tmpdir(), 'walnut-memcached-'));
    const args = ['-l', '127.0.0.1', '-p', String(port), '-U', '0'];
    // memcached refuses to run as root unless told which user to be.
    if (process.getuid?.() === 0) args.push('-u', 'root');
    args.push(...(opts.args ?? []));
    return launch(
      {
        what: 'memcached',
        command: 'memcached',
        args,
        tempDir,
        logPath: join(tempDir, 'memcached.log'),
        port,
        ready: () => probe(port, 'version\r\n', (r) => r.startsWith('VERSION ') && r.endsWith('\r\n')),
      },
      (child, pid) => new ManagedProcess(child, pid, port, tempDir),
    );
  });
}

// ---------------------------------------------------------------------------------------------
// Proxies

class ManagedProxy extends ManagedProcess implements RunningProxy {
  readonly statsPort: number;
  readonly configPath: string;
  readonly logPath: string;

  constructor(
    child: ChildProcess,
    pid: number,
    port: number,
    tempDir: string,
    paths: { statsPort: number; configPath: string; logPath: string },
  ) {
    super(child, pid, port, tempDir);
    this.statsPort = paths.statsPort;
    this.configPath = paths.configPath;
    this.logPath = paths.logPath;
  }

  async stats(): Promise<unknown> {
    const deadline = Date.now() + 2_000;
    for (;;) {
      try {
        return JSON.parse(await readAll(this.statsPort)) as unknown;
      } catch (err) {
        if (Date.now() > deadline) {
          const reason = err instanceof Error ? err.message : String(err);
          throw new Error(`stats port ${this.statsPort}: ${reason}`);
        }
        await sleep(POLL_MS);
      }
    }
  }
}

/** Everything the stats port sends before closing the connection. */
function readAll(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.setTimeout(5_000, () => socket.destroy(new Error('timed out reading stats')));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

async function startProxy(
  what: string,
  configYaml: string,
  opts: ProxyOptions,
  command: (configPath: string, statsPort: number, logPath: string) => [string, string[]],
): Promise<RunningProxy> {
  const ports = opts.listenPorts;
  // A proxy that listens only on unix sockets has no main port (0).
  const mainPort = ports[0] ?? ((opts.listenPaths ?? []).length > 0 ? 0 : undefined);
  if (mainPort === undefined) throw new Error(`${what}: listenPorts and listenPaths are empty`);
  const tempDir = await mkdtemp(join(tmpdir(), `walnut-${what}-`));
  const configPath = join(tempDir, 'nutcracker.yml');
  const logPath = join(tempDir, `${what}.log`);
  await writeFile(configPath, configYaml);
  const statsPort = opts.statsPort ?? (await freePort());
  let [cmd, args] = command(configPath, statsPort, logPath);
  args.push(...(opts.args ?? []));
  if (opts.fdLimit !== undefined) {
    // exec keeps the pid, so stop()/pause()/kill() still reach the proxy itself.
    const quoted = [cmd, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
    args = ['-c', `ulimit -n ${opts.fdLimit} && exec ${quoted}`];
    cmd = 'bash';
  }
  const paths = opts.listenPaths ?? [];
  return launch(
    {
      what,
      command: cmd,
      args,
      tempDir,
      logPath,
      port: mainPort,
      ready: async () => {
        for (const p of ports) if (!(await probe(p, null, () => true))) return false;
        for (const p of paths) if (!(await probe(p, null, () => true))) return false;
        return true;
      },
    },
    (child, pid) => new ManagedProxy(child, pid, mainPort, tempDir, { statsPort, configPath, logPath }),
  );
}

/**
 * Starts Walnut (this build's src/cli.js under the current node) with the given YAML:
 * `node cli.js -c <file> -s <statsPort> -o <log> ...args`. Resolves when every listen port
 * accepts a TCP connection; the error on failure includes the log.
 */
export async function startWalnut(configYaml: string, opts: ProxyOptions): Promise<RunningProxy> {
  if (!existsSync(walnutCli)) throw new Error(`startWalnut: ${walnutCli} does not exist (build first)`);
  return startProxy('walnut', configYaml, opts, (conf, stats, log) => [
    process.execPath,
    [...WALNUT_NODE_FLAGS, walnutCli, '-c', conf, '-s', String(stats), '-o', log],
  ]);
}

/** Node flags Walnut runs with: the ones on bin/walnut.js's `#!` line (see the reason there). */
export const WALNUT_NODE_FLAGS: readonly string[] = [
  '--max-semi-space-size=4',
  '--single-threaded-gc',
  '--no-allocation-site-pretenuring',
  '--expose-gc',
];

/**
 * Starts C twemproxy in the foreground with the given YAML and a 100 ms stats interval:
 * `nutcracker -c <file> -s <statsPort> -o <log> -i 100 ...args`.
 */
export async function startNutcracker(configYaml: string, opts: ProxyOptions): Promise<RunningProxy> {
  return startProxy('nutcracker', configYaml, opts, (conf, stats, log) => [
    nutcrackerBin,
    ['-c', conf, '-s', String(stats), '-o', log, '-i', '100'],
  ]);
}

// ---------------------------------------------------------------------------------------------
// Observation

/** Resident set size of a process in bytes (VmRSS from /proc/<pid>/status; Linux only). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'latin1');
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (m === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** Whether every thread of `pid` is in the stopped state ('T' in /proc/<pid>/task/<tid>/stat). */
function allThreadsStopped(pid: number): boolean {
  try {
    return readdirSync(`/proc/${pid}/task`).every((tid) => {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
      // The state follows the parenthesised command name, which may itself contain ") ".
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'T';
    });
  } catch {
    return false;
  }
}
