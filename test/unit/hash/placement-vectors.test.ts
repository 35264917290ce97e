// Checks every key of every case in shared/vectors/placement.json (placements recorded from real
// twemproxy 0.5.0) against Placement, with servers named and sorted the way twemproxy does.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DISTRIBUTION_NAMES, HASH_NAMES, type DistributionName, type HashName } from '../../../src/hash/names.js';
import { Placement } from '../../../src/hash/placement.js';

interface VectorCase {
  readonly hash: HashName;
  readonly distribution: DistributionName;
  readonly hash_tag: string | null;
  readonly servers: readonly string[];
  readonly placements: Readonly<Record<string, number>>;
}

/** The repository root: the nearest folder above this (compiled) file holding package.json. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('no package.json above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

function loadCases(): VectorCase[] {
  const file = resolve(repoRoot(), '../shared/vectors/placement.json');
  const data = JSON.parse(readFileSync(file, 'utf8')) as { cases: VectorCase[] };
  for (const c of data.cases) {
    assert.ok((HASH_NAMES as readonly string[]).includes(c.hash), `known hash ${c.hash}`);
    assert.ok((DISTRIBUTION_NAMES as readonly string[]).includes(c.distribution), `known distribution ${c.distribution}`);
  }
  return data.cases;
}

/** A TCP `servers:` entry reduced to what placement needs (spec 2.4): name and weight. */
function parseServer(entry: string): { name: string; weight: number } {
  const space = entry.lastIndexOf(' ');
  const explicitName = space >= 0 ? entry.slice(space + 1) : null;
  const address = space >= 0 ? entry.slice(0, space) : entry;
  const weightColon = address.lastIndexOf(':');
  const portColon = address.lastIndexOf(':', weightColon - 1);
  assert.ok(portColon > 0, `host:port:weight in ${entry}`);
  const host = address.slice(0, portColon);
  const port = address.slice(portColon + 1, weightColon);
  const weight = Number(address.slice(weightColon + 1));
  assert.ok(Number.isInteger(weight) && weight > 0, `weight in ${entry}`);
  const name = explicitName ?? (port === '11211' ? host : `${host}:${port}`);
  return { name, weight };
}

/** twemproxy's server order (spec 2.6): shorter names first, then bytewise. */
function compareNames(a: string, b: string): number {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length !== y.length ? x.length - y.length : Buffer.compare(x, y);
}

test('server names and order follow twemproxy (spec 2.4, 2.6)', () => {
  assert.equal(parseServer('127.0.0.1:11211:1').name, '127.0.0.1');
  assert.equal(parseServer('10.0.0.1:33093:1').name, '10.0.0.1:33093');
  assert.equal(parseServer('127.0.0.1:32001:1 server1').name, 'server1');
  assert.equal(parseServer('::1:6379:2').name, '::1:6379');
  assert.deepEqual(['zz', 'b', 'aaa'].sort(compareNames), ['b', 'zz', 'aaa']);
});

test('every recorded twemproxy placement is reproduced', (t) => {
  const cases = loadCases();
  assert.ok(cases.length > 0);
  let checked = 0;
  const failures: string[] = [];
  for (const c of cases) {
    // Pool order is the sorted order; remember where each sorted server sits in the file list.
    const parsed = c.servers.map((entry, fileIndex) => ({ ...parseServer(entry), fileIndex }));
    const sorted = [...parsed].sort((a, b) => compareNames(a.name, b.name));
    const nodes = sorted.map((s, index) => ({ name: s.name, weight: s.weight, index }));
    const placement = new Placement(
      { hash: c.hash, distribution: c.distribution, hashTag: c.hash_tag === null ? null : Buffer.from(c.hash_tag) },
      nodes,
    );
    const label = `${c.hash}/${c.distribution}/tag=${c.hash_tag ?? '-'}/${c.servers.length} servers`;
    const keys = Object.keys(c.placements);
    assert.ok(keys.length > 0, `${label} has keys`);
    for (const key of keys) {
      const buf = Buffer.from(key, 'utf8');
      const poolIndex = placement.serverIndexFor(buf, 0, buf.length);
      const got = sorted[poolIndex]?.fileIndex;
      if (got !== c.placements[key]) failures.push(`${label}: ${JSON.stringify(key)} -> ${got}, want ${c.placements[key]}`);
      checked++;
    }
  }
  t.diagnostic(`${checked} placements checked in ${cases.length} cases`);
  assert.deepEqual(failures.slice(0, 20), [], `${failures.length} of ${checked} placements differ`);
});
