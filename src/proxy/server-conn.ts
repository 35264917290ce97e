/**
 * One connection to a backend server: writes requests (batched), frames replies and matches
 * them FIFO to the requests in flight, enforces the pool timeout, and on any failure completes
 * every pending request with that error. Mirrors twemproxy's server side of nc_connection.c,
 * nc_server.c (server_close, server_connected) and the rsp path of nc_response.c.
 */
import { connect, type Socket } from 'node:net';
import { MAX_GATHERED_REPLY_BYTES, type ReplyParser, type ReplySink } from '../proto/codec.js';
import { REPLY_ERROR, REPLY_TOO_LARGE, REPLY_TRANSIENT, type Msg, type MsgOwner } from '../proto/message.js';
import { serverLookup } from '../util/host-lookup.js';
import { log, LOG_INFO, LOG_WARN } from '../util/log.js';
import { countConnectionClosed, countConnectionOpened } from './connection-counters.js';
import { Fifo } from './fifo.js';
import { MAX_SERVER_UNSENT_BYTES } from './limits.js';
import type { Server } from './server.js';
import { sharedReads } from './socket-read.js';
import { SocketWriter } from './socket-write.js';
import { OutBuffer, scheduleFlush, type Flushable } from './write-batch.js';

/**
 * A connection the server ends after this long with nothing in flight was closed for being
 * idle (Redis's `timeout`, memcached's `idle_timeout`, both in whole seconds): not a failure.
 */
const IDLE_CLOSE_MS = 1000;

/** Node reports DNS failures with resolver codes; twemproxy reports them as EHOSTDOWN. */
function transportCode(err: NodeJS.ErrnoException): string {
  const code = err.code ?? '';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_FAIL' || code === 'EAI_NONAME') {
    return 'EHOSTDOWN';
  }
  return code === '' ? 'EIO' : code;
}

/**
 * Whoever sends requests to server connections (a client) and can stop reading its own input
 * while one of them is congested.
 */
export interface Feeder {
  /** A connection it feeds is congested: stop reading. Called once per congested connection. */
  hold(): void;
  /** That connection has drained (or closed). */
  release(): void;
}

const CONN = Symbol('walnut.serverConn');
type ServerSocket = Socket & { [CONN]: ServerConn };
const SERVER_READS = sharedReads((socket, chunk) => (socket as ServerSocket)[CONN].onData(chunk));

export class ServerConn implements ReplySink, Flushable {
  readonly server: Server;
  private readonly socket: Socket;
  private readonly parser: ReplyParser;
  /** Requests written or waiting to be written that expect a reply, oldest first. */
  private readonly inflight = new Fifo<Msg>(16);
  private readonly out = new OutBuffer();
  private readonly writer: SocketWriter;
  /** How many of the newest `inflight` entries are still in `out` (not handed to the socket). */
  private unflushedReplies = 0;
  /**
   * The length of every request in `out` or handed to the socket and not yet known to be all
   * in the kernel, in write order (negative for noreply ones). twemproxy's in_queue holds a
   * request until its last byte is written, so a server that stops reading shows its backlog
   * there; the socket can hold megabytes that Walnut handed over and the kernel has not taken.
   */
  private readonly unwritten = new Fifo<number>(16);
  /** Bytes of all of `unwritten`. */
  private unwrittenBytes = 0;
  /** How many of the oldest `unwritten` were handed to the socket, and their bytes. */
  private handed = 0;
  private handedBytes = 0;
  /** This connection's share of out_queue: requests all in the kernel, awaiting a reply. */
  private written = 0;
  private writtenBytes = 0;
  private connected = false;
  /**
   * Internal requests (AUTH, SELECT) not answered yet. Until they are, clients' requests wait
   * in `awaitingSetup` instead of being written behind them: a SELECT the server refuses
   * (`redis_db` out of range) must not let them run on database 0.
   */
  private setupPending = 0;
  private awaitingSetup: Msg[] | null = null;
  private awaitingSetupBytes = 0;
  /**
   * noreply requests have been written since the last fence: that the kernel took them does
   * not mean the server has read them (memcached drops what it has read but not parsed when
   * the same read loop meets the end of the stream).
   */
  private unfenced = false;
  closed = false;
  /** The client charged with the reply being gathered, and for how many bytes (chargeArriving). */
  private arrivingFor: MsgOwner | null = null;
  private arrivingBytes = 0;
  flushQueued = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly timeout: number;
  /** More than MAX_SERVER_UNSENT_BYTES wait in the socket: wait for the writer's drain. */
  private writeBlocked = false;
  /** Feeders held back until this connection drains; null when none. */
  private held: Set<Feeder> | null = null;
  /** Held feeders that had a request refused: released first, so refusals rotate. */
  private refusedHeld: Set<Feeder> | null = null;
  /** Feeders held here since it was last uncongested: not newcomers (see Server.send). */
  private waitedOn: WeakSet<Feeder> | null = null;
  /** Requests have been refused (MAX_SERVER_QUEUED_BYTES) since the last drain: logged once. */
  private refusing = false;
  /**
   * When requests were last handed to the socket (performance.now(): timeouts and the idle rule
   * use a monotonic clock, so a step of the system clock neither fires nor stalls them).
   */
  private lastWrite = -Infinity;
  /** When the socket last filled up (writeBlocked set), same clock. */
  private blockedAt = 0;

  constructor(server: Server) {
    this.server = server;
    const pool = server.pool;
    this.timeout = pool.config.timeout;
    this.parser = pool.codec.newReplyParser();
    const cfg = server.config;
    this.socket =
      cfg.path !== null
        ? connect({ path: cfg.path, onread: SERVER_READS })
        : connect({ host: cfg.host, port: cfg.port, lookup: serverLookup(cfg.host), onread: SERVER_READS });
    (this.socket as ServerSocket)[CONN] = this;
    this.writer = new SocketWriter(this.socket, this);
    this.socket.setNoDelay(true);
    // twemproxy sets keepalive on client sockets only; a dead server behind a silent network
    // is found sooner with it on both sides.
    if (pool.config.tcpkeepalive && cfg.path === null) this.socket.setKeepAlive(true);
    countConnectionOpened(pool.counters);
    this.socket.on('connect', () => this.onConnect());
    this.socket.on('error', (err: NodeJS.ErrnoException) => this.close(transportCode(err)));
    this.socket.on('end', () => this.close(this.writer.resetAfterEnd()));
    this.socket.on('close', () => this.close(''));
    // Internal requests (AUTH, then SELECT) go first on every new connection.
    for (const msg of pool.codec.connectPreamble()) {
      this.enqueue(msg);
      this.setupPending++;
    }
  }

  /** @internal socket input */
  onData(chunk: Buffer): void {
    this.parser.feed(chunk, this);
    const arriving = this.parser.pendingBytes;
    if (arriving !== 0 || this.arrivingFor !== null) this.chargeArriving(arriving);
  }

  /**
   * Count the reply being gathered (`bytes`, 0 when none) against the client that waits for
   * it, in place of what was counted after the last read. (One server read, not one request.)
   */
  private chargeArriving(bytes: number): void {
    const before = this.arrivingFor;
    if (before !== null) before.onReplyArriving(-this.arrivingBytes);
    let owner: MsgOwner | null = null;
    if (bytes > 0) {
      const msg = this.inflight.peek();
      if (msg !== undefined && !msg.internal) owner = msg.parent !== null ? msg.parent.owner : msg.owner;
    }
    this.arrivingFor = owner;
    this.arrivingBytes = owner === null ? 0 : bytes;
    if (owner !== null) owner.onReplyArriving(bytes);
  }

  /** Queue a request on this connection; it is written with the next batch. */
  enqueue(msg: Msg): void {
    const len = msg.data.length;
    const stats = this.server.stats;
    stats.in_queue++;
    stats.in_queue_bytes += len;
    if (!msg.internal) {
      stats.requests++;
      stats.request_bytes += len;
      if (this.setupPending > 0) {
        // Its deadline runs from now, not from when the setup is answered.
        if (this.timeout > 0 && !msg.noreply) msg.deadline = performance.now() + this.timeout;
        (this.awaitingSetup ??= []).push(msg);
        this.awaitingSetupBytes += len;
        return;
      }
    }
    this.queue(msg, len);
  }

  /** Put a counted request in `out` (and `inflight` when a reply is due). */
  private queue(msg: Msg, len: number): void {
    this.out.push(msg.data);
    this.unwritten.push(msg.noreply ? -len : len);
    this.unwrittenBytes += len;
    if (msg.noreply) {
      this.unfenced = true;
    } else {
      if (this.timeout > 0) {
        if (msg.deadline === 0) msg.deadline = performance.now() + this.timeout;
        if (this.timer === null) this.armTimer(Math.max(0, msg.deadline - performance.now()));
      }
      this.inflight.push(msg);
      this.unflushedReplies++;
    }
    if (this.connected) scheduleFlush(this);
  }

  flush(): void {
    // While blocked, new requests wait in `out`: the socket drains in bounded time, and the
    // held feeders get their turn (onDrain) instead of waiting behind every newcomer.
    if (this.closed || !this.connected || this.out.empty || this.writeBlocked) return;
    this.unflushedReplies = 0;
    this.handed = this.unwritten.length;
    this.handedBytes = this.unwrittenBytes;
    this.out.writeTo(this.writer);
    this.lastWrite = performance.now();
    this.syncQueueGauges();
    // What the kernel did not take waits in the socket; past the limit, hold the feeders
    // until the writer reports the drain.
    if (this.writer.unsent >= MAX_SERVER_UNSENT_BYTES) {
      this.writeBlocked = true;
      this.blockedAt = this.lastWrite;
      if (this.timeout > 0 && this.timer === null) this.armTimer(this.timeout);
    } else if (this.held !== null) {
      this.releaseHeld();
    }
  }

  /**
   * Too many request bytes wait for this server (it is slow, stopped or still connecting):
   * senders must pause. Without this a stalled server lets every client fill Walnut's memory
   * (and memcached `noreply` requests are bounded by nothing else).
   */
  get congested(): boolean {
    return this.writeBlocked || this.out.bytes + this.awaitingSetupBytes >= MAX_SERVER_UNSENT_BYTES;
  }

  /** Request bytes waiting here or in the socket for the server to take them. */
  get queuedBytes(): number {
    return this.out.bytes + this.awaitingSetupBytes + this.writer.unsent;
  }

  /**
   * Nothing of the clients' left to hand over or to hear back: every request is in the kernel
   * and answered (noreply ones: the fence after them). Shutdown waits for this (a closed socket
   * with replies unread would reset, and lose what the kernel still held for the server). The
   * AUTH/SELECT of a connection no client request waits on do not count: inflight then holds
   * them alone (they come first), and `out` nothing else.
   */
  get settled(): boolean {
    if (this.closed) return true;
    if (this.awaitingSetup !== null || this.inflight.length !== this.setupPending) return false;
    return this.setupPending > 0 || this.queuedBytes === 0;
  }

  /**
   * Shutdown: after noreply requests, queue a request with a reply (Codec.fenceRequest), so
   * that `settled` waits until the server has read them, not only until the kernel took them.
   */
  fence(): void {
    if (this.closed || !this.unfenced) return;
    this.unfenced = false;
    const fence = this.server.pool.codec.fenceRequest();
    if (fence !== null) this.enqueue(fence);
  }

  /** A request was refused for want of queue room: say so once until the connection drains. */
  noteRefused(): void {
    if (this.refusing) return;
    this.refusing = true;
    if (log.level >= LOG_WARN) {
      log.warn(`server ${this.server.config.pname}: ${this.queuedBytes} bytes of requests queued, refusing more until it takes them`);
    }
  }

  /** Hold `feeder` back until this connection drains or closes (`refused`: it goes first then). */
  hold(feeder: Feeder, refused = false): void {
    if (refused) (this.refusedHeld ??= new Set()).add(feeder);
    const held = (this.held ??= new Set());
    if (held.has(feeder)) return;
    held.add(feeder);
    (this.waitedOn ??= new WeakSet()).add(feeder);
    feeder.hold();
  }

  /** `feeder` has been held here since the connection was last uncongested. */
  waited(feeder: Feeder | null): boolean {
    return feeder !== null && this.waitedOn !== null && this.waitedOn.has(feeder);
  }

  private releaseHeld(): void {
    const held = this.held;
    if (held === null) return;
    const refused = this.refusedHeld;
    this.held = this.refusedHeld = null;
    // In hold order (first held, first read), but those refused last time before the rest.
    if (refused !== null) for (const feeder of held) if (refused.has(feeder)) feeder.release();
    for (const feeder of held) if (refused === null || !refused.has(feeder)) feeder.release();
  }

  /**
   * @internal SocketWriter: every request handed over has been taken by the kernel. What
   * waited meanwhile is written now, and every held feeder gets one read, even if that
   * congests the connection again: each drain is one round, and no feeder waits more than one.
   */
  onDrain(): void {
    this.syncQueueGauges();
    this.writeBlocked = false;
    this.refusing = false;
    this.flush();
    if (!this.congested) this.waitedOn = null;
    this.releaseHeld();
  }

  onReply(reply: Buffer, flags: number): void {
    if (this.closed) return;
    const msg = this.inflight.peek();
    if (msg === undefined || this.inflight.length <= this.unflushedReplies) {
      // A reply to nothing we sent: the stream is out of step (twemproxy: stray reply).
      this.close('EINVAL');
      return;
    }
    if ((flags & REPLY_TRANSIENT) !== 0 && this.server.pool.codec.transientMeansFailing(msg)) {
      // -OOM/-BUSY/-LOADING: twemproxy treats the server as failing (spec 4.5).
      this.close('EINVAL');
      return;
    }
    this.inflight.shift();
    const stats = this.server.stats;
    const len = msg.data.length;
    // The server has read the whole request, so the kernel took it: if the gauges have not
    // caught up yet, move it (and whatever was written before it) to out_queue first.
    this.syncQueueGauges();
    while (this.written === 0 && this.handed > 0) this.markWritten();
    this.written--;
    this.writtenBytes -= len;
    stats.out_queue--;
    stats.out_queue_bytes -= len;
    if (msg.internal) {
      // (The preamble is answered first; a later internal request is a fence.)
      if (this.setupPending > 0) this.onSetupReply(msg, reply, flags);
      return;
    }
    const owner = msg.parent !== null ? msg.parent.owner : msg.owner;
    if (owner === null) {
      // The client has gone: the reply is swallowed, and like twemproxy (rsp_filter) neither
      // counted as a response nor taken as a sign of the server's health.
      msg.done = true;
      return;
    }
    stats.responses++;
    stats.response_bytes += msg.streamedBytes + reply.length;
    this.server.onSuccess();
    if ((flags & REPLY_TOO_LARGE) !== 0) {
      // Too large to hold for a merge or behind an earlier reply: the request fails instead.
      if (log.level >= LOG_WARN) {
        log.warn(`server ${this.server.config.pname}: a reply over ${MAX_GATHERED_REPLY_BYTES} bytes was dropped`);
      }
      msg.errorCode = 'EMSGSIZE';
      this.server.pool.complete(msg);
      return;
    }
    msg.reply = reply;
    msg.replyFlags = flags;
    this.server.pool.complete(msg);
  }

  /**
   * Move the requests handed to the socket that the kernel has taken whole from in_queue to
   * out_queue (noreply ones just leave in_queue), as twemproxy does when it has written a
   * request's last byte. The socket's count of bytes not taken is live, so this is exact
   * whenever it runs: after each write, on drain, before a reply and for each stats reading.
   */
  syncQueueGauges(): void {
    if (this.handed === 0 || this.closed) return;
    let taken = this.handedBytes - this.writer.unsent;
    while (this.handed > 0) {
      const len = this.unwritten.peek()!;
      const bytes = len < 0 ? -len : len;
      if (bytes > taken) return;
      taken -= bytes;
      this.markWritten();
    }
  }

  /** The oldest request handed to the socket is all in the kernel. */
  private markWritten(): void {
    const len = this.unwritten.shift()!;
    const bytes = len < 0 ? -len : len;
    this.handed--;
    this.handedBytes -= bytes;
    this.unwrittenBytes -= bytes;
    const stats = this.server.stats;
    stats.in_queue--;
    stats.in_queue_bytes -= bytes;
    if (len > 0) {
      this.written++;
      this.writtenBytes += bytes;
      stats.out_queue++;
      stats.out_queue_bytes += bytes;
    }
  }

  /**
   * Cut-through for a large reply to the oldest request: allowed when it goes to the client
   * unchanged (a whole request, or the only fragment of one whose merge would pass it through)
   * and the client has written every earlier reply, so sending it now keeps the order.
   */
  streamReply(head: Buffer): boolean {
    const msg = this.inflight.peek();
    if (this.closed || msg === undefined || msg.internal || this.inflight.length <= this.unflushedReplies) {
      return false;
    }
    const parent = msg.parent;
    let top = msg;
    if (parent !== null) {
      if (parent.fragments?.length !== 1 || !this.server.pool.codec.replyPassesThrough(parent, head)) return false;
      top = parent;
    }
    return top.owner !== null && top.owner.acceptsReplyPieces(top);
  }

  onReplyPiece(piece: Buffer): void {
    const msg = this.inflight.peek()!;
    msg.streamedBytes += piece.length;
    const top = msg.parent ?? msg;
    // A client that has gone meanwhile: the rest of its reply is read and dropped.
    top.owner?.onReplyPiece(top, piece);
  }

  onReplyFramingError(reason: string): void {
    if (log.level >= LOG_WARN) {
      log.warn(`server ${this.server.config.pname} sent an invalid reply: ${reason}`);
    }
    this.close('EINVAL');
  }

  /**
   * AUTH or SELECT answered. A refused SELECT closes the connection and fails the requests
   * waiting for it (twemproxy logs it and goes on, on database 0); a refused AUTH is logged and
   * the requests go ahead, to get the server's own -NOAUTH (so does a SELECT refused for it).
   */
  private onSetupReply(msg: Msg, reply: Buffer, flags: number): void {
    this.setupPending--;
    if ((flags & REPLY_ERROR) !== 0) {
      const what = internalName(msg.data);
      const text = firstLine(reply);
      const fatal = what.startsWith('SELECT') && !text.startsWith('-NOAUTH');
      if (fatal || log.level >= LOG_WARN) {
        const line = `${what} failed on ${this.server.pool.config.name} | ${this.server.config.name}: ${text}`;
        if (fatal) log.error(`${line}; closing the connection, its requests fail`);
        else log.warn(line);
      }
      if (fatal) {
        this.close('EINVAL');
        return;
      }
    }
    if (this.setupPending > 0 || this.awaitingSetup === null) return;
    const waiting = this.awaitingSetup;
    this.awaitingSetup = null;
    this.awaitingSetupBytes = 0;
    for (const m of waiting) this.queue(m, m.data.length);
    if (this.connected) scheduleFlush(this);
  }

  /**
   * Close with a Node error code ('' = the server closed the connection) and fail every
   * request still pending here with it.
   */
  close(code: string): void {
    if (this.closed) return;
    this.closed = true;
    const idle = this.inflight.length === 0 && this.out.empty && performance.now() - this.lastWrite >= IDLE_CLOSE_MS;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.socket.destroy();
    if (this.arrivingFor !== null) this.chargeArriving(0);
    const pool = this.server.pool;
    countConnectionClosed(pool.counters);
    const stats = this.server.stats;
    if (this.connected) stats.server_connections--;
    // Queue gauges: what the kernel took whole is in out_queue, the rest in in_queue.
    stats.out_queue -= this.written;
    stats.out_queue_bytes -= this.writtenBytes;
    stats.in_queue -= this.unwritten.length;
    stats.in_queue_bytes -= this.unwrittenBytes;
    this.written = this.writtenBytes = 0;
    this.handed = this.handedBytes = 0;
    this.unwrittenBytes = 0;
    while (this.unwritten.length > 0) this.unwritten.shift();
    for (let msg = this.inflight.shift(); msg !== undefined; msg = this.inflight.shift()) {
      if (msg.internal) continue;
      msg.errorCode = code;
      pool.complete(msg);
    }
    const waiting = this.awaitingSetup;
    this.awaitingSetup = null;
    this.awaitingSetupBytes = 0;
    if (waiting !== null) {
      for (const msg of waiting) {
        stats.in_queue--;
        stats.in_queue_bytes -= msg.data.length;
        if (msg.noreply) continue;
        msg.errorCode = code;
        pool.complete(msg);
      }
    }
    this.unflushedReplies = 0;
    this.releaseHeld();
    if (log.level >= LOG_INFO) {
      log.info(`close s ${this.server.config.pname}: ${code === '' ? 'eof' : code}`);
    }
    this.server.onConnClosed(this, code, idle);
  }

  private onConnect(): void {
    if (this.closed) return;
    this.connected = true;
    this.server.stats.server_connections++;
    this.flush();
  }

  private armTimer(ms: number): void {
    this.timer = setTimeout(() => this.onTimer(), ms < 1 ? 1 : ms);
  }

  /**
   * One timer per connection, aimed at the oldest request's deadline. Requests share the pool
   * timeout, so FIFO order is deadline order and nothing per request is needed. A socket the
   * server has not drained for the timeout fails the same way: memcached `noreply` requests
   * have no deadline of their own (none in twemproxy either, which buffers them without
   * bound), and the clients held back by a stalled server would otherwise wait, unread, for
   * as long as it stalls, with every client that left meanwhile unnoticed.
   */
  private onTimer(): void {
    this.timer = null;
    if (this.closed) return;
    const now = performance.now();
    let next = Infinity;
    const head = this.inflight.peek();
    if (head !== undefined) next = head.deadline - now;
    if (this.writeBlocked) next = Math.min(next, this.blockedAt + this.timeout - now);
    if (next === Infinity) return;
    if (next <= 0) {
      this.close('ETIMEDOUT');
      return;
    }
    this.armTimer(next);
  }
}

/** "SELECT 3" / "AUTH" for the log, from an internal request's bytes (never the password). */
function internalName(data: Buffer): string {
  const parts = data.toString('latin1').split('\r\n');
  const name = (parts[2] ?? '').toUpperCase();
  return name === 'SELECT' ? `SELECT ${parts[4] ?? ''}` : name;
}

function firstLine(buf: Buffer): string {
  const end = buf.indexOf(13);
  return buf.toString('latin1', 0, end < 0 ? Math.min(buf.length, 64) : Math.min(end, 64));
}
