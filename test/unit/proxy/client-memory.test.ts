// The process-wide client memory limit: who is closed when the sum passes it, and when; and
// how --limit-client-memory becomes each process's share.
import assert from 'node:assert/strict';
import { totalmem } from 'node:os';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { test } from 'node:test';
import { availableMemory, clientMemoryShare } from '../../../src/cli/client-memory-limit.js';
import { ClientMemory, type MemoryHolder } from '../../../src/proxy/client-memory.js';

/** A client as the limit sees it: what it holds, and whether it was closed. */
class Holder implements MemoryHolder {
  evicted = false;
  constructor(
    private readonly memory: ClientMemory,
    public heldBytes: number,
  ) {
    memory.grow(heldBytes);
  }

  refreshHeld(): void {}

  evict(): boolean {
    if (this.evicted) return false;
    this.evicted = true;
    this.memory.shrink(this.heldBytes);
    this.heldBytes = 0;
    return true;
  }
}

test('past the limit, the clients holding the most are closed until the sum is under it, after the loop turn', async () => {
  const memory = new ClientMemory(100);
  const group = new Set<Holder>();
  memory.track(group);
  const sizes = [10, 40, 5, 30, 0, 20];
  for (const n of sizes) group.add(new Holder(memory, n));
  assert.equal(memory.held, 105);
  const clients = [...group];
  assert.ok(clients.every((c) => !c.evicted), 'nobody is closed inside the call that passed the limit');
  await nextTurn();
  assert.deepEqual(clients.map((c) => c.evicted), [false, true, false, false, false, false], 'the 40 alone brings 105 to 65');
  assert.equal(memory.held, 65);
  assert.equal(memory.evictions, 1);

  // A newcomer takes the sum to 125: it is now the largest, and closing it alone is enough.
  const big = new Holder(memory, 60);
  group.add(big);
  await nextTurn();
  assert.deepEqual([...group].map((c) => c.evicted), [false, true, false, false, false, false, true]);
  assert.equal(memory.held, 65);
});

test('clients of every tracked group are candidates, of untracked ones never', async () => {
  const memory = new ClientMemory(50);
  const a = new Set<Holder>();
  const b = new Set<Holder>();
  memory.track(a);
  memory.track(b);
  const small = new Holder(memory, 20);
  const large = new Holder(memory, 25);
  a.add(small);
  b.add(large);
  memory.untrack(b);
  memory.grow(10);
  await nextTurn();
  assert.equal(large.evicted, false, 'an untracked group is never looked at');
  assert.equal(small.evicted, true);
  assert.equal(memory.held, 35);
});

test('at or under the limit nobody is closed; 0 means no limit', async () => {
  const memory = new ClientMemory(100);
  const group = new Set([new Holder(memory, 60)]);
  memory.track(group);
  const h = new Holder(memory, 40);
  group.add(h);
  await nextTurn();
  assert.equal(h.evicted, false, 'exactly the limit is allowed');

  const unlimited = new ClientMemory(0);
  const g = new Set([new Holder(unlimited, 2 ** 50)]);
  unlimited.track(g);
  await nextTurn();
  assert.ok([...g].every((c) => !c.evicted));
  assert.equal(unlimited.evictions, 0);
});

test('over the limit with nobody left to close, recounting does not run the check again and again', async () => {
  const memory = new ClientMemory(10);
  let recounts = 0;
  // A tracked client holding nothing, recounted on every check; the bytes are held by clients
  // of a pool no longer tracked (one shutting down).
  const idle: MemoryHolder = {
    heldBytes: 0,
    refreshHeld: () => {
      if (++recounts < 5) memory.grow(0);
    },
    evict: () => false,
  };
  memory.track(new Set([idle]));
  memory.grow(20);
  await nextTurn();
  await nextTurn();
  assert.equal(recounts, 1);
  assert.equal(memory.evictions, 0);
});

test('a fall back under the limit before the turn ends closes nobody', async () => {
  const memory = new ClientMemory(100);
  const h = new Holder(memory, 150);
  memory.track(new Set([h]));
  memory.shrink(80);
  h.heldBytes = 70;
  await nextTurn();
  assert.equal(h.evicted, false);
});

test('--limit-client-memory: a set size is shared out among the workers; auto is half of the available memory', () => {
  const MiB = 2 ** 20;
  assert.deepEqual(clientMemoryShare(8 * MiB, 1), { bytes: 8 * MiB, label: `--limit-client-memory ${8 * MiB}` });
  assert.deepEqual(clientMemoryShare(9_000_000, 3), {
    bytes: 3_000_000,
    label: "this worker's share 3000000 of --limit-client-memory 9000000",
  });
  assert.deepEqual(clientMemoryShare(0, 4), { bytes: 0, label: '' }, 'no limit stays no limit');
  assert.deepEqual(clientMemoryShare('auto', 1, () => 8_000_000_000), {
    bytes: 4_000_000_000,
    label: '--limit-client-memory auto = 4000000000',
  });
  assert.deepEqual(clientMemoryShare('auto', 2, () => 8_000_000_000), {
    bytes: 2_000_000_000,
    label: "this worker's share 2000000000 of --limit-client-memory auto = 4000000000",
  });
  // Below the least limit once shared: a given size is refused, auto is raised to it.
  assert.deepEqual(clientMemoryShare(MiB, 4), {
    error: '--limit-client-memory 1048576 shared by 4 workers is 262144 bytes each, below the least limit, 1mb',
  });
  assert.deepEqual(clientMemoryShare('auto', 64, () => 64 * MiB), {
    bytes: MiB,
    label: '--limit-client-memory 1048576 (the least)',
  });
});

test('available memory: the cgroup limit libuv finds when lower than the machine, else the machine', () => {
  const machine = 16 * 2 ** 30;
  assert.equal(availableMemory(() => 2 ** 30, machine), 2 ** 30);
  assert.equal(availableMemory(() => 0, machine), machine, 'libuv answers 0 when it finds no cgroup');
  assert.equal(availableMemory(() => 18446744073709552000, machine), machine, "a cgroup without a limit (cgroup v1's answer)");
  assert.equal(availableMemory(() => machine * 2, machine), machine);
  const here = availableMemory();
  assert.ok(here > 0 && here <= totalmem(), `this machine: ${here}`);
});
