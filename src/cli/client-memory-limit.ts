// --limit-client-memory: from the option to the bytes each process may hold for its clients.
import { totalmem } from 'node:os';
import type { ClientMemoryShare } from '../proxy/client-memory.js';
import { MIN_CLIENT_MEMORY_LIMIT } from './args.js';

/**
 * The memory this process may use: the machine's, or its cgroup's limit when lower (a
 * container's, a systemd unit's MemoryMax). libuv finds the cgroup (v1 or v2, nested too) from
 * /proc/self/cgroup; it answers 0, or a number larger than the machine, when there is none.
 */
export function availableMemory(constrained: () => number = () => process.constrainedMemory(), total: number = totalmem()): number {
  const limit = constrained();
  return limit > 0 && limit < total ? limit : total;
}

/**
 * The limit for one process. The option bounds the whole service, so each of `workers`
 * processes takes an equal share; 'auto' is half of the available memory, which leaves the
 * rest to Node's own heap, the kernel's socket buffers and other programs. A share is never
 * below MIN_CLIENT_MEMORY_LIMIT (a given limit that small for its workers is refused).
 */
export function clientMemoryShare(
  option: number | 'auto',
  workers: number,
  available: () => number = availableMemory,
): ClientMemoryShare | { readonly error: string } {
  if (option === 0) return { bytes: 0, label: '' };
  const total = option === 'auto' ? Math.floor(available() / 2) : option;
  const share = Math.floor(total / workers);
  if (share < MIN_CLIENT_MEMORY_LIMIT) {
    if (option !== 'auto') {
      return { error: `--limit-client-memory ${option} shared by ${workers} workers is ${share} bytes each, below the least limit, 1mb` };
    }
    return { bytes: MIN_CLIENT_MEMORY_LIMIT, label: `--limit-client-memory ${MIN_CLIENT_MEMORY_LIMIT} (the least)` };
  }
  const given = option === 'auto' ? `auto = ${total}` : String(total);
  return {
    bytes: share,
    label: workers > 1 ? `this worker's share ${share} of --limit-client-memory ${given}` : `--limit-client-memory ${given}`,
  };
}
