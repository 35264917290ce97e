/**
 * The byte stream under a client connection. ClientConn needs little of a socket: bytes in,
 * batches out, pause and resume, an end after the last reply, a close, and word of the
 * peer's end, of errors, of the close and of a drain. HandleStream gives exactly that
 * straight from the accepted libuv handle (stream-handle.ts); SocketStream gives the same
 * through a net.Socket made from that handle, where Node lacks the binding. (A stream that
 * exists only as a Node stream, such as TLS, would need a third kind, made from the socket.)
 *
 * The contract, the same for both:
 * - A stream starts paused: resume() starts the reads.
 * - Every call reports to the owner's StreamEvents, never through EventEmitter listeners, so
 *   that an idle connection costs one small object.
 * - onData gets chunks it may keep; reading stops while paused.
 * - onEnd: the peer ended its side; nothing more will be read. Writing goes on.
 * - end(): the FIN follows every byte written so far. Reading goes on and whatever arrives
 *   is dropped until the peer's end, which closes the stream: a close while input is unread
 *   would send a reset, which can destroy the last replies before the client reads them. A
 *   peer that has not ended its side CLIENT_LINGER_MS after the FIN went out is closed anyway.
 *   A FIN that cannot be sent is an error.
 * - onError reports a failed read or write; the stream is closed after it.
 * - destroy() closes at once; onClose follows, once, asynchronously.
 */
import type { Socket } from 'node:net';
import { CLIENT_LINGER_MS } from './limits.js';
import { openAccepted, sharedReads, type AcceptedHandle } from './socket-read.js';
import { SocketWriter } from './socket-write.js';
import {
  DIRECT_HANDLES_AVAILABLE,
  lastReadResult,
  SHARED_READ_BUFFER,
  STREAM_BINDING,
  takeSharedRead,
  UV_EOF,
  uvError,
  WRITE_DONE,
  WRITE_HIGH_WATER,
  WRITE_QUEUED,
  writeToHandle,
  type ShutdownReq,
  type StreamHandle,
  type WriteOwner,
  type Writer,
} from './stream-handle.js';

export interface StreamEvents {
  onData(chunk: Buffer): void;
  onEnd(): void;
  onError(err: NodeJS.ErrnoException): void;
  onClose(): void;
  /** Everything handed over has been taken by the kernel, after a write reported backed up. */
  onDrain(): void;
}

export interface ClientStream extends Writer {
  pause(): void;
  resume(): void;
  end(): void;
  /**
   * No linger from now on (a timer already running is stopped): the owner closes the stream
   * itself by its own deadline. Shutdown: the grace period, as long as the linger time and
   * started a moment before it, must be what closes a client still sending or still owed
   * replies, so that Proxy.close counts and logs it.
   */
  stopLinger(): void;
  destroy(): void;
  /**
   * When the FIN that end() put after the last byte went out, or when input last arrived after
   * that, whichever is later (performance.now() ms); -1 until then.
   */
  readonly quietSince: number;
  /** `address:port` of the peer, or 'unix'. */
  peer(): string;
}

export interface TcpOptions {
  noDelay: boolean;
  keepAlive: boolean;
}

/**
 * A ClientStream for a connection the listener accepted: `tcp` null for a unix socket.
 * `direct: false` forces the net.Socket fallback, and `lingerMs` shortens the wait for the
 * peer's end (tests).
 */
export function openClientStream(
  handle: AcceptedHandle,
  tcp: TcpOptions | null,
  events: StreamEvents,
  direct = DIRECT_HANDLES_AVAILABLE,
  lingerMs = CLIENT_LINGER_MS,
): ClientStream {
  return direct && DIRECT_HANDLES_AVAILABLE
    ? new HandleStream(handle as unknown as StreamHandle, tcp, events, lingerMs)
    : new SocketStream(handle, tcp, events, lingerMs);
}

const OWNER = Symbol('walnut.clientStream');
type OwnedHandle = StreamHandle & { [OWNER]: HandleStream };

function onHandleRead(this: OwnedHandle): void {
  const n = lastReadResult();
  if (n > 0) {
    this[OWNER].onRead(takeSharedRead(n));
  } else if (n < 0) {
    this[OWNER].onReadEnd(n);
  }
}

function onHandleClose(this: OwnedHandle): void {
  this[OWNER].onClosed();
}

function onShutdownDone(this: ShutdownReq, status: number): void {
  const handle = this.handle as OwnedHandle | null;
  this.handle = null;
  handle?.[OWNER].onShutdown(status);
}

function onLingerTimeout(stream: HandleStream | SocketStream): void {
  stream.onLinger();
}

class HandleStream implements ClientStream, WriteOwner {
  /** null once closing: writes are dropped, as on a destroyed socket. */
  private handle: OwnedHandle | null;
  private readonly owned: OwnedHandle;
  private readonly events: StreamEvents;
  private reading = false;
  private paused = true;
  private eof = false;
  /** end() was called: input is dropped until the peer's end. */
  private ending = false;
  /** The shutdown (FIN after the last byte) completed. */
  private ended = false;
  quietSince = -1;
  /** Writes libuv holds because the kernel did not take them whole. */
  private queued = 0;
  /**
   * From end(): closes a peer that takes none of the replies still queued for lingerMs, or
   * that does not end its side within lingerMs of the FIN.
   */
  private linger: NodeJS.Timeout | null = null;
  /** -1 after stopLinger(). */
  private lingerMs: number;
  /** Bytes still queued when the linger timer was armed (progress is checked against it). */
  private lingerUnsent = 0;

  constructor(handle: StreamHandle, tcp: TcpOptions | null, events: StreamEvents, lingerMs: number) {
    this.lingerMs = lingerMs;
    const owned = handle as OwnedHandle;
    owned[OWNER] = this;
    this.owned = owned;
    this.handle = owned;
    this.events = events;
    if (tcp !== null) {
      if (tcp.noDelay) owned.setNoDelay?.(true);
      // As net.Socket's setKeepAlive(true) and twemproxy: SO_KEEPALIVE with the system's
      // timings. (libuv sets SO_KEEPALIVE, then answers EINVAL to the zero delay.)
      if (tcp.keepAlive) owned.setKeepAlive?.(true, 0);
    }
    owned.onread = onHandleRead;
    owned.useUserBuffer(SHARED_READ_BUFFER);
  }

  get unsent(): number {
    return this.handle === null ? 0 : this.handle.writeQueueSize;
  }

  write(buf: Buffer): boolean {
    return this.handle === null || this.written(writeToHandle(this.handle, buf, this));
  }

  writev(bufs: Buffer[]): boolean {
    return this.handle === null || this.written(writeToHandle(this.handle, bufs, this));
  }

  private written(result: number): boolean {
    if (result === WRITE_DONE) return true;
    if (result === WRITE_QUEUED) {
      this.queued++;
      return this.unsent < WRITE_HIGH_WATER;
    }
    this.fail(uvError(result, 'write'));
    return true;
  }

  /** @internal stream-handle.ts: a queued write has ended. */
  onWriteComplete(status: number): void {
    this.queued--;
    if (this.handle === null) return;
    if (status < 0) this.fail(uvError(status, 'write'));
    else if (this.queued === 0) this.events.onDrain();
  }

  pause(): void {
    this.paused = true;
    // After end() the peer's end must still be seen.
    if (!this.ending) this.stopReading();
  }

  resume(): void {
    this.paused = false;
    this.startReading();
  }

  end(): void {
    const handle = this.handle;
    if (handle === null || this.ending) return;
    this.ending = true;
    const req = new STREAM_BINDING!.ShutdownWrap();
    req.oncomplete = onShutdownDone;
    req.handle = handle;
    const err = handle.shutdown(req);
    if (err !== 0) {
      this.fail(uvError(err, 'shutdown'));
      return;
    }
    this.startReading();
    // The FIN waits behind the replies still queued: a client that does not read them would
    // hold the connection for ever.
    this.armLinger();
  }

  private armLinger(): void {
    if (this.lingerMs < 0) return;
    if (this.linger !== null) clearTimeout(this.linger);
    this.lingerUnsent = this.unsent;
    this.linger = setTimeout(onLingerTimeout, this.lingerMs, this).unref();
  }

  stopLinger(): void {
    this.lingerMs = -1;
    if (this.linger !== null) clearTimeout(this.linger);
    this.linger = null;
  }

  /** @internal onLingerTimeout */
  onLinger(): void {
    this.linger = null;
    if (this.handle === null) return;
    // Before the FIN, a client still taking its replies gets more time.
    if (!this.ended && this.unsent < this.lingerUnsent) this.armLinger();
    else this.destroy();
  }

  destroy(): void {
    const handle = this.handle;
    if (handle === null) return;
    this.handle = null;
    this.reading = false;
    if (this.linger !== null) clearTimeout(this.linger);
    handle.close(onHandleClose);
  }

  peer(): string {
    const out: { address?: string; port?: number } = {};
    if (this.owned.getpeername === undefined) return 'unix';
    return this.owned.getpeername(out) === 0 ? `${out.address}:${out.port}` : 'unknown';
  }

  /** @internal onHandleRead */
  onRead(chunk: Buffer): void {
    if (!this.ending) this.events.onData(chunk);
    else if (this.ended) this.quietSince = performance.now();
  }

  /** @internal onHandleRead: end of stream or a read error. */
  onReadEnd(status: number): void {
    if (status !== UV_EOF) {
      this.fail(uvError(status, 'read'));
      return;
    }
    this.eof = true;
    this.stopReading();
    if (!this.ending) this.events.onEnd();
    else if (this.ended) this.destroy();
    // else: closed when the shutdown completes.
  }

  /** @internal onShutdownDone */
  onShutdown(status: number): void {
    this.ended = true;
    if (this.handle === null) return; // closed meanwhile (the shutdown was cancelled)
    if (status < 0) this.fail(uvError(status, 'shutdown'));
    else if (this.eof) this.destroy();
    else {
      this.quietSince = performance.now();
      this.armLinger();
    }
  }

  /** @internal onHandleClose */
  onClosed(): void {
    this.events.onClose();
  }

  private fail(err: NodeJS.ErrnoException): void {
    if (this.handle === null) return;
    this.events.onError(err);
    this.destroy();
  }

  private startReading(): void {
    const handle = this.handle;
    if (handle === null || this.reading || this.eof || (this.paused && !this.ending)) return;
    const err = handle.readStart();
    if (err !== 0) {
      this.fail(uvError(err, 'read'));
      return;
    }
    this.reading = true;
  }

  private stopReading(): void {
    if (!this.reading || this.handle === null) return;
    this.reading = false;
    this.handle.readStop();
  }
}

/** The same contract over net.Socket (see the header). */
const SOCKET_OWNER = Symbol('walnut.clientStream');
type OwnedSocket = Socket & { [SOCKET_OWNER]: SocketStream };

const SOCKET_READS = sharedReads((socket, chunk) => (socket as OwnedSocket)[SOCKET_OWNER].onRead(chunk));

function onSocketEnd(this: OwnedSocket): void {
  this[SOCKET_OWNER].onPeerEnd();
}
function onSocketError(this: OwnedSocket, err: NodeJS.ErrnoException): void {
  this[SOCKET_OWNER].onSocketError(err);
}
function onSocketClose(this: OwnedSocket): void {
  this[SOCKET_OWNER].onSocketClose();
}
function onSocketFinish(this: OwnedSocket): void {
  this[SOCKET_OWNER].onFinish();
}

class SocketStream implements ClientStream {
  private readonly socket: Socket;
  private readonly events: StreamEvents;
  private readonly writer: SocketWriter;
  private ending = false;
  private closed = false;
  quietSince = -1;
  /** As HandleStream's. */
  private linger: NodeJS.Timeout | null = null;
  private lingerMs: number;
  private lingerUnsent = 0;

  constructor(handle: AcceptedHandle, tcp: TcpOptions | null, events: StreamEvents, lingerMs: number) {
    this.lingerMs = lingerMs;
    const socket = openAccepted(handle, SOCKET_READS, true);
    (socket as OwnedSocket)[SOCKET_OWNER] = this;
    this.socket = socket;
    this.events = events;
    this.writer = new SocketWriter(socket, events, false);
    if (tcp !== null) {
      if (tcp.noDelay) socket.setNoDelay(true);
      if (tcp.keepAlive) socket.setKeepAlive(true);
    }
    socket.on('end', onSocketEnd);
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
    socket.on('finish', onSocketFinish);
  }

  get unsent(): number {
    return this.writer.unsent;
  }

  write(buf: Buffer): boolean {
    return this.writer.write(buf);
  }

  writev(bufs: Buffer[]): boolean {
    return this.writer.writev(bufs);
  }

  pause(): void {
    if (!this.ending) this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  end(): void {
    if (this.ending) return;
    this.ending = true;
    // With allowHalfOpen, net.Socket closes once both the FIN is sent and the peer's is seen.
    this.socket.end();
    this.socket.resume();
    this.armLinger();
  }

  private armLinger(): void {
    if (this.closed || this.lingerMs < 0) return;
    if (this.linger !== null) clearTimeout(this.linger);
    this.lingerUnsent = this.unsent;
    this.linger = setTimeout(onLingerTimeout, this.lingerMs, this).unref();
  }

  stopLinger(): void {
    this.lingerMs = -1;
    if (this.linger !== null) clearTimeout(this.linger);
    this.linger = null;
  }

  /** @internal onLingerTimeout */
  onLinger(): void {
    this.linger = null;
    if (!this.socket.writableFinished && this.unsent < this.lingerUnsent) this.armLinger();
    else this.socket.destroy();
  }

  destroy(): void {
    this.socket.destroy();
  }

  peer(): string {
    const s = this.socket;
    return s.remoteAddress !== undefined ? `${s.remoteAddress}:${s.remotePort ?? 0}` : 'unix';
  }

  /** @internal socket events */
  onRead(chunk: Buffer): void {
    if (!this.ending) this.events.onData(chunk);
    else if (this.socket.writableFinished) this.quietSince = performance.now();
  }

  onPeerEnd(): void {
    if (!this.ending) this.events.onEnd();
  }

  onSocketError(err: NodeJS.ErrnoException): void {
    if (this.closed) return;
    this.events.onError(err);
    this.socket.destroy();
  }

  onFinish(): void {
    // The FIN is out; net.Socket closes once the peer's arrives, or here after lingerMs.
    this.quietSince = performance.now();
    this.armLinger();
  }

  onSocketClose(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.linger !== null) clearTimeout(this.linger);
    this.events.onClose();
  }
}
