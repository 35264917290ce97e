// Bad memcache input through a Walnut pool of three memcached: each case gets the reply
// decided in src/proto/memcache/request-parser.ts, and where the stream is still in sync the
// connection keeps working (a following `get` is answered). Cases where Walnut's reply is the
// same as memcached 1.6's are also checked against a real memcached; the others are Walnut's
// documented choices (extra tokens rejected except after `version`, rejected data blocks
// skipped, unsupported commands answered with SERVER_ERROR, binary protocol and over-long lines
// close, except retrieval lines over their 4 MiB cap: CLIENT_ERROR, and the connection goes on).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { freePort, startMemcached, startWalnut, type Running, type RunningProxy } from '../../scripts/lib/processes.js';
import { MC_RETRIEVAL_LINE_CAP } from '../../src/proto/memcache/request-parser.js';
import { exchange, McClient, memcachePoolYaml } from './support/memcache-client.js';

const BAD_FORMAT = 'CLIENT_ERROR bad command line format\r\n';
const BAD_CHUNK = 'CLIENT_ERROR bad data chunk\r\n';
const DELETE_USAGE = 'CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n';
const unsupported = (cmd: string): string => `CLIENT_ERROR walnut: '${cmd}' is not supported by the proxy\r\n`;

/** The probe sent after every case: its reply proves the connection is still in sync. */
const PROBE = 'get bi:probe\r\n';
const PROBE_REPLY = 'VALUE bi:probe 9 5\r\nprobe\r\nEND\r\n';

const K250 = 'k'.repeat(250);
/** Another 250-byte key, never stored. */
const G250 = 'g'.repeat(250);
const K251 = 'k'.repeat(251);

interface Case {
  name: string;
  request: string;
  /** Walnut's replies to `request` (the probe's reply follows). */
  reply: string;
  /** How many replies `reply` holds. */
  replies: number;
  /** memcached 1.6 answers `request` + PROBE with exactly the same bytes. */
  sameAsMemcached: boolean;
}

const cases: Case[] = [
  { name: 'get with a 251-byte key', request: `get ${K251}\r\n`, reply: BAD_FORMAT, replies: 1, sameAsMemcached: true },
  { name: 'get with a 250-byte key (the limit) is fine', request: `get ${G250}\r\n`, reply: 'END\r\n', replies: 1, sameAsMemcached: true },
  { name: 'multi-get with one 251-byte key', request: `get bi:a ${K251} bi:b\r\n`, reply: BAD_FORMAT, replies: 1, sameAsMemcached: false },
  // memcached answers the data line after the rejected header with ERROR; Walnut skips the block.
  { name: 'set with a 251-byte key: data block skipped', request: `set ${K251} 0 0 1\r\nx\r\n`, reply: BAD_FORMAT, replies: 1, sameAsMemcached: false },
  { name: 'set with a 250-byte key works', request: `set ${K250} 0 0 1\r\nx\r\nget ${K250}\r\n`, reply: `STORED\r\nVALUE ${K250} 0 1\r\nx\r\nEND\r\n`, replies: 2, sameAsMemcached: true },
  { name: 'incr with a 251-byte key', request: `incr ${K251} 1\r\n`, reply: BAD_FORMAT, replies: 1, sameAsMemcached: false },
  { name: 'delete with a 251-byte key', request: `delete ${K251}\r\n`, reply: BAD_FORMAT, replies: 1, sameAsMemcached: false },
  // memcached checks the hold time before the key's length.
  { name: 'delete with a 251-byte key and a hold time other than 0', request: `delete ${K251} 1\r\n`, reply: DELETE_USAGE, replies: 1, sameAsMemcached: true },
  { name: 'set without <bytes>', request: 'set bi:k 0 0\r\n', reply: BAD_FORMAT, replies: 1, sameAsMemcached: false },
  { name: 'set with non-numeric flags: data block skipped', request: 'set bi:k abc 0 1\r\nx\r\n', reply: BAD_FORMAT, replies: 1, sameAsMemcached: false },
  { name: 'set with flags above 2^32-1', request: 'set bi:k 4294967296 0 1\r\nx\r\n', reply: BAD_FORMAT, replies: 1, sameAsMemcached: false },
  { name: 'set with a bad exptime', request: 'set bi:k 0 soon 1\r\nx\r\n', reply: BAD_FORMAT, replies: 1, sameAsMemcached: false },
  { name: 'set with an extra token', request: 'set bi:k 0 0 1 extra\r\nx\r\n', reply: BAD_FORMAT, replies: 1, sameAsMemcached: false },
  { name: 'set with a negative length', request: 'set bi:k 0 0 -1\r\n', reply: BAD_FORMAT, replies: 1, sameAsMemcached: true },
  { name: 'set with a non-numeric length', request: 'set bi:k 0 0 abc\r\n', reply: BAD_FORMAT, replies: 1, sameAsMemcached: true },
  { name: 'set with a length above INT_MAX - 2', request: 'set bi:k 0 0 2147483646\r\n', reply: BAD_FORMAT, replies: 1, sameAsMemcached: false },
  // A token count memcached does not take for the command: to it there is no data block, and
  // the next line is a command (memcached: ERROR, ERROR).
  { name: 'cas without the unique: the next line is a command', request: 'cas bi:k 0 0 1\r\nx\r\n', reply: `${BAD_FORMAT}ERROR\r\n`, replies: 2, sameAsMemcached: false },
  { name: 'set with two extra tokens: the next line is a command', request: 'set bi:k 0 0 1 2 3\r\nx\r\n', reply: `${BAD_FORMAT}ERROR\r\n`, replies: 2, sameAsMemcached: false },
  { name: 'cas with a non-numeric unique', request: 'cas bi:k 0 0 1 abc\r\nx\r\n', reply: BAD_FORMAT, replies: 1, sameAsMemcached: false },
  // memcached reads <bytes> + CR LF, finds no CR LF, answers bad data chunk and parses on from
  // there: the leftover `def` line is an unknown command. Walnut consumes exactly the same bytes.
  { name: 'data block longer than declared', request: 'set bi:k 0 0 3\r\nabcdef\r\n', reply: `${BAD_CHUNK}ERROR\r\n`, replies: 2, sameAsMemcached: true },
  { name: 'data block one byte longer', request: 'set bi:k 0 0 1\r\nxy\r\n', reply: `${BAD_CHUNK}ERROR\r\n`, replies: 2, sameAsMemcached: true },
  // Shorter: the block swallows the start of the next line (`ge` of a get); `t bi:none` is unknown.
  { name: 'data block shorter than declared', request: 'set bi:k 0 0 5\r\nabc\r\nget bi:none\r\n', reply: `${BAD_CHUNK}ERROR\r\n`, replies: 2, sameAsMemcached: true },
  { name: 'unknown command', request: 'foo bar\r\n', reply: 'ERROR\r\n', replies: 1, sameAsMemcached: true },
  { name: 'uppercase GET', request: 'GET bi:probe\r\n', reply: 'ERROR\r\n', replies: 1, sameAsMemcached: true },
  { name: 'uppercase SET (its data line is then a command too)', request: 'SET bi:k 0 0 1\r\nx\r\n', reply: 'ERROR\r\nERROR\r\n', replies: 2, sameAsMemcached: true },
  { name: 'empty line', request: '\r\n', reply: 'ERROR\r\n', replies: 1, sameAsMemcached: true },
  { name: 'line of spaces', request: '     \r\n', reply: 'ERROR\r\n', replies: 1, sameAsMemcached: true },
  { name: 'get without a key', request: 'get\r\n', reply: BAD_FORMAT, replies: 1, sameAsMemcached: false },
  { name: 'line ending in a bare LF', request: 'get bi:probe\n', reply: BAD_FORMAT, replies: 1, sameAsMemcached: false },
  { name: 'CR inside a line', request: 'get bi:a\rb\r\n', reply: BAD_FORMAT, replies: 1, sameAsMemcached: false },
  { name: 'incr with a non-numeric delta', request: 'incr bi:k abc\r\n', reply: 'CLIENT_ERROR invalid numeric delta argument\r\n', replies: 1, sameAsMemcached: true },
  { name: 'incr with a negative delta', request: 'incr bi:k -1\r\n', reply: 'CLIENT_ERROR invalid numeric delta argument\r\n', replies: 1, sameAsMemcached: true },
  { name: 'incr without a delta', request: 'incr bi:k\r\n', reply: BAD_FORMAT, replies: 1, sameAsMemcached: false },
  { name: 'touch with a bad exptime', request: 'touch bi:k abc\r\n', reply: 'CLIENT_ERROR invalid exptime argument\r\n', replies: 1, sameAsMemcached: true },
  { name: 'gat with a bad exptime', request: 'gat abc bi:probe\r\n', reply: 'CLIENT_ERROR invalid exptime argument\r\n', replies: 1, sameAsMemcached: true },
  // memcached takes `gat <exptime>` without a key: its exptime is checked, then the result is empty.
  { name: 'gat with an exptime and no key', request: 'gat 10\r\n', reply: 'END\r\n', replies: 1, sameAsMemcached: true },
  { name: 'gats with a bad exptime and no key', request: 'gats abc\r\n', reply: 'CLIENT_ERROR invalid exptime argument\r\n', replies: 1, sameAsMemcached: true },
  { name: 'delete with a hold time other than 0', request: 'delete bi:probe 1\r\n', reply: DELETE_USAGE, replies: 1, sameAsMemcached: true },
  { name: 'delete with many tokens', request: 'delete a b c d e\r\n', reply: DELETE_USAGE, replies: 1, sameAsMemcached: false },
  { name: 'delete without a key', request: 'delete\r\n', reply: BAD_FORMAT, replies: 1, sameAsMemcached: false },
  { name: 'flush_all is not forwarded', request: 'flush_all\r\n', reply: unsupported('flush_all'), replies: 1, sameAsMemcached: false },
  { name: 'flush_all with a delay', request: 'flush_all 10\r\n', reply: unsupported('flush_all'), replies: 1, sameAsMemcached: false },
  { name: 'stats is not forwarded', request: 'stats\r\n', reply: unsupported('stats'), replies: 1, sameAsMemcached: false },
  { name: 'stats items', request: 'stats items\r\n', reply: unsupported('stats'), replies: 1, sameAsMemcached: false },
  { name: 'verbosity is not forwarded', request: 'verbosity 1\r\n', reply: unsupported('verbosity'), replies: 1, sameAsMemcached: false },
  { name: 'meta get', request: 'mg bi:probe v\r\n', reply: unsupported('mg'), replies: 1, sameAsMemcached: false },
  { name: 'meta set: its data block is skipped', request: 'ms bi:k 2 T0\r\nhi\r\n', reply: unsupported('ms'), replies: 1, sameAsMemcached: false },
  { name: 'quit with an argument', request: 'quit now\r\n', reply: BAD_FORMAT, replies: 1, sameAsMemcached: false },
  // noreply silences the error of a malformed request; the rejected data block is still skipped.
  { name: 'malformed set with noreply: no reply', request: 'set bi:k abc 0 1 noreply\r\nx\r\n', reply: '', replies: 0, sameAsMemcached: false },
  { name: 'incr with a bad delta and noreply: no reply', request: 'incr bi:k abc noreply\r\n', reply: '', replies: 0, sameAsMemcached: true },
  { name: 'incr without a delta, with noreply: no reply', request: 'incr bi:k noreply\r\n', reply: '', replies: 0, sameAsMemcached: true },
  // noreply counts only with a token count memcached takes for the command (memcached: ERROR).
  { name: 'decr with too many tokens is answered despite noreply', request: 'decr get bi:k 3 noreply\r\n', reply: BAD_FORMAT, replies: 1, sameAsMemcached: false },
  { name: 'delete with a hold time and noreply: no reply', request: 'delete bi:k 5 noreply\r\n', reply: '', replies: 0, sameAsMemcached: true },
];

describe('bad memcache input', () => {
  let shards: Running[] = [];
  let reference: Running;
  let walnut: RunningProxy;
  let port: number;

  before(async () => {
    [reference, ...shards] = await Promise.all([startMemcached(), startMemcached(), startMemcached(), startMemcached()]);
    port = await freePort();
    walnut = await startWalnut(memcachePoolYaml([{ name: 'mc', port, servers: shards.map((s) => s.port) }]), {
      listenPorts: [port],
    });
    for (const target of [port, reference.port]) {
      assert.equal(await exchange(target, 'set bi:probe 9 0 5\r\nprobe\r\n', 1), 'STORED\r\n');
    }
  });

  after(async () => {
    await walnut.stop();
    await Promise.all([reference, ...shards].map((s) => s.stop()));
  });

  for (const c of cases) {
    test(c.name, async () => {
      const client = await McClient.connect(port);
      await client.send(c.request + PROBE);
      const got = (await client.readReplies(c.replies + 1)).toString('latin1');
      assert.equal(got, c.reply + PROBE_REPLY);
      assert.equal(client.pending, 0, 'no extra bytes');
      assert.equal(client.ended, false, 'the connection stays open');
      client.destroy();
      if (c.sameAsMemcached) {
        assert.equal(await exchange(reference.port, c.request + PROBE, c.replies + 1), got, 'memcached answers the same');
      }
      // Nothing was stored under the test key by a rejected request.
      assert.equal(await exchange(port, 'get bi:k\r\n', 1), 'END\r\n');
    });
  }

  test('every case pipelined on one connection, in one write', async () => {
    const client = await McClient.connect(port);
    await client.send(cases.map((c) => c.request + PROBE).join(''));
    for (const c of cases) {
      const got = (await client.readReplies(c.replies + 1)).toString('latin1');
      assert.equal(got, c.reply + PROBE_REPLY, c.name);
    }
    assert.equal(client.pending, 0);
    client.destroy();
  });

  test('the data block of a rejected set is never run as a command', async () => {
    assert.equal(await exchange(port, 'set bi:victim 0 0 1\r\nv\r\n', 1), 'STORED\r\n');
    const block = 'delete bi:victim';
    // Bad flags, so the header is rejected; the block is exactly <bytes> long.
    const got = await exchange(port, `set bi:k bad 0 ${block.length}\r\n${block}\r\nget bi:victim\r\n`, 2);
    assert.equal(got, `${BAD_FORMAT}VALUE bi:victim 0 1\r\nv\r\nEND\r\n`);
  });

  test('flush_all through Walnut flushes nothing', async () => {
    assert.equal(await exchange(port, 'set bi:kept 0 0 1\r\nk\r\nflush_all\r\nget bi:kept\r\n', 3), `STORED\r\n${unsupported('flush_all')}VALUE bi:kept 0 1\r\nk\r\nEND\r\n`);
  });

  test('an unsupported command with noreply gets its error and the connection closes', async () => {
    const client = await McClient.connect(port);
    await client.send(`get bi:probe\r\nflush_all noreply\r\n${PROBE}`);
    assert.equal((await client.readToEnd()).toString('latin1'), PROBE_REPLY + unsupported('flush_all'));
  });

  test('each binary-protocol request gets a binary "not supported" response, until QUIT closes', async () => {
    // memjs writes requests without waiting and does not fail those in flight when the
    // connection closes: Walnut closed after refusing the first, and the others waited for ever.
    const text = 'walnut: binary protocol is not supported';
    /** A request header: magic 0x80, opcode, key length, extras length, total body length, opaque. */
    const header = (opcode: number, keyLen: number, extrasLen: number, body: number, opaque: number): Buffer => {
      const h = Buffer.alloc(24);
      h[0] = 0x80;
      h[1] = opcode;
      h.writeUInt16BE(keyLen, 2);
      h[4] = extrasLen;
      h.writeUInt32BE(body, 8);
      h.writeUInt32BE(opaque, 12);
      return h;
    };
    const refusal = (opcode: number, opaque: number): Buffer => {
      const r = Buffer.alloc(24 + text.length);
      r[0] = 0x81;
      r[1] = opcode;
      r.writeUInt16BE(0x0083, 6);
      r.writeUInt32BE(text.length, 8);
      r.writeUInt32BE(opaque, 12);
      r.write(text, 24, 'latin1');
      return r;
    };
    const get = Buffer.concat([header(0x00, 1, 0, 1, 0x01020304), Buffer.from('k')]);
    // SET: 8 bytes of extras (flags, expiry), key 'k', value holding what looks like a text command.
    const set = Buffer.concat([header(0x01, 1, 8, 8 + 14, 7), Buffer.alloc(8), Buffer.from('kflush_all\r\n\r\n')]);
    const client = await McClient.connect(port);
    // The SET arrives in pieces: its body is skipped by the length in its header.
    await client.send(Buffer.concat([get, set.subarray(0, 30)]));
    await client.send(set.subarray(30));
    const want = Buffer.concat([refusal(0x00, 0x01020304), refusal(0x01, 7)]);
    assert.deepEqual(await client.read(want.length), want);
    await client.send(header(0x07, 0, 0, 0, 9)); // QUIT
    assert.deepEqual(await client.readToEnd(), refusal(0x07, 9));
  });

  test('a 0x80 byte after the first request is part of a text line, as memcached reads it', async () => {
    // memcached decides on the binary protocol at a connection's first byte only.
    const binaryGet = Buffer.from([0x80, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0x6b]);
    const request = Buffer.concat([Buffer.from(PROBE), binaryGet, Buffer.from(PROBE + PROBE)]);
    const got = await exchange(port, request, 3);
    assert.equal(got, `${PROBE_REPLY}ERROR\r\n${PROBE_REPLY}`);
    assert.equal(await exchange(reference.port, request, 3), got, 'memcached answers the same');
  });

  test('a command line over 2,048 bytes without LF gets CLIENT_ERROR line too long and closes', async () => {
    const client = await McClient.connect(port);
    await client.send(`${PROBE}set ${'x'.repeat(3000)}`);
    assert.equal((await client.readToEnd()).toString('latin1'), `${PROBE_REPLY}CLIENT_ERROR line too long\r\n`);
  });

  test('version with extra tokens is answered as memcached 1.6 answers it', async () => {
    const request = `version foo bar\r\nversion noreply\r\n  version  x \r\n${PROBE}`;
    const got = await exchange(port, request, 4);
    assert.match(got, /^(VERSION [^\r\n]+\r\n){3}VALUE bi:probe /);
    assert.equal(got, await exchange(reference.port, request, 4));
  });

  test('get lines of 100,000 keys (1.1 MB) and of 10,000 keys of 250 bytes (2.5 MB) are answered as by memcached', async () => {
    const short = Array.from({ length: 100_000 }, (_, i) => `bi:n:${i}`);
    const long = Array.from({ length: 10_000 }, (_, i) => `bi:n:${i}:`.padEnd(250, 'x'));
    for (const keys of [short, long]) {
      // The probe key last, and twice among the others, so that values must be merged in order.
      const line = `get ${keys.slice(0, 10).join(' ')} bi:probe ${keys.slice(10).join(' ')} bi:probe\r\n`;
      assert.ok(line.length > 1_000_000 && line.length < MC_RETRIEVAL_LINE_CAP);
      const expected = `VALUE bi:probe 9 5\r\nprobe\r\n${PROBE_REPLY}`;
      assert.equal(await exchange(port, line + PROBE, 2), expected + PROBE_REPLY);
      assert.equal(await exchange(reference.port, line + PROBE, 2), expected + PROBE_REPLY);
    }
  });

  test('a gat line of 10,000 keys (110 KB) is answered: sent to memcached in pieces it accepts', async () => {
    const keys = Array.from({ length: 10_000 }, (_, i) => `bi:n:${i}`);
    const line = `gat 0 ${keys.join(' ')} bi:probe\r\n`;
    assert.equal(await exchange(port, line + PROBE, 2), PROBE_REPLY + PROBE_REPLY);
  });

  test('a get line over the 4 MiB cap gets CLIENT_ERROR line too long, and the connection goes on', async () => {
    const client = await McClient.connect(port);
    // The error is due as soon as the cap is passed, before the line ends.
    await client.send(`${PROBE}get bi:probe ${'k'.repeat(MC_RETRIEVAL_LINE_CAP)}`);
    assert.equal((await client.readReplies(2)).toString('latin1'), `${PROBE_REPLY}CLIENT_ERROR line too long\r\n`);
    await client.send(`${'k'.repeat(100_000)} bi:probe\r\n${PROBE}gats 0 bi:probe ${'k '.repeat(MC_RETRIEVAL_LINE_CAP / 2)}\r\n${PROBE}`);
    assert.equal(
      (await client.readReplies(3)).toString('latin1'),
      `${PROBE_REPLY}CLIENT_ERROR line too long\r\n${PROBE_REPLY}`,
    );
    assert.equal(client.pending, 0, 'no extra bytes');
    assert.equal(client.ended, false, 'the connection stays open');
    client.destroy();
  });

  test('bad input split across many reads gets the same replies', async () => {
    const client = await McClient.connect(port);
    const all = Buffer.from(cases.map((c) => c.request + PROBE).join(''), 'latin1');
    // Cut every 7 bytes: splits names, keys, CR from LF, data blocks and their CR LF.
    const cuts: number[] = [];
    for (let at = 7; at < all.length; at += 7) cuts.push(at);
    const sending = client.sendInPieces(all, cuts, 1);
    for (const c of cases) {
      const got = (await client.readReplies(c.replies + 1, 10_000)).toString('latin1');
      assert.equal(got, c.reply + PROBE_REPLY, c.name);
    }
    await sending;
    client.destroy();
  });
});
