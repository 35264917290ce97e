// The -p pid file: decimal pid, no newline, mode 0644, truncated if it exists.
// Mirrors twemproxy's nc.c (nc_create_pidfile, nc_remove_pidfile).
import { closeSync, openSync, unlinkSync, writeSync } from 'node:fs';

/** Creates or truncates `path` and writes `pid` in decimal. Throws the fs error (with `.code`). */
export function writePidFile(path: string, pid: number = process.pid): void {
  const fd = openSync(path, 'w', 0o644);
  try {
    writeSync(fd, `${pid}`);
  } finally {
    closeSync(fd);
  }
}

/** Removes the pid file; a file that is already gone (or cannot be removed) is not an error. */
export function removePidFile(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // nothing useful to do on the way out
  }
}
