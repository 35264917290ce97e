/**
 * A raw TCP test client: sends exact bytes and reads exact bytes, so tests can check the wire
 * format Walnut produces (replies byte for byte, connection kept open or closed).
 */
import { connect, type Socket } from 'node:net';

export class RawClient {
  private readonly socket: Socket;
  private buffered: Buffer = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  ended = false;
  readonly closed: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
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
    const socket = connect(port, host);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawClient(socket);
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  send(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Half-close: no more requests from us. */
  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Wait until `n` bytes have arrived and return them (rejects after timeoutMs or on close). */
  async read(n: number, timeoutMs = 5000): Promise<Buffer> {
    await this.waitFor(() => this.buffered.length >= n, timeoutMs, `${n} bytes`);
    const out = this.buffered.subarray(0, n);
    this.buffered = this.buffered.subarray(n);
    return Buffer.from(out);
  }

  /** Read exactly the bytes of `expected` and return them as latin1 text (for assert.equal). */
  async readText(expected: string, timeoutMs = 5000): Promise<string> {
    return (await this.read(Buffer.byteLength(expected, 'latin1'), timeoutMs)).toString('latin1');
  }

  /** Everything received until the peer closes the connection. */
  async readToEnd(timeoutMs = 5000): Promise<Buffer> {
    await this.waitFor(() => this.ended, timeoutMs, 'the connection to close');
    const out = this.buffered;
    this.buffered = Buffer.alloc(0);
    return out;
  }

  /** Send a request as RESP multi-bulk. */
  command(...args: (string | Buffer)[]): void {
    this.send(encodeCommand(args));
  }

  private waitFor(ready: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`timed out waiting for ${what}; have ${JSON.stringify(this.buffered.toString('latin1'))}`));
      }, timeoutMs);
      const check = (): void => {
        if (ready()) {
          clearTimeout(timer);
          resolve();
        } else if (this.ended) {
          clearTimeout(timer);
          reject(new Error(`connection closed while waiting for ${what}; have ${JSON.stringify(this.buffered.toString('latin1'))}`));
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
