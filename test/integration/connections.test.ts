// Connection options of a pool against real redis-server and memcached processes: preconnect,
// tcpkeepalive, backlog, unix socket listeners and backends (with redis_auth + redis_db),
// server_connections, client_connections, and host names resolved again on every reconnect
// (twemproxy's nc_proxy.c, nc_server.c server_connect / server_resolve).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { connect, type NetConnectOpts } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import {
  freePort,
  startMemcached,
  startRedis,
  startWalnut,
  type Running,
  type RunningProxy,
} from '../../scripts/lib/processes.js';
import { stagingPath } from '../../src/proxy/unix-socket.js';
import { RawClient } from './support/raw-client.js';
import { poolStat, serverStat, type Stats } from './support/stats.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Reads `read()` until `ok` holds or `timeoutMs` passes, and returns the last value read: the
 * caller asserts on it, so a failure shows what was actually seen.
 */
async function settle<T>(read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 3_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v) || Date.now() > deadline) return v;
    await sleep(25);
  }
}

/** Opens a connection, sends `request`, resolves with what arrived once `done` says so. */
function exchange(target: NetConnectOpts, request: string, done: (received: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(target);
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer to ${JSON.stringify(request)}; got ${JSON.stringify(received)}`));
    }, 5_000);
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('connect', () => socket.write(request));
    socket.on('data', (d: Buffer) => {
      received += d.toString('latin1');
      if (done(received)) {
        clearTimeout(timer);
        socket.destroy();
        resolve(received);
      }
    });
  });
}

/** A direct connection to a redis-server, to see the connections Walnut holds there. */
class RedisInspector {
  private readonly client: Redis;

  constructor(port: number, opts: { host?: string; password?: string } = {}) {
    this.client = new Redis({
      port,
      host: opts.host ?? '127.0.0.1',
      ...(opts.password === undefined ? {} : { password: opts.password }),
      enableReadyCheck: false,
      maxRetriesPerRequest: 0,
    });
  }

  get redis(): Redis {
    return this.client;
  }

  /** Connections the server has besides this inspector (Walnut's: nobody else connects). */
  async others(): Promise<number> {
    const own = String(await this.client.call('CLIENT', 'ID'));
    const list = String(await this.client.call('CLIENT', 'LIST'));
    return list.split('\n').filter((l) => l.startsWith('id=') && !l.startsWith(`id=${own} `)).length;
  }

  close(): void {
    this.client.disconnect();
  }
}

/**
 * Established TCP connections to a local server port, counted from the client side with `ss`.
 * memcached's own curr_connections is not used: it drops a closed connection only when a worker
 * thread gets to it, so a count taken just after the start-up probe once read one too many.
 */
function connectionsTo(port: number): number {
  return ssEstablished(`( dport = :${port} )`).length;
}

/** Established TCP sockets matching an `ss` filter, with their timer columns (-o). */
function ssEstablished(filter: string): string[] {
  const out = execFileSync('ss', ['-tnoe', 'state', 'established', filter], { encoding: 'utf8' });
  return out.split('\n').slice(1).filter((l) => l.trim() !== '');
}

/** The Send-Q column of a listening socket, which Linux reports as its backlog. */
function listenBacklog(args: string[]): number {
  const lines = execFileSync('ss', args, { encoding: 'utf8' }).split('\n').slice(1).filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, `one listening socket expected: ${lines.join(' | ')}`);
  const columns = lines[0]!.trim().split(/\s+/);
  // TCP lines: State Recv-Q Send-Q ...; unix lines: Netid State Recv-Q Send-Q ...
  return Number(columns[columns[0] === 'u_str' ? 3 : 2]);
}

/** Leaves a unix socket file with nobody listening behind it (a process killed while serving). */
async function makeStaleSocket(path: string): Promise<void> {
  const script = `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`;
  spawnSync(process.execPath, ['-e', script]);
  assert.equal(statSync(path).isSocket(), true, 'stale socket created');
  const refused = await exchange({ path }, '', () => true).then(
    () => 'connected',
    (err: NodeJS.ErrnoException) => err.code,
  );
  assert.equal(refused, 'ECONNREFUSED', 'nobody listens on the stale socket');
}

describe('connection options', () => {
  const dir = mkdtempSync(join(tmpdir(), 'walnut-conn-'));
  const sockA = join(dir, 'a.sock'); // 0600, replaces a stale socket
  const sockB = join(dir, 'b.sock'); // no mode, replaces a leftover regular file
  const redisSock = join(dir, 'redis.sock');
  const password = 'conn-secret';
  const r: Record<string, Running> = {};
  const m: Record<string, Running> = {};
  const ports: Record<string, number> = {};
  let walnut: RunningProxy;
  const inspectors: RedisInspector[] = [];
  const inspect = (name: string): RedisInspector => {
    const i = new RedisInspector(r[name]!.port);
    inspectors.push(i);
    return i;
  };
  const stats = async (): Promise<Stats> => (await walnut.stats()) as Stats;

  before(async () => {
    const redisNames = ['pre1', 'pre2', 'lazy1', 'ka1', 'noka1', 'sc1', 'sc2', 'huge1'];
    const mcNames = ['mpre1', 'mlazy1', 'msc1', 'msc2', 'mlim1'];
    const [redises, memcacheds, ru] = await Promise.all([
      Promise.all(redisNames.map(() => startRedis())),
      Promise.all(mcNames.map(() => startMemcached())),
      startRedis({ password, unixSocket: redisSock }),
    ]);
    redisNames.forEach((n, i) => (r[n] = redises[i]!));
    mcNames.forEach((n, i) => (m[n] = memcacheds[i]!));
    r['unix'] = ru;
    for (const p of ['pre', 'lazy', 'mpre', 'mlazy', 'ka', 'noka', 'sc', 'msc', 'lim', 'mlim', 'huge']) {
      ports[p] = await freePort();
    }
    await makeStaleSocket(sockA);
    writeFileSync(sockB, 'left over');

    const rs = (n: string): string => `    - 127.0.0.1:${r[n]!.port}:1 ${n}\n`;
    const ms = (n: string): string => `    - 127.0.0.1:${m[n]!.port}:1 ${n}\n`;
    const pool = (name: string, redis: boolean, extra: string, servers: string): string =>
      `${name}:\n  listen: 127.0.0.1:${ports[name]}\n  redis: ${redis}\n${extra}  servers:\n${servers}`;
    const yaml = [
      pool('pre', true, '  preconnect: true\n  server_connections: 2\n', rs('pre1') + rs('pre2')),
      pool('lazy', true, '  preconnect: false\n  backlog: 0\n', rs('lazy1')),
      pool('mpre', false, '  preconnect: true\n', ms('mpre1')),
      pool('mlazy', false, '', ms('mlazy1')),
      pool('ka', true, '  tcpkeepalive: true\n  backlog: 1000\n', rs('ka1')),
      pool('noka', true, '', rs('noka1')),
      pool('sc', true, '  server_connections: 3\n', rs('sc1') + rs('sc2')),
      pool('msc', false, '  server_connections: 3\n', ms('msc1') + ms('msc2')),
      // nutcracker accepts it; a slot array of that size ran Walnut out of memory at start.
      pool('huge', true, '  server_connections: 2147483647\n', rs('huge1')),
      pool('lim', true, '  client_connections: 3\n', rs('noka1')),
      pool('mlim', false, '  client_connections: 2\n', ms('mlim1')),
      `usock:\n  listen: ${sockA} 0600\n  backlog: 300\n  redis: true\n  redis_auth: ${password}\n  redis_db: 3\n` +
        `  servers:\n    - ${redisSock}:1 ru\n`,
      `msock:\n  listen: ${sockB}\n  servers:\n${ms('mlim1')}`,
    ].join('');
    walnut = await startWalnut(yaml, {
      listenPorts: Object.values(ports),
      listenPaths: [sockA, sockB],
    });
  });

  after(async () => {
    for (const i of inspectors) i.close();
    await walnut?.stop();
    await Promise.all([...Object.values(r), ...Object.values(m)].map((p) => p.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  describe('preconnect', () => {
    test('true: one connection per server at start (not server_connections many)', async () => {
      for (const n of ['pre1', 'pre2']) {
        const backend = inspect(n);
        assert.equal(await settle(() => backend.others(), (c) => c === 1), 1, `${n} sees Walnut's connection`);
        const s = await settle(stats, (v) => serverStat(v, 'pre', n, 'server_connections') === 1);
        assert.equal(serverStat(s, 'pre', n, 'server_connections'), 1);
      }
      const mc = await settle(async () => connectionsTo(m['mpre1']!.port), (c) => c === 1);
      assert.equal(mc, 1, 'one connection to memcached');
      assert.equal(serverStat(await stats(), 'mpre', 'mpre1', 'server_connections'), 1);
    });

    test('false: no connection until the first request, then one', async () => {
      const backend = inspect('lazy1');
      // The preconnect pools above have connected by now; a lazy pool doing the same would too.
      assert.equal(await backend.others(), 0);
      assert.equal(connectionsTo(m['mlazy1']!.port), 0);
      let s = await stats();
      assert.equal(serverStat(s, 'lazy', 'lazy1', 'server_connections'), 0);
      assert.equal(serverStat(s, 'mlazy', 'mlazy1', 'server_connections'), 0);

      const c = await RawClient.connect(ports['lazy']!);
      c.command('SET', 'lazy:k', 'v');
      assert.equal(await c.readText('+OK\r\n'), '+OK\r\n');
      c.destroy();
      const mc = await RawClient.connect(ports['mlazy']!);
      mc.send('get lazy:k\r\n');
      assert.equal(await mc.readText('END\r\n'), 'END\r\n');
      mc.destroy();

      assert.equal(await settle(() => backend.others(), (n) => n === 1), 1);
      assert.equal(await settle(async () => connectionsTo(m['mlazy1']!.port), (n) => n === 1), 1);
      s = await stats();
      assert.equal(serverStat(s, 'lazy', 'lazy1', 'server_connections'), 1);
      assert.equal(serverStat(s, 'mlazy', 'mlazy1', 'server_connections'), 1);
    });
  });

  describe('tcpkeepalive', () => {
    let ka: RawClient;
    let noka: RawClient;

    before(async () => {
      // Plain clients without keepalive of their own; one request each opens the server side.
      ka = await RawClient.connect(ports['ka']!);
      noka = await RawClient.connect(ports['noka']!);
      for (const c of [ka, noka]) {
        c.command('SET', 'ka:k', 'v');
        assert.equal(await c.readText('+OK\r\n'), '+OK\r\n');
      }
    });

    after(() => {
      ka.destroy();
      noka.destroy();
    });

    test('true: Walnut\'s side of an accepted client socket has a keepalive timer', () => {
      const lines = ssEstablished(`( sport = :${ports['ka']} )`);
      assert.equal(lines.length, 1, lines.join('\n'));
      assert.match(lines[0]!, /timer:\(keepalive,/);
    });

    test('false: no keepalive on client sockets', () => {
      const lines = ssEstablished(`( sport = :${ports['noka']} )`);
      assert.equal(lines.length, 1, lines.join('\n'));
      assert.doesNotMatch(lines[0]!, /keepalive/);
    });

    test(
      'true: Walnut\'s server connections have a keepalive timer',
      () => {
        // Walnut's end of its connection to the backend: the peer port is the backend's.
        const lines = ssEstablished(`( dport = :${r['ka1']!.port} )`);
        assert.equal(lines.length, 1, lines.join('\n'));
        assert.match(lines[0]!, /timer:\(keepalive,/);
      },
    );

    test('false: no keepalive on server connections', () => {
      const lines = ssEstablished(`( dport = :${r['noka1']!.port} )`);
      assert.ok(lines.length >= 1, 'Walnut is connected to noka1');
      for (const l of lines) assert.doesNotMatch(l, /keepalive/);
    });
  });

  test('backlog is the listen() backlog (ss shows it as Send-Q)', () => {
    assert.equal(listenBacklog(['-ltn', `( sport = :${ports['ka']} )`]), 1000);
    assert.equal(listenBacklog(['-ltn', `( sport = :${ports['noka']} )`]), 512, 'default');
    // Node reads a backlog of 0 as its default of 511; twemproxy passes 0 (the kernel still
    // queues one connection), and 1 is the closest.
    assert.equal(listenBacklog(['-ltn', `( sport = :${ports['lazy']} )`]), 1, 'backlog: 0');
    // The kernel names a unix socket by the path it was bound at: Walnut binds at a staging name
    // and renames the socket onto the configured path once its mode is set (unix-socket.ts).
    assert.equal(listenBacklog(['-lx', 'src', stagingPath(sockA, walnut.pid)!]), 300, 'unix listener');
  });

  describe('unix sockets', () => {
    test('"/path 0600": the stale socket is replaced by a live socket with exactly those bits', async () => {
      const st = statSync(sockA);
      assert.equal(st.isSocket(), true);
      assert.equal(st.mode & 0o7777, 0o600);
      // It refused connections before Walnut started; now Walnut answers on it.
      assert.equal(await exchange({ path: sockA }, '*1\r\n$4\r\nPING\r\n', (t) => t.endsWith('\r\n')), '-NOAUTH Authentication required\r\n');
    });

    test('"/path": a leftover file is replaced by a socket', () => {
      assert.equal(statSync(sockB).isSocket(), true);
    });

    test('requests over the 0600 socket reach a unix-socket redis backend with redis_auth and redis_db', async () => {
      // redis_auth: clients authenticate to Walnut with the same password.
      const c = new Redis({ path: sockA, password, enableReadyCheck: false, maxRetriesPerRequest: 0 });
      try {
        for (let i = 0; i < 20; i++) assert.equal(await c.set(`usock:${i}`, `v${i}`), 'OK');
        for (let i = 0; i < 20; i++) assert.equal(await c.get(`usock:${i}`), `v${i}`);
      } finally {
        c.disconnect();
      }
      // The keys are in database 3 of the backend, not in 0: Walnut authenticated and selected.
      const direct = new RedisInspector(r['unix']!.port, { password });
      inspectors.push(direct);
      assert.equal(await direct.redis.get('usock:7'), null, 'not in db 0');
      await direct.redis.select(3);
      assert.equal(await direct.redis.get('usock:7'), 'v7');
      assert.equal(await direct.redis.dbsize(), 20);
      const s = await stats();
      assert.equal(serverStat(s, 'usock', 'ru', 'requests'), 40, 'AUTH and SELECT are not counted as requests');
      assert.equal(serverStat(s, 'usock', 'ru', 'responses'), 40);
    });

    test('requests over the socket without a mode (memcache pool)', async () => {
      const text = await exchange({ path: sockB }, 'set msock:k 0 0 2\r\nhi\r\nget msock:k\r\n', (t) => t.endsWith('END\r\n'));
      assert.equal(text, 'STORED\r\nVALUE msock:k 0 2\r\nhi\r\nEND\r\n');
    });
  });

  describe('server_connections: 3', () => {
    test('redis: many pipelining clients, each backend sees exactly 3 connections, replies in order', async () => {
      const clients = await Promise.all(Array.from({ length: 30 }, () => RawClient.connect(ports['sc']!)));
      await Promise.all(
        clients.map(async (c, i) => {
          let expected = '';
          for (let j = 0; j < 40; j++) {
            // Keys spread over both servers; the counter checks order on one key as well.
            c.command('SET', `sc:${i}:${j}`, `${i}.${j}`);
            c.command('GET', `sc:${i}:${j}`);
            c.command('INCR', `sc:${i}:n`);
            const v = `${i}.${j}`;
            expected += `+OK\r\n$${v.length}\r\n${v}\r\n:${j + 1}\r\n`;
          }
          assert.equal(await c.readText(expected), expected, `client ${i}`);
        }),
      );
      const s = await stats();
      for (const n of ['sc1', 'sc2']) {
        assert.equal(await inspect(n).others(), 3, `${n} sees 3 connections from Walnut`);
        assert.equal(serverStat(s, 'sc', n, 'server_connections'), 3);
      }
      for (const c of clients) c.destroy();
    });

    test('memcache: many pipelining clients, each backend sees exactly 3 connections, replies in order', async () => {
      const clients = await Promise.all(Array.from({ length: 30 }, () => RawClient.connect(ports['msc']!)));
      await Promise.all(
        clients.map(async (c, i) => {
          let expected = '';
          for (let j = 0; j < 40; j++) {
            const v = `${i}.${j}`;
            c.send(`set msc:${i}:${j} 0 0 ${v.length}\r\n${v}\r\nget msc:${i}:${j}\r\n`);
            expected += `STORED\r\nVALUE msc:${i}:${j} 0 ${v.length}\r\n${v}\r\nEND\r\n`;
          }
          assert.equal(await c.readText(expected), expected, `client ${i}`);
        }),
      );
      const s = await stats();
      for (const n of ['msc1', 'msc2']) {
        assert.equal(connectionsTo(m[n]!.port), 3, `${n} has 3 connections from Walnut`);
        assert.equal(serverStat(s, 'msc', n, 'server_connections'), 3);
      }
      for (const c of clients) c.destroy();
    });
  });

  describe('server_connections: 2147483647', () => {
    test('taken as 4,096 with a warning: Walnut starts, and each client gets a connection of its own', async () => {
      assert.match(readFileSync(walnut.logPath, 'utf8'), /pool huge: server_connections 2147483647 is taken as 4096/);
      const clients = await Promise.all(Array.from({ length: 5 }, () => RawClient.connect(ports['huge']!)));
      for (const [i, c] of clients.entries()) {
        c.command('SET', `huge:${i}`, `${i}`);
        assert.equal(await c.readText('+OK\r\n'), '+OK\r\n');
      }
      assert.equal(await inspect('huge1').others(), 5);
      for (const c of clients) c.destroy();
    });
  });

  describe('client_connections', () => {
    test('redis, limit 3: the 4th client gets -ERR and is closed; after one leaves a new one is served', async () => {
      const clients: RawClient[] = [];
      for (let i = 0; i < 3; i++) {
        const c = await RawClient.connect(ports['lim']!);
        c.command('PING');
        assert.equal(await c.readText('+PONG\r\n'), '+PONG\r\n');
        clients.push(c);
      }
      assert.equal(poolStat(await stats(), 'lim', 'client_connections'), 3);

      const extra = await RawClient.connect(ports['lim']!);
      assert.equal((await extra.readToEnd()).toString('latin1'), '-ERR max number of clients reached\r\n');
      assert.equal(poolStat(await stats(), 'lim', 'client_connections'), 3, 'the refused client is not counted');

      clients.shift()!.destroy();
      const s = await settle(stats, (v) => poolStat(v, 'lim', 'client_connections') === 2);
      assert.equal(poolStat(s, 'lim', 'client_connections'), 2);
      const next = await RawClient.connect(ports['lim']!);
      next.command('SET', 'lim:k', 'v');
      next.command('GET', 'lim:k');
      assert.equal(await next.readText('+OK\r\n$1\r\nv\r\n'), '+OK\r\n$1\r\nv\r\n');
      clients.push(next);
      assert.equal(poolStat(await stats(), 'lim', 'client_connections'), 3);

      const again = await RawClient.connect(ports['lim']!);
      assert.equal((await again.readToEnd()).toString('latin1'), '-ERR max number of clients reached\r\n');
      for (const c of clients) c.destroy();
      const end = await settle(stats, (v) => poolStat(v, 'lim', 'client_connections') === 0);
      assert.equal(poolStat(end, 'lim', 'client_connections'), 0);
    });

    test('memcache, limit 2: the 3rd client gets SERVER_ERROR and is closed; after one leaves a new one is served', async () => {
      const clients: RawClient[] = [];
      for (let i = 0; i < 2; i++) {
        const c = await RawClient.connect(ports['mlim']!);
        c.send('get mlim:k\r\n');
        assert.equal(await c.readText('END\r\n'), 'END\r\n');
        clients.push(c);
      }
      const extra = await RawClient.connect(ports['mlim']!);
      assert.equal((await extra.readToEnd()).toString('latin1'), 'SERVER_ERROR max number of clients reached\r\n');
      assert.equal(poolStat(await stats(), 'mlim', 'client_connections'), 2);

      clients.shift()!.destroy();
      await settle(stats, (v) => poolStat(v, 'mlim', 'client_connections') === 1);
      const next = await RawClient.connect(ports['mlim']!);
      next.send('set mlim:k 0 0 1\r\nx\r\nget mlim:k\r\n');
      const expected = 'STORED\r\nVALUE mlim:k 0 1\r\nx\r\nEND\r\n';
      assert.equal(await next.readText(expected), expected);
      assert.equal(poolStat(await stats(), 'mlim', 'client_connections'), 2);
      next.destroy();
      for (const c of clients) c.destroy();
    });
  });
});

describe('server host names are resolved again on every new connection', () => {
  const name = `walnut-dns-${process.pid}.test`;
  const hostsPath = '/etc/hosts';
  let original: string | null = null;
  let a: Running | undefined; // 127.0.0.2:P
  let b: Running | undefined; // 127.0.0.1:P
  let walnut: RunningProxy | undefined;
  let skipReason: string | null = null;

  // The file is only ever appended to, overwritten in place with text of the same length, and
  // truncated back to its original bytes: other processes reading it meanwhile always find
  // the original lines (localhost) intact.
  const setHosts = (address: string): void => {
    const base = original!.endsWith('\n') || original === '' ? original! : `${original!}\n`;
    writeFileSync(hostsPath, `${base}${address} ${name}\n`, { flag: 'r+' });
  };

  before(async () => {
    try {
      original = readFileSync(hostsPath, 'utf8');
      appendFileSync(hostsPath, `${original.endsWith('\n') || original === '' ? '' : '\n'}127.0.0.2 ${name}\n`);
    } catch (err) {
      original = null;
      skipReason = `${hostsPath} is not writable (${(err as Error).message}): cannot point a name at another backend`;
      return;
    }
    const resolved = await lookup(name).catch(() => null);
    if (resolved?.address !== '127.0.0.2') {
      skipReason = `the resolver does not read ${hostsPath} (got ${resolved?.address ?? 'nothing'})`;
      return;
    }
    // Two backends on the same port, one per loopback address: only the name tells them apart.
    a = await startRedis({ host: '127.0.0.2' });
    b = await startRedis({ port: a.port });
    const port = await freePort();
    const yaml = `dns:\n  listen: 127.0.0.1:${port}\n  redis: true\n  servers:\n    - ${name}:${a.port}:1 named\n`;
    walnut = await startWalnut(yaml, { listenPorts: [port] });
  });

  after(async () => {
    if (original !== null) truncateSync(hostsPath, Buffer.byteLength(original));
    await walnut?.stop();
    await a?.stop();
    await b?.stop();
  });

  test('after the name moves and the connection drops, the next request goes to the new address', async (t) => {
    if (skipReason !== null) {
      t.skip(skipReason);
      return;
    }
    const atA = new RedisInspector(a!.port, { host: '127.0.0.2' });
    const atB = new RedisInspector(b!.port);
    const viaWalnut = new Redis({ port: walnut!.port, host: '127.0.0.1', enableReadyCheck: false, maxRetriesPerRequest: 0 });
    try {
      assert.equal(await viaWalnut.set('dns:k', 'first'), 'OK');
      assert.equal(await atA.redis.get('dns:k'), 'first', 'the name pointed at 127.0.0.2');
      assert.equal(await atB.redis.get('dns:k'), null);

      setHosts('127.0.0.1');
      assert.equal((await lookup(name)).address, '127.0.0.1');
      // The open connection to A stays where it is until it closes: A is still up and serving,
      // so only a new resolution can bring the next request to B.
      assert.equal(await viaWalnut.get('dns:k'), 'first', 'the existing connection still goes to A');
      await atA.redis.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
      const s = await settle(
        async () => (await walnut!.stats()) as Stats,
        (v) => serverStat(v, 'dns', 'named', 'server_connections') === 0,
      );
      assert.equal(serverStat(s, 'dns', 'named', 'server_connections'), 0, 'Walnut saw the close');

      assert.equal(await viaWalnut.get('dns:k'), null, 'answered by B');
      assert.equal(await viaWalnut.set('dns:k', 'second'), 'OK');
      assert.equal(await atB.redis.get('dns:k'), 'second');
      assert.equal(await atA.redis.get('dns:k'), 'first', 'A untouched');
    } finally {
      viaWalnut.disconnect();
      atA.close();
      atB.close();
    }
  });
});

// Twice: at a short path, staged beside it; at a path too long for `<path>.<pid>.binding`, staged
// under a short name in its directory (bound at the path itself, the listener had libuv remove,
// as it closed, the socket of the instance that had taken the path over since).
for (const long of [false, true]) {
  describe(`a unix listener is published whole and removed only by its owner (${long ? '100-byte' : 'short'} path)`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'walnut-unix-owner-'));
    const name = long ? 'o'.repeat(100 - dir.length - 1) : 'owner.sock';
    const sock = join(dir, name);
    const yaml = `o:\n  listen: ${sock} 0640\n  redis: true\n  servers:\n    - 127.0.0.1:1:1\n`;
    const running: RunningProxy[] = [];

    after(async () => {
      await Promise.all(running.map((w) => w.stop()));
      rmSync(dir, { recursive: true, force: true });
    });

    test('a second instance takes the path over; the first one leaving does not remove it', async () => {
      if (long) assert.ok(Buffer.byteLength(`${sock}.${process.pid}.binding`) >= 108, 'no staging name beside it fits');
      const first = await startWalnut(yaml, { listenPorts: [], listenPaths: [sock] });
      running.push(first);
      assert.equal(statSync(sock).mode & 0o777, 0o640);
      assert.deepEqual(readdirSync(dir), [name], 'no staging name left behind');
      const firstInode = statSync(sock).ino;

      const second = await startWalnut(yaml, { listenPorts: [], listenPaths: [sock] });
      running.push(second);
      // The path already answered (the first instance) when startWalnut returned: wait for the swap.
      for (let i = 0; i < 100 && statSync(sock).ino === firstInode; i++) await new Promise((r) => setTimeout(r, 50));
      assert.notEqual(statSync(sock).ino, firstInode, 'the path now names the second socket');
      first.kill('SIGTERM');
      assert.equal(await first.exited, 0);
      assert.equal(await exchange({ path: sock }, '*1\r\n$4\r\nPING\r\n', (t) => t.endsWith('\r\n')), '+PONG\r\n');

      second.kill('SIGTERM');
      assert.equal(await second.exited, 0);
      assert.equal(existsSync(sock), false, 'the owner removes its socket at exit');
    });
  });
}
