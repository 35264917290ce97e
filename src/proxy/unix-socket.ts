/**
 * Putting a unix listening socket in place with its permission bits already set.
 *
 * twemproxy unlinks the path, binds and then chmods, so for a moment the socket exists with the
 * umask's mode, and a client (or a readiness probe) that connects in that moment sees the wrong
 * permissions. Walnut binds at a private staging name beside the path, chmods it there, and
 * renames it onto the path: rename(2) is atomic, so the path only ever names a socket with the
 * configured mode, and a stale file left by an earlier run is replaced in the same step.
 */
import { chmod, rename, stat, unlink } from 'node:fs/promises';
import { UNIX_PATH_MAX } from '../config/defaults.js';

/**
 * The staging name for `path`, owned by the process `ownerPid` (the process that binds: the
 * primary when running --workers, so that every worker asks for the same name and shares one
 * socket). Null when the name would not fit in sockaddr_un; the caller then binds at the path
 * directly, as twemproxy does.
 */
export function stagingPath(path: string, ownerPid: number): string | null {
  const staging = `${path}.${ownerPid}.binding`;
  return Buffer.byteLength(staging) < UNIX_PATH_MAX ? staging : null;
}

/** A unix socket put at a path, known by its inode so that only that socket is ever removed. */
export interface PublishedSocket {
  readonly path: string;
  readonly ino: number;
}

/**
 * Give the socket bound at `staging` its mode (0: leave the umask's) and move it onto `path`.
 * Returns the socket's inode, so that only this socket is removed at shutdown. With `shared`
 * (a --workers worker), a staging name that is already gone means another worker sharing the
 * socket has published it: null, not an error.
 */
export async function publishSocket(
  staging: string,
  path: string,
  mode: number,
  shared: boolean,
): Promise<number | null> {
  try {
    if (mode !== 0) await chmod(staging, mode);
    const { ino } = await stat(staging);
    await rename(staging, path);
    return ino;
  } catch (err) {
    if (shared && (err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Remove `path` if it still names the socket with inode `ino` (a newer instance may own it now). */
export async function removeSocket(path: string, ino: number): Promise<void> {
  try {
    if ((await stat(path)).ino === ino) await unlink(path);
  } catch {
    // already gone
  }
}
