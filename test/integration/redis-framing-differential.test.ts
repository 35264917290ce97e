// Property test: Walnut and redis-server agree on the framing of every request Walnut forwards.
// A forwarded request that redis-server frames differently (a length it refuses, bytes it reads
// as more or fewer requests) breaks the server connection other clients share, or answers the
// wrong request. Mutated GET requests, each followed by a well-formed one, go on fresh
// connections to redis-server and to Walnut in front of it: unless Walnut refused the stream
// itself (a protocol error, which is always safe), the replies must be the same (error texts
// aside).
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { freePort, startRedis, startWalnut, type Running, type RunningProxy } from '../../scripts/lib/processes.js';

/** How long a connection that neither answers nor closes is given (an incomplete request). */
const QUIET_MS = 150;

/** Everything the server sends for `bytes` on a fresh connection, and whether it closed. */
function exchange(port: number, bytes: Buffer, expectEnd: string): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => s.write(bytes));
    let text = '';
    let settled = false;
    const finish = (closed: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ text, closed });
    };
    const timer = setTimeout(() => finish(false), QUIET_MS);
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (text.endsWith(expectEnd)) finish(false);
    });
    s.on('error', () => undefined);
    s.on('close', () => finish(true));
  });
}

/**
 * Error replies with their text left out: Walnut words some itself (an unknown command), and
 * what is compared is which requests were framed and answered, in which order.
 */
function errorsAsOne(replies: string): string {
  return replies.replace(/^-[^\r\n]*\r\n/gm, '-ERR\r\n');
}

const BASE = '*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n';
/** Forwarded to the server too, so a misframed request before it shows in its reply. */
const SENTINEL = '*2\r\n$3\r\nGET\r\n$8\r\nsentinel\r\n';
const SENTINEL_REPLY = '$5\r\nhello\r\n';
/**
 * Bytes that matter to framing: digits, signs, separators, line ends, type markers. Not NUL:
 * redis-server looks for the end of an inline line with strchr, so one holding a NUL stalls
 * the connection; Walnut refuses it (and forwards inline requests re-encoded, never as sent).
 */
const INTERESTING = '0123456789-+ \t\r\n$*:xX';

const mutation = fc.record({
  at: fc.nat(BASE.length - 1),
  byte: fc.oneof(fc.constantFrom(...INTERESTING.split('')), fc.integer({ min: 1, max: 255 }).map((b) => String.fromCharCode(b))),
  how: fc.constantFrom('replace', 'insert', 'delete'),
});

function mutate(base: string, edits: { at: number; byte: string; how: string }[]): string {
  let s = base;
  for (const e of edits) {
    const at = Math.min(e.at, s.length);
    if (e.how === 'replace') s = s.slice(0, at) + e.byte + s.slice(at + 1);
    else if (e.how === 'insert') s = s.slice(0, at) + e.byte + s.slice(at);
    else s = s.slice(0, at) + s.slice(at + 1);
  }
  return s;
}

describe('redis framing: Walnut and redis-server agree', () => {
  let redis: Running;
  let walnut: RunningProxy;
  let port: number;

  before(async () => {
    redis = await startRedis();
    port = await freePort();
    const yaml = `d:\n  listen: 127.0.0.1:${port}\n  redis: true\n  servers:\n    - 127.0.0.1:${redis.port}:1\n`;
    walnut = await startWalnut(yaml, { listenPorts: [port] });
    const set = await exchange(redis.port, Buffer.from('*3\r\n$3\r\nSET\r\n$8\r\nsentinel\r\n$5\r\nhello\r\n'), '+OK\r\n');
    assert.equal(set.text, '+OK\r\n');
  });

  after(async () => {
    await walnut?.stop();
    await redis?.stop();
  });

  test('mutated requests: what Walnut does not refuse gets the replies redis-server gives', async () => {
    let compared = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 3 }), async (edits) => {
        const request = Buffer.from(mutate(BASE, edits) + SENTINEL, 'latin1');
        const viaWalnut = await exchange(port, request, SENTINEL_REPLY);
        if (viaWalnut.closed && viaWalnut.text.startsWith('-ERR Protocol error')) return;
        compared++;
        const direct = await exchange(redis.port, request, SENTINEL_REPLY);
        assert.equal(errorsAsOne(viaWalnut.text), errorsAsOne(direct.text), `for ${JSON.stringify(request.toString('latin1'))}`);
      }),
      { numRuns: 1000 },
    );
    // Most mutations leave a request both accept (a changed key, an inline line): the
    // comparison above ran, it did not only skip.
    assert.ok(compared >= 100, `${compared} compared`);
  });
});
