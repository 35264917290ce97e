/**
 * Node's libuv stream handles (TCP and pipe), used without net.Socket. net.Socket runs
 * Readable's and Writable's bookkeeping, a WriteWrap and a process.nextTick per write, and
 * costs two stream states, an EventEmitter and an async id per connection: about 0.4 µs per
 * write and 20-30 µs of CPU per short-lived connection here, where twemproxy's whole
 * connection costs about 50 µs. Walnut batches, orders and applies backpressure itself, so it
 * drives the handle directly: the kernel's bytes arrive through `onread`, writes go out with
 * writeBuffer/writev, ends with shutdown, closes with close.
 *
 * This is Node's internal stream_wrap binding (stable from Node 12 to 22, not public API).
 * Where it is missing (STREAM_BINDING null), connections fall back to net.Socket with the
 * same contract (client-stream.ts, socket-write.ts): the proxy works, only slower.
 */
import { getSystemErrorName } from 'node:util';
import { copyBytes } from '../util/bytes.js';

/** The parts of a libuv stream handle (Node's LibuvStreamWrap) that Walnut uses. */
export interface StreamHandle {
  // `this` is the handle (never: any callback typed for a handle with fields of its own fits).
  onread: ((this: never) => void) | null;
  useUserBuffer(buf: Buffer): void;
  readStart(): number;
  readStop(): number;
  writeBuffer(req: WriteReq, buf: Buffer): number;
  writev(req: WriteReq, chunks: Buffer[], allBuffers: true): number;
  shutdown(req: ShutdownReq): number;
  close(callback: (this: never) => void): void;
  readonly writeQueueSize: number;
  /** TCP handles only. */
  setNoDelay?(enable: boolean): number;
  setKeepAlive?(enable: boolean, initialDelaySeconds: number): number;
  getpeername?(out: { address?: string; port?: number }): number;
}

/** Node's WriteWrap, with the fields its C++ side and ours use. */
export interface WriteReq {
  handle: StreamHandle | null;
  oncomplete: (this: WriteReq, status: number) => void;
  async: boolean;
  bytes: number;
  /** What the write reads from, kept alive until it completes. */
  buffer: Buffer | Buffer[] | null;
  owner: WriteOwner | null;
}

/** Node's ShutdownWrap. */
export interface ShutdownReq {
  handle: StreamHandle | null;
  oncomplete: (this: ShutdownReq, status: number) => void;
}

interface StreamWrapBinding {
  WriteWrap: new () => WriteReq;
  ShutdownWrap: new () => ShutdownReq;
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
  kLastWriteWasAsync: number;
}

function loadBinding(): StreamWrapBinding | null {
  try {
    const binding = (process as unknown as { binding(name: string): Partial<StreamWrapBinding> }).binding(
      'stream_wrap',
    );
    if (
      typeof binding.WriteWrap === 'function' &&
      typeof binding.ShutdownWrap === 'function' &&
      binding.streamBaseState instanceof Int32Array &&
      typeof binding.kReadBytesOrError === 'number' &&
      typeof binding.kLastWriteWasAsync === 'number' &&
      getSystemErrorName(UV_EOF) === 'EOF'
    ) {
      return binding as StreamWrapBinding;
    }
  } catch {
    // A runtime without process.binding: use the fallback.
  }
  return null;
}

/** libuv's end-of-stream status (the same value on every platform). */
export const UV_EOF = -4095;

export const STREAM_BINDING = loadBinding();

/** True when connections are driven through their handles (false: the net.Socket fallback). */
export const DIRECT_HANDLES_AVAILABLE = STREAM_BINDING !== null;

/**
 * Where every socket of the process reads into (as large as the read Node itself asks libuv
 * for). Safe because libuv reads into it and runs the read callback back to back on the one
 * JS thread, and every callback copies out what was read before returning: nothing may keep a
 * view of it past the callback, since the next read of any socket overwrites it.
 */
export const SHARED_READ_BUFFER = Buffer.allocUnsafeSlow(64 * 1024);

/** The `n` bytes a read just put in SHARED_READ_BUFFER, copied out (small ones from Node's pool). */
export function takeSharedRead(n: number): Buffer {
  const chunk = Buffer.allocUnsafe(n);
  copyBytes(SHARED_READ_BUFFER, 0, n, chunk, 0);
  return chunk;
}

/** The byte count (> 0), 0, UV_EOF or an error of the read `onread` is reporting. */
export function lastReadResult(): number {
  return STREAM_BINDING!.streamBaseState[STREAM_BINDING!.kReadBytesOrError]!;
}

/** Told how a write that the kernel did not take at once has ended. */
export interface WriteOwner {
  onWriteComplete(status: number): void;
}

/** A write the kernel took whole. */
export const WRITE_DONE = 0;
/** A write libuv queued: the owner's onWriteComplete follows. */
export const WRITE_QUEUED = 1;

function onWriteComplete(this: WriteReq, status: number): void {
  const owner = this.owner;
  this.owner = null;
  this.buffer = null;
  this.handle = null;
  owner?.onWriteComplete(status);
}

function newWriteReq(binding: StreamWrapBinding): WriteReq {
  const req = new binding.WriteWrap();
  req.handle = null;
  req.oncomplete = onWriteComplete;
  req.async = false;
  req.bytes = 0;
  req.buffer = null;
  req.owner = null;
  return req;
}

/**
 * A WriteWrap is only consumed by a write the kernel did not finish: the spare one is reused
 * until then.
 */
let spareReq: WriteReq | null = STREAM_BINDING !== null ? newWriteReq(STREAM_BINDING) : null;

/**
 * Write `data` (a buffer, or buffers in order with one system call) to `handle`. Returns
 * WRITE_DONE, WRITE_QUEUED (libuv sends the rest as the socket drains, in order, and then
 * tells `owner`) or a negative libuv error code. Needs STREAM_BINDING.
 *
 * Callers write again while an earlier write is still queued: TCP and pipe handles queue them
 * in order. A TLS handle (TLSWrap) takes one write at a time and aborts the process on a
 * second (`!current_write_`, seen in a TLS prototype), so TLS needs a writer that holds later
 * batches until the write in flight completes, and no write before the handshake.
 */
export function writeToHandle(handle: StreamHandle, data: Buffer | Buffer[], owner: WriteOwner): number {
  const binding = STREAM_BINDING!;
  const req = spareReq!;
  req.handle = handle;
  const err = Array.isArray(data) ? handle.writev(req, data, true) : handle.writeBuffer(req, data);
  if (err !== 0) {
    // The request may have been wrapped and disposed of: do not reuse it.
    spareReq = newWriteReq(binding);
    return err;
  }
  if (binding.streamBaseState[binding.kLastWriteWasAsync] === 0) {
    // The kernel took it all: the request was never handed to libuv, keep it for the next.
    req.handle = null;
    return WRITE_DONE;
  }
  // libuv owns `req` until oncomplete; keep what it reads from alive until then (a copy of an
  // array: the caller reuses its array).
  req.buffer = Array.isArray(data) ? data.slice() : data;
  req.owner = owner;
  spareReq = newWriteReq(binding);
  return WRITE_QUEUED;
}

/**
 * Below this many unsent bytes a write reports that more may follow at once (Node's default
 * writable high-water mark, which Walnut's backpressure was tuned with).
 */
export const WRITE_HIGH_WATER = 16 * 1024;

/** A Node-style error for a libuv status code. */
export function uvError(status: number, syscall: string): NodeJS.ErrnoException {
  const code = getSystemErrorName(status);
  const err: NodeJS.ErrnoException = new Error(`${syscall} ${code}`);
  err.code = code;
  err.errno = status;
  err.syscall = syscall;
  return err;
}

/** Something a batch of output is written to (OutBuffer.writeTo). */
export interface Writer {
  /** Write `buf`; false when backed up (a drain will be reported). */
  write(buf: Buffer): boolean;
  /** Write `bufs` in order with one system call; false as for write(). */
  writev(bufs: Buffer[]): boolean;
  /** Bytes handed over that the kernel has not taken yet. */
  readonly unsent: number;
}
