// The bytes of the command line, as the kernel passed them. Node decodes each argument as
// UTF-8 and puts U+FFFD for bytes that are not, so process.argv cannot tell a file name holding
// such bytes from another name; /proc/self/cmdline (Linux) still has them.
import { isUtf8 } from 'node:buffer';
import { readFileSync } from 'node:fs';

/** Node's own `process.title` changes would rewrite cmdline: read it before anything does. */
export function readCmdline(): Buffer | null {
  try {
    return readFileSync('/proc/self/cmdline');
  } catch {
    return null;
  }
}

/**
 * Indexes in `argv` (the last `argv.length` words of the command line: node, its flags and the
 * script come first) of the words whose bytes are not UTF-8. Empty when `cmdline` is null or
 * does not end with as many words as argv has.
 */
export function wordsNotUtf8(argv: readonly string[], cmdline: Buffer | null): Set<number> {
  const found = new Set<number>();
  if (cmdline === null) return found;
  const words: Buffer[] = [];
  let start = 0;
  for (let k = 0; k < cmdline.length; k++) {
    if (cmdline[k] !== 0) continue;
    words.push(cmdline.subarray(start, k));
    start = k + 1;
  }
  if (words.length < argv.length) return found;
  const first = words.length - argv.length;
  for (let i = 0; i < argv.length; i++) {
    const raw = words[first + i]!;
    // Only a word Node had to repair is ours to flag; if the two disagree otherwise, cmdline
    // is not the command line we think it is, and we do not guess.
    if (!isUtf8(raw) && raw.toString('utf8') === argv[i]) found.add(i);
  }
  return found;
}
