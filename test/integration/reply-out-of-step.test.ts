// A redis server out of step (half of one reply, then the next ones) must fail its connection,
// not have its bytes re-cut into replies for the wrong requests: three clients share one server
// connection, and the server sends half of the first client's integer reply followed by the
// second and third clients' replies. Read as one line, ':1+for-b' would give the first client
// a reply holding the second one's data, the second client the third one's reply, and the
// third nothing. twemproxy (redis_parse_rsp) takes a top-level integer of digits and '-' only,
// and a line's first CR must be followed by LF; nutcracker 0.5.0 answers all three
// -ERR Invalid argument here (spec 4.5, 6.3). The same for memcached text lines (VERSION,
// CLIENT_ERROR, SERVER_ERROR): a line ends at its first CR (spec 5.4).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { freePort, startWalnut, type RunningProxy } from '../../scripts/lib/processes.js';
import { MisbehavingFakeServer, sleep } from './support/misbehaving-fake-server.js';
import { encodeCommand, RawClient } from './support/raw-client.js';

const INVALID = '-ERR Invalid argument\r\n';

/** Walnut listening on `port`, with one pool whose only server is `fake` (2 s timeout). */
function walnutInFrontOf(fake: MisbehavingFakeServer, port: number, redis: boolean): Promise<RunningProxy> {
  const yaml = [
    'step:',
    `  listen: 127.0.0.1:${port}`,
    ...(redis ? ['  redis: true'] : []),
    '  timeout: 2000',
    '  servers:',
    `    - 127.0.0.1:${fake.port}:1 misbehaving-fake`,
    '',
  ].join('\n');
  return startWalnut(yaml, { listenPorts: [port] });
}

describe('a redis server out of step', () => {
  let fake: MisbehavingFakeServer;
  let walnut: RunningProxy;
  let port: number;
  /**
   * What the fake answers, on whichever connection: `burst` once it has read three requests
   * (counted in `seen`), else `reply` to each.
   */
  let seen = 0;
  let burst: string | null = null;
  let reply = '';

  before(async () => {
    fake = await MisbehavingFakeServer.start((conn) => {
      conn.onRequest(() => {
        seen++;
        if (burst === null) conn.write(reply);
        else if (seen === 3) conn.write(burst);
      });
    });
    port = await freePort();
    walnut = await walnutInFrontOf(fake, port, true);
  });

  after(async () => {
    await walnut.stop();
    await fake.close();
  });

  /** Three clients send one GET each, in this order on the one server connection. */
  async function threeClients(): Promise<RawClient[]> {
    seen = 0;
    const clients = await Promise.all([0, 1, 2].map(() => RawClient.connect(port)));
    for (const [i, c] of clients.entries()) {
      c.command('GET', `key-${i}`);
      for (let t = 0; seen <= i && t < 200; t++) await sleep(5);
      assert.equal(seen, i + 1, `the fake read client ${i}'s GET`);
    }
    return clients;
  }

  const cases: [string, string][] = [
    ['half an integer reply, then a status and a bulk', ':1+for-b\r\n$5\r\nfor-c\r\n'],
    ['half a status line ending in CR, then the next replies', '+O\r+for-b\r\n$5\r\nfor-c\r\n'],
  ];
  for (const [name, bytes] of cases) {
    test(`${name}: every client gets Invalid argument, none another's reply`, async () => {
      burst = bytes;
      const clients = await threeClients();
      for (const [i, c] of clients.entries()) {
        assert.equal(await c.readText(INVALID), INVALID, `client ${i}`);
        assert.equal(c.pending, 0, `client ${i}: nothing more`);
      }
      // The client connections stay usable: the next request opens a new server connection.
      burst = null;
      reply = '$2\r\nok\r\n';
      clients[1]!.command('GET', 'later');
      assert.equal(await clients[1]!.readText(reply), reply);
      for (const c of clients) c.destroy();
      const stats = (await walnut.stats()) as Record<string, Record<string, Record<string, number>>>;
      assert.ok((stats['step']?.['misbehaving-fake']?.['server_err'] ?? 0) >= 1, 'the server connection failed');
    });
  }

  test('an integer reply of digits and minus signs passes, as in twemproxy', async () => {
    burst = null;
    reply = ':-12\r\n';
    const c = await RawClient.connect(port);
    c.send(encodeCommand(['INCR', 'n'])).catch(() => undefined);
    assert.equal(await c.readText(':-12\r\n'), ':-12\r\n');
    c.destroy();
  });
});

describe('a memcached server out of step', () => {
  let fake: MisbehavingFakeServer;
  let walnut: RunningProxy;
  let port: number;
  let seen = 0;

  before(async () => {
    // Half of the first client's VERSION line, cut after its CR, then the second and third
    // clients' replies (STORED, END).
    fake = await MisbehavingFakeServer.start((conn) => {
      conn.onLine(() => {
        if (++seen === 3) conn.write('VERSION 1.6.21\rSTORED\r\nEND\r\n');
      });
    });
    port = await freePort();
    walnut = await walnutInFrontOf(fake, port, false);
  });

  after(async () => {
    await walnut.stop();
    await fake.close();
  });

  test('every client gets Invalid argument, none another\'s reply', async () => {
    const requests = ['version\r\n', 'set k 0 0 1\r\nx\r\n', 'get k\r\n'];
    const clients = await Promise.all(requests.map(() => RawClient.connect(port)));
    for (const [i, c] of clients.entries()) {
      await c.send(requests[i]!);
      for (let t = 0; seen <= i && t < 200; t++) await sleep(5);
      assert.equal(seen, i + 1, `the fake read client ${i}'s request`);
    }
    const invalid = 'SERVER_ERROR Invalid argument\r\n';
    for (const [i, c] of clients.entries()) {
      assert.equal(await c.readText(invalid), invalid, `client ${i}`);
      assert.equal(c.pending, 0, `client ${i}: nothing more`);
      c.destroy();
    }
  });
});
