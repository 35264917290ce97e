/**
 * A raw TCP test client: sends exact bytes and reads exact bytes, so tests can check the wire
 * format Walnut produces (replies byte for byte, connection kept open or closed).
 */
import { connect, type Socket } from 'node:net';

const LF = 10;

/** Connects to 127.0.0.1 (or `host`) and resolves once the connection is up. */
export async function openSocket(port: number, host = '127.0.0.1'): Promise<Socket> {
  const socket = connect(port, host);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

export class RawClient {
  protected readonly socket: Socket;
  private buffered: Buffer = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  /** The peer closed the connection (or it failed). */
  ended = false;
  /** How many 'data' events have delivered bytes so far (how many reads the replies took). */
  reads = 0;
  readonly closed: Promise<void>;

  protected constructor(socket: Socket) {
    this.socket = socket;
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

  static async connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new RawClient(await openSocket(port, host));
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Write bytes (strings as latin1); resolves once the socket has handed them to the kernel. */
  send(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data, (err) => {
        if (err) reject(err);
        else resolve();
      });
    });
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

  /** Read exactly the bytes of `expected` and return them as latin1 text (for assert.equal). */
  async readText(expected: string, timeoutMs = 5000): Promise<string> {
    return (await this.read(Buffer.byteLength(expected, 'latin1'), timeoutMs)).toString('latin1');
  }

  /** One line, LF included. */
  async readLine(timeoutMs = 5000): Promise<Buffer> {
    let lf = -1;
    await this.waitFor(() => (lf = this.buffered.indexOf(LF)) >= 0, timeoutMs, 'a line');
    return this.take(lf + 1);
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

  /** Send a request as RESP multi-bulk. */
  command(...args: (string | Buffer)[]): void {
    void this.send(encodeCommand(args));
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

export function encodeCommand(args: readonly (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a) : a;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}
