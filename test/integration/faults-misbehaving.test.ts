// Backends that misbehave in ways real servers rarely do on demand: replies dripped one byte at
// a time or split at every byte boundary, half a reply then a close, garbage, stray replies and
// -LOADING. Each scenario has its own pool and its own scripted fake backend (spec 4.5, 4.7,
// 5.4, 6.2, 6.3).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { freePort, startWalnut, type RunningProxy } from '../../scripts/lib/processes.js';
import { bulk, MisbehavingFakeServer, sleep, type FakeConnection } from './support/misbehaving-fake-server.js';
import { encodeCommand, RawClient } from './support/raw-client.js';

type Stats = Record<string, Record<string, Record<string, number>>>;

/** Answers GET <key> with the key's own name as the value, on every connection. */
function echoGets(conn: FakeConnection): void {
  conn.onRequest((args) => conn.write(bulk(`value-of-${args[1]?.toString('latin1') ?? ''}`)));
}

/** A reply stream covering every RESP type, nested arrays, empty and nil values. */
const REDIS_REPLIES = [
  '+OK\r\n',
  ':12345\r\n',
  '$5\r\nhello\r\n',
  '$-1\r\n',
  '*3\r\n$1\r\na\r\n*2\r\n:1\r\n$0\r\n\r\n*-1\r\n',
  '-ERR something odd\r\n',
  '$0\r\n\r\n',
  '*0\r\n',
];

/** memcached replies for: get a, set b, get c (miss), incr d, delete e, version. */
const MC_REQUESTS = 'get a\r\nset b 0 0 1\r\nx\r\nget c\r\nincr d 1\r\ndelete e\r\nversion\r\n';
const MC_REPLIES = 'VALUE a 7 5\r\nhello\r\nEND\r\nSTORED\r\nEND\r\n42\r\nNOT_FOUND\r\nVERSION 1.6.21\r\n';

describe('misbehaving backends', () => {
  const fakes: Record<string, MisbehavingFakeServer> = {};
  const ports: Record<string, number> = {};
  let walnut: RunningProxy;
  /** Split point the split-replies fakes use for their next answer. */
  let splitAt = 0;
  /** The resetafter fake's first connection and how many requests it has read. */
  const resetAfter: { conn: FakeConnection | null; seen: number } = { conn: null, seen: 0 };

  const scenarios: Record<string, (conn: FakeConnection) => void> = {
    drip: (conn) => {
      // One reply after the other: each is dripped only once the previous one is out.
      let chain = Promise.resolve();
      conn.onRequest((args) => {
        const reply = bulk(`dripped ${args[1]?.toString() ?? ''} ${'x'.repeat(60)}`);
        chain = chain.then(() => conn.drip(reply, 2));
      });
    },
    halfclose: (conn) => {
      if (conn.index > 0) return echoGets(conn);
      let seen = 0;
      conn.onRequest(() => {
        // Wait for all three pipelined GETs, answer half of the first, then hang up.
        if (++seen < 3) return;
        conn.write('$20\r\n0123456789');
        setTimeout(() => conn.end(), 30);
      });
    },
    cutoff: (conn) => {
      if (conn.index > 0) return echoGets(conn);
      let seen = 0;
      conn.onRequest(() => {
        // Two clients' GETs are in: send 100 KB of a 1 MB value and stall (the test hangs up).
        if (++seen < 2) return;
        conn.write(`$1000000\r\n${'z'.repeat(100_000)}`);
      });
    },
    garbage: (conn) => {
      if (conn.index > 0) return echoGets(conn);
      conn.onRequest(() => conn.write('!this is no reply\r\n'));
    },
    stray: (conn) => {
      if (conn.index > 0) return echoGets(conn);
      conn.onRequest((args) => {
        conn.write(bulk(`value-of-${args[1]?.toString('latin1') ?? ''}`));
        setTimeout(() => conn.write('+STRAY\r\n'), 30);
      });
    },
    resetafter: (conn) => {
      if (conn.index > 0) return echoGets(conn);
      // The test answers (resetAfter) once both pipelined requests are in.
      conn.onRequest(() => {
        resetAfter.seen++;
        resetAfter.conn = conn;
      });
    },
    loading: (conn) => {
      if (conn.index > 0) return echoGets(conn);
      let seen = 0;
      conn.onRequest(() => {
        if (++seen === 2) conn.write('-LOADING Redis is loading the dataset in memory\r\n');
      });
    },
    split: (conn) => {
      let seen = 0;
      conn.onRequest(() => {
        if (++seen % REDIS_REPLIES.length !== 0) return;
        const all = REDIS_REPLIES.join('');
        conn.write(all.slice(0, splitAt));
        setTimeout(() => conn.write(all.slice(splitAt)), 3);
      });
    },
    mcsplit: (conn) => {
      let seen = 0;
      conn.onLine(() => {
        if (++seen % 6 !== 0) return;
        conn.write(MC_REPLIES.slice(0, splitAt));
        setTimeout(() => conn.write(MC_REPLIES.slice(splitAt)), 3);
      });
    },
  };

  before(async () => {
    const yaml: string[] = [];
    for (const [name, script] of Object.entries(scenarios)) {
      const fake = await MisbehavingFakeServer.start(script);
      fakes[name] = fake;
      const port = await freePort();
      ports[name] = port;
      yaml.push(
        `${name}:`,
        `  listen: 127.0.0.1:${port}`,
        `  redis: ${name.startsWith('mc') ? 'false' : 'true'}`,
        '  servers:',
        `    - 127.0.0.1:${fake.port}:1 fake`,
      );
    }
    walnut = await startWalnut(yaml.join('\n') + '\n', { listenPorts: Object.values(ports) });
  });

  after(async () => {
    await walnut.stop();
    await Promise.all(Object.values(fakes).map((f) => f.close()));
  });

  const serverStats = async (pool: string): Promise<Record<string, number>> =>
    ((await walnut.stats()) as Stats)[pool]!['fake']!;

  test('a reply dripped one byte every 2 ms arrives intact', async () => {
    const c = await RawClient.connect(ports['drip']!);
    c.command('GET', 'k1');
    c.command('GET', 'k2');
    const want = bulk(`dripped k1 ${'x'.repeat(60)}`) + bulk(`dripped k2 ${'x'.repeat(60)}`);
    assert.equal(await c.readText(want), want);
    c.destroy();
  });

  test('half a reply then a close: every pending request gets -ERR unknown, the next one reconnects', async () => {
    const c = await RawClient.connect(ports['halfclose']!);
    c.command('GET', 'a');
    c.command('GET', 'b');
    c.command('GET', 'c');
    const errors = '-ERR unknown\r\n'.repeat(3);
    assert.equal(await c.readText(errors), errors);
    c.command('GET', 'd');
    assert.equal(await c.readText(bulk('value-of-d')), bulk('value-of-d'));
    assert.equal(fakes['halfclose']!.connections.length, 2);
    const s = await serverStats('halfclose');
    assert.equal(s['server_eof'], 1);
    assert.equal(s['server_err'], 0);
    c.destroy();
  });

  test('a backend that hangs up in a streamed reply: that client is closed, the next gets its error', async () => {
    const first = await RawClient.connect(ports['cutoff']!);
    const second = await RawClient.connect(ports['cutoff']!);
    first.command('GET', 'big');
    await waitUntil(() => fakes['cutoff']!.connections[0] !== undefined);
    await sleep(50); // the first GET reaches the backend before the second
    second.command('GET', 'after');
    // Cut-through: the part sent so far reaches the first client while the rest is still due.
    const head = `$1000000\r\n${'z'.repeat(100_000)}`;
    assert.equal((await first.read(head.length)).toString('latin1'), head);
    assert.equal(fakes['cutoff']!.connections[0]!.closed, false);
    fakes['cutoff']!.connections[0]!.destroy();
    // Then the connection closes: nothing is appended to a reply already half on its way.
    assert.equal((await first.readToEnd()).length, 0);
    // The second client's request was behind it on the same server connection: a normal error.
    assert.match(await second.readLine().then((b) => b.toString('latin1')), /^-ERR (unknown|Connection reset by peer)\r\n$/);
    second.command('GET', 'again');
    assert.equal(await second.readText(bulk('value-of-again')), bulk('value-of-again'));
    second.destroy();
  });

  test('a reply and a reset read together: the requests left get Connection reset by peer, as with twemproxy', async () => {
    const c = await RawClient.connect(ports['resetafter']!);
    c.command('SET', 'k', 'v');
    c.command('GET', 'k');
    for (let i = 0; i < 200 && resetAfter.seen < 2; i++) await sleep(10);
    assert.equal(resetAfter.seen, 2);
    // With Walnut stopped, its next read finds both the reply and the reset: libuv reports the
    // data and then an end of stream, and the reset is only found by asking the socket.
    await walnut.pause(); // (returns once every thread is stopped)
    try {
      resetAfter.conn!.write('+OK\r\n');
      await sleep(50);
      resetAfter.conn!.reset();
      await sleep(100);
    } finally {
      walnut.resume();
    }
    const want = '+OK\r\n-ERR Connection reset by peer\r\n';
    assert.equal(await c.readText(want), want);
    const s = await serverStats('resetafter');
    assert.equal(s['server_err'], 1);
    assert.equal(s['server_eof'], 0);
    c.command('GET', 'again');
    assert.equal(await c.readText(bulk('value-of-again')), bulk('value-of-again'));
    c.destroy();
  });

  test('garbage from the backend: -ERR Invalid argument, that connection closed and a new one opened', async () => {
    const c = await RawClient.connect(ports['garbage']!);
    c.command('GET', 'a');
    assert.equal(await c.readText('-ERR Invalid argument\r\n'), '-ERR Invalid argument\r\n');
    await waitUntil(() => fakes['garbage']!.connections[0]!.closed);
    c.command('GET', 'b');
    assert.equal(await c.readText(bulk('value-of-b')), bulk('value-of-b'));
    assert.equal(fakes['garbage']!.connections.length, 2);
    assert.equal((await serverStats('garbage'))['server_err'], 1);
    c.destroy();
  });

  test('a stray reply with no request closes that backend connection; nothing reaches a client', async () => {
    const c = await RawClient.connect(ports['stray']!);
    c.command('GET', 'a');
    assert.equal(await c.readText(bulk('value-of-a')), bulk('value-of-a'));
    await waitUntil(() => fakes['stray']!.connections[0]!.closed);
    c.command('GET', 'b');
    assert.equal(await c.readText(bulk('value-of-b')), bulk('value-of-b'));
    assert.equal(fakes['stray']!.connections.length, 2);
    const s = await serverStats('stray');
    assert.equal(s['server_err'], 1);
    assert.equal(s['responses'], 2);
    c.destroy();
  });

  test('-LOADING is a transient failure: -ERR Invalid argument for every pending request, then reconnect', async () => {
    const c = await RawClient.connect(ports['loading']!);
    c.command('GET', 'a');
    c.command('GET', 'b');
    const errors = '-ERR Invalid argument\r\n'.repeat(2);
    assert.equal(await c.readText(errors), errors);
    c.command('GET', 'c');
    assert.equal(await c.readText(bulk('value-of-c')), bulk('value-of-c'));
    assert.equal(fakes['loading']!.connections.length, 2);
    assert.equal((await serverStats('loading'))['server_err'], 1);
    c.destroy();
  });

  test('redis replies split at every byte boundary are framed and delivered intact', async () => {
    const c = await RawClient.connect(ports['split']!);
    const all = REDIS_REPLIES.join('');
    for (splitAt = 1; splitAt < all.length; splitAt++) {
      c.send(Buffer.concat(REDIS_REPLIES.map((_, i) => encodeCommand(['GET', `k${i}`]))));
      assert.equal(await c.readText(all), all, `split at byte ${splitAt}`);
    }
    assert.equal(fakes['split']!.connections.length, 1);
    c.destroy();
  });

  test('memcached replies split at every byte boundary are framed and delivered intact', async () => {
    const c = await RawClient.connect(ports['mcsplit']!);
    for (splitAt = 1; splitAt < MC_REPLIES.length; splitAt++) {
      c.send(MC_REQUESTS);
      assert.equal(await c.readText(MC_REPLIES), MC_REPLIES, `split at byte ${splitAt}`);
    }
    assert.equal(fakes['mcsplit']!.connections.length, 1);
    c.destroy();
  });
});

async function waitUntil(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}
