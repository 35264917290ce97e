// Property test: random sequences of valid memcache commands (every storage command, cas,
// incr/decr, delete, touch, single and multi-key get/gets/gat, with and without noreply),
// written in randomly cut pieces, get the same reply stream from a Walnut pool of three
// memcached as from one memcached (cas uniques masked: they are per-server counters).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { freePort, startMemcached, startWalnut, type Running, type RunningProxy } from '../../scripts/lib/processes.js';
import { McClient, memcachePoolYaml } from './support/memcache-client.js';

const KEYS = ['a', 'b', 'c', 'd', 'e', 'f'];

interface Cmd {
  /** The request with `{p}` where the run's key prefix goes. */
  text: string;
  /** Whether memcached answers it (false for noreply). */
  answered: boolean;
}

const key = fc.constantFrom(...KEYS);
const noreply = fc.boolean();
// Never all spaces: memcached 1.6.18's incr/decr on a value of only whitespace lets strtoull
// skip the value's CR LF and parse whatever memory follows the item, so two memcached give
// different numbers (seen as `add k 0 0 1` + ` ` then `incr k 1` answering a random number).
// Non-empty pieces start with a non-space, so appends and prepends keep that property.
const value = fc.oneof(
  fc.stringMatching(/^([a-z0-9][a-z0-9 ]{0,23})?$/),
  fc.bigInt({ min: 0n, max: 18446744073709551615n }).map(String),
  fc.nat(1000).map(String),
);

const storage = fc
  .tuple(fc.constantFrom('set', 'add', 'replace', 'append', 'prepend'), key, fc.nat(70000), value, noreply)
  .map(([cmd, k, flags, v, nr]): Cmd => ({
    text: `${cmd} {p}${k} ${flags} 0 ${v.length}${nr ? ' noreply' : ''}\r\n${v}\r\n`,
    answered: !nr,
  }));
/** A unique no item can hold: EXISTS or NOT_FOUND on both sides. */
const cas = fc.tuple(key, value, noreply).map(([k, v, nr]): Cmd => ({
  text: `cas {p}${k} 0 0 ${v.length} 999999999999${nr ? ' noreply' : ''}\r\n${v}\r\n`,
  answered: !nr,
}));
const arith = fc
  .tuple(fc.constantFrom('incr', 'decr'), key, fc.oneof(fc.nat(100), fc.bigInt({ min: 0n, max: 18446744073709551615n }).map(String)), noreply)
  .map(([cmd, k, d, nr]): Cmd => ({ text: `${cmd} {p}${k} ${d}${nr ? ' noreply' : ''}\r\n`, answered: !nr }));
const del = fc.tuple(key, noreply).map(([k, nr]): Cmd => ({ text: `delete {p}${k}${nr ? ' noreply' : ''}\r\n`, answered: !nr }));
const touch = fc
  .tuple(key, fc.constantFrom('0', '1000', '-1'), noreply)
  .map(([k, t, nr]): Cmd => ({ text: `touch {p}${k} ${t}${nr ? ' noreply' : ''}\r\n`, answered: !nr }));
const retrieval = fc
  .tuple(fc.constantFrom('get', 'gets', 'gat 0', 'gats 1000', 'gat -1'), fc.array(key, { minLength: 1, maxLength: 8 }))
  .map(([cmd, ks]): Cmd => ({ text: `${cmd} ${ks.map((k) => `{p}${k}`).join(' ')}\r\n`, answered: true }));

const command = fc.oneof(
  { arbitrary: storage, weight: 5 },
  { arbitrary: cas, weight: 1 },
  { arbitrary: arith, weight: 2 },
  { arbitrary: del, weight: 1 },
  { arbitrary: touch, weight: 1 },
  { arbitrary: retrieval, weight: 4 },
);

function maskCas(s: string): string {
  return s.replace(/^(VALUE \S+ \d+ \d+) \d+\r\n/gm, '$1 <cas>\r\n');
}

describe('random command sequences: Walnut equals memcached', () => {
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

  test('same reply bytes for 100 random pipelines in random pieces', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(command, { minLength: 1, maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        async (cmds, cutSeeds) => {
          const prefix = `r${run++}:`;
          const request = Buffer.from(cmds.map((c) => c.text.replaceAll('{p}', prefix)).join(''), 'latin1');
          const replies = cmds.filter((c) => c.answered).length + 1;
          const cuts = [...new Set(cutSeeds.map((s) => s % request.length))].sort((a, b) => a - b);
          const full = Buffer.concat([request, Buffer.from('version\r\n')]);
          const w = await McClient.connect(port);
          const d = await McClient.connect(reference.port);
          try {
            await Promise.all([w.sendInPieces(full, cuts, 0), d.send(full)]);
            const [got, want] = await Promise.all([w.readReplies(replies), d.readReplies(replies)]);
            const norm = (b: Buffer): string => maskCas(b.toString('latin1')).replace(/VERSION \S+\r\n$/, 'VERSION\r\n');
            assert.equal(norm(got), norm(want), `request ${JSON.stringify(request.toString('latin1'))}`);
          } finally {
            w.destroy();
            d.destroy();
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
