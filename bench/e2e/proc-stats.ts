// Reads what the end-to-end benchmark measures about a process from /proc (Linux only): CPU
// time, resident memory, open descriptors and the descriptor limit. No twemproxy counterpart.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Kernel clock ticks per second, the unit of utime/stime in /proc/<pid>/stat. */
export const CLOCK_TICKS: number = ((): number => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

/**
 * The fields of /proc/<pid>/stat after the command name, which is in parentheses and may itself
 * contain spaces and parentheses, hence the search for the last ')'. Index 0 is field 3 (state).
 */
export function statFields(statText: string): string[] {
  const close = statText.lastIndexOf(')');
  return statText.slice(close + 2).trim().split(' ');
}

/** utime + stime (field 14 + 15) in clock ticks, from the text of /proc/<pid>/stat. */
export function cpuTicksFromStat(statText: string): number {
  const f = statFields(statText);
  return Number(f[11]) + Number(f[12]);
}

/** The parent pid (field 4), from the text of /proc/<pid>/stat. */
export function parentPidFromStat(statText: string): number {
  return Number(statFields(statText)[1]);
}

function readStat(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
}

/**
 * `pid` and every live descendant (Walnut with --workers runs in several processes; the
 * figures of a proxy are the sum over its tree). Scans /proc once.
 */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    const text = readStat(Number(name));
    if (text === null) continue;
    const ppid = parentPidFromStat(text);
    let list = children.get(ppid);
    if (list === undefined) children.set(ppid, (list = []));
    list.push(Number(name));
  }
  const out: number[] = [];
  const todo = [pid];
  while (todo.length > 0) {
    const p = todo.pop() as number;
    out.push(p);
    for (const child of children.get(p) ?? []) todo.push(child);
  }
  return out;
}

/** CPU seconds (user + system, all threads) used so far by the tree of `pid`. */
export function cpuSeconds(pid: number): number {
  let ticks = 0;
  for (const p of processTree(pid)) {
    const text = readStat(p);
    if (text !== null) ticks += cpuTicksFromStat(text);
  }
  return ticks / CLOCK_TICKS;
}

/**
 * CPU seconds (user + system) of this process's children that have exited and been waited
 * for (cutime + cstime, fields 16 and 17): around one run of a load generator that is a child
 * process, the difference is that run's CPU.
 */
export function reapedChildrenCpuSeconds(): number {
  const text = readStat(process.pid);
  if (text === null) return Number.NaN;
  const f = statFields(text);
  return (Number(f[13]) + Number(f[14])) / CLOCK_TICKS;
}

/** CPU seconds used so far by all of `pids` (NaN when the list is empty). */
export function cpuSecondsOf(pids: readonly number[]): number {
  if (pids.length === 0) return Number.NaN;
  let ticks = 0;
  for (const p of pids) {
    const text = readStat(p);
    if (text !== null) ticks += cpuTicksFromStat(text);
  }
  return ticks / CLOCK_TICKS;
}

/** The `VmRSS:` figure in kB from the text of /proc/<pid>/status; NaN when absent. */
export function rssKbFromStatus(statusText: string): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(statusText);
  return m === null ? Number.NaN : Number(m[1]);
}

/** Resident set size in kB of the tree of `pid`. */
export function rssKb(pid: number): number {
  let kb = 0;
  for (const p of processTree(pid)) {
    try {
      const v = rssKbFromStatus(readFileSync(`/proc/${p}/status`, 'latin1'));
      if (Number.isFinite(v)) kb += v;
    } catch {
      // exited meanwhile
    }
  }
  return kb;
}

/** Open file descriptors of the tree of `pid`. */
export function openFds(pid: number): number {
  let n = 0;
  for (const p of processTree(pid)) {
    try {
      n += readdirSync(`/proc/${p}/fd`).length;
    } catch {
      // exited meanwhile
    }
  }
  return n;
}

/** The soft and hard RLIMIT_NOFILE from the text of /proc/<pid>/limits (Infinity = unlimited). */
export function fdLimitsFromText(limitsText: string): { soft: number; hard: number } {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limitsText);
  const num = (s: string | undefined): number => (s === undefined || s === 'unlimited' ? Infinity : Number(s));
  return m === null ? { soft: Number.NaN, hard: Number.NaN } : { soft: num(m[1]), hard: num(m[2]) };
}

/** The descriptor limits of process `pid` ('self' for this one). */
export function fdLimits(pid: number | 'self'): { soft: number; hard: number } {
  try {
    return fdLimitsFromText(readFileSync(`/proc/${pid}/limits`, 'latin1'));
  } catch {
    return { soft: Number.NaN, hard: Number.NaN };
  }
}

/**
 * Raises the soft descriptor limit of `pid` to min(want, its hard limit) with prlimit(1), as
 * `ulimit -n` would have before exec. Returns the soft limit in force afterwards.
 */
export function raiseFdLimit(pid: number, want: number): number {
  const { soft, hard } = fdLimits(pid);
  const target = Math.min(want, hard);
  if (Number.isFinite(target) && !(soft >= target)) {
    try {
      execFileSync('prlimit', ['--pid', String(pid), `--nofile=${target}:${hard === Infinity ? 'unlimited' : hard}`], {
        stdio: 'ignore',
      });
    } catch {
      // prlimit missing or not permitted: the limit stays as inherited
    }
  }
  return fdLimits(pid).soft;
}
