// Minimal raw-socket clients the end-to-end benchmark uses around the load runs: filling
// backends, sanity checks, timing one huge MGET / multi-get, and holding many idle
// connections. No twemproxy counterpart.
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

const LF = 10;

export function openSocket(port: number, timeoutMs = 5_000): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    const timer = setTimeout(() => s.destroy(new Error(`connect to ${port} timed out`)), timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.off('error', onError);
      s.setNoDelay(true);
      resolve(s);
    });
    const onError = (e: Error): void => {
      clearTimeout(timer);
      reject(e);
    };
    s.once('error', onError);
  });
}

/**
 * Writes `payload` on `socket` and resolves with what arrives until `done(received, length)`
 * says the reply is complete, and the milliseconds that took. Rejects on error, close or timeout.
 */
export function exchange(
  socket: Socket,
  payload: Buffer | string,
  done: (chunks: readonly Buffer[], length: number) => boolean,
  timeoutMs: number,
): Promise<{ reply: Buffer; ms: number }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
    };
    const onData = (c: Buffer): void => {
      chunks.push(c);
      length += c.length;
      if (done(chunks, length)) {
        const ms = performance.now() - t0;
        cleanup();
        resolve({ reply: Buffer.concat(chunks, length), ms });
      }
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(e);
    };
    const onClose = (): void => {
      cleanup();
      const head = Buffer.concat(chunks, length).subarray(0, 80).toString('latin1');
      reject(new Error(`connection closed after ${length} reply bytes: ${JSON.stringify(head)}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no complete reply after ${timeoutMs} ms (${length} bytes)`));
    }, timeoutMs);
    socket.on('data', onData);
    socket.once('error', onError);
    socket.once('close', onClose);
    const t0 = performance.now();
    socket.write(payload);
  });
}

/** A `done` for exchange(): complete after `n` LF bytes (n one-line replies). */
export function afterLines(n: number): (chunks: readonly Buffer[], length: number) => boolean {
  let seen = 0;
  let scanned = 0;
  return (chunks) => {
    for (; scanned < chunks.length; scanned++) {
      const c = chunks[scanned] as Buffer;
      let i = c.indexOf(LF);
      while (i >= 0) {
        seen++;
        i = c.indexOf(LF, i + 1);
      }
    }
    return seen >= n;
  };
}

/** A `done` for exchange(): complete after `n` bytes. */
export function afterBytes(n: number): (chunks: readonly Buffer[], length: number) => boolean {
  return (_chunks, length) => length >= n;
}

/** Opens a connection, sends payload, waits for `lines` one-line replies, closes. */
export async function sendExpectingLines(port: number, payload: Buffer | string, lines: number, timeoutMs = 30_000): Promise<Buffer> {
  const s = await openSocket(port);
  try {
    return (await exchange(s, payload, afterLines(lines), timeoutMs)).reply;
  } finally {
    s.destroy();
  }
}

/** RESP encoding of one command. */
export function respCommand(args: readonly string[]): string {
  let out = `*${args.length}\r\n`;
  for (const a of args) out += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
  return out;
}

/**
 * Opens `count` connections to `port`, at most `concurrency` connecting at a time (a burst of
 * thousands would overflow the listen backlog), and leaves them idle. Connections that fail are
 * counted, not retried.
 */
export async function openIdle(port: number, count: number, concurrency: number): Promise<{ sockets: Socket[]; failed: number }> {
  const sockets: Socket[] = [];
  let failed = 0;
  let nextIndex = 0;
  const worker = async (): Promise<void> => {
    while (nextIndex < count) {
      nextIndex++;
      try {
        const s = await openSocket(port, 10_000);
        // An idle client that the proxy closes must not crash the harness.
        s.on('error', () => undefined);
        sockets.push(s);
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { sockets, failed };
}

/** Closes all sockets, as clients that go away, and waits until each has closed. */
export async function closeAll(sockets: readonly Socket[]): Promise<void> {
  await Promise.all(
    sockets.map(
      (s) =>
        new Promise<void>((resolve) => {
          if (s.closed) return resolve();
          s.once('close', () => resolve());
          s.destroy();
        }),
    ),
  );
}
