// Wire-level behaviour of a Redis pool: exact reply bytes, ordering with local replies and
// errors in between, errors that keep the connection open, framing errors that close it,
// QUIT, half-close, inline commands, large values, and backend failures.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { freePort, refusingPort, startRedis, startWalnut, type Running, type RunningProxy } from '../../scripts/lib/processes.js';
import { encodeCommand, RawClient } from './support/raw-client.js';

describe('redis pool wire protocol', () => {
  let shards: Running[] = [];
  let walnut: RunningProxy;
  let port: number;
  let deadPort: number;

  before(async () => {
    shards = await Promise.all([startRedis(), startRedis(), startRedis()]);
    port = await freePort();
    deadPort = await freePort();
    const deadServerPort = await refusingPort();
    const yaml = [
      'main:',
      `  listen: 127.0.0.1:${port}`,
      '  redis: true',
      '  servers:',
      ...shards.map((s, i) => `    - 127.0.0.1:${s.port}:1 s${i}`),
      'dead:',
      `  listen: 127.0.0.1:${deadPort}`,
      '  redis: true',
      '  servers:',
      `    - 127.0.0.1:${deadServerPort}:1`,
      '',
    ].join('\n');
    walnut = await startWalnut(yaml, { listenPorts: [port, deadPort] });
  });

  after(async () => {
    await walnut.stop();
    await Promise.all(shards.map((s) => s.stop()));
  });

  test('PING sent one byte at a time gets +PONG', async () => {
    const c = await RawClient.connect(port);
    for (const byte of encodeCommand(['PING'])) {
      c.send(Buffer.from([byte]));
      await new Promise((r) => setTimeout(r, 2));
    }
    assert.equal(await c.readText('+PONG\r\n'), '+PONG\r\n');
    c.destroy();
  });

  test("a script's -BUSY / -OOM / -LOADING reply is its own, not a failing server", async () => {
    // twemproxy (and Walnut before) closed the shared server connection on such a reply, failing
    // every request in flight there, and counted a server failure: one client could get a
    // healthy server ejected.
    const c = await RawClient.connect(port);
    const forged = (text: string): Buffer => encodeCommand(['EVAL', `return redis.error_reply('${text}')`, '1', 'busy:k']);
    c.send(Buffer.concat([forged('BUSY forged'), forged('OOM forged'), forged('LOADING forged'), encodeCommand(['GET', 'busy:k'])]));
    const want = '-BUSY forged\r\n-OOM forged\r\n-LOADING forged\r\n$-1\r\n';
    assert.equal(await c.readText(want), want);
    c.destroy();
  });

  test('inline commands work as in redis-server', async () => {
    const c = await RawClient.connect(port);
    c.send('PING\r\nSET inline:k "v \\x41"\r\nGET inline:k\r\n');
    assert.equal(await c.readText('+PONG\r\n+OK\r\n$3\r\nv A\r\n'), '+PONG\r\n+OK\r\n$3\r\nv A\r\n');
    c.destroy();
  });

  test('replies come back in request order with local replies and errors in between', async () => {
    const c = await RawClient.connect(port);
    const requests = [
      ['SET', 'ord:a', '1'],
      ['PING'],
      ['KEYS', '*'],
      ['GET', 'ord:a'],
      ['MGET', 'ord:a', 'ord:none', 'ord:a'],
      ['GET'],
      ['PING', 'hi'],
      ['NOSUCHCOMMAND', 'x'],
      ['DEL', 'ord:a', 'ord:none'],
      ['GET', 'ord:a'],
    ];
    c.send(Buffer.concat(requests.map((r) => encodeCommand(r))));
    const expected = [
      '+OK\r\n',
      '+PONG\r\n',
      null, // -ERR naming KEYS
      '$1\r\n1\r\n',
      '*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n1\r\n',
      "-ERR wrong number of arguments for 'get' command\r\n",
      '$2\r\nhi\r\n',
      null, // -ERR unknown command
      ':1\r\n',
      '$-1\r\n',
    ];
    for (const [i, want] of expected.entries()) {
      if (want !== null) {
        assert.equal(await c.readText(want), want, `reply ${i}`);
        continue;
      }
      let line = '';
      while (!line.endsWith('\r\n')) line += (await c.read(1)).toString('latin1');
      assert.match(line, /^-ERR .*(KEYS|NOSUCHCOMMAND|nosuchcommand)/i, `reply ${i}: ${line}`);
    }
    c.command('PING');
    assert.equal(await c.readText('+PONG\r\n'), '+PONG\r\n', 'the connection is still usable');
    c.destroy();
  });

  test('a transaction sent as one pipeline (MULTI ... EXEC) runs none of its commands', async () => {
    // What redis-py's default pipeline(), ioredis' and node-redis' multi() send. Walnut ran the
    // INCRs one by one and then answered EXEC with an error: the client was told the transaction
    // failed although it had taken effect, and a retry applied it twice. twemproxy closes the
    // connection at MULTI, so nothing runs there either.
    const c = await RawClient.connect(port);
    const tx = (end: string): Buffer =>
      Buffer.concat([['MULTI'], ['INCR', 'tx:n'], ['SET', 'tx:s', 'v'], ['PING'], [end]].map((r) => encodeCommand(r)));
    const notRun = "-ERR walnut: not run: it follows a MULTI the proxy refused (EXEC or DISCARD ends that transaction)\r\n";
    const refused = "-ERR walnut: 'MULTI' is not supported by the proxy\r\n" + notRun + notRun + notRun;
    c.send(Buffer.concat([encodeCommand(['DEL', 'tx:n', 'tx:s']), tx('EXEC'), tx('DISCARD'), encodeCommand(['MGET', 'tx:n', 'tx:s'])]));
    const want =
      ':0\r\n' +
      refused + '-EXECABORT Transaction discarded because of previous errors.\r\n' +
      refused + '+OK\r\n' +
      '*2\r\n$-1\r\n$-1\r\n';
    assert.equal(await c.readText(want), want);
    c.command('INCR', 'tx:n');
    assert.equal(await c.readText(':1\r\n'), ':1\r\n', 'after EXEC or DISCARD, commands run again');
    c.destroy();
  });

  test('an unframeable request gets -ERR Protocol error and the connection closes', async () => {
    const c = await RawClient.connect(port);
    c.send('*1\r\n$x\r\n');
    const rest = (await c.readToEnd()).toString('latin1');
    assert.match(rest, /^-ERR Protocol error[^\r\n]*\r\n$/);
  });

  test('QUIT answers +OK, flushes earlier replies, ignores what follows and closes', async () => {
    const c = await RawClient.connect(port);
    c.send(Buffer.concat([encodeCommand(['SET', 'q:1', 'v']), encodeCommand(['QUIT']), encodeCommand(['SET', 'q:1', 'after'])]));
    assert.equal((await c.readToEnd()).toString('latin1'), '+OK\r\n+OK\r\n');
    const check = await RawClient.connect(port);
    check.command('GET', 'q:1');
    assert.equal(await check.readText('$1\r\nv\r\n'), '$1\r\nv\r\n');
    check.destroy();
  });

  test('a half-closed client still receives every reply', async () => {
    const c = await RawClient.connect(port);
    const n = 50;
    const reqs: Buffer[] = [];
    for (let i = 0; i < n; i++) reqs.push(encodeCommand(['INCR', 'half:counter']));
    c.send(Buffer.concat(reqs));
    c.end();
    const all = (await c.readToEnd()).toString('latin1');
    const expected = Array.from({ length: n }, (_, i) => `:${i + 1}\r\n`).join('');
    assert.equal(all, expected);
  });

  test('empty keys and binary values pass through intact', async () => {
    const c = await RawClient.connect(port);
    const value = Buffer.from([0, 13, 10, 255, 42, 13, 10]);
    c.command('SET', '', value);
    c.command('GET', '');
    const want = Buffer.concat([Buffer.from('+OK\r\n$7\r\n'), value, Buffer.from('\r\n')]);
    assert.deepEqual(await c.read(want.length), want);
    c.destroy();
  });

  test('a 5 MiB value survives the trip both ways', async () => {
    const c = await RawClient.connect(port);
    const value = Buffer.alloc(5 * 1024 * 1024);
    for (let i = 0; i < value.length; i++) value[i] = (i * 7) & 0xff;
    c.command('SET', 'big', value);
    c.command('GET', 'big');
    assert.equal(await c.readText('+OK\r\n'), '+OK\r\n');
    const header = `$${value.length}\r\n`;
    assert.equal(await c.readText(header), header);
    assert.deepEqual(await c.read(value.length, 20000), value);
    assert.equal(await c.readText('\r\n'), '\r\n');
    c.destroy();
  });

  test('a dead backend gives -ERR Connection refused, and the client stays connected', async () => {
    const c = await RawClient.connect(deadPort);
    c.command('GET', 'k');
    assert.equal(await c.readText('-ERR Connection refused\r\n'), '-ERR Connection refused\r\n');
    c.command('MGET', 'a', 'b', 'c');
    assert.equal(await c.readText('-ERR Connection refused\r\n'), '-ERR Connection refused\r\n');
    c.command('PING');
    assert.equal(await c.readText('+PONG\r\n'), '+PONG\r\n');
    c.destroy();
  });
});
