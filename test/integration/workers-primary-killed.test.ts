// --workers 2: the primary killed outright (SIGKILL, the OOM killer). Each worker stops by itself
// and lets the requests in flight get their replies (up to 1 s). Node's cluster used to end the
// worker at once when the channel to the primary closed, before its own stop ran: every client
// in the middle of a request saw its connection closed instead of the reply. A second SIGTERM
// still ends everything at once: the primary kills its workers before it exits.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { freePort, startWalnut, type RunningProxy } from '../../scripts/lib/processes.js';
import { workerPids } from './support/workers.js';

const REPLY_DELAY_MS = 500;
let slowFakeRedis: Server;
let backendPort = 0;

before(async () => {
  backendPort = await freePort();
  // A deliberately slow fake redis: +OK to each command, REPLY_DELAY_MS late (a command per `*N`).
  slowFakeRedis = createServer((socket) => {
    socket.on('error', () => undefined);
    let tail = '';
    socket.on('data', (data) => {
      const text = tail + data.toString('latin1');
      const commands = (text.match(/(?:^|\r\n)\*\d+\r\n/g) ?? []).length;
      tail = text.slice(text.lastIndexOf('\r\n') + 2);
      for (let i = 0; i < commands; i++) {
        setTimeout(() => {
          if (!socket.destroyed) socket.write('+OK\r\n');
        }, REPLY_DELAY_MS);
      }
    });
  });
  await new Promise<void>((resolve) => slowFakeRedis.listen(backendPort, '127.0.0.1', resolve));
});

after(() => new Promise<void>((resolve) => slowFakeRedis.close(() => resolve())));

/** Walnut --workers 2 in front of the slow fake redis; returns it and its port. */
async function startWorkers(): Promise<{ walnut: RunningProxy; port: number }> {
  const port = await freePort();
  const yaml = `w:\n  listen: 127.0.0.1:${port}\n  redis: true\n  timeout: 5000\n  servers:\n    - 127.0.0.1:${backendPort}:1\n`;
  return { walnut: await startWalnut(yaml, { listenPorts: [port], args: ['--workers', '2'] }), port };
}

/** A connected client that never retries (a failure is its reply's rejection). */
async function connectClient(port: number): Promise<Redis> {
  const c = new Redis({ port, host: '127.0.0.1', enableReadyCheck: false, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

test('requests in flight when the primary is killed get their replies, then the workers exit', { timeout: 30_000 }, async () => {
  const { walnut, port } = await startWorkers();
  const clients: Redis[] = [];
  try {
    // Both workers serving: each has clients in flight.
    const served = new Set<number>();
    for (let i = 0; i < 100 && (clients.length < 8 || served.size < 2); i++) {
      const c = await connectClient(port);
      served.add(Number(/process_id:(\d+)/.exec(await c.info('server'))?.[1]));
      clients.push(c);
    }
    assert.equal(served.size, 2);
    const workers = workerPids(walnut.pid);
    const replies = clients.map((c, i) => c.set(`k${i}`, 'v').catch((err: Error) => err.message));
    await new Promise((r) => setTimeout(r, REPLY_DELAY_MS / 5));
    walnut.kill('SIGKILL');
    assert.deepEqual(await Promise.all(replies), clients.map(() => 'OK'));
    for (let i = 0; workers.some((pid) => alive(pid)); i++) {
      assert.ok(i < 100, 'the workers exit');
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    for (const c of clients) c.disconnect();
    await walnut.stop();
  }
});

test('a second SIGTERM ends the workers at once too: no reply comes after it', { timeout: 30_000 }, async () => {
  const { walnut, port } = await startWorkers();
  const clients: Redis[] = [];
  try {
    for (let i = 0; i < 8; i++) clients.push(await connectClient(port));
    const workers = workerPids(walnut.pid);
    const replies = clients.map((c, i) => c.set(`k${i}`, 'v').catch((err: Error) => err.message));
    await new Promise((r) => setTimeout(r, REPLY_DELAY_MS / 5));
    walnut.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, REPLY_DELAY_MS / 5));
    walnut.kill('SIGTERM');
    assert.equal(await walnut.exited, 1);
    assert.deepEqual(await Promise.all(replies), clients.map(() => 'Connection is closed.'));
    for (let i = 0; workers.some((pid) => alive(pid)); i++) {
      assert.ok(i < 20, 'the workers are gone');
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    for (const c of clients) c.disconnect();
    await walnut.stop();
  }
});

/** Running (a zombie waiting for its new parent to reap it counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return false;
  }
}
