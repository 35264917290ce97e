// `npm start`: starts 3 redis-servers and 2 memcached behind Walnut and shows it at work
// (sharding, multi-key commands, stats), then keeps running for you to try (cf. twemproxy's README).
//   node dist/scripts/demo.js          run the demonstration, then wait for Ctrl-C
//   node dist/scripts/demo.js --once   run the demonstration and exit (CI, no TTY)
//   ... --nutcracker                   the same with C twemproxy instead of Walnut, to compare
import { connect, createServer, type Socket } from 'node:net';
import {
  freePort,
  startMemcached,
  startNutcracker,
  startRedis,
  startWalnut,
  type Running,
  type RunningProxy,
} from './lib/processes.js';

const once = process.argv.includes('--once');
const useNutcracker = process.argv.includes('--nutcracker');
const proxyName = useNutcracker ? 'nutcracker' : 'Walnut';

/** Everything started, stopped in reverse order on exit. */
const started: Running[] = [];

// ---------------------------------------------------------------------------------------------
// A tiny client for both protocols: enough to show requests and replies, nothing more.

/** A parsed RESP reply. */
type Reply = string | number | null | Reply[] | { error: string };

/** Parses one RESP reply at `at`; null when `buf` does not hold all of it yet. */
function parseReply(buf: Buffer, at: number): { value: Reply; next: number } | null {
  const eol = buf.indexOf('\r\n', at);
  if (eol < 0) return null;
  const type = String.fromCharCode(buf[at] ?? 0);
  const line = buf.toString('latin1', at + 1, eol);
  switch (type) {
    case '+':
      return { value: line, next: eol + 2 };
    case '-':
      return { value: { error: line }, next: eol + 2 };
    case ':':
      return { value: Number(line), next: eol + 2 };
    case '$': {
      const n = Number(line);
      if (n < 0) return { value: null, next: eol + 2 };
      if (buf.length < eol + 2 + n + 2) return null;
      return { value: buf.toString('utf8', eol + 2, eol + 2 + n), next: eol + 2 + n + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, next: eol + 2 };
      const items: Reply[] = [];
      let next = eol + 2;
      for (let i = 0; i < n; i++) {
        const item = parseReply(buf, next);
        if (item === null) return null;
        items.push(item.value);
        next = item.next;
      }
      return { value: items, next };
    }
    default:
      return { value: { error: `unexpected reply byte ${JSON.stringify(type)}` }, next: buf.length };
  }
}

class Client {
  private buffered = Buffer.alloc(0);
  private wake: (() => void) | null = null;
  private closed = false;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.wake?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
    socket.on('error', () => undefined);
  }

  static async connect(port: number): Promise<Client> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new Client(socket);
  }

  /** Sends a RESP command and returns its parsed reply. */
  async command(...args: string[]): Promise<Reply> {
    const parts = [`*${args.length}\r\n`];
    for (const a of args) parts.push(`$${Buffer.byteLength(a)}\r\n${a}\r\n`);
    this.socket.write(parts.join(''));
    for (;;) {
      const parsed = parseReply(this.buffered, 0);
      if (parsed !== null) {
        this.buffered = this.buffered.subarray(parsed.next);
        return parsed.value;
      }
      await this.more();
    }
  }

  /** Sends memcached text and returns the reply up to and including a line in `lastLines`. */
  async text(request: string, lastLines: readonly string[]): Promise<string> {
    this.socket.write(request);
    for (;;) {
      const text = this.buffered.toString('latin1');
      for (const last of lastLines) {
        const end = text.indexOf(`${last}\r\n`);
        if (end === 0 || (end > 0 && text[end - 1] === '\n')) {
          const reply = text.slice(0, end + last.length + 2);
          this.buffered = this.buffered.subarray(reply.length);
          return reply;
        }
      }
      await this.more();
    }
  }

  private async more(): Promise<void> {
    if (this.closed) throw new Error('connection closed by the server');
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no reply within 5 s')), 5_000);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

// ---------------------------------------------------------------------------------------------

/** `preferred` when nothing listens there on 127.0.0.1, else a free port. */
async function portPreferring(preferred: number): Promise<number> {
  const server = createServer();
  const free = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(preferred, '127.0.0.1', () => resolve(true));
  });
  if (!free) return freePort();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return preferred;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const show = (r: Reply): string => JSON.stringify(r);
const log = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

interface Backend {
  name: string;
  server: Running;
}

async function demonstrate(): Promise<{ walnut: RunningProxy; redisPort: number; memcachePort: number }> {
  log('Starting 3 redis-servers and 2 memcached on free loopback ports...');
  const redis: Backend[] = [];
  for (let i = 1; i <= 3; i++) {
    const server = await startRedis();
    started.push(server);
    redis.push({ name: `redis${i}`, server });
  }
  const memcached: Backend[] = [];
  for (let i = 1; i <= 2; i++) {
    const server = await startMemcached();
    started.push(server);
    memcached.push({ name: `mc${i}`, server });
  }
  for (const b of [...redis, ...memcached]) log(`  ${b.name.padEnd(7)} 127.0.0.1:${b.server.port} (pid ${b.server.pid})`);

  const redisPort = await portPreferring(22121);
  const memcachePort = await portPreferring(22122);
  const yaml = [
    'redis_demo:',
    `  listen: 127.0.0.1:${redisPort}`,
    '  redis: true',
    '  hash: fnv1a_64',
    '  hash_tag: "{}"',
    '  distribution: ketama',
    '  auto_eject_hosts: false',
    '  timeout: 2000',
    '  servers:',
    ...redis.map((b) => `    - 127.0.0.1:${b.server.port}:1 ${b.name}`),
    'memcache_demo:',
    `  listen: 127.0.0.1:${memcachePort}`,
    '  hash: fnv1a_64',
    '  distribution: ketama',
    '  auto_eject_hosts: false',
    '  timeout: 2000',
    '  servers:',
    ...memcached.map((b) => `    - 127.0.0.1:${b.server.port}:1 ${b.name}`),
    '',
  ].join('\n');

  log(`\nStarting ${proxyName}: pool redis_demo on ${redisPort}, pool memcache_demo on ${memcachePort}...`);
  const listenPorts = [redisPort, memcachePort];
  const walnut = useNutcracker
    ? await startNutcracker(yaml, { listenPorts })
    : await startWalnut(yaml, { listenPorts, args: ['-i', '100'] });
  started.push(walnut);
  log(`  ${proxyName} pid ${walnut.pid}, stats on 127.0.0.1:${walnut.statsPort}, config ${walnut.configPath}`);
  log('\n--- config ---');
  log(yaml.trimEnd());

  // --- redis: sharding -----------------------------------------------------------------------
  log(`\n--- redis_demo: SET 20 keys through ${proxyName} ---`);
  const viaWalnut = await Client.connect(redisPort);
  // Varied key names: FNV-1a puts keys differing only in a last digit (key:1, key:2, ...) close
  // together, so with 3 servers a run of them often lands on one or two.
  // The {user:42} keys share a hash tag: Walnut hashes only "user:42", so they land together.
  const cities = ['amsterdam', 'berlin', 'cairo', 'dublin', 'edinburgh', 'florence', 'geneva', 'havana'];
  cities.push('istanbul', 'jakarta', 'kyoto', 'lisbon', 'madrid', 'nairobi', 'oslo', 'paris');
  const keys = [...cities, ...['name', 'email', 'visits', 'plan'].map((f) => `{user:42}:${f}`)];
  for (const key of keys) {
    const r = await viaWalnut.command('SET', key, `value of ${key}`);
    if (r !== 'OK') throw new Error(`SET ${key} through ${proxyName} replied ${show(r)}`);
  }
  log(`SET ${keys.length} keys: all OK`);

  log('\nWhere each key landed (asked each redis-server directly):');
  const direct = await Promise.all(redis.map((b) => Client.connect(b.server.port)));
  const perBackend = new Map<string, string[]>(redis.map((b) => [b.name, []]));
  for (const key of keys) {
    const holders: string[] = [];
    for (let i = 0; i < redis.length; i++) {
      const backend = redis[i];
      const conn = direct[i];
      if (backend === undefined || conn === undefined) continue;
      if ((await conn.command('EXISTS', key)) === 1) holders.push(backend.name);
    }
    for (const h of holders) perBackend.get(h)?.push(key);
    log(`  ${key.padEnd(18)} -> ${holders.length > 0 ? holders.join(', ') : '(nowhere!)'}`);
  }
  for (const [name, held] of perBackend) log(`  ${name}: ${held.length} keys`);
  for (const c of direct) c.close();

  log(`\nMGET of all 20 keys through ${proxyName} (fanned out to every backend, answered in order):`);
  const mget = await viaWalnut.command('MGET', ...keys);
  if (Array.isArray(mget)) mget.forEach((v, i) => log(`  ${String(i + 1).padStart(2)}) ${keys[i] ?? '?'} = ${show(v)}`));
  else log(`  ${show(mget)}`);
  viaWalnut.close();

  // --- memcached ------------------------------------------------------------------------------
  log(`\n--- memcache_demo: set/get and a multi-get through ${proxyName} ---`);
  const mc = await Client.connect(memcachePort);
  const mcKeys = ['apple', 'banana', 'cherry', 'damson', 'elder'];
  for (const key of mcKeys) {
    const value = `fruit:${key}`;
    const reply = await mc.text(`set ${key} 0 0 ${value.length}\r\n${value}\r\n`, ['STORED', 'NOT_STORED', 'SERVER_ERROR', 'ERROR']);
    log(`  set ${key} -> ${reply.trim()}`);
  }
  log(`  get apple -> ${JSON.stringify(await mc.text('get apple\r\n', ['END', 'SERVER_ERROR', 'ERROR']))}`);
  const multi = await mc.text(`get ${mcKeys.join(' ')}\r\n`, ['END', 'SERVER_ERROR', 'ERROR']);
  log(`  get ${mcKeys.join(' ')} ->`);
  for (const line of multi.trimEnd().split('\r\n')) log(`    ${line}`);
  mc.close();
  log('  Where each key landed (asked each memcached directly):');
  for (const b of memcached) {
    const conn = await Client.connect(b.server.port);
    const held = (await conn.text(`get ${mcKeys.join(' ')}\r\n`, ['END']))
      .split('\r\n')
      .filter((l) => l.startsWith('VALUE '))
      .map((l) => l.split(' ')[1] ?? '?');
    log(`    ${b.name}: ${held.join(', ') || '(none)'}`);
    conn.close();
  }

  // --- stats ----------------------------------------------------------------------------------
  // Stats are aggregated every -i ms (100 here, as in nutcracker); give them one interval.
  await new Promise((r) => setTimeout(r, 250));
  log(`\n--- stats (JSON from 127.0.0.1:${walnut.statsPort}) ---`);
  const stats = await walnut.stats();
  if (isRecord(stats)) {
    for (const key of ['service', 'version', 'uptime', 'total_connections', 'curr_connections']) {
      log(`  ${key}: ${JSON.stringify(stats[key])}`);
    }
    for (const pool of ['redis_demo', 'memcache_demo']) {
      const p = stats[pool];
      if (!isRecord(p)) {
        log(`  ${pool}: missing from stats`);
        continue;
      }
      log(`  ${pool}: client_connections=${String(p['client_connections'])} forward_error=${String(p['forward_error'])}`);
      for (const [name, s] of Object.entries(p)) {
        if (!isRecord(s)) continue;
        log(`    ${name.padEnd(7)} requests=${String(s['requests'])} responses=${String(s['responses'])} server_connections=${String(s['server_connections'])}`);
      }
    }
  } else {
    log(`  unexpected stats: ${JSON.stringify(stats)}`);
  }
  return { walnut, redisPort, memcachePort };
}

/** The proxy first (it was started last), so clients see it go before the backends; then the rest. */
async function stopAll(): Promise<void> {
  const all = started.splice(0).reverse();
  const proxy = all.shift();
  await proxy?.stop();
  await Promise.all(all.map((p) => p.stop()));
}

async function main(): Promise<void> {
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log(`\n${sig}: stopping ${proxyName} and the backends...`);
    void stopAll().then(
      () => {
        log('Stopped.');
        process.exit(0);
      },
      (err: unknown) => {
        process.stderr.write(`demo: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let info: Awaited<ReturnType<typeof demonstrate>>;
  try {
    info = await demonstrate();
  } catch (err) {
    process.stderr.write(`\ndemo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    await stopAll();
    process.exit(1);
  }

  log('\n--- try it yourself ---');
  log(`  redis-cli -p ${info.redisPort}              then e.g.: get kyoto / mget oslo paris / set foo bar`);
  log(`  printf 'get apple\\r\\n' | nc 127.0.0.1 ${info.memcachePort}`);
  log(`  telnet 127.0.0.1 ${info.memcachePort}         then e.g.: get apple banana`);
  log(`  nc 127.0.0.1 ${info.walnut.statsPort}                  (stats JSON)`);
  log(`  config: ${info.walnut.configPath}`);
  log(`  log:    ${info.walnut.logPath}`);

  if (once) {
    await stopAll();
    log('\n--once: stopped everything.');
    return;
  }
  log('\nPress Ctrl-C to stop.');
  // The servers are unref'd child processes; this timer is what keeps the demo alive.
  setInterval(() => undefined, 1 << 30);
}

await main();
