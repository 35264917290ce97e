// Backend failures in memcache pools: a server that refuses connections, one of three servers
// down, a server that stops answering (pool timeout) and one that comes back. Errors are
// twemproxy's `SERVER_ERROR <strerror>` and the client connection stays usable.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { freePort, refusingPort, startMemcached, startWalnut, type Running, type RunningProxy } from '../../scripts/lib/processes.js';
import { exchange, McClient, memcachePoolYaml } from './support/memcache-client.js';

const REFUSED = 'SERVER_ERROR Connection refused\r\n';

describe('memcache backend failures', () => {
  let live: Running[] = [];
  let walnut: RunningProxy;
  let deadPort: number;
  let partPort: number;
  let slowPort: number;
  let slow: Running;
  let downServerPort: number;

  before(async () => {
    live = await Promise.all([startMemcached(), startMemcached()]);
    slow = await startMemcached();
    [deadPort, partPort, slowPort, downServerPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const nobody = await refusingPort();
    const yaml = memcachePoolYaml([
      { name: 'dead', port: deadPort, servers: [nobody] },
      // One of three servers down.
      { name: 'part', port: partPort, servers: [live[0]!.port, downServerPort, live[1]!.port] },
      { name: 'slow', port: slowPort, servers: [slow.port], extra: ['timeout: 300'] },
    ]);
    walnut = await startWalnut(yaml, { listenPorts: [deadPort, partPort, slowPort] });
  });

  after(async () => {
    await walnut.stop();
    await Promise.all([...live, slow].map((s) => s.stop()));
  });

  test('a pool whose server is down answers SERVER_ERROR Connection refused to every command', async () => {
    const c = await McClient.connect(deadPort);
    const requests: [string, number][] = [
      ['get k\r\n', 1],
      ['get a b c\r\n', 1],
      ['gets k\r\n', 1],
      ['gat 0 k\r\n', 1],
      ['gats 0 a b\r\n', 1],
      ['set k 0 0 1\r\nx\r\n', 1],
      ['set k 0 0 1 noreply\r\nx\r\n', 0],
      ['add k 0 0 1\r\nx\r\n', 1],
      ['replace k 0 0 1\r\nx\r\n', 1],
      ['append k 0 0 1\r\nx\r\n', 1],
      ['prepend k 0 0 1\r\nx\r\n', 1],
      ['cas k 0 0 1 1\r\nx\r\n', 1],
      ['incr k 1\r\n', 1],
      ['decr k 1 noreply\r\n', 0],
      ['delete k\r\n', 1],
      ['touch k 0\r\n', 1],
      ['version\r\n', 1],
    ];
    await c.send(requests.map(([r]) => r).join(''));
    const expected = requests.map(([, n]) => REFUSED.repeat(n)).join('');
    const n = requests.reduce((sum, [, k]) => sum + k, 0);
    assert.equal((await c.readReplies(n)).toString('latin1'), expected);
    // Locally answered requests still work, and the connection is open.
    await c.send('foo\r\nget k\r\n');
    assert.equal((await c.readReplies(2)).toString('latin1'), `ERROR\r\n${REFUSED}`);
    assert.equal(c.ended, false);
    c.destroy();
  });

  test('one server of three down: its keys fail, the others work, a multi-get touching it fails', async () => {
    const keys = Array.from({ length: 60 }, (_, i) => `part:${i}`);
    const c = await McClient.connect(partPort);
    await c.send(keys.map((k) => `set ${k} 0 0 ${k.length}\r\n${k}\r\n`).join(''));
    const stored: string[] = [];
    const failed: string[] = [];
    for (const k of keys) {
      const r = (await c.readReply()).toString('latin1');
      if (r === 'STORED\r\n') stored.push(k);
      else {
        assert.equal(r, REFUSED, k);
        failed.push(k);
      }
    }
    assert.ok(stored.length > 0 && failed.length > 0, `both kinds: ${stored.length} stored, ${failed.length} failed`);
    // Every key that failed really belongs to the missing server: the live ones do not hold it.
    for (const s of live) {
      const r = await exchange(s.port, `get ${failed.join(' ')}\r\n`, 1);
      assert.equal(r, 'END\r\n');
    }
    const live2 = stored.slice(0, 5);
    await c.send(`get ${live2.join(' ')}\r\n`);
    assert.equal((await c.readReply()).toString('latin1'), live2.map((k) => `VALUE ${k} 0 ${k.length}\r\n${k}\r\n`).join('') + 'END\r\n');
    await c.send(`get ${stored[0]!} ${failed[0]!} ${stored[1]!}\r\nget ${failed[0]!}\r\nget ${stored[0]!}\r\n`);
    assert.equal(
      (await c.readReplies(3)).toString('latin1'),
      `${REFUSED}${REFUSED}VALUE ${stored[0]!} 0 ${stored[0]!.length}\r\n${stored[0]!}\r\nEND\r\n`,
    );

    // The server comes up: the same keys now work (Walnut reconnects on the next request).
    const back = await startMemcached({ port: downServerPort });
    try {
      const k = failed[0]!;
      let reply = '';
      for (let attempt = 0; attempt < 50; attempt++) {
        reply = await exchange(partPort, `set ${k} 0 0 2\r\nok\r\n`, 1);
        if (reply === 'STORED\r\n') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(reply, 'STORED\r\n');
      assert.equal(await exchange(partPort, `get ${k} ${stored[0]!}\r\n`, 1), `VALUE ${k} 0 2\r\nok\r\nVALUE ${stored[0]!} 0 ${stored[0]!.length}\r\n${stored[0]!}\r\nEND\r\n`);
      assert.equal(await exchange(back.port, `get ${k}\r\n`, 1), `VALUE ${k} 0 2\r\nok\r\nEND\r\n`);
    } finally {
      await back.stop();
    }
    c.destroy();
  });

  test('a server that stops answering: SERVER_ERROR Connection timed out, then it recovers', async () => {
    assert.equal(await exchange(slowPort, 'set slow:k 0 0 1\r\nv\r\n', 1), 'STORED\r\n');
    await slow.pause();
    try {
      const c = await McClient.connect(slowPort);
      await c.send('get slow:k\r\nget slow:a slow:b\r\nset slow:k 0 0 1 noreply\r\nw\r\nfoo\r\n');
      assert.equal(
        (await c.readReplies(3)).toString('latin1'),
        'SERVER_ERROR Connection timed out\r\nSERVER_ERROR Connection timed out\r\nERROR\r\n',
      );
      assert.equal(c.ended, false);
      c.destroy();
    } finally {
      slow.resume();
    }
    let reply = '';
    for (let attempt = 0; attempt < 50; attempt++) {
      reply = await exchange(slowPort, 'get slow:k\r\n', 1);
      if (reply.startsWith('VALUE')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(reply, /^VALUE slow:k 0 1\r\n[vw]\r\nEND\r\n$/);
  });
});
