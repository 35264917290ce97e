// The -p pid file: decimal pid, no newline, mode 0644, truncated if it exists.
// Mirrors twemproxy's nc.c (nc_create_pidfile, nc_remove_pidfile).
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';

/** Creates or truncates `path` and writes `pid` in decimal. Throws the fs error (with `.code`). */
export function writePidFile(path: string, pid: number = process.pid): void {
  const fd = openSync(path, 'w', 0o644);
  try {
    writeSync(fd, `${pid}`);
  } finally {
    closeSync(fd);
  }
}

/**
 * Removes the pid file if it still holds `pid`; a file that is already gone (or cannot be read
 * or removed) is not an error. A file holding anything else is another instance's: Walnut drains
 * for up to 5 s after SIGTERM, and a restart script that starts the new instance meanwhile has
 * it write its pid over ours (nutcracker, killed at once by SIGTERM, never removes the file).
 */
export function removePidFile(path: string, pid: number = process.pid): void {
  try {
    if (readFileSync(path, 'latin1') !== `${pid}`) return;
    unlinkSync(path);
  } catch {
    // nothing useful to do on the way out
  }
}
