/**
 * Reading net.Sockets (server connections; client connections too where Node lacks the
 * stream_wrap binding) without Node's Readable machinery. A 'data' listener costs, for every
 * read, a fresh 64 KB allocation shrunk to size and wrapped in an ArrayBuffer, Readable's push
 * bookkeeping and a process.nextTick (maybeReadMore): about 1 µs of CPU per read here, on a
 * path that makes two reads per proxied request. With net's `onread` option the kernel's
 * bytes land in the buffer shared by every socket of the process (SHARED_READ_BUFFER), and
 * the callback copies out exactly what was read (small copies come from Node's Buffer pool).
 *
 * pause() and resume() keep working: net.Socket turns them into readStop/readStart when
 * `onread` is in use. 'end', 'error' and 'close' are emitted as usual; 'data' never is.
 *
 * Accepting: interceptAccepts() hands each accepted connection over as a bare handle, which
 * client-stream.ts drives directly.
 */
import { Socket, type OnReadOpts, type Server as NetServer } from 'node:net';
import { SHARED_READ_BUFFER, takeSharedRead, uvError } from './stream-handle.js';

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
      onChunk(this, takeSharedRead(nread));
      return true;
    },
  };
}

/** A connection accepted by a listening handle, not yet wrapped in a net.Socket. */
export type AcceptedHandle = object & { readonly __accepted: unique symbol };

/** The part of net.Server that interceptAccepts() relies on (not public API). */
interface ServerInternals {
  _handle: { onconnection?: (err: number, handle?: object) => void } | null;
}

/**
 * net.Server wraps each accepted connection in a net.Socket, which client connections do
 * without. This replaces the accept callback of `server`'s listening handle: each connection
 * goes to `accept` as a bare handle (see openClientStream). Call it from the listen callback,
 * before the event loop can accept anything (a connection accepted before would be wrapped
 * by net.Server and never answered). The same callback is what a
 * cluster worker's round-robin handle calls, so workers are covered too. net.Server's own
 * connection count and 'connection' event are bypassed; Walnut keeps its own counts.
 */
export function interceptAccepts(server: NetServer, accept: (handle: AcceptedHandle) => void): void {
  const handle = (server as unknown as ServerInternals)._handle;
  if (handle === null || typeof handle.onconnection !== 'function') {
    throw new Error(`Node ${process.version}: net.Server has no accept callback to take over`);
  }
  handle.onconnection = (err: number, clientHandle?: object): void => {
    if (err !== 0 || clientHandle === undefined) {
      server.emit('error', acceptError(err));
      return;
    }
    accept(clientHandle as AcceptedHandle);
  };
}

/**
 * A net.Socket for an accepted connection, reading through `onread`, half-open allowed (a
 * client that shuts down its write side still gets its replies). `paused`: no read until
 * resume().
 */
export function openAccepted(handle: AcceptedHandle, onread: OnReadOpts, paused: boolean): Socket {
  const options = { handle, allowHalfOpen: true, readable: true, writable: true, onread, pauseOnCreate: paused };
  return new Socket(options as ConstructorParameters<typeof Socket>[0]);
}

/** A status of 0 or above is no libuv error code: reported as EIO. */
function acceptError(err: number): NodeJS.ErrnoException {
  return err < 0 ? uvError(err, 'accept') : Object.assign(new Error('accept EIO'), { code: 'EIO', errno: err, syscall: 'accept' });
}
