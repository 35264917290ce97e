/**
 * Reading sockets without Node's Readable machinery. A 'data' listener costs, for every read,
 * a fresh 64 KB allocation shrunk to size and wrapped in an ArrayBuffer, Readable's push
 * bookkeeping and a process.nextTick (maybeReadMore): about 1 µs of CPU per read here, on a
 * path that makes two reads per proxied request. With net's `onread` option the kernel's
 * bytes land in one buffer shared by every socket of the process, and the callback copies out
 * exactly what was read (small copies come from Node's Buffer pool).
 *
 * Sharing one buffer is safe because libuv reads into it and runs the callback back to back
 * on the one JS thread, and the callback copies before returning: nothing may keep a view
 * of the shared buffer past the callback, since the next read of any socket overwrites it.
 *
 * pause() and resume() keep working: net.Socket turns them into readStop/readStart when
 * `onread` is in use. 'end', 'error' and 'close' are emitted as usual; 'data' never is.
 */
import { Socket, type OnReadOpts } from 'node:net';

/** As large as the read Node itself asks libuv for. */
const SHARED_READ_BUFFER = Buffer.allocUnsafeSlow(64 * 1024);

export type ChunkHandler = (socket: Socket, chunk: Buffer) => void;

/**
 * The `onread` option for sockets whose input goes to `onChunk`. Make one per kind of
 * connection, not one per socket: the same object serves them all (net calls the callback
 * with the socket as `this`).
 */
export function sharedReads(onChunk: ChunkHandler): OnReadOpts {
  return {
    buffer: SHARED_READ_BUFFER,
    callback(this: Socket, nread: number): boolean {
      const chunk = Buffer.allocUnsafe(nread);
      SHARED_READ_BUFFER.copy(chunk, 0, 0, nread);
      onChunk(this, chunk);
      return true;
    },
  };
}

/** The parts of net.Socket that adoptAccepted() relies on (stable since Node 12, not public). */
interface SocketInternals {
  _handle: object | null;
}

/**
 * net.Server creates the sockets it accepts without a way to pass `onread`. With
 * `pauseOnConnect` the accepted socket has not read a byte yet, so its handle can move to a
 * new socket that reads through `onread`. The old socket is destroyed without its handle,
 * which only settles net.Server's connection count; the handle lives on in the new socket.
 */
export function adoptAccepted(accepted: Socket, onread: OnReadOpts, allowHalfOpen: boolean): Socket {
  const internals = accepted as unknown as SocketInternals;
  const handle = internals._handle;
  if (handle === null) return accepted;
  internals._handle = null;
  accepted.destroy();
  return new Socket({ handle, allowHalfOpen, readable: true, writable: true, onread } as ConstructorParameters<
    typeof Socket
  >[0]);
}
