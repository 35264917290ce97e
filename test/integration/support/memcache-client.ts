/**
 * A raw memcache ASCII test client: sends exact bytes and frames replies (status lines, VALUE
 * blocks up to END, STAT lists), so integration tests can compare Walnut's reply bytes with what
 * memcached itself sends for the same request.
 */
import { connect, type Socket } from 'node:net';

const LF = 10;
const END = Buffer.from('END\r\n', 'latin1');

export class McClient {
  private readonly socket: Socket;
  private buffered: Buffer = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  /** The peer closed the connection (or it failed). */
  ended = false;
  /** How many 'data' events have delivered bytes so far (how many reads the replies took). */
  reads = 0;
  readonly closed: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.reads++;
      this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
      this.wake();
    });
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.ended = true;
        this.wake();
        resolve();
      });
    });
    socket.on('error', () => undefined);
  }

  static async connect(port: number, host = '127.0.0.1'): Promise<McClient> {
    const socket = connect(port, host);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new McClient(socket);
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Write bytes; resolves once the socket has taken them (handed to the kernel). */
  send(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data, (err) => {
        if (err) reject(err);
        else resolve();
      });
    });
  }

  /**
   * Write `data` in pieces cut at `cuts` (byte offsets), waiting `gapMs` after each piece so
   * that the peer sees them in separate reads.
   */
  async sendInPieces(data: Buffer, cuts: readonly number[], gapMs = 10): Promise<void> {
    let from = 0;
    for (const at of [...cuts, data.length]) {
      if (at <= from) continue;
      await this.send(data.subarray(from, at));
      from = at;
      await new Promise((r) => setTimeout(r, gapMs));
    }
  }

  /** Half-close: no more requests from us. */
  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Bytes received and not read yet. */
  get pending(): number {
    return this.buffered.length;
  }

  /** Wait until `n` bytes have arrived and return them (rejects after timeoutMs or on close). */
  async read(n: number, timeoutMs = 5000): Promise<Buffer> {
    await this.waitFor(() => this.buffered.length >= n, timeoutMs, `${n} bytes`);
    return this.take(n);
  }

  /** One line, CR LF included. */
  async readLine(timeoutMs = 5000): Promise<Buffer> {
    let lf = -1;
    await this.waitFor(() => (lf = this.buffered.indexOf(LF)) >= 0, timeoutMs, 'a line');
    return this.take(lf + 1);
  }

  /**
   * One complete reply: a VALUE…END or STAT…END list, or a single line. VALUE data blocks are
   * read by their declared length, so binary values are fine.
   */
  async readReply(timeoutMs = 5000): Promise<Buffer> {
    const parts: Buffer[] = [];
    for (;;) {
      const line = await this.readLine(timeoutMs);
      parts.push(line);
      const text = line.toString('latin1');
      if (text.startsWith('VALUE ')) {
        const bytes = Number(text.trimEnd().split(' ')[3]);
        if (!Number.isSafeInteger(bytes) || bytes < 0) throw new Error(`bad VALUE line ${JSON.stringify(text)}`);
        parts.push(await this.read(bytes + 2, timeoutMs));
        continue;
      }
      if (text.startsWith('STAT ')) continue;
      if (parts.length > 1 && !line.equals(END)) throw new Error(`expected END, got ${JSON.stringify(text)}`);
      return Buffer.concat(parts);
    }
  }

  /** `n` complete replies, concatenated. */
  async readReplies(n: number, timeoutMs = 5000): Promise<Buffer> {
    const parts: Buffer[] = [];
    for (let i = 0; i < n; i++) parts.push(await this.readReply(timeoutMs));
    return Buffer.concat(parts);
  }

  /** Everything received until the peer closes the connection. */
  async readToEnd(timeoutMs = 5000): Promise<Buffer> {
    await this.waitFor(() => this.ended, timeoutMs, 'the connection to close');
    return this.take(this.buffered.length);
  }

  /** Resolves true if the peer closes within timeoutMs, false if it stays open. */
  async closesWithin(timeoutMs: number): Promise<boolean> {
    try {
      await this.waitFor(() => this.ended, timeoutMs, 'close');
      return true;
    } catch {
      return false;
    }
  }

  private take(n: number): Buffer {
    const out = Buffer.from(this.buffered.subarray(0, n));
    this.buffered = this.buffered.subarray(n);
    return out;
  }

  private waitFor(ready: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const have = (): string => JSON.stringify(this.buffered.subarray(0, 300).toString('latin1'));
      const timer = setTimeout(() => {
        reject(new Error(`timed out waiting for ${what}; have ${have()}`));
      }, timeoutMs);
      const check = (): void => {
        if (ready()) {
          clearTimeout(timer);
          resolve();
        } else if (this.ended) {
          clearTimeout(timer);
          reject(new Error(`connection closed while waiting for ${what}; have ${have()}`));
        } else {
          this.waiters.push(check);
        }
      };
      check();
    });
  }
}

/**
 * Opens a connection, sends `request`, reads `replies` complete replies and closes. For
 * differential checks: the same call against Walnut and against a memcached.
 */
export async function exchange(port: number, request: string | Buffer, replies: number): Promise<string> {
  const c = await McClient.connect(port);
  try {
    await c.send(request);
    return (await c.readReplies(replies)).toString('latin1');
  } finally {
    c.destroy();
  }
}

/** The cas unique of a `gets` reply holding exactly one value. */
export function casOf(reply: string): string {
  const m = /^VALUE \S+ \d+ \d+ (\d+)\r\n/.exec(reply);
  if (m === null || m[1] === undefined) throw new Error(`no cas unique in ${JSON.stringify(reply)}`);
  return m[1];
}

/**
 * Memcache pools as nutcracker YAML. md5 + ketama (classic ketama) because it spreads similar
 * keys such as `k:1`, `k:2` evenly; fnv1a_64, the default, can put 100 of them on 2 servers of 3.
 */
export function memcachePoolYaml(
  pools: readonly { name: string; port: number; servers: readonly number[]; extra?: readonly string[] }[],
): string {
  const lines: string[] = [];
  for (const p of pools) {
    lines.push(`${p.name}:`, `  listen: 127.0.0.1:${p.port}`, '  hash: md5', '  distribution: ketama');
    for (const e of p.extra ?? []) lines.push(`  ${e}`);
    lines.push('  servers:');
    p.servers.forEach((s, i) => lines.push(`    - 127.0.0.1:${s}:1 mc${i}`));
  }
  lines.push('');
  return lines.join('\n');
}
