/**
 * Property tests of the memcache request parser (src/proto/memcache/request-parser.ts):
 * random valid request streams parse to the Msgs their model predicts under any chunking, and
 * random garbage never throws and parses the same however it is cut.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ROUTE_FRAGMENT, ROUTE_KEY, ROUTE_LOCAL, ROUTE_QUIT } from '../../../../src/proto/message.js';
import {
  MC_ADD,
  MC_APPEND,
  MC_CAS,
  MC_DECR,
  MC_DELETE,
  MC_GAT,
  MC_GATS,
  MC_GET,
  MC_GETS,
  MC_INCR,
  MC_PREPEND,
  MC_REPLACE,
  MC_SET,
  MC_TOUCH,
  MC_VERSION,
} from '../../../../src/proto/memcache/commands.js';
import type { ReqEvent } from './memcache-harness.js';
import { parseRequests, splitAt } from './memcache-harness.js';
import { MC_RETRIEVAL_LINE_CAP } from '../../../../src/proto/memcache/request-parser.js';

interface Gen {
  text: string; // latin1
  event: ReqEvent;
}

/** A key: 1..30 arbitrary bytes (or exactly 250) other than space, CR, LF and NUL. */
const keyArb: fc.Arbitrary<string> = fc
  .oneof(
    { weight: 12, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 30 }) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 250, maxLength: 250 }) },
  )
  .map((bytes) => {
    const b = Buffer.from(bytes);
    for (let i = 0; i < b.length; i++) if (b[i] === 0 || b[i] === 10 || b[i] === 13 || b[i] === 32) b[i]! += 1;
    return b.toString('latin1');
  });

/** Token separator: one or more spaces. */
const sepArb = fc.integer({ min: 1, max: 3 }).map((n) => ' '.repeat(n));

/** Data block contents: binary, often holding line ends and protocol-looking text. */
const dataArb: fc.Arbitrary<string> = fc
  .array(
    fc.oneof(
      fc.constantFrom('\r\n', '\n', '\r', 'END\r\n', 'get a\r\n', 'set x 0 0 1\r\n', '\x80'),
      fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('latin1')),
    ),
    { maxLength: 8 },
  )
  .map((parts) => parts.join(''));

const exptimeArb = fc.integer({ min: -100000, max: 100000000 }).map(String);

function fwd(cmd: number, text: string, key: string, noreply: boolean, data = text): Gen {
  return { text, event: { kind: 'req', route: ROUTE_KEY, cmd, data, key, keys: null, noreply, reply: null } };
}

const retrievalArb: fc.Arbitrary<Gen> = fc
  .record({
    cmd: fc.constantFrom(MC_GET, MC_GETS, MC_GAT, MC_GATS),
    keys: fc.array(keyArb, { minLength: 1, maxLength: 6 }),
    seps: fc.array(sepArb, { minLength: 8, maxLength: 8 }),
    exptime: exptimeArb,
    lead: fc.constantFrom('', ' ', '  '),
  })
  .map(({ cmd, keys, seps, exptime, lead }) => {
    const name = ['', 'get', 'gets', 'gat', 'gats'][cmd]!;
    let text = lead + name;
    if (cmd === MC_GAT || cmd === MC_GATS) text += seps[7]! + exptime;
    keys.forEach((k, i) => (text += seps[i % 7]! + k));
    text += '\r\n';
    const event: ReqEvent =
      keys.length === 1
        ? { kind: 'req', route: ROUTE_KEY, cmd, data: text, key: keys[0]!, keys: null, noreply: false, reply: null }
        : { kind: 'req', route: ROUTE_FRAGMENT, cmd, data: text, key: keys[0]!, keys, noreply: false, reply: null };
    return { text, event };
  });

const storageArb: fc.Arbitrary<Gen> = fc
  .record({
    cmd: fc.constantFrom(MC_SET, MC_ADD, MC_REPLACE, MC_APPEND, MC_PREPEND, MC_CAS),
    key: keyArb,
    flags: fc.integer({ min: 0, max: 4294967295 }),
    exptime: exptimeArb,
    data: dataArb,
    cas: fc.bigInt({ min: 0n, max: 18446744073709551615n }),
    noreply: fc.boolean(),
    sep: sepArb,
  })
  .map(({ cmd, key, flags, exptime, data, cas, noreply, sep }) => {
    const name = ['', '', '', '', '', 'set', 'add', 'replace', 'append', 'prepend', 'cas'][cmd]!;
    const bytes = Buffer.byteLength(data, 'latin1');
    let text = [name, key, String(flags), exptime, String(bytes)].join(sep);
    if (cmd === MC_CAS) text += sep + String(cas);
    if (noreply) text += ' noreply';
    text += `\r\n${data}\r\n`;
    return fwd(cmd, text, key, noreply);
  });

const keyedArb: fc.Arbitrary<Gen> = fc
  .record({
    cmd: fc.constantFrom(MC_INCR, MC_DECR, MC_TOUCH, MC_DELETE, MC_VERSION),
    key: keyArb,
    delta: fc.bigInt({ min: 0n, max: 18446744073709551615n }),
    exptime: exptimeArb,
    noreply: fc.boolean(),
    trailing: fc.constantFrom('', ' ', '   '),
  })
  .map(({ cmd, key, delta, exptime, noreply, trailing }) => {
    const nr = noreply ? ' noreply' : '';
    switch (cmd) {
      case MC_INCR:
      case MC_DECR:
        return fwd(cmd, `${cmd === MC_INCR ? 'incr' : 'decr'} ${key} ${delta}${nr}${trailing}\r\n`, key, noreply);
      case MC_TOUCH:
        return fwd(cmd, `touch ${key} ${exptime}${nr}${trailing}\r\n`, key, noreply);
      case MC_DELETE:
        return fwd(cmd, `delete ${key}${nr}${trailing}\r\n`, key, noreply);
      default:
        // memcached 1.6 ignores tokens after `version`; the server is then sent a plain one.
        if (noreply) return fwd(cmd, `version ${key}${nr}${trailing}\r\n`, 'placeholder', false, 'version\r\n');
        return fwd(cmd, `version${trailing}\r\n`, 'placeholder', false);
    }
  });

const requestArb = fc.oneof(retrievalArb, storageArb, keyedArb);

/** Cut points as fractions of the stream length, so they land anywhere in it. */
const cutsArb = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 });

function cut(buf: Buffer, fractions: readonly number[]): Buffer[] {
  return splitAt(buf, fractions.map((f) => Math.floor(f * buf.length)));
}

describe('memcache request parser: properties', () => {
  it('any chunking of a valid request stream yields the modelled Msgs', () => {
    fc.assert(
      fc.property(fc.array(requestArb, { minLength: 1, maxLength: 15 }), cutsArb, (reqs, cuts) => {
        const stream = Buffer.from(reqs.map((r) => r.text).join(''), 'latin1');
        const got = parseRequests(cut(stream, cuts));
        assert.deepEqual(got.events, reqs.map((r) => r.event));
        assert.equal(got.pending, 0);
      }),
      { numRuns: 300 },
    );
  });

  it('a valid stream fed byte by byte yields the modelled Msgs', () => {
    fc.assert(
      fc.property(fc.array(requestArb, { minLength: 1, maxLength: 4 }), (reqs) => {
        const stream = Buffer.from(reqs.map((r) => r.text).join(''), 'latin1');
        const points = Array.from({ length: stream.length }, (_, i) => i);
        assert.deepEqual(parseRequests(splitAt(stream, points)).events, reqs.map((r) => r.event));
      }),
      { numRuns: 60 },
    );
  });

  it('a retrieval line over MC_RETRIEVAL_LINE_CAP among valid requests: its CLIENT_ERROR, the rest as modelled, any chunking', () => {
    const overLongArb = fc
      .record({
        name: fc.constantFrom('get', 'gets', 'gat 0', 'gats 10'),
        lead: fc.constantFrom('', ' ', '   '),
        over: fc.integer({ min: 1, max: 70000 }),
        // Without LF in the cap: the line is still being sent when the error is due.
        bareLf: fc.boolean(),
      })
      .map(({ name, lead, over, bareLf }): Gen => {
        const body = `${lead}${name} ${'k'.repeat(MC_RETRIEVAL_LINE_CAP + over - lead.length - name.length - 1)}`;
        const cmd = [MC_GET, MC_GETS, MC_GAT, MC_GATS][['get', 'gets', 'gat 0', 'gats 10'].indexOf(name)]!;
        return {
          text: `${body}${bareLf ? '' : '\r'}\n`,
          event: { kind: 'req', route: ROUTE_LOCAL, cmd, data: '', key: '', keys: null, noreply: false, reply: 'CLIENT_ERROR line too long\r\n' },
        };
      });
    fc.assert(
      fc.property(
        fc.array(requestArb, { maxLength: 4 }),
        overLongArb,
        fc.array(requestArb, { minLength: 1, maxLength: 4 }),
        cutsArb,
        (before, long, after, cuts) => {
          const reqs = [...before, long, ...after];
          const stream = Buffer.from(reqs.map((r) => r.text).join(''), 'latin1');
          const got = parseRequests(cut(stream, cuts));
          assert.deepEqual(got.events, reqs.map((r) => r.event));
          assert.equal(got.pending, 0);
        },
      ),
      { numRuns: 25 },
    );
  });

  const garbageArb = fc
    .array(
      fc.oneof(
        fc.constantFrom(
          'get ', 'gets ', 'gat ', 'set ', 'cas ', 'add ', 'incr ', 'decr ', 'touch ', 'delete ', 'version',
          'quit', 'flush_all', 'ms ', 'GET ', 'noreply', ' ', '  ', '\r\n', '\r', '\n', '0', '5', '12', '-1',
          '2147483646', 'k', 'key', 'x'.repeat(300), '\x80', 'z'.repeat(2100),
        ),
        fc.uint8Array({ maxLength: 20 }).map((b) => Buffer.from(b).toString('latin1')),
      ),
      { maxLength: 40 },
    )
    .map((parts) => Buffer.from(parts.join(''), 'latin1'));

  it('garbage never throws and parses the same however it is cut', () => {
    fc.assert(
      fc.property(garbageArb, cutsArb, (stream, cuts) => {
        const whole = parseRequests([stream]);
        const split = parseRequests(cut(stream, cuts));
        assert.deepEqual(split.events, whole.events);
        assert.equal(split.pending, whole.pending);
        // Whatever is forwarded is a well-formed request line (plus data block).
        let framing = 0;
        for (const e of whole.events) {
          if (e.kind === 'framing') {
            framing++;
            continue;
          }
          if (e.route === ROUTE_LOCAL || e.route === ROUTE_QUIT) {
            assert.ok(e.route === ROUTE_QUIT || e.reply !== null);
            continue;
          }
          assert.ok(e.data.endsWith('\r\n'));
          const keys = e.keys ?? [e.key];
          for (const k of keys) {
            assert.ok(k.length >= 1 && k.length <= 250, `key length ${k.length}`);
            assert.ok(!/[ \r\n]/.test(k), 'key holds no space, CR or LF');
          }
        }
        assert.ok(framing <= 1);
        if (framing === 1) assert.equal(whole.events.at(-1)!.kind, 'framing');
      }),
      { numRuns: 500 },
    );
  });

  /** A get/gets or storage line (with its data block) in the shapes the fast paths take, then mutated. */
  const nearValidArb = fc
    .tuple(
      fc.oneof(
        fc
          .tuple(fc.constantFrom('get', 'gets'), fc.array(keyArb, { minLength: 1, maxLength: 6 }))
          .map(([c, ks]) => `${c} ${ks.join(' ')}\r\n`),
        fc
          .tuple(
            fc.constantFrom('set', 'add', 'replace', 'append', 'prepend', 'cas'),
            keyArb,
            fc.nat({ max: 999999999 }),
            fc.nat({ max: 999999999 }),
            dataArb,
            fc.bigInt({ min: 0n, max: 9999999999999999999n }),
            fc.boolean(),
          )
          .map(([c, k, f, e, d, cas, nr]) =>
            `${c} ${k} ${f} ${e} ${Buffer.byteLength(d, 'latin1')}${c === 'cas' ? ` ${cas}` : ''}${nr ? ' noreply' : ''}\r\n${d}\r\n`,
          ),
      ),
      fc.array(
        fc.tuple(
          fc.double({ min: 0, max: 1, noNaN: true }),
          fc.constantFrom('', ' ', '\r', '\n', '0', '9', '+', '-', 'x', '\r\n', 'noreply', '1234567890'),
          fc.integer({ min: 0, max: 2 }),
        ),
        { maxLength: 3 },
      ),
    )
    .map(([text, edits]) => {
      let t = text;
      for (const [at, insert, remove] of edits) {
        const i = Math.floor(at * t.length);
        t = t.slice(0, i) + insert + t.slice(i + remove);
      }
      return t;
    });

  it('fast paths agree with the general path: a line and the same line after a space parse alike', () => {
    // A leading space keeps the get/storage fast paths out (they want the command at the line
    // start), and memcached ignores it; so both streams must give the same requests, bar the
    // space in the forwarded bytes. Byte by byte, a storage request is never on the fast path.
    const unspace = (e: ReqEvent, plain: ReqEvent | undefined): ReqEvent =>
      e.kind === 'req' && plain?.kind === 'req' && e.data === ` ${plain.data}` ? { ...e, data: plain.data } : e;
    fc.assert(
      fc.property(nearValidArb, (line) => {
        const plain = Buffer.from(`${line}get end\r\n`, 'latin1');
        const spaced = Buffer.from(` ${line}get end\r\n`, 'latin1');
        const a = parseRequests([plain]);
        const b = parseRequests([spaced]);
        const c = parseRequests(splitAt(plain, Array.from({ length: plain.length }, (_, i) => i)));
        assert.deepEqual(a.events, c.events);
        assert.deepEqual(a.events, b.events.map((e, i) => unspace(e, a.events[i])));
        // A stream that ends inside the first request (a data block still being read or
        // skipped, e.g. after a mutated header announcing 100 MB) counts the space too.
        assert.ok(b.pending === a.pending || (a.pending > 0 && b.pending === a.pending + 1), `${a.pending} vs ${b.pending}`);
      }),
      { numRuns: 1000 },
    );
  });
});
