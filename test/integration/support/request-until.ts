// One request on a fresh connection, for tests that compare what comes back.
import { connect } from 'node:net';

/**
 * Sends `req` (latin1) on a fresh connection to a TCP port on 127.0.0.1 or a unix socket path,
 * and resolves with everything received once it ends with `end`, the peer closes, or
 * `timeoutMs` pass. Never rejects: a refused or reset connection gives what came before it.
 */
export function requestUntil(target: number | string, req: string, end: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const write = (): void => {
      s.write(Buffer.from(req, 'latin1'));
    };
    const s = typeof target === 'number' ? connect(target, '127.0.0.1', write) : connect({ path: target }, write);
    let text = '';
    const finish = (): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(text);
    };
    const timer = setTimeout(finish, timeoutMs);
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (text.endsWith(end)) finish();
    });
    s.on('error', () => undefined);
    s.on('close', finish);
  });
}
