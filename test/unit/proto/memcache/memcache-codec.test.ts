/**
 * Tests of the memcache Codec (src/proto/memcache/memcache-codec.ts): multi-get fragment and
 * coalesce with a fake KeyRouter, error precedence, a 1,000-key multi-get end to end through
 * both parsers, and the small Codec methods.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { KeyRouter } from '../../../../src/proto/codec.js';
import type { Msg, MsgOwner } from '../../../../src/proto/message.js';
import { REPLY_ERROR, ROUTE_FRAGMENT, ROUTE_KEY } from '../../../../src/proto/message.js';
import { MC_GAT, MC_GATS, MC_GET, MC_GETS } from '../../../../src/proto/memcache/commands.js';
import { createMemcacheCodec } from '../../../../src/proto/memcache/memcache-codec.js';
import { MC_LINE_CAP } from '../../../../src/proto/memcache/request-parser.js';
import { latin1, modelMerge, parseReplies, parseRequests, prng } from './memcache-harness.js';

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
    const owner: MsgOwner = {
      onMsgDone: () => undefined,
      acceptsReplyPieces: () => false,
      onReplyPiece: () => undefined,
      onReplyHeld: () => undefined,
      onReplyArriving: () => undefined,
    };
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
    const gats = parseMulti('gats 05 a b\r\n');
    assert.deepEqual(
      codec.fragment(gats, new TableRouter({ a: 0, b: 1 })).map((f) => f.data.toString('latin1')),
      ['gats 5 a \r\n', 'gats 5 b \r\n'],
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
      // Two servers, so that the line is rebuilt (one server may get the client's line as is).
      const frags = codec.fragment(parseMulti(line), new TableRouter({ a: 0, b: 1 }));
      assert.deepEqual(
        frags.map((f) => f.data.toString('latin1')),
        [sub.replace(' b ', ' '), sub.replace(' a ', ' ')],
        line.slice(0, 20),
      );
      assert.equal(frags[0]!.keyBuf.toString('latin1', frags[0]!.keyStart, frags[0]!.keyEnd), 'a');
      assert.equal(frags[1]!.keyBuf.toString('latin1', frags[1]!.keyStart, frags[1]!.keyEnd), 'b');
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

  it('the first failed fragment in server order gives the error, as twemproxy picks it', () => {
    const msg = parseMulti('get a b c\r\n');
    const frags = codec.fragment(msg, new TableRouter({ a: 2, b: 0, c: 1 }));
    frags[0]!.reply = latin1('SERVER_ERROR bad\r\n'); // server 0: an error sub-reply
    frags[0]!.replyFlags = REPLY_ERROR;
    frags[1]!.errorCode = 'ETIMEDOUT'; // server 1
    frags[2]!.errorCode = 'ECONNREFUSED'; // server 2
    codec.coalesce(msg);
    assert.equal(msg.reply!.toString('latin1'), 'SERVER_ERROR Invalid argument\r\n');
    assert.equal(msg.replyFlags, REPLY_ERROR);
    assert.equal(msg.closeAfter, false);

    frags[0]!.reply = latin1('END\r\n');
    frags[0]!.replyFlags = 0;
    codec.coalesce(msg);
    assert.equal(msg.reply!.toString('latin1'), 'SERVER_ERROR Connection timed out\r\n');

    // A server that only closed the connection is passed over for a later fragment's cause,
    // and reported (unknown) when no fragment has one.
    frags[1]!.errorCode = '';
    codec.coalesce(msg);
    assert.equal(msg.reply!.toString('latin1'), 'SERVER_ERROR Connection refused\r\n');
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

describe('memcache codec: every key on one server', () => {
  it('the client\'s line is the sub-request, and the server\'s reply is the merged reply', () => {
    const msg = parseMulti('gets a b c a\r\n');
    const frags = codec.fragment(msg, new TableRouter({ a: 5, b: 5, c: 5 }));
    assert.equal(frags.length, 1);
    const f = frags[0]!;
    assert.equal(f.data, msg.data, 'the same Buffer, not a copy');
    assert.equal(f.serverIndex, 5);
    assert.equal(f.parent, msg);
    assert.equal(f.cmd, MC_GETS);
    assert.equal(f.keyBuf.toString('latin1', f.keyStart, f.keyEnd), 'a');
    assert.equal(msg.pending, 1);
    assert.deepEqual(msg.fragments, frags);
    // A miss (b) and a duplicate (a), as memcached answers them.
    f.reply = latin1('VALUE a 1 1 9\r\nA\r\nVALUE c 0 2 8\r\nCC\r\nVALUE a 1 1 9\r\nA\r\nEND\r\n');
    codec.coalesce(msg);
    assert.equal(msg.reply, f.reply, 'passed through, not copied');
    assert.equal(msg.replyFlags, 0);
  });

  it('which lines go unsplit: short ones, and long get/gets lines starting with the command', () => {
    const one = new TableRouter({}, 1);
    const keys = Array.from({ length: 400 }, (_, i) => `key:${i}`);
    const cases: Array<[string, boolean]> = [
      ['get a b\r\n', true],
      ['  get   a b  \r\n', true],
      ['gat 10 a b\r\n', true],
      [`get ${keys.join(' ')}\r\n`, true],
      [`gets ${keys.join(' ')}\r\n`, true],
      // memcached closes on a long line with leading spaces, and on any long gat line.
      [` get ${keys.join(' ')}\r\n`, false],
      [`gat 10 ${keys.join(' ')}\r\n`, false],
      [`gats 10 ${keys.join(' ')}\r\n`, false],
    ];
    for (const [line, unsplit] of cases) {
      const msg = parseMulti(line);
      const frags = codec.fragment(msg, one);
      const name = `${line.slice(0, 12)}… (${line.length} bytes)`;
      if (unsplit) {
        assert.equal(frags.length, 1, name);
        assert.equal(frags[0]!.data, msg.data, name);
      } else {
        assert.notEqual(frags[0]!.data, msg.data, name);
        // Rebuilt: get lines start with the command (no spaces), gat lines are cut.
        for (const f of frags) {
          if (line.includes('gat')) assert.ok(f.data.length <= MC_LINE_CAP, name);
          else assert.ok(f.data.toString('latin1').startsWith('get key:0 '), name);
        }
        const sent = frags.flatMap((f) => f.data.toString('latin1').trim().split(' ').slice(line.includes('gat') ? 2 : 1));
        assert.deepEqual(sent, keys, name);
      }
      // Either way the values come back merged in request order.
      const store = new Map(keys.filter((_, i) => i % 4 !== 0).map((k) => [k, `v-${k}`]));
      store.set('a', 'A');
      for (const f of frags) f.reply = unsplit ? answerLine(f, store) : answer(f, store);
      codec.coalesce(msg);
      const asked = msg.data.toString('latin1').trim().split(/ +/).slice(line.includes('gat') ? 2 : 1);
      assert.equal(msg.reply!.toString('latin1'), expectedMerge(asked, store), name);
    }
  });

  it('an unexpected reply still gets the merge\'s handling', () => {
    const run = (reply: string, flags = 0): Msg => {
      const msg = parseMulti('get a b\r\n');
      const [f] = codec.fragment(msg, new TableRouter({ a: 0, b: 0 }));
      f!.reply = latin1(reply);
      f!.replyFlags = flags;
      codec.coalesce(msg);
      return msg;
    };
    for (const bad of ['SERVER_ERROR oops\r\n', 'STORED\r\n', 'VALUE a 0 5\r\nab\r\nEND\r\n', 'VALUE a 0 1\r\nx\r\n']) {
      const msg = run(bad, bad.startsWith('SERVER') ? REPLY_ERROR : 0);
      assert.equal(msg.reply!.toString('latin1'), 'SERVER_ERROR Invalid argument\r\n', bad);
      assert.equal(msg.replyFlags, REPLY_ERROR);
    }
    // Blocks not asked for at their position are dropped, as in a merge over several servers.
    assert.equal(run('VALUE b 0 1\r\n2\r\nVALUE a 0 1\r\n1\r\nEND\r\n').reply!.toString('latin1'), 'VALUE b 0 1\r\n2\r\nEND\r\n');
    assert.equal(
      run('VALUE a 0 1\r\n1\r\nVALUE b 0 1\r\n2\r\nVALUE c 0 1\r\n3\r\nEND\r\n').reply!.toString('latin1'),
      'VALUE a 0 1\r\n1\r\nVALUE b 0 1\r\n2\r\nEND\r\n',
    );
    // A transport failure is the error reply.
    const msg = parseMulti('get a b\r\n');
    codec.fragment(msg, new TableRouter({ a: 0, b: 0 }))[0]!.errorCode = 'ECONNRESET';
    codec.coalesce(msg);
    assert.equal(msg.reply!.toString('latin1'), 'SERVER_ERROR Connection reset by peer\r\n');
  });

  it('reads VALUE headers as the reply parser does, but with one space before the key', () => {
    const merged = (reply: string): string => {
      const msg = parseMulti('get a b\r\n');
      codec.fragment(msg, new TableRouter({ a: 0, b: 0 }))[0]!.reply = latin1(reply);
      codec.coalesce(msg);
      return msg.reply!.toString('latin1');
    };
    const framed = (reply: string): boolean => {
      const { events } = parseReplies([latin1(reply)]);
      return events.length === 1 && events[0]!.kind === 'reply';
    };
    const invalid = 'SERVER_ERROR Invalid argument\r\n';
    // Shapes memcached does not write but the parser takes.
    const odd = 'VALUE a  +7  1  +00018446744073709551615 \r\nx\r\nVALUE b 0 0\r\n\r\nEND\r\n';
    assert.ok(framed(odd));
    assert.equal(merged(odd), odd);
    // The parser also frames this one; the merge has always refused it.
    const spaced = 'VALUE  a 0 1\r\nx\r\nEND\r\n';
    assert.ok(framed(spaced));
    assert.equal(merged(spaced), invalid);
    // Refused by the parser, so never merged; the merge refuses them too (before the one header
    // grammar it took any flags and anything after <bytes>).
    for (const bad of ['VALUE a 0 1 1\r2\r\nx\r\nEND\r\n', 'VALUE a x 1\r\nx\r\nEND\r\n', `VALUE ${'a'.repeat(251)} 0 1\r\nx\r\nEND\r\n`]) {
      assert.ok(!framed(bad), bad);
      assert.equal(merged(bad), invalid, bad);
    }
  });

  it('several servers, every hit on one: that server\'s reply passes through', () => {
    const msg = parseMulti('get a b c d\r\n');
    const frags = codec.fragment(msg, new TableRouter({ a: 0, b: 1, c: 0, d: 1 }));
    frags[0]!.reply = latin1('END\r\n');
    frags[1]!.reply = latin1('VALUE b 0 1\r\n2\r\nVALUE d 0 1\r\n4\r\nEND\r\n');
    codec.coalesce(msg);
    assert.equal(msg.reply, frags[1]!.reply);
  });
});

/** A fake memcached answering a client's own line (any spacing), hits in request order. */
function answerLine(sub: Msg, store: Map<string, string>): Buffer {
  const tokens = sub.data.toString('latin1').trim().split(/ +/);
  let out = '';
  for (const k of tokens.slice(sub.cmd === MC_GAT || sub.cmd === MC_GATS ? 2 : 1)) {
    const v = store.get(k);
    if (v !== undefined) out += `VALUE ${k} 7 ${Buffer.byteLength(v, 'latin1')}\r\n${v}\r\n`;
  }
  return latin1(`${out}END\r\n`);
}

describe('memcache codec: coalesce against a reference merge', () => {
  it('random replies (header shapes, foreign and broken blocks) merge as the reference says', () => {
    const keyArb = fc.constantFrom('a', 'b', 'cc', 'key:1', 'key:10', 'k\xff');
    const headerArb = fc.constantFrom('plain', 'cas', 'spaces', 'trailing', 'zeros', 'cas-cr');
    const blockArb = fc.record({ key: keyArb, header: headerArb, data: fc.constantFrom('', 'x', '\r\nEND\r\n', 'VALUE a 0 1') });
    const breakArb = fc.constantFrom('none', 'none', 'none', 'short', 'no-end', 'bad-len', 'foreign', 'lf');
    fc.assert(
      fc.property(
        fc.array(keyArb, { minLength: 2, maxLength: 12 }),
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.array(blockArb, { maxLength: 6 }), { minLength: 3, maxLength: 3 }),
        fc.array(breakArb, { minLength: 3, maxLength: 3 }),
        fc.integer({ min: 0, max: 1 }),
        (keys, nservers, extra, breaks, answerMode) => {
          const msg = parseMulti(`get ${keys.join(' ')}\r\n`);
          const serverOf = (k: string): number => (k.charCodeAt(k.length - 1) * 7) % nservers;
          const frags = codec.fragment(msg, { serverIndexFor: (b, s, e) => serverOf(b.toString('latin1', s, e)) });
          const replies: string[] = frags.map((f, i) => {
            // Either a faithful answer (hits in order, every other key a miss), or random blocks.
            const asked = f.data.toString('latin1').trim().split(/ +/).slice(1);
            const blocks = answerMode === 0 ? asked.filter((_, j) => j % 2 === 0).map((key) => ({ key, header: 'plain', data: `v:${key}` })) : extra[i]!;
            let r = '';
            for (const b of blocks) {
              const n = Buffer.byteLength(b.data, 'latin1');
              const head = {
                plain: `VALUE ${b.key} 0 ${n}`,
                cas: `VALUE ${b.key} 3 ${n} 12345`,
                spaces: `VALUE ${b.key}  0  ${n}`,
                trailing: `VALUE ${b.key} 0 ${n} `,
                zeros: `VALUE ${b.key} 00 000${n}`,
                'cas-cr': `VALUE ${b.key} 0 ${n} 1\r2`,
              }[b.header]!;
              r += `${head}\r\n${b.data}\r\n`;
            }
            r += 'END\r\n';
            switch (breaks[i]) {
              case 'short': return r.slice(0, -7) + 'END\r\n';
              case 'no-end': return r.slice(0, -5);
              case 'bad-len': return r.replace(/ 0 (\d)/, ' 0 9$1');
              case 'foreign': return `VALUE zz 0 1\r\nz\r\n${r}`;
              case 'lf': return r.replace('\r\n', '\n');
              default: return r;
            }
          });
          frags.forEach((f, i) => (f.reply = latin1(replies[i]!)));
          codec.coalesce(msg);
          const slots = keys.map((k) => frags.findIndex((f) => f.serverIndex === serverOf(k)));
          const want = modelMerge(keys, slots, replies);
          assert.equal(msg.reply!.toString('latin1'), want);
          assert.equal(msg.replyFlags, want.startsWith('SERVER_ERROR') ? REPLY_ERROR : 0);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('memcache codec: small methods', () => {
  it('protocol, parsers, errorReply, connectPreamble', () => {
    assert.equal(codec.protocol, 'memcache');
    assert.equal(codec.errorReply('Connection refused').toString(), 'SERVER_ERROR Connection refused\r\n');
    assert.deepEqual(codec.connectPreamble(), []);
    // The shutdown fence: an internal version request, answered after everything before it.
    const fence = codec.fenceRequest();
    assert.ok(fence !== null && fence.internal);
    assert.equal(fence.data.toString('latin1'), 'version\r\n');
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
