// Requests on fresh connections, for tests that compare what comes back.
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

/** What came back for exchangeCut's bytes. */
export interface Exchange {
  /** Everything received, as latin1. */
  text: string;
  /** The peer closed the connection. */
  closed: boolean;
  /** The stream ended with the reply `complete` waited for. */
  complete: boolean;
}

/** Pause between the pieces of a request sent cut (so that the peer reads them apart). */
const PIECE_GAP_MS = 3;

/**
 * Sends `bytes` on a fresh connection (cut at the offsets in `cuts`, taken modulo its length, a
 * short pause after each piece) and collects what comes back until `complete(text)` holds, the
 * peer closes, or quietMs pass without a byte (counted from the last piece sent); or, with
 * `hangUpMs`, closes the connection that long after the last piece, whatever came back.
 */
export function exchangeCut(
  port: number,
  bytes: Buffer,
  opts: { quietMs: number; complete: (text: string) => boolean; cuts?: readonly number[]; hangUpMs?: number },
): Promise<Exchange> {
  const { quietMs, complete, cuts = [], hangUpMs } = opts;
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => {
      s.setNoDelay(true);
      const ends = [...new Set(cuts.map((c) => c % bytes.length))].filter((c) => c > 0).sort((a, b) => a - b);
      ends.push(bytes.length);
      let from = 0;
      const next = (): void => {
        const to = ends.shift();
        if (to === undefined || settled) return;
        s.write(bytes.subarray(from, to));
        from = to;
        arm();
        if (ends.length > 0) setTimeout(next, PIECE_GAP_MS);
        else if (hangUpMs !== undefined) setTimeout(() => finish(false, false), hangUpMs);
      };
      next();
    });
    let text = '';
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (closed: boolean, done: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ text, closed, complete: done });
    };
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => finish(false, false), quietMs);
    };
    arm();
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (complete(text)) finish(false, true);
      else arm();
    });
    s.on('error', () => undefined);
    s.on('close', () => finish(true, false));
  });
}
