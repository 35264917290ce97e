/**
 * A deliberately misbehaving backend for fault tests: a TCP server whose every connection is
 * driven by a per-test script (drip replies byte by byte, stop half-way, send garbage or stray
 * replies, answer -LOADING ...). Real redis-server and memcached are used everywhere else; this
 * exists only for the faults real servers cannot be made to produce.
 */
import { createServer, type Server, type Socket } from 'node:net';

/** One accepted connection, as seen by the script. */
export class FakeConnection {
  readonly socket: Socket;
  /** Position of this connection among all accepted ones (0 = first). */
  readonly index: number;
  private buffered: Buffer = Buffer.alloc(0);
  private onRequestCb: ((args: Buffer[]) => void) | null = null;
  private onLineCb: ((line: string) => void) | null = null;
  closed = false;

  constructor(socket: Socket, index: number) {
    this.socket = socket;
    this.index = index;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.parse();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
    });
  }

  /** Call `cb` for every complete RESP request (array of bulk strings), in order. */
  onRequest(cb: (args: Buffer[]) => void): void {
    this.onRequestCb = cb;
    this.parse();
  }

  /** Call `cb` for every complete memcached command line (without CRLF; data blocks skipped). */
  onLine(cb: (line: string) => void): void {
    this.onLineCb = cb;
    this.parse();
  }

  write(data: string | Buffer): void {
    if (!this.closed) this.socket.write(data);
  }

  /** Write `data` one byte at a time, `gapMs` apart; resolves when the last byte is written. */
  async drip(data: string | Buffer, gapMs: number): Promise<void> {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    for (let i = 0; i < bytes.length && !this.closed; i++) {
      this.socket.write(bytes.subarray(i, i + 1));
      await sleep(gapMs);
    }
  }

  /** Close our side (FIN). */
  end(): void {
    this.socket.end();
  }

  /** Close with a reset (RST), whatever is pending. */
  reset(): void {
    this.socket.resetAndDestroy();
  }

  /** Close at once (RST when unread data is pending, else FIN). */
  destroy(): void {
    this.socket.destroy();
  }

  private parse(): void {
    for (;;) {
      if (this.onRequestCb !== null) {
        const r = parseResp(this.buffered);
        if (r === null) return;
        this.buffered = this.buffered.subarray(r.used);
        this.onRequestCb(r.args);
      } else if (this.onLineCb !== null) {
        const eol = this.buffered.indexOf('\r\n');
        if (eol < 0) return;
        const line = this.buffered.toString('latin1', 0, eol);
        let used = eol + 2;
        // Storage commands carry a data block of <bytes> after the line.
        const words = line.split(' ');
        if (['set', 'add', 'replace', 'append', 'prepend', 'cas'].includes(words[0] ?? '')) {
          const n = Number(words[4]);
          if (this.buffered.length < used + n + 2) return;
          used += n + 2;
        }
        this.buffered = this.buffered.subarray(used);
        this.onLineCb(line);
      } else {
        return;
      }
    }
  }
}

/** One RESP request `*N\r\n($len\r\n<bytes>\r\n)*N` from the front of buf, or null if incomplete. */
function parseResp(buf: Buffer): { args: Buffer[]; used: number } | null {
  if (buf.length === 0) return null;
  let eol = buf.indexOf('\r\n');
  if (eol < 0) return null;
  const n = Number(buf.toString('latin1', 1, eol));
  let pos = eol + 2;
  const args: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    eol = buf.indexOf('\r\n', pos);
    if (eol < 0) return null;
    const len = Number(buf.toString('latin1', pos + 1, eol));
    pos = eol + 2;
    if (buf.length < pos + len + 2) return null;
    args.push(buf.subarray(pos, pos + len));
    pos += len + 2;
  }
  return { args, used: pos };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The misbehaving backend: a listening socket plus the script run on each connection. */
export class MisbehavingFakeServer {
  private readonly server: Server;
  readonly port: number;
  readonly connections: FakeConnection[] = [];
  /** Replace to change what later connections do. */
  script: (conn: FakeConnection) => void;

  private constructor(server: Server, port: number, script: (conn: FakeConnection) => void) {
    this.server = server;
    this.port = port;
    this.script = script;
    server.on('connection', (socket: Socket) => {
      const conn = new FakeConnection(socket, this.connections.length);
      this.connections.push(conn);
      this.script(conn);
    });
  }

  /** Listen on a free 127.0.0.1 port and run `script` on every accepted connection. */
  static async start(script: (conn: FakeConnection) => void): Promise<MisbehavingFakeServer> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no TCP address');
    return new MisbehavingFakeServer(server, address.port, script);
  }

  /** Connections accepted so far that are still open. */
  get openConnections(): number {
    return this.connections.filter((c) => !c.closed).length;
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** RESP bulk string reply for `s`. */
export function bulk(s: string): string {
  return `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
}
