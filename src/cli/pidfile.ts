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

/** The decimal pid that the file at `path` holds, or null (no such file, or anything else in it). */
export function readPid(path: string): number | null {
  let text: string;
  try {
    text = readFileSync(path, 'latin1');
  } catch {
    return null;
  }
  if (!/^\d{1,10}$/.test(text)) return null;
  const pid = Number(text);
  return pid > 0 ? pid : null;
}

/** Whether a process with this pid exists (one we may not signal, EPERM, exists too). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the pid file if it still holds `pid`; a file that is already gone (or cannot be read
 * or removed) is not an error. A file holding anything else is another instance's: Walnut drains
 * for up to 5 s after SIGTERM, and a restart script that starts the new instance meanwhile has
 * it write its pid over ours (nutcracker, killed at once by SIGTERM, never removes the file).
 * `previous` is the pid the file held before we wrote ours: while that process still runs, the
 * file is given back to it instead of removed, so that a second instance started by mistake
 * next to a running one (which fails, its ports taken) does not leave the running one without
 * its pid file, as nutcracker does.
 */
export function removePidFile(path: string, pid: number = process.pid, previous: number | null = null): void {
  try {
    if (readFileSync(path, 'latin1') !== `${pid}`) return;
    if (previous !== null && previous !== pid && running(previous)) writePidFile(path, previous);
    else unlinkSync(path);
  } catch {
    // nothing useful to do on the way out
  }
}
