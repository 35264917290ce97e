/**
 * Writing to a socket straight through its libuv handle. socket.write() runs Writable's
 * bookkeeping, allocates a WriteWrap and schedules a process.nextTick for every write: about
 * 0.4 µs of CPU and 200 bytes of garbage per write here, on a path that writes once per
 * reply. Walnut does its own batching (write-batch.ts) and its own backpressure, so it needs
 * none of that: SocketWriter hands each batch to the handle, which tries the write at once and
 * queues what the kernel does not take, in order. A WriteWrap is only consumed by a write
 * the kernel did not finish; the spare one is reused until then.
 *
 * The handle API is Node's internal stream_wrap binding (stable from Node 12 to 22, not
 * public). Where it is missing, SocketWriter falls back to socket.write with the same
 * contract, so the proxy works, only slower.
 *
 * socket.end() still goes through net.Socket: libuv's shutdown waits for queued writes, so
 * the FIN follows the last byte and 'finish' (writableFinished) still means all was written.
 */
import type { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';

interface StreamHandle {
  writeBuffer(req: WriteReq, buf: Buffer): number;
  writev(req: WriteReq, chunks: Buffer[], allBuffers: true): number;
  readonly writeQueueSize: number;
}

/** Node's WriteWrap, with the fields its C++ side and ours use. */
interface WriteReq {
  handle: StreamHandle | null;
  oncomplete: (this: WriteReq, status: number) => void;
  async: boolean;
  bytes: number;
  /** What the write reads from, kept alive until it completes. */
  buffer: Buffer | Buffer[] | null;
  writer: SocketWriter | null;
}

interface StreamWrapBinding {
  WriteWrap: new () => WriteReq;
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
}

function loadBinding(): StreamWrapBinding | null {
  try {
    const binding = (process as unknown as { binding(name: string): Partial<StreamWrapBinding> }).binding(
      'stream_wrap',
    );
    if (
      typeof binding.WriteWrap === 'function' &&
      binding.streamBaseState instanceof Int32Array &&
      typeof binding.kLastWriteWasAsync === 'number'
    ) {
      return binding as StreamWrapBinding;
    }
  } catch {
    // A runtime without process.binding: use the fallback.
  }
  return null;
}

const BINDING = loadBinding();

/** True when writes go straight to the handle (false: the socket.write fallback). */
export const DIRECT_WRITES_AVAILABLE = BINDING !== null;

function onWriteComplete(this: WriteReq, status: number): void {
  const writer = this.writer;
  this.writer = null;
  this.buffer = null;
  this.handle = null;
  writer?.onWriteComplete(status);
}

function newWriteReq(binding: StreamWrapBinding): WriteReq {
  const req = new binding.WriteWrap();
  req.handle = null;
  req.oncomplete = onWriteComplete;
  req.async = false;
  req.bytes = 0;
  req.buffer = null;
  req.writer = null;
  return req;
}

let spareReq: WriteReq | null = BINDING !== null ? newWriteReq(BINDING) : null;

/** Told when every write the kernel did not take at once has completed. */
export interface DrainListener {
  onDrain(): void;
}

/**
 * Below this many unsent bytes a write reports that more may follow at once (Node's default
 * writable high-water mark, which Walnut's backpressure was tuned with).
 */
export const WRITE_HIGH_WATER = 16 * 1024;

function writeError(status: number): NodeJS.ErrnoException {
  const code = getSystemErrorName(status);
  const err: NodeJS.ErrnoException = new Error(`write ${code}`);
  err.code = code;
  err.errno = status;
  err.syscall = 'write';
  return err;
}

interface SocketInternals {
  _handle: StreamHandle | null;
}

export class SocketWriter {
  private readonly socket: Socket;
  private readonly listener: DrainListener;
  private readonly direct: boolean;
  /** Writes queued in the handle because the kernel did not take them whole. */
  private queued = 0;

  /** `direct: false` forces the socket.write fallback (tests). */
  constructor(socket: Socket, listener: DrainListener, direct = DIRECT_WRITES_AVAILABLE) {
    this.socket = socket;
    this.listener = listener;
    this.direct = direct && BINDING !== null;
    if (!this.direct) socket.on('drain', () => listener.onDrain());
  }

  /** Bytes handed to the socket that the kernel has not taken yet. */
  get unsent(): number {
    if (!this.direct) return this.socket.writableLength;
    const handle = (this.socket as unknown as SocketInternals)._handle;
    return handle === null ? 0 : handle.writeQueueSize;
  }

  /** Write `buf`; false when the socket is backed up (a drain will be reported). */
  write(buf: Buffer): boolean {
    if (!this.direct) return this.socket.destroyed || this.socket.write(buf);
    const handle = this.handle();
    if (handle === null) return true;
    const req = spareReq!;
    req.handle = handle;
    return this.dispatched(req, handle.writeBuffer(req, buf), buf);
  }

  /** Write `bufs` in order with one system call; false as for write(). */
  writev(bufs: Buffer[]): boolean {
    if (!this.direct) {
      const socket = this.socket;
      if (socket.destroyed) return true;
      socket.cork();
      let ok = true;
      for (let i = 0; i < bufs.length; i++) ok = socket.write(bufs[i]!);
      socket.uncork();
      return ok;
    }
    const handle = this.handle();
    if (handle === null) return true;
    const req = spareReq!;
    req.handle = handle;
    return this.dispatched(req, handle.writev(req, bufs, true), bufs);
  }

  private handle(): StreamHandle | null {
    const socket = this.socket;
    // A destroyed socket drops what it is given, as socket.write does (after an error).
    if (socket.destroyed) return null;
    return (socket as unknown as SocketInternals)._handle;
  }

  private dispatched(req: WriteReq, err: number, data: Buffer | Buffer[]): boolean {
    if (err !== 0) {
      // The request may have been wrapped and disposed of: do not reuse it.
      spareReq = newWriteReq(BINDING!);
      this.socket.destroy(writeError(err));
      return true;
    }
    if (BINDING!.streamBaseState[BINDING!.kLastWriteWasAsync] === 0) {
      // The kernel took it all: the request was never handed to libuv, keep it for the next.
      req.handle = null;
      return true;
    }
    // libuv owns `req` until oncomplete; keep what it reads from alive until then (a copy of
    // an array: the caller reuses its array).
    req.buffer = Array.isArray(data) ? data.slice() : data;
    req.writer = this;
    spareReq = newWriteReq(BINDING!);
    this.queued++;
    return this.unsent < WRITE_HIGH_WATER;
  }

  /** @internal from onWriteComplete */
  onWriteComplete(status: number): void {
    this.queued--;
    const socket = this.socket;
    if (socket.destroyed) return;
    if (status < 0) {
      socket.destroy(writeError(status));
      return;
    }
    if (this.queued === 0) this.listener.onDrain();
  }
}
