/**
 * Tests of the memcache Codec (src/proto/memcache/memcache-codec.ts): multi-get fragment and
 * coalesce with a fake KeyRouter, error precedence, a 1,000-key multi-get end to end through
 * both parsers, and the small Codec methods.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KeyRouter } from '../../../../src/proto/codec.js';
import type { Msg, MsgOwner } from '../../../../src/proto/message.js';
import { REPLY_ERROR, ROUTE_FRAGMENT, ROUTE_KEY } from '../../../../src/proto/message.js';
import { MC_GAT, MC_GATS, MC_GET, MC_GETS } from '../../../../src/proto/memcache/commands.js';
import { createMemcacheCodec } from '../../../../src/proto/memcache/memcache-codec.js';
import { MC_LINE_CAP } from '../../../../src/proto/memcache/request-parser.js';
import { latin1, parseReplies, parseRequests, prng } from './memcache-harness.js';

const codec = createMemcacheCodec();

/** Routes each key by an explicit table (unknown keys: by their first byte modulo `n`). */
class TableRouter implements KeyRouter {
  readonly calls: string[] = [];
  constructor(
    private readonly table: Record<string, number>,
    private readonly n = 2,
  ) {}
  serverIndexFor(buf: Buffer, start: number, end: number): number {
    const key = buf.toString('latin1', start, end);
    this.calls.push(key);
    return this.table[key] ?? buf[start]! % this.n;
  }
}

/** Parse one request line that must become a ROUTE_FRAGMENT Msg. */
function parseMulti(line: string): Msg {
  const { msgs } = parseRequests([latin1(line)]);
  assert.equal(msgs.length, 1);
  assert.equal(msgs[0]!.route, ROUTE_FRAGMENT);
  return msgs[0]!;
}

/** A fake memcached: answers a sub-request from a store, hits in request order. */
function answer(sub: Msg, store: Map<string, string>, withCas = false): Buffer {
  const line = sub.data.toString('latin1');
  assert.ok(line.endsWith(' \r\n'), 'sub-request ends with a space then CR LF');
  const tokens = line.slice(0, -2).split(' ').filter((t) => t !== '');
  const keys = tokens.slice(sub.cmd === MC_GAT || sub.cmd === MC_GATS ? 2 : 1);
  let out = '';
  for (const k of keys) {
    const v = store.get(k);
    if (v !== undefined) out += `VALUE ${k} 7 ${Buffer.byteLength(v, 'latin1')}${withCas ? ' 99' : ''}\r\n${v}\r\n`;
  }
  return latin1(`${out}END\r\n`);
}

/** The merged reply a client must see: hits in request order, then END. */
function expectedMerge(keys: string[], store: Map<string, string>): string {
  let out = '';
  for (const k of keys) {
    const v = store.get(k);
    if (v !== undefined) out += `VALUE ${k} 7 ${Buffer.byteLength(v, 'latin1')}\r\n${v}\r\n`;
  }
  return `${out}END\r\n`;
}

describe('memcache codec: fragment', () => {
  it('groups keys per server in ascending server order, byte-exact, trailing space', () => {
    const owner: MsgOwner = { onMsgDone: () => undefined };
    const msg = parseMulti('get a b c d a\r\n');
    msg.owner = owner;
    const router = new TableRouter({ a: 3, b: 1, c: 3, d: 0 });
    const frags = codec.fragment(msg, router);
    assert.deepEqual(router.calls, ['a', 'b', 'c', 'd', 'a']);
    assert.deepEqual(
      frags.map((f) => [f.serverIndex, f.data.toString('latin1')]),
      [
        [0, 'get d \r\n'],
        [1, 'get b \r\n'],
        [3, 'get a c a \r\n'],
      ],
    );
    assert.equal(msg.fragments, frags);
    assert.equal(msg.pending, 3);
    for (const f of frags) {
      assert.equal(f.parent, msg);
      assert.equal(f.owner, owner);
      assert.equal(f.route, ROUTE_KEY);
      assert.equal(f.cmd, MC_GET);
      assert.equal(f.noreply, false);
    }
    assert.deepEqual(
      frags.map((f) => f.keyBuf.toString('latin1', f.keyStart, f.keyEnd)),
      ['d', 'b', 'a'],
    );
  });

  it('keeps gets, and gat/gats with their exptime', () => {
    const gets = parseMulti('gets x y\r\n');
    assert.equal(gets.cmd, MC_GETS);
    assert.deepEqual(
      codec.fragment(gets, new TableRouter({ x: 1, y: 0 })).map((f) => f.data.toString('latin1')),
      ['gets y \r\n', 'gets x \r\n'],
    );
    const gat = parseMulti('  gat   -30  kk q\r\n');
    const frags = codec.fragment(gat, new TableRouter({ kk: 0, q: 1 }));
    assert.deepEqual(frags.map((f) => f.data.toString('latin1')), ['gat -30 kk \r\n', 'gat -30 q \r\n']);
    assert.equal(frags[0]!.keyBuf.toString('latin1', frags[0]!.keyStart, frags[0]!.keyEnd), 'kk');
    const gats = parseMulti('gats 5 a b\r\n');
    assert.deepEqual(
      codec.fragment(gats, new TableRouter({ a: 0, b: 0 })).map((f) => f.data.toString('latin1')),
      ['gats 5 a b \r\n'],
    );
  });

  it('sends keys with no live server to a fragment with serverIndex -1, first', () => {
    const msg = parseMulti('get a b c\r\n');
    const frags = codec.fragment(msg, new TableRouter({ a: 2, b: -1, c: -1 }));
    assert.deepEqual(
      frags.map((f) => [f.serverIndex, f.data.toString('latin1')]),
      [
        [-1, 'get b c \r\n'],
        [2, 'get a \r\n'],
      ],
    );
  });

  it('gat/gats exptime without its leading zeros, sign kept', () => {
    const cases: Array<[string, string]> = [
      ['gat 0000060 a b\r\n', 'gat 60 a b \r\n'],
      ['gats -000 a b\r\n', 'gats -0 a b \r\n'],
      ['gat +05 a b\r\n', 'gat +5 a b \r\n'],
      ['gat 0 a b\r\n', 'gat 0 a b \r\n'],
      [`gat ${'0'.repeat(3000)}7 a b\r\n`, 'gat 7 a b \r\n'],
    ];
    for (const [line, sub] of cases) {
      const frags = codec.fragment(parseMulti(line), new TableRouter({}, 1));
      assert.deepEqual(frags.map((f) => f.data.toString('latin1')), [sub], line.slice(0, 20));
      assert.equal(frags[0]!.keyBuf.toString('latin1', frags[0]!.keyStart, frags[0]!.keyEnd), 'a');
    }
  });

  it('a one-key line over 2048 bytes (ROUTE_FRAGMENT) is rebuilt compact', () => {
    const msg = parseMulti(`${' '.repeat(110)}get ${' '.repeat(3000)}key \r\n`);
    assert.equal(msg.nkeys, 1);
    const frags = codec.fragment(msg, new TableRouter({ key: 4 }));
    assert.deepEqual(frags.map((f) => [f.serverIndex, f.data.toString('latin1')]), [[4, 'get key \r\n']]);
  });

  it('gat/gats sub-requests are cut at 2048 bytes in key order, get/gets ones are not', () => {
    const rnd = prng(7);
    const keys = Array.from({ length: 600 }, (_, i) => `key:${i}:${'x'.repeat(Math.floor(rnd() * 60))}`);
    const router: KeyRouter = { serverIndexFor: (b, s) => (b[s + 4]! + b[s + 5]!) % 3 };
    const serverOf = (k: string): number => router.serverIndexFor(latin1(k), 0, k.length);
    for (const [cmd, head] of [['gat 100', 'gat 100 '], ['gats 00100', 'gats 100 '], ['get', 'get '], ['gets', 'gets ']] as const) {
      const msg = parseMulti(`${cmd} ${keys.join(' ')}\r\n`);
      const frags = codec.fragment(msg, router);
      const cut = cmd.startsWith('gat');
      // Pieces of one server in a row, servers ascending, each key once and in request order.
      const order = frags.map((f) => f.serverIndex);
      assert.deepEqual(order, [...order].sort((a, b) => a - b), cmd);
      for (const server of [0, 1, 2]) {
        const mine = frags.filter((f) => f.serverIndex === server);
        const sent = mine.flatMap((f) => {
          const line = f.data.toString('latin1');
          assert.ok(line.startsWith(head) && line.endsWith(' \r\n'), line.slice(0, 30));
          if (cut) assert.ok(f.data.length <= MC_LINE_CAP, `${cmd}: sub-request of ${f.data.length} bytes`);
          assert.equal(f.keyBuf.toString('latin1', f.keyStart, f.keyEnd), line.slice(head.length).split(' ')[0]);
          return line.slice(head.length, -3).split(' ');
        });
        assert.deepEqual(sent, keys.filter((k) => serverOf(k) === server), `${cmd} server ${server}`);
        if (cut) {
          assert.ok(mine.length > 1, `${cmd}: server ${server} needed several pieces`);
          // Greedy: a piece is only closed when the next key did not fit.
          for (let i = 0; i + 1 < mine.length; i++) {
            const next = mine[i + 1]!.data.toString('latin1').slice(head.length).split(' ')[0]!;
            assert.ok(mine[i]!.data.length + next.length + 1 > MC_LINE_CAP);
          }
        } else {
          assert.equal(mine.length, 1, cmd);
        }
      }
      assert.equal(msg.pending, frags.length);
      // Coalesce through the pieces: values in request order.
      const store = new Map(keys.filter((_, i) => i % 3 !== 1).map((k) => [k, `v:${k}`]));
      for (const f of frags) f.reply = answer(f, store);
      codec.coalesce(msg);
      assert.equal(msg.reply!.toString('latin1'), expectedMerge(keys, store), cmd);
    }
  });

  it('fragments binary keys byte for byte', () => {
    const line = Buffer.concat([latin1('get '), Buffer.from([0xff, 0x01]), latin1(' '), Buffer.from([0x09, 0x80]), latin1('\r\n')]);
    const { msgs } = parseRequests([line]);
    const frags = codec.fragment(msgs[0]!, { serverIndexFor: (b, s) => (b[s] === 0xff ? 0 : 1) });
    assert.deepEqual(frags[0]!.data, Buffer.from([...latin1('get '), 0xff, 0x01, 0x20, 0x0d, 0x0a]));
    assert.deepEqual(frags[1]!.data, Buffer.from([...latin1('get '), 0x09, 0x80, 0x20, 0x0d, 0x0a]));
  });
});

describe('memcache codec: coalesce', () => {
  function run(line: string, table: Record<string, number>, replies: string[]): Msg {
    const msg = parseMulti(line);
    const frags = codec.fragment(msg, new TableRouter(table));
    assert.equal(frags.length, replies.length);
    frags.forEach((f, i) => {
      const parsed = parseReplies([latin1(replies[i]!)]);
      assert.equal(parsed.replies.length, 1, `sub-reply ${i} frames as one reply`);
      f.reply = parsed.replies[0]!;
      f.replyFlags = parsed.events[0]!.kind === 'reply' ? parsed.events[0]!.flags : 0;
      f.done = true;
    });
    codec.coalesce(msg);
    return msg;
  }

  it('merges values in request order, across servers', () => {
    const msg = run('get a b c d\r\n', { a: 0, b: 1, c: 0, d: 1 }, [
      'VALUE a 0 1\r\n1\r\nVALUE c 0 1\r\n3\r\nEND\r\n',
      'VALUE b 0 1\r\n2\r\nVALUE d 0 1\r\n4\r\nEND\r\n',
    ]);
    assert.equal(
      msg.reply!.toString('latin1'),
      'VALUE a 0 1\r\n1\r\nVALUE b 0 1\r\n2\r\nVALUE c 0 1\r\n3\r\nVALUE d 0 1\r\n4\r\nEND\r\n',
    );
    assert.equal(msg.replyFlags, 0);
    assert.equal(msg.closeAfter, false);
  });

  it('fixes twemproxy\'s order quirk: get d a b c with d missing', () => {
    // All on one server; memcached omits d. twemproxy returned b, a, c here.
    const msg = run('get d a b c\r\n', { a: 0, b: 0, c: 0, d: 0 }, [
      'VALUE a 0 1\r\nA\r\nVALUE b 0 1\r\nB\r\nVALUE c 0 1\r\nC\r\nEND\r\n',
    ]);
    assert.equal(msg.reply!.toString('latin1'), 'VALUE a 0 1\r\nA\r\nVALUE b 0 1\r\nB\r\nVALUE c 0 1\r\nC\r\nEND\r\n');
  });

  it('handles misses, duplicates and all-miss servers', () => {
    const msg = run('get a x a b y b\r\n', { a: 0, x: 0, b: 1, y: 2 }, [
      'VALUE a 0 1\r\n1\r\nVALUE a 0 1\r\n1\r\nEND\r\n',
      'VALUE b 5 2 77\r\n\r\n\r\nVALUE b 5 2 77\r\n\r\n\r\nEND\r\n',
      'END\r\n',
    ]);
    assert.equal(
      msg.reply!.toString('latin1'),
      'VALUE a 0 1\r\n1\r\nVALUE a 0 1\r\n1\r\nVALUE b 5 2 77\r\n\r\n\r\nVALUE b 5 2 77\r\n\r\n\r\nEND\r\n',
    );
  });

  it('all misses give END', () => {
    const msg = run('get a b\r\n', { a: 0, b: 1 }, ['END\r\n', 'END\r\n']);
    assert.equal(msg.reply!.toString('latin1'), 'END\r\n');
  });

  it('ignores a block whose key was not asked for at that position', () => {
    const msg = run('get a b\r\n', { a: 0, b: 0 }, ['VALUE zz 0 1\r\n1\r\nVALUE b 0 1\r\n2\r\nEND\r\n']);
    assert.equal(msg.reply!.toString('latin1'), 'END\r\n');
  });

  it('a sub-reply that is not VALUE…END gives SERVER_ERROR Invalid argument', () => {
    for (const bad of ['SERVER_ERROR oops\r\n', 'ERROR\r\n', 'STORED\r\n', 'CLIENT_ERROR x\r\n']) {
      const msg = run('get a b\r\n', { a: 0, b: 1 }, ['VALUE a 0 1\r\n1\r\nEND\r\n', bad]);
      assert.equal(msg.reply!.toString('latin1'), 'SERVER_ERROR Invalid argument\r\n', bad);
      assert.equal(msg.replyFlags, REPLY_ERROR);
      assert.equal(msg.closeAfter, false);
    }
  });

  it('transport errors win, the first in server order, with strerror texts', () => {
    const msg = parseMulti('get a b c\r\n');
    const frags = codec.fragment(msg, new TableRouter({ a: 2, b: 0, c: 1 }));
    frags[0]!.reply = latin1('SERVER_ERROR bad\r\n'); // server 0: an invalid reply
    frags[1]!.errorCode = 'ETIMEDOUT'; // server 1
    frags[2]!.errorCode = 'ECONNREFUSED'; // server 2
    codec.coalesce(msg);
    assert.equal(msg.reply!.toString('latin1'), 'SERVER_ERROR Connection timed out\r\n');
    assert.equal(msg.replyFlags, REPLY_ERROR);
    assert.equal(msg.closeAfter, false);

    frags[1]!.errorCode = null;
    frags[1]!.reply = latin1('END\r\n');
    frags[2]!.errorCode = '';
    codec.coalesce(msg);
    assert.equal(msg.reply!.toString('latin1'), 'SERVER_ERROR unknown\r\n');
  });

  it('a 1,000-key multi-get through both parsers, fragment and coalesce', () => {
    const rnd = prng(42);
    const keys: string[] = [];
    const store = new Map<string, string>();
    for (let i = 0; i < 1000; i++) {
      // Some duplicates, about a third missing, values with CR LF inside.
      const k = rnd() < 0.05 && keys.length > 0 ? keys[Math.floor(rnd() * keys.length)]! : `key:${i}:${Math.floor(rnd() * 1e6)}`;
      keys.push(k);
      if (!store.has(k) && rnd() < 0.66) store.set(k, `v${i}\r\nEND\r\n${'z'.repeat(Math.floor(rnd() * 50))}`);
    }
    const line = `get ${keys.join(' ')}\r\n`;
    const msg = parseMulti(line);
    assert.equal(msg.nkeys, 1000);
    const servers = 7;
    const router: KeyRouter = {
      serverIndexFor(buf, start, end) {
        let h = 0;
        for (let i = start; i < end; i++) h = (Math.imul(h, 31) + buf[i]!) >>> 0;
        return h % servers;
      },
    };
    const frags = codec.fragment(msg, router);
    assert.ok(frags.length > 1 && frags.length <= servers);
    const order = frags.map((f) => f.serverIndex);
    assert.deepEqual(order, [...order].sort((a, b) => a - b));
    // Every key went to its server's sub-request, in request order.
    for (const f of frags) {
      const mine = keys.filter((k) => router.serverIndexFor(latin1(k), 0, k.length) === f.serverIndex);
      assert.equal(f.data.toString('latin1'), `get ${mine.map((k) => `${k} `).join('')}\r\n`);
    }
    for (const f of frags) {
      // Each sub-reply is framed by the reply parser from 100-byte chunks.
      const raw = answer(f, store);
      const chunks: Buffer[] = [];
      for (let i = 0; i < raw.length; i += 100) chunks.push(Buffer.from(raw.subarray(i, i + 100)));
      const parsed = parseReplies(chunks);
      assert.equal(parsed.replies.length, 1);
      f.reply = parsed.replies[0]!;
    }
    codec.coalesce(msg);
    assert.equal(msg.reply!.toString('latin1'), expectedMerge(keys, store));
  });
});

describe('memcache codec: small methods', () => {
  it('protocol, parsers, errorReply, connectPreamble', () => {
    assert.equal(codec.protocol, 'memcache');
    assert.equal(codec.errorReply('Connection refused').toString(), 'SERVER_ERROR Connection refused\r\n');
    assert.deepEqual(codec.connectPreamble(), []);
    const p1 = codec.newRequestParser();
    const p2 = codec.newRequestParser();
    assert.notEqual(p1, p2);
    assert.notEqual(codec.newReplyParser(), codec.newReplyParser());
    assert.equal(p1.pendingBytes, 0);
  });

  it('a gets multi-get with cas values round-trips', () => {
    const store = new Map([
      ['a', '1'],
      ['c', '3'],
    ]);
    const msg = parseMulti('gets a b c\r\n');
    const frags = codec.fragment(msg, new TableRouter({ a: 1, b: 0, c: 0 }));
    for (const f of frags) f.reply = answer(f, store, true);
    codec.coalesce(msg);
    assert.equal(msg.reply!.toString('latin1'), 'VALUE a 7 1 99\r\n1\r\nVALUE c 7 1 99\r\n3\r\nEND\r\n');
  });
});
