/**
 * A raw memcache ASCII test client (RawClient plus reply framing): sends exact bytes and frames replies (status lines, VALUE
 * blocks up to END, STAT lists), so integration tests can compare Walnut's reply bytes with what
 * memcached itself sends for the same request.
 */
import type { Socket } from 'node:net';
import { openSocket, RawClient } from './raw-client.js';

const END = Buffer.from('END\r\n', 'latin1');

export class McClient extends RawClient {
  protected constructor(socket: Socket) {
    super(socket);
    socket.setNoDelay(true);
  }

  static override async connect(port: number, host = '127.0.0.1'): Promise<McClient> {
    return new McClient(await openSocket(port, host));
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
