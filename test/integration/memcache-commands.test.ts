// Every memcache ASCII command through a Walnut pool of three memcached, checked byte for byte
// against the same requests sent straight to a fourth memcached (differential), and against the
// reply text memcached documents. Covers storage commands with and without noreply, cas, single
// and multi-key get/gets/gat/gats, delete, incr/decr, touch, version and quit.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { freePort, startMemcached, startWalnut, type Running, type RunningProxy } from '../../scripts/lib/processes.js';
import { casOf, McClient, memcachePoolYaml } from './support/memcache-client.js';

/** gets/gats replies differ only in their cas uniques between two servers: mask them. */
function maskCas(reply: string): string {
  return reply.replace(/^(VALUE \S+ \d+ \d+) \d+\r\n/gm, '$1 <cas>\r\n');
}

describe('memcache commands through Walnut equal memcached', () => {
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
  });

  after(async () => {
    await walnut.stop();
    await Promise.all([reference, ...shards].map((s) => s.stop()));
  });

  /** A connection to Walnut and one to the reference memcached, used in lock step. */
  class Pair {
    private constructor(
      readonly w: McClient,
      readonly d: McClient,
    ) {}

    static async open(): Promise<Pair> {
      return new Pair(await McClient.connect(port), await McClient.connect(reference.port));
    }

    /**
     * Send the request (per side when it depends on earlier replies, e.g. a cas unique), read
     * `replies` replies from each, assert they are equal (after `normalise`) and, when given,
     * equal to `expected`. Returns Walnut's raw reply.
     */
    async same(
      request: string | ((side: 'walnut' | 'direct') => string),
      replies: number,
      expected?: string,
      normalise: (s: string) => string = (s) => s,
    ): Promise<string> {
      const req = (side: 'walnut' | 'direct'): string => (typeof request === 'string' ? request : request(side));
      await Promise.all([this.w.send(req('walnut')), this.d.send(req('direct'))]);
      const [w, d] = await Promise.all([this.w.readReplies(replies), this.d.readReplies(replies)]);
      const ws = w.toString('latin1');
      const ds = d.toString('latin1');
      assert.equal(normalise(ws), normalise(ds), `walnut vs memcached for ${JSON.stringify(req('walnut'))}`);
      if (expected !== undefined) assert.equal(normalise(ws), expected);
      return ws;
    }

    close(): void {
      this.w.destroy();
      this.d.destroy();
    }
  }

  test('set, add, replace, append, prepend', async () => {
    const p = await Pair.open();
    await p.same('set st:a 1 0 3\r\nabc\r\n', 1, 'STORED\r\n');
    await p.same('set st:empty 0 0 0\r\n\r\n', 1, 'STORED\r\n');
    await p.same('set st:crlf 4294967295 0 6\r\n\r\n\r\n\r\n\r\n', 1, 'STORED\r\n');
    await p.same('add st:a 0 0 1\r\nx\r\n', 1, 'NOT_STORED\r\n');
    await p.same('add st:b 5 0 2\r\nxy\r\n', 1, 'STORED\r\n');
    await p.same('replace st:none 0 0 1\r\nx\r\n', 1, 'NOT_STORED\r\n');
    await p.same('replace st:a 2 0 3\r\ndef\r\n', 1, 'STORED\r\n');
    await p.same('append st:a 0 0 2\r\ngh\r\n', 1, 'STORED\r\n');
    await p.same('prepend st:a 0 0 2\r\nab\r\n', 1, 'STORED\r\n');
    await p.same('append st:none 0 0 1\r\nx\r\n', 1, 'NOT_STORED\r\n');
    await p.same('prepend st:none 0 0 1\r\nx\r\n', 1, 'NOT_STORED\r\n');
    await p.same('get st:a\r\n', 1, 'VALUE st:a 2 7\r\nabdefgh\r\nEND\r\n');
    await p.same('get st:b\r\n', 1, 'VALUE st:b 5 2\r\nxy\r\nEND\r\n');
    await p.same('get st:empty\r\n', 1, 'VALUE st:empty 0 0\r\n\r\nEND\r\n');
    await p.same('get st:crlf\r\n', 1, 'VALUE st:crlf 4294967295 6\r\n\r\n\r\n\r\n\r\nEND\r\n');
    await p.same('get st:none\r\n', 1, 'END\r\n');
    p.close();
  });

  test('storage commands with noreply send nothing back; the values are there', async () => {
    const p = await Pair.open();
    // One pipelined write: had any noreply request been answered, its reply would come first.
    const requests = [
      'set nr:a 1 0 3 noreply\r\nabc\r\n',
      'add nr:a 0 0 1 noreply\r\nx\r\n', // not stored, silently
      'add nr:b 5 0 2 noreply\r\nxy\r\n',
      'replace nr:none 0 0 1 noreply\r\nx\r\n',
      'replace nr:a 2 0 3 noreply\r\ndef\r\n',
      'append nr:a 0 0 2 noreply\r\ngh\r\n',
      'prepend nr:a 0 0 2 noreply\r\nab\r\n',
      'append nr:none 0 0 1 noreply\r\nx\r\n',
      'prepend nr:none 0 0 1 noreply\r\nx\r\n',
      'get nr:a nr:b nr:none\r\n',
    ].join('');
    await p.same(requests, 1, 'VALUE nr:a 2 7\r\nabdefgh\r\nVALUE nr:b 5 2\r\nxy\r\nEND\r\n');
    assert.equal(p.w.pending, 0, 'nothing after the get reply');
    p.close();
  });

  test('cas with the unique from gets: STORED, EXISTS, NOT_FOUND, noreply', async () => {
    const p = await Pair.open();
    await p.same('set cas:k 3 0 2\r\nv1\r\n', 1, 'STORED\r\n');
    const wGets = await p.w.send('gets cas:k\r\n').then(() => p.w.readReply());
    const dGets = await p.d.send('gets cas:k\r\n').then(() => p.d.readReply());
    assert.match(wGets.toString('latin1'), /^VALUE cas:k 3 2 \d+\r\nv1\r\nEND\r\n$/);
    assert.equal(maskCas(wGets.toString('latin1')), maskCas(dGets.toString('latin1')));
    const cas = { walnut: casOf(wGets.toString('latin1')), direct: casOf(dGets.toString('latin1')) };

    // The unique Walnut returned is the one the owning server holds.
    const owners: string[] = [];
    for (const s of shards) {
      const c = await McClient.connect(s.port);
      await c.send('gets cas:k\r\n');
      const r = (await c.readReply()).toString('latin1');
      c.destroy();
      if (r !== 'END\r\n') owners.push(casOf(r));
    }
    assert.deepEqual(owners, [cas.walnut]);

    const wrong = (side: 'walnut' | 'direct'): string => `cas cas:k 0 0 2 ${BigInt(cas[side]) + 1000n}\r\nxx\r\n`;
    await p.same(wrong, 1, 'EXISTS\r\n');
    await p.same((side) => `cas cas:k 4 0 2 ${cas[side]}\r\nv2\r\n`, 1, 'STORED\r\n');
    await p.same((side) => `cas cas:k 4 0 2 ${cas[side]}\r\nv3\r\n`, 1, 'EXISTS\r\n');
    await p.same('cas cas:none 0 0 1 1\r\nx\r\n', 1, 'NOT_FOUND\r\n');
    await p.same('get cas:k\r\n', 1, 'VALUE cas:k 4 2\r\nv2\r\nEND\r\n');

    // noreply: a fresh unique, a cas that succeeds silently, one that fails silently.
    const g2 = await p.same('gets cas:k\r\n', 1, 'VALUE cas:k 4 2 <cas>\r\nv2\r\nEND\r\n', maskCas);
    const dg2 = await p.d.send('gets cas:k\r\n').then(() => p.d.readReply());
    const cas2 = { walnut: casOf(g2), direct: casOf(dg2.toString('latin1')) };
    await p.same(
      (side) =>
        `cas cas:k 7 0 2 ${cas2[side]} noreply\r\nv4\r\n` +
        `cas cas:k 8 0 2 ${cas2[side]} noreply\r\nv5\r\n` +
        'cas cas:none 0 0 1 1 noreply\r\nx\r\n' +
        'get cas:k\r\n',
      1,
      'VALUE cas:k 7 2\r\nv4\r\nEND\r\n',
    );
    assert.equal(p.w.pending, 0);
    p.close();
  });

  test('get and gets with one key and with many keys', async () => {
    const p = await Pair.open();
    const keys = Array.from({ length: 12 }, (_, i) => `g:k${i}`);
    await p.same(keys.map((k, i) => `set ${k} ${i} 0 ${k.length + 1}\r\n${k}!\r\n`).join(''), keys.length);
    await p.same('get g:k3\r\n', 1, 'VALUE g:k3 3 5\r\ng:k3!\r\nEND\r\n');
    await p.same('get g:missing\r\n', 1, 'END\r\n');
    await p.same('gets g:k3\r\n', 1, 'VALUE g:k3 3 5 <cas>\r\ng:k3!\r\nEND\r\n', maskCas);
    // Many keys: values in request order, misses omitted, one END; duplicates answered twice.
    const order = ['g:k7', 'g:missing1', 'g:k0', 'g:k11', 'g:k3', 'g:missing2', 'g:k0', 'g:k5', 'g:k9', 'g:k1'];
    const want = order
      .filter((k) => !k.startsWith('g:missing'))
      .map((k) => `VALUE ${k} ${k.slice(3)} ${k.length + 1}\r\n${k}!\r\n`)
      .join('');
    await p.same(`get ${order.join(' ')}\r\n`, 1, `${want}END\r\n`);
    const wantGets = want.replace(/^(VALUE \S+ \d+ \d+)\r\n/gm, '$1 <cas>\r\n');
    await p.same(`gets ${order.join(' ')}\r\n`, 1, `${wantGets}END\r\n`, maskCas);
    await p.same('get g:missing1 g:missing2 g:missing3\r\n', 1, 'END\r\n');
    await p.same('gets g:missing1 g:missing2\r\n', 1, 'END\r\n');
    // Extra spaces between keys are allowed by memcached.
    await p.same('get   g:k1    g:k2  \r\n', 1, 'VALUE g:k1 1 5\r\ng:k1!\r\nVALUE g:k2 2 5\r\ng:k2!\r\nEND\r\n');
    p.close();
  });

  test('delete, with the legacy 0 and with noreply', async () => {
    const p = await Pair.open();
    await p.same('set del:a 0 0 1\r\na\r\nset del:b 0 0 1\r\nb\r\nset del:c 0 0 1\r\nc\r\nset del:d 0 0 1\r\nd\r\n', 4);
    await p.same('delete del:a\r\n', 1, 'DELETED\r\n');
    await p.same('delete del:a\r\n', 1, 'NOT_FOUND\r\n');
    await p.same('delete del:b 0\r\n', 1, 'DELETED\r\n');
    await p.same('delete del:c noreply\r\ndelete del:d 0 noreply\r\ndelete del:none noreply\r\nget del:a del:b del:c del:d\r\n', 1, 'END\r\n');
    assert.equal(p.w.pending, 0);
    p.close();
  });

  test('incr and decr, including non-numeric values, wrap-around and noreply', async () => {
    const p = await Pair.open();
    await p.same('set n:a 0 0 2\r\n10\r\n', 1, 'STORED\r\n');
    await p.same('incr n:a 5\r\n', 1, '15\r\n');
    await p.same('decr n:a 100\r\n', 1, '0\r\n');
    await p.same('incr n:a 18446744073709551615\r\n', 1, '18446744073709551615\r\n');
    await p.same('incr n:a 1\r\n', 1, '0\r\n');
    await p.same('set n:b 0 0 3\r\n100\r\n', 1, 'STORED\r\n');
    await p.same('decr n:b 1\r\n', 1, '99\r\n');
    await p.same('get n:b\r\n', 1, 'VALUE n:b 0 3\r\n99 \r\nEND\r\n'); // memcached pads in place
    await p.same('incr n:b 1000\r\n', 1, '1099\r\n');
    await p.same('incr n:none 1\r\n', 1, 'NOT_FOUND\r\n');
    await p.same('decr n:none 1\r\n', 1, 'NOT_FOUND\r\n');
    await p.same('set n:text 0 0 5\r\nhello\r\n', 1, 'STORED\r\n');
    const nonNumeric = 'CLIENT_ERROR cannot increment or decrement non-numeric value\r\n';
    await p.same('incr n:text 1\r\n', 1, nonNumeric);
    await p.same('decr n:text 1\r\n', 1, nonNumeric);
    await p.same('incr n:b 5 noreply\r\ndecr n:b 2 noreply\r\nincr n:none 1 noreply\r\nincr n:text 1 noreply\r\nget n:b\r\n', 1, 'VALUE n:b 0 4\r\n1102\r\nEND\r\n');
    assert.equal(p.w.pending, 0);
    p.close();
  });

  test('touch, gat and gats', async () => {
    const p = await Pair.open();
    await p.same('set t:a 1 0 2\r\naa\r\nset t:b 2 0 2\r\nbb\r\nset t:c 3 0 2\r\ncc\r\n', 3);
    await p.same('touch t:a 1000\r\n', 1, 'TOUCHED\r\n');
    await p.same('touch t:none 1000\r\n', 1, 'NOT_FOUND\r\n');
    await p.same('touch t:a 2000 noreply\r\ntouch t:none 1 noreply\r\nget t:a\r\n', 1, 'VALUE t:a 1 2\r\naa\r\nEND\r\n');
    await p.same('gat 1000 t:a\r\n', 1, 'VALUE t:a 1 2\r\naa\r\nEND\r\n');
    await p.same('gat 1000 t:none\r\n', 1, 'END\r\n');
    await p.same('gats 1000 t:b\r\n', 1, 'VALUE t:b 2 2 <cas>\r\nbb\r\nEND\r\n', maskCas);
    await p.same('gat 0 t:c t:none t:a t:b\r\n', 1, 'VALUE t:c 3 2\r\ncc\r\nVALUE t:a 1 2\r\naa\r\nVALUE t:b 2 2\r\nbb\r\nEND\r\n');
    await p.same('gats 0 t:b t:a\r\n', 1, 'VALUE t:b 2 2 <cas>\r\nbb\r\nVALUE t:a 1 2 <cas>\r\naa\r\nEND\r\n', maskCas);
    // The new exptime takes effect: -1 expires the items right after returning them.
    await p.same('gat -1 t:a t:c\r\n', 1, 'VALUE t:a 1 2\r\naa\r\nVALUE t:c 3 2\r\ncc\r\nEND\r\n');
    await p.same('get t:a t:b t:c\r\n', 1, 'VALUE t:b 2 2\r\nbb\r\nEND\r\n');
    await p.same('touch t:b -1\r\nget t:b\r\n', 2, 'TOUCHED\r\nEND\r\n');
    p.close();
  });

  test('version is answered by a server', async () => {
    const p = await Pair.open();
    const reply = await p.same('version\r\n', 1);
    assert.match(reply, /^VERSION \d+\.\d+\.\d+\r\n$/);
    p.close();
  });

  test('quit closes the connection after the earlier replies are written', async () => {
    for (const target of [port, reference.port]) {
      const c = await McClient.connect(target);
      // A multi-get spread over the servers is still being gathered when quit arrives.
      await c.send(
        'set q:a 0 0 1\r\na\r\nset q:b 0 0 1\r\nb\r\nset q:c 0 0 1\r\nc\r\n' +
          'get q:a q:b q:c q:none\r\nquit\r\nset q:a 0 0 5\r\nafter\r\n',
      );
      const rest = (await c.readToEnd()).toString('latin1');
      assert.equal(rest, 'STORED\r\nSTORED\r\nSTORED\r\nVALUE q:a 0 1\r\na\r\nVALUE q:b 0 1\r\nb\r\nVALUE q:c 0 1\r\nc\r\nEND\r\n', `port ${target}`);
      const check = await McClient.connect(target);
      await check.send('get q:a\r\n');
      assert.equal((await check.readReply()).toString('latin1'), 'VALUE q:a 0 1\r\na\r\nEND\r\n', 'the request after quit was not run');
      check.destroy();
    }
  });

  test('quit alone closes at once', async () => {
    const c = await McClient.connect(port);
    await c.send('quit\r\n');
    assert.equal((await c.readToEnd()).length, 0);
  });
});
