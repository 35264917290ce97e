// SIGTERM while a pipelining client is still owed large replies and keeps sending: every reply
// to a request Walnut accepted arrives whole, then the connection ends cleanly. Walnut used to
// close a client's socket as soon as its FIN was queued behind the last reply; a client still
// sending by then (the rest of its pipeline, which Walnut no longer reads) made the kernel
// reset the connection and drop the reply bytes it still held, so the client saw a reply cut
// off mid-value. Found by the shutdown chaos soak (memcached multi-gets, --workers 2, seed 2).
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { freePort, startRedis, startWalnut, type Running, type RunningProxy } from '../../scripts/lib/processes.js';
import { logMessages, waitForLogMessage } from './support/log-file.js';
import { serverStat, type Stats } from './support/stats.js';

const GETS = 30;
const VALUE = 'v'.repeat(1 << 20);
const GET = '*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n';
const PING = '*1\r\n$4\r\nPING\r\n';
const GET_REPLY = `$${VALUE.length}\r\n${VALUE}\r\n`;

describe('shutdown with a pipelining client owed large replies', () => {
  let redis: Running;

  before(async () => {
    redis = await startRedis();
  });

  after(async () => {
    await redis.stop();
  });

  /** Walnut with pool `p` (its one server named `r`) on a free port, `args` added. */
  const startPool = async (args: string[] = []): Promise<{ walnut: RunningProxy; port: number }> => {
    const port = await freePort();
    const yaml = ['p:', `  listen: 127.0.0.1:${port}`, '  redis: true', '  servers:', `    - 127.0.0.1:${redis.port}:1 r`, ''].join('\n');
    return { walnut: await startWalnut(yaml, { listenPorts: [port], args }), port };
  };

  test('an idle client that never ends its side gets the FIN and does not hold the exit up', async () => {
    const { walnut, port } = await startPool();
    // As a pooled connection nobody is reading: it does not close when Walnut's FIN arrives.
    const idle = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    try {
      let error: string | null = null;
      idle.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
      let text = '';
      idle.setEncoding('latin1').on('data', (d: string) => (text += d));
      const ended = new Promise<void>((resolve) => idle.once('end', () => resolve()));
      idle.write(PING);
      while (text !== '+PONG\r\n') await new Promise((r) => setTimeout(r, 5));
      walnut.kill('SIGTERM');
      assert.equal(await walnut.exited, 0);
      await ended;
      assert.equal(error, null, 'a clean end, no reset');
      assert.equal(idle.writable, true, 'the client had not ended its side');
      const held = logMessages(walnut.logPath).filter((line) => line.startsWith('shutdown: '));
      assert.deepEqual(held, [], 'nothing was still open when the grace period ended');
    } finally {
      idle.destroy();
      await walnut.stop();
    }
  });

  test('clients still sending when the grace period ends are closed then, and logged', async () => {
    // The stream's own linger (as long as the grace period) used to close such clients first:
    // gone when the grace period ended, they went unlogged. It started a moment after the
    // grace period for a client whose FIN went out at the signal (a race, lost most of the
    // time), and before it for one whose FIN went out earlier, after a QUIT (lost always).
    const { walnut, port } = await startPool();
    const senders = [0, 1].map(() => connect({ port, host: '127.0.0.1', allowHalfOpen: true }));
    let writer: NodeJS.Timeout | null = null;
    try {
      const texts = senders.map((s) => {
        s.on('error', () => undefined);
        const got = { text: '' };
        s.setEncoding('latin1').on('data', (d: string) => (got.text += d));
        return got;
      });
      senders[0]!.write(PING);
      senders[1]!.write(`${PING}*1\r\n$4\r\nQUIT\r\n`);
      while (texts[0]!.text !== '+PONG\r\n' || texts[1]!.text !== '+PONG\r\n+OK\r\n') await new Promise((r) => setTimeout(r, 5));
      // Never quiet for SHUTDOWN_QUIET_MS: a PING every 10 ms each until Walnut closes.
      writer = setInterval(() => {
        for (const s of senders) if (s.writable) s.write(PING);
      }, 10);
      // The QUIT's FIN a good while before the signal.
      await new Promise((r) => setTimeout(r, 1000));
      walnut.kill('SIGTERM');
      assert.equal(await walnut.exited, 0);
      const held = logMessages(walnut.logPath).filter((line) => line.startsWith('shutdown: '));
      assert.deepEqual(held, ['shutdown: 2 clients still owed replies or still sending after 5000 ms: closing them']);
    } finally {
      if (writer !== null) clearInterval(writer);
      for (const s of senders) s.destroy();
      await walnut.stop();
    }
  });

  for (const workers of [1, 2]) {
    test(`--workers ${workers}: every accepted GET gets its whole reply, then a clean end`, async () => {
      const { walnut, port } = await startPool(['--workers', String(workers)]);
      const socket = connect(port, '127.0.0.1');
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('error', reject);
        });
        const chunks: Buffer[] = [];
        let error: string | null = null;
        socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
        const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
        let reading = false;
        socket.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          if (!reading || socket.destroyed) return;
          // The client goes on with its pipeline while the replies come in, and takes them at
          // its own pace: part of the last reply is still in the kernel when Walnut has handed
          // it all over.
          socket.write(PING);
          socket.pause();
          setTimeout(() => socket.resume(), 1);
        });
        socket.pause();
        socket.write(`*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$${VALUE.length}\r\n${VALUE}\r\n${GET.repeat(GETS)}`);
        // Every GET has reached the server: Walnut accepted them all before the signal.
        const deadline = Date.now() + 10_000;
        while (serverStat((await walnut.stats()) as Stats, 'p', 'r', 'requests') < 1 + GETS) {
          assert.ok(Date.now() < deadline, 'the GETs reach the server');
          await new Promise((r) => setTimeout(r, 20));
        }
        walnut.kill('SIGTERM');
        await waitForLogMessage(walnut.logPath, 'signal 15 (SIGTERM) received, exiting');
        reading = true;
        socket.resume();
        await closed;
        assert.equal(await walnut.exited, 0);
        const text = Buffer.concat(chunks).toString('latin1');
        assert.equal(error, null, 'the connection ended without a reset');
        const want = `+OK\r\n${GET_REPLY.repeat(GETS)}`;
        assert.ok(text.length >= want.length, `${GETS} whole GET replies (got ${text.length} bytes of ${want.length})`);
        assert.ok(text.startsWith(want), 'the replies are the value, in order');
        // A worker may still read a few PINGs between the primary's log line and its own
        // shutdown: those are answered whole too.
        assert.match(text.slice(want.length), /^(\+PONG\r\n)*$/, 'only whole PONGs after the GET replies');
      } finally {
        socket.destroy();
        await walnut.stop();
      }
    });
  }
});
