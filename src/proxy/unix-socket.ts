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
import { basename, dirname, join } from 'node:path';
import { UNIX_PATH_MAX } from '../config/defaults.js';

/**
 * The staging name for `path`, owned by the process `ownerPid` (the process that binds: the
 * primary when running --workers, so that every worker asks for the same name and shares one
 * socket): `<path>.<pid>.binding`, or where that is too long for sockaddr_un, a short hidden name
 * in the same directory (rename(2) stays within one file system) told apart by a hash of the
 * file name. Staging also matters at the end: libuv unlinks a listener's bound name when it
 * closes, and a listener bound at the path itself would remove the socket of an instance that
 * has taken the path over since. Null when even the short name does not fit; the caller then
 * binds at the path directly, as twemproxy does.
 */
export function stagingPath(path: string, ownerPid: number): string | null {
  const beside = `${path}.${ownerPid}.binding`;
  if (Buffer.byteLength(beside) < UNIX_PATH_MAX) return beside;
  const short = join(dirname(path), `.walnut.${ownerPid}.${nameHash(basename(path))}`);
  return Buffer.byteLength(short) < UNIX_PATH_MAX ? short : null;
}

/** FNV-1a (32 bits) of a file name's UTF-8 bytes, in hex: which long path a short staging name is for. */
function nameHash(name: string): string {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(name, 'utf8')) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
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
