// The hard memory bounds that close or refuse rather than pause: MAX_REQUEST_BYTES (one
// request still arriving), MAX_CLIENT_UNSENT_BYTES (replies a client does not read),
// MAX_SERVER_QUEUED_BYTES (requests for a server that takes none), MAX_GATHERED_REPLY_BYTES
// (a reply held whole for a merge) and MAX_CLIENT_HELD_REPLY_BYTES (replies held for one client
// until they can be written). Without them one client, or a stopped server and a stream
// of clients, grew Walnut without limit.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { freePort, startMemcached, startRedis, startWalnut, type Running, type RunningProxy } from '../../scripts/lib/processes.js';
import { MAX_GATHERED_REPLY_BYTES } from '../../src/proto/codec.js';
import { MAX_CLIENT_HELD_REPLY_BYTES, MAX_CLIENT_UNSENT_BYTES, MAX_REQUEST_BYTES, MAX_SERVER_QUEUED_BYTES } from '../../src/proxy/limits.js';

const MiB = 1024 * 1024;

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

/** Everything the socket receives until the proxy closes it (or `ms` pass: then rejects). */
function readUntilClosed(s: Socket, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const timer = setTimeout(() => reject(new Error(`not closed after ${ms} ms; got ${JSON.stringify(got.slice(0, 200))}`)), ms);
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
    });
    const done = (): void => {
      clearTimeout(timer);
      resolve(got);
    };
    s.once('close', done);
    s.on('error', () => undefined);
  });
}

/** Writes `chunk` `times` times, waiting for drains, and stops early once the socket closes. */
async function writeMany(s: Socket, head: Buffer, chunk: Buffer, times: number): Promise<number> {
  let written = 0;
  if (!s.write(head)) await new Promise((r) => s.once('drain', r));
  for (let i = 0; i < times && !s.destroyed && s.writable; i++) {
    written += chunk.length;
    if (!s.write(chunk)) {
      await new Promise<void>((resolve) => {
        const go = (): void => {
          s.off('drain', go);
          s.off('close', go);
          resolve();
        };
        s.once('drain', go);
        s.once('close', go);
      });
    }
  }
  return written;
}

describe('memory bounds', () => {
  let redis: Running;
  let redis2: Running;
  let memcached: Running;
  let walnut: RunningProxy;
  let rport: number;
  let mport: number;
  let r2port: number;

  before(async () => {
    redis = await startRedis();
    redis2 = await startRedis();
    memcached = await startMemcached({ args: ['-I', '2m'] });
    rport = await freePort();
    mport = await freePort();
    r2port = await freePort();
    const yaml =
      `r:\n  listen: 127.0.0.1:${rport}\n  redis: true\n  servers:\n    - 127.0.0.1:${redis.port}:1\n` +
      `m:\n  listen: 127.0.0.1:${mport}\n  servers:\n    - 127.0.0.1:${memcached.port}:1\n` +
      `r2:\n  listen: 127.0.0.1:${r2port}\n  redis: true\n  servers:\n    - 127.0.0.1:${redis.port}:1\n    - 127.0.0.1:${redis2.port}:1\n`;
    walnut = await startWalnut(yaml, { listenPorts: [rport, mport, r2port] });
  });

  after(async () => {
    await walnut?.stop();
    await redis?.stop();
    await redis2?.stop();
    await memcached?.stop();
  });

  test(`a redis request growing past ${MAX_REQUEST_BYTES / MiB} MiB gets an error and the connection closes`, async () => {
    const s = await open(rport);
    const closed = readUntilClosed(s, 60_000);
    const bulk = Buffer.concat([Buffer.from(`$${MiB}\r\n`), Buffer.alloc(MiB, 0x61), Buffer.from('\r\n')]);
    // Many 1 MiB arguments, the request never finished: each argument alone is fine. The client
    // stops when the error and the close reach it: 4 to 9 MiB past the limit in six runs next to
    // two busy loops, but once over 64 MiB in a whole suite run (two test files at a time), so
    // the margin is wide; a proxy that never closed would take all of it.
    const sent = await writeMany(s, Buffer.from('*100000\r\n$5\r\nRPUSH\r\n$1\r\nk\r\n'), bulk, MAX_REQUEST_BYTES / MiB + 256);
    const got = await closed;
    assert.equal(got, `-ERR request too large (over ${MAX_REQUEST_BYTES / MiB} MiB)\r\n`);
    assert.ok(sent < MAX_REQUEST_BYTES + 256 * MiB, `sent ${sent}`);
  });

  test(`a memcached set whose data grows past ${MAX_REQUEST_BYTES / MiB} MiB gets an error and the connection closes`, async () => {
    const s = await open(mport);
    const closed = readUntilClosed(s, 60_000);
    const block = Buffer.alloc(MiB, 0x61);
    await writeMany(s, Buffer.from(`set k 0 0 ${2 * MAX_REQUEST_BYTES}\r\n`), block, MAX_REQUEST_BYTES / MiB + 64);
    assert.equal(await closed, `SERVER_ERROR request too large (over ${MAX_REQUEST_BYTES / MiB} MiB)\r\n`);
  });

  test(`a client that does not read its replies is disconnected past ${MAX_CLIENT_UNSENT_BYTES / MiB} MiB of them`, async () => {
    const setter = await open(rport);
    const value = Buffer.alloc(MiB, 0x62);
    setter.write(Buffer.concat([Buffer.from(`*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$${MiB}\r\n`), value, Buffer.from('\r\n')]));
    await new Promise<void>((resolve) => setter.once('data', () => resolve()));
    setter.destroy();
    const before = (await walnut.stats()) as Record<string, Record<string, number>>;
    const s = await open(rport);
    s.pause(); // never reads (and so would not notice the close either, until it reads)
    s.on('error', () => undefined);
    const gets = (MAX_CLIENT_UNSENT_BYTES / MiB) * 2;
    s.write(Buffer.from('*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n'.repeat(gets)));
    const clientErr = async (): Promise<number> => {
      const stats = (await walnut.stats()) as Record<string, Record<string, number>>;
      return (stats['r']?.['client_err'] ?? 0) - (before['r']?.['client_err'] ?? 0);
    };
    for (let i = 0; i < 600 && (await clientErr()) === 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await clientErr(), 1);
    assert.match(readFileSync(walnut.logPath, 'utf8'), /over 268435456 bytes of replies not read, closing/);
    // Reading now, the client finds its connection closed, short of what it asked for.
    let received = 0;
    s.on('data', (d: Buffer) => {
      received += d.length;
    });
    const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
    s.resume();
    await closed;
    assert.ok(received < gets * MiB, `received ${received}`);
    // The pool still serves.
    const c = await open(rport);
    c.write('*2\r\n$3\r\nGET\r\n$7\r\nmissing\r\n');
    const reply = await new Promise<string>((resolve) => c.once('data', (d: Buffer) => resolve(d.toString('latin1'))));
    c.destroy();
    assert.equal(reply, '$-1\r\n');
  });

  test(`new clients' requests for a stopped server are refused (ENOBUFS) once ${MAX_SERVER_QUEUED_BYTES / 2 / MiB} MiB are queued, and the rest are answered when it resumes`, async () => {
    const valueBytes = 8 * MiB;
    const clients = MAX_SERVER_QUEUED_BYTES / valueBytes + 6;
    const request = Buffer.concat([Buffer.from(`*3\r\n$3\r\nSET\r\n$4\r\nfull\r\n$${valueBytes}\r\n`), Buffer.alloc(valueBytes, 0x63), Buffer.from('\r\n')]);
    await redis.pause();
    const replies: Promise<string>[] = [];
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < clients; i++) {
        const s = await open(rport);
        sockets.push(s);
        replies.push(
          new Promise<string>((resolve) => {
            let got = '';
            s.on('data', (d: Buffer) => {
              got += d.toString('latin1');
              if (got.endsWith('\r\n')) resolve(got);
            });
          }),
        );
        // One whole request each: every client is paused after it, so only new clients add.
        await new Promise<void>((resolve) => s.write(request, () => resolve()));
      }
      // Refusals come at once, while the server is still stopped.
      const early = await Promise.race([
        Promise.any(replies),
        new Promise<string>((resolve) => setTimeout(() => resolve('none'), 10_000)),
      ]);
      assert.equal(early, '-ERR No buffer space available\r\n');
    } finally {
      redis.resume();
    }
    const all = await Promise.all(replies);
    for (const s of sockets) s.destroy();
    const refused = all.filter((r) => r === '-ERR No buffer space available\r\n').length;
    const ok = all.filter((r) => r === '+OK\r\n').length;
    assert.equal(refused + ok, clients, all.join(''));
    // New clients (none of them has waited for this connection) get half the bound.
    assert.ok(refused >= 1 && ok >= MAX_SERVER_QUEUED_BYTES / 2 / valueBytes - 2, `refused ${refused}, ok ${ok}`);
  });

  /** Sends `request` and reads the reply up to its first CR LF (an error or a status line). */
  async function firstLine(port: number, request: Buffer): Promise<string> {
    const s = await open(port);
    try {
      s.write(request);
      return await new Promise<string>((resolve, reject) => {
        let got = '';
        s.on('data', (d: Buffer) => {
          got += d.toString('latin1', 0, Math.min(d.length, 200));
          const at = got.indexOf('\r\n');
          if (at >= 0) resolve(got.slice(0, at + 2));
        });
        s.on('error', reject);
      });
    } finally {
      s.destroy();
    }
  }

  const bigValue = Buffer.alloc(MiB, 0x64);
  const copies = MAX_GATHERED_REPLY_BYTES / MiB / 2 + 20;

  /** Keys of a 1 MiB value in pool r2, one on each server (which lands where is asked of them). */
  let bigKeys: Promise<{ a: string; b: string }> | null = null;
  function bigKeyOnEachServer(): Promise<{ a: string; b: string }> {
    bigKeys ??= (async () => {
      const keys: string[] = [];
      for (let i = 0; i < 20; i++) {
        const key = `${String.fromCharCode(97 + i)}${i * 7919}big`; // spread: fnv1a_64 keeps close keys together
        assert.equal(await firstLine(r2port, Buffer.concat([Buffer.from(`*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$${MiB}\r\n`), bigValue, Buffer.from('\r\n')])), '+OK\r\n');
        keys.push(key);
      }
      const exists = async (port: number, key: string): Promise<boolean> =>
        (await firstLine(port, Buffer.from(`*2\r\n$6\r\nEXISTS\r\n$${key.length}\r\n${key}\r\n`))) === ':1\r\n';
      let a = '';
      let b = '';
      for (const k of keys) {
        if (a === '' && (await exists(redis.port, k))) a = k;
        if (b === '' && (await exists(redis2.port, k))) b = k;
      }
      assert.ok(a !== '' && b !== '', 'a key on each server');
      return { a, b };
    })();
    return bigKeys;
  }

  test(`an MGET over two servers whose replies add up past ${MAX_GATHERED_REPLY_BYTES / MiB} MiB fails; the pool still serves`, async () => {
    const { a, b } = await bigKeyOnEachServer();
    // Each server's part is under the bound, together they are over it.
    const names = [...Array<string>(copies).fill(a), ...Array<string>(copies).fill(b)];
    const mget = Buffer.from(`*${names.length + 1}\r\n$4\r\nMGET\r\n${names.map((k) => `$${k.length}\r\n${k}\r\n`).join('')}`);
    assert.equal(await firstLine(r2port, mget), '-ERR Message too long\r\n');
    assert.equal(await firstLine(r2port, Buffer.from(`*2\r\n$6\r\nEXISTS\r\n$${a.length}\r\n${a}\r\n`)), ':1\r\n');
  });

  // Replies that cannot be written before an earlier one: with the first server stopped, the
  // second's answers pile up in the proxy, whole or as fragments of MGETs waiting to merge.
  // A QUIT at the end (the client is then being closed) must not lift the bound.
  for (const shape of ['whole replies', 'MGET fragments', 'whole replies, then QUIT'] as const) {
    test(`a client with over ${MAX_CLIENT_HELD_REPLY_BYTES / MiB} MiB of ${shape} held behind an unanswered request is disconnected`, async () => {
      const { a, b } = await bigKeyOnEachServer();
      const command = (...args: string[]): string => `*${args.length}\r\n${args.map((x) => `$${x.length}\r\n${x}\r\n`).join('')}`;
      const held = MAX_CLIENT_HELD_REPLY_BYTES / MiB + 20;
      const pipeline =
        shape === 'MGET fragments'
          ? command('MGET', a, b).repeat(held)
          : command('GET', a) + command('GET', b).repeat(held) + (shape === 'whole replies' ? '' : command('QUIT'));
      const before = (await walnut.stats()) as Record<string, Record<string, number>>;
      await redis.pause();
      try {
        const s = await open(r2port);
        const closed = readUntilClosed(s, 60_000);
        s.write(pipeline);
        // Closed while the first server is still stopped, with nothing sent.
        assert.equal(await closed, '');
      } finally {
        redis.resume();
      }
      const stats = (await walnut.stats()) as Record<string, Record<string, number>>;
      assert.equal((stats['r2']?.['client_err'] ?? 0) - (before['r2']?.['client_err'] ?? 0), 1);
      assert.match(readFileSync(walnut.logPath, 'utf8'), /over 536870912 bytes of replies held behind unanswered requests, closing/);
      assert.equal(await firstLine(r2port, Buffer.from(command('EXISTS', a, b))), ':2\r\n');
    });
  }

  test(`a memcached multi-get whose reply grows past ${MAX_GATHERED_REPLY_BYTES / MiB} MiB fails; the connection goes on`, async () => {
    const s = await open(mport);
    try {
      let got = '';
      s.on('data', (d: Buffer) => {
        got += d.toString('latin1', 0, Math.min(d.length, 200));
      });
      const waitFor = async (text: string): Promise<void> => {
        for (let i = 0; i < 600 && !got.includes(text); i++) await new Promise((r) => setTimeout(r, 50));
        assert.ok(got.includes(text), `waiting for ${JSON.stringify(text)}, got ${JSON.stringify(got.slice(0, 200))}`);
      };
      s.write(Buffer.concat([Buffer.from(`set big 0 0 ${MiB}\r\n`), bigValue, Buffer.from('\r\n')]));
      await waitFor('STORED\r\n');
      got = '';
      s.write(`get${' big'.repeat(copies * 2)}\r\n`);
      await waitFor('SERVER_ERROR Message too long\r\n');
      got = '';
      s.write('get nothing\r\n');
      await waitFor('END\r\n');
    } finally {
      s.destroy();
    }
  });
});
