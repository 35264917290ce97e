/**
 * Writing to a net.Socket (a server connection) straight through its libuv handle.
 * socket.write() runs Writable's bookkeeping, allocates a WriteWrap and schedules a
 * process.nextTick for every write; Walnut does its own batching (write-batch.ts) and its own
 * backpressure, so it needs none of that: SocketWriter hands each batch to the handle
 * (stream-handle.ts), which tries the write at once and queues what the kernel does not
 * take, in order. Without the stream_wrap binding it falls back to socket.write with the
 * same contract.
 *
 * socket.end() still goes through net.Socket: libuv's shutdown waits for queued writes, so
 * the FIN follows the last byte.
 */
import type { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';
import {
  DIRECT_HANDLES_AVAILABLE,
  uvError,
  WRITE_DONE,
  WRITE_HIGH_WATER,
  WRITE_QUEUED,
  writeToHandle,
  type StreamHandle,
  type WriteOwner,
  type Writer,
} from './stream-handle.js';

/** Told when every write the kernel did not take at once has completed. */
export interface DrainListener {
  onDrain(): void;
}

const NO_BYTES = Buffer.alloc(0);

interface SocketInternals {
  _handle: StreamHandle | null;
}

export class SocketWriter implements Writer, WriteOwner {
  private readonly socket: Socket;
  private readonly listener: DrainListener;
  private readonly direct: boolean;
  /** Writes queued in the handle because the kernel did not take them whole. */
  private queued = 0;

  /** `direct: false` forces the socket.write fallback (tests). */
  constructor(socket: Socket, listener: DrainListener, direct = DIRECT_HANDLES_AVAILABLE) {
    this.socket = socket;
    this.listener = listener;
    this.direct = direct && DIRECT_HANDLES_AVAILABLE;
    if (!this.direct) socket.on('drain', () => listener.onDrain());
  }

  get unsent(): number {
    if (!this.direct) return this.socket.writableLength;
    const handle = (this.socket as unknown as SocketInternals)._handle;
    return handle === null ? 0 : handle.writeQueueSize;
  }

  write(buf: Buffer): boolean {
    if (!this.direct) return this.socket.destroyed || this.socket.write(buf);
    return this.writeDirect(buf);
  }

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
    return this.writeDirect(bufs);
  }

  /**
   * After an end of stream: 'ECONNRESET' if the peer in fact reset the connection, else ''. A
   * reset that arrives together with data is read as an end of stream (the data, then no
   * more), and the reset stays unreported; twemproxy, which asks for the socket's error on
   * EPOLLERR, reports it. A write of no bytes, which sends nothing, reports a pending error
   * first. Any other error it may give (EPIPE from a unix socket whose peer is gone) is the
   * ordinary end of a closed connection.
   */
  resetAfterEnd(): string {
    if (!this.direct || this.socket.destroyed) return '';
    const handle = (this.socket as unknown as SocketInternals)._handle;
    if (handle === null) return '';
    const result = writeToHandle(handle, NO_BYTES, this);
    if (result === WRITE_QUEUED) this.queued++;
    return result < 0 && getSystemErrorName(result) === 'ECONNRESET' ? 'ECONNRESET' : '';
  }

  private writeDirect(data: Buffer | Buffer[]): boolean {
    const socket = this.socket;
    // A destroyed socket drops what it is given, as socket.write does (after an error).
    if (socket.destroyed) return true;
    const handle = (socket as unknown as SocketInternals)._handle;
    if (handle === null) return true;
    const result = writeToHandle(handle, data, this);
    if (result === WRITE_DONE) return true;
    if (result === WRITE_QUEUED) {
      this.queued++;
      return this.unsent < WRITE_HIGH_WATER;
    }
    socket.destroy(uvError(result, 'write'));
    return true;
  }

  /** @internal stream-handle.ts: a queued write has ended. */
  onWriteComplete(status: number): void {
    this.queued--;
    const socket = this.socket;
    if (socket.destroyed) return;
    if (status < 0) {
      socket.destroy(uvError(status, 'write'));
      return;
    }
    if (this.queued === 0) this.listener.onDrain();
  }
}
