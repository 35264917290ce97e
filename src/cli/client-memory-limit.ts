// --limit-client-memory: from the option to the bytes each process may hold for its clients.
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';

/** Where a cgroup v2 limit on this process's memory is read ("max" when there is none). */
const CGROUP_MEMORY_MAX = '/sys/fs/cgroup/memory.max';

/**
 * The memory this process may use: the machine's, or its cgroup's limit when lower (a
 * container's). A missing or unreadable cgroup file means no cgroup limit.
 */
export function availableMemory(read: (path: string) => string = (p) => readFileSync(p, 'latin1')): number {
  let limit = Infinity;
  try {
    const text = read(CGROUP_MEMORY_MAX).trim();
    if (/^\d+$/.test(text)) limit = Number(text);
  } catch {
    // no cgroup v2 here
  }
  return Math.min(totalmem(), limit);
}

/**
 * The limit for one process, in bytes (0: none). The option bounds the whole service, so
 * each of `workers` processes takes an equal share; 'auto' is half of the available memory,
 * which leaves the rest to Node's own heap, the kernel's socket buffers and other programs.
 */
export function clientMemoryLimit(option: number | 'auto', workers: number, available: () => number = availableMemory): number {
  const total = option === 'auto' ? Math.floor(available() / 2) : option;
  return Math.floor(total / workers);
}
