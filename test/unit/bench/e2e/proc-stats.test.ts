// Reading /proc for the end-to-end benchmark (bench/e2e/proc-stats.ts): stat, status and
// limits parsing, and the process tree of a live child.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import {
  cpuSeconds,
  cpuSecondsOf,
  cpuTicksFromStat,
  fdLimits,
  fdLimitsFromText,
  openFds,
  parentPidFromStat,
  processTree,
  reapedChildrenCpuSeconds,
  rssKb,
  rssKbFromStatus,
} from '../../../../bench/e2e/proc-stats.js';

test('stat fields are counted after the last parenthesis of the command name', () => {
  // A command name with spaces and parentheses, as a process can give itself.
  const stat = '4242 (node ) (x) y) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 11 0 12345';
  assert.equal(cpuTicksFromStat(stat), 325);
  assert.equal(parentPidFromStat(stat), 17);
});

test('VmRSS and Max open files are read from status and limits text', () => {
  assert.equal(rssKbFromStatus('Name:\tnode\nVmPeak:\t 9999 kB\nVmRSS:\t   51234 kB\nRssAnon:\t 1 kB\n'), 51234);
  assert.ok(Number.isNaN(rssKbFromStatus('Name:\tkthreadd\n')));
  const limits = [
    'Limit                     Soft Limit           Hard Limit           Units     ',
    'Max open files            20000                unlimited            files     ',
  ].join('\n');
  assert.deepEqual(fdLimitsFromText(limits), { soft: 20000, hard: Infinity });
});

test('this process: its tree, CPU, RSS and descriptors are readable', async () => {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    await new Promise((resolve) => child.once('spawn', resolve));
    const tree = processTree(process.pid);
    assert.equal(tree[0], process.pid);
    assert.ok(tree.includes(child.pid as number), `${child.pid} in ${tree.join(',')}`);
    assert.ok(cpuSeconds(process.pid) > 0);
    assert.ok(rssKb(process.pid) >= rssKb(child.pid as number));
    assert.ok(openFds(process.pid) >= 3);
    const { soft, hard } = fdLimits('self');
    assert.ok(soft > 0 && soft <= hard);
  } finally {
    child.kill('SIGKILL');
  }
});

test('a child that has exited adds its CPU to reapedChildrenCpuSeconds; cpuSecondsOf sums pids', async () => {
  const before = reapedChildrenCpuSeconds();
  // A child that spins for 300 ms of CPU, then exits; 'exit' comes after node has reaped it.
  const child = spawn(process.execPath, ['-e', 'const end = process.cpuUsage().user + 300e3; while (process.cpuUsage().user < end);'], {
    stdio: 'ignore',
  });
  await new Promise((resolve) => child.once('exit', resolve));
  const used = reapedChildrenCpuSeconds() - before;
  assert.ok(used >= 0.25 && used < 5, `child CPU ${used} s`);
  assert.ok(Number.isNaN(cpuSecondsOf([])));
  const own = cpuSeconds(process.pid);
  const twice = cpuSecondsOf([process.pid, process.pid]);
  assert.ok(twice >= 2 * own && twice < 2 * own + 1, `${twice} vs 2 × ${own}`);
});
