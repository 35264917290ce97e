/**
 * One client connection: parses its requests, routes them through the pool, and writes the
 * replies back strictly in request order, whatever order the servers answer in. Mirrors
 * twemproxy's client side (nc_client.c, req_recv_done / rsp_send_next in nc_request.c and
 * nc_response.c), plus the backpressure twemproxy lacks.
 */
import type { RequestParser, RequestSink } from '../proto/codec.js';
import {
  Msg,
  ROUTE_FRAGMENT,
  ROUTE_ALL,
  ROUTE_KEY,
  ROUTE_LOCAL,
  ROUTE_QUIT,
  type MsgOwner,
} from '../proto/message.js';
import { log, LOG_INFO, LOG_WARN } from '../util/log.js';
import { countConnectionClosed, countConnectionOpened } from './connection-counters.js';
import type { ClientMemory, MemoryHolder } from './client-memory.js';
import { Fifo } from './fifo.js';
import {
  MAX_CLIENT_HELD_REPLY_BYTES,
  MAX_CLIENT_PENDING_BYTES,
  MAX_CLIENT_PENDING_REQUESTS,
  MAX_CLIENT_UNSENT_BYTES,
  MAX_REQUEST_BYTES,
} from './limits.js';
import type { Feeder } from './server-conn.js';
import type { ServerPool } from './server-pool.js';
import { openClientStream, type ClientStream, type StreamEvents, type TcpOptions } from './client-stream.js';
import type { AcceptedHandle } from './socket-read.js';
import { flushNextTurn, OutBuffer, scheduleFlush, type Flushable } from './write-batch.js';

/**
 * Replies ready while later requests of the client are still out wait one loop turn for them,
 * below this many bytes (ClientConn.flush). With keys spread over 4 servers, a client's 16
 * pipelined replies came back over a few turns and went out in 1.5 writes on average; a loopback
 * write costs the proxy the receiver's TCP processing and wakeup too, and about half of its CPU
 * per request went to write(2). Waiting one turn gives 1.1 writes, and 6% less CPU per request
 * there. (twemproxy also writes a client's replies one epoll round after the first is done.)
 * Past this size, a write's cost per byte is small and waiting only delays.
 */
const WAIT_FOR_PIPELINE_BELOW_BYTES = 16 * 1024;

/**
 * The stream reports to its ClientConn directly (StreamEvents), with no closures or listeners
 * per connection: idle clients are counted in thousands (memory per idle client is a
 * benchmark target).
 */
export class ClientConn implements RequestSink, MsgOwner, Flushable, Feeder, StreamEvents, MemoryHolder {
  private readonly stream: ClientStream;
  private readonly pool: ServerPool;
  private readonly memory: ClientMemory;
  private readonly parser: RequestParser;
  /** Which of each server's connections this client uses (keeps its requests in order). */
  private readonly affinity: number;
  /** Requests waiting for their turn to be answered, in request order. */
  private readonly queue = new Fifo<Msg>(4);
  private pendingBytes = 0;
  /** Reply bytes held for queued requests: the sum of their Msg.replyBytes. */
  private heldReplyBytes = 0;
  /** Bytes of a request still arriving, as last counted in `memory`. */
  private partialBytes = 0;
  /** Reply bytes the socket queued past its high-water mark, as last counted in `memory`. */
  private unsentBytes = 0;
  /** Bytes of replies to its requests that server connections are still gathering. */
  private arrivingBytes = 0;
  private readonly out = new OutBuffer();
  flushQueued = false;
  /** The replies in `out` have waited one loop turn for the rest of their pipeline. */
  private outWaited = false;
  /** QUIT or an unframeable stream: read nothing more, close once the last reply is out. */
  private closing = false;
  /** The client half-closed: close once every reply is out. */
  private eof = false;
  private closed = false;
  /** The close is an error (client_err, unless `eof` came first) rather than an orderly end. */
  private failed = false;
  private writeBlocked = false;
  private queueFull = false;
  /** MAX_CLIENT_HELD_REPLY_BYTES was passed: the client is being closed for it. */
  private heldOver = false;
  /** Congested server connections holding this client back (ServerConn.hold). */
  private heldBy = 0;
  /**
   * Closed, or being closed for a limit (this one's or ClientMemory's): what it held is off
   * the tally, and nothing more is counted for it.
   */
  private released = false;

  /** A connection the listener accepted: `tcp` null for a unix socket. */
  constructor(handle: AcceptedHandle, tcp: TcpOptions | null, pool: ServerPool) {
    this.pool = pool;
    this.memory = pool.memory;
    this.parser = pool.codec.newRequestParser();
    this.affinity = pool.takeAffinity();
    pool.stats.client_connections++;
    pool.counters.clients++;
    countConnectionOpened(pool.counters);
    pool.clients.add(this);
    this.stream = openClientStream(handle, tcp, this);
    this.stream.resume();
  }

  /** @internal stream event */
  onData(chunk: Buffer): void {
    if (this.closing || this.closed) return;
    this.parser.feed(chunk, this);
    const partial = this.parser.pendingBytes;
    if (partial !== this.partialBytes && !this.released) {
      this.memory.grow(partial - this.partialBytes);
      this.partialBytes = partial;
    }
    if (partial > MAX_REQUEST_BYTES) {
      if (log.level >= LOG_WARN) log.warn(`client ${this.describe()}: request over ${MAX_REQUEST_BYTES} bytes, closing`);
      this.onFramingError(this.pool.codec.errorReply(`request too large (over ${MAX_REQUEST_BYTES / 1048576} MiB)`));
      return;
    }
    if (
      !this.queueFull &&
      (this.queue.length >= MAX_CLIENT_PENDING_REQUESTS || this.pendingBytes >= MAX_CLIENT_PENDING_BYTES)
    ) {
      this.queueFull = true;
      this.stream.pause();
    }
  }

  onRequest(msg: Msg): void {
    if (this.closing) return; // bytes after QUIT are discarded
    msg.owner = this;
    switch (msg.route) {
      case ROUTE_KEY:
        if (msg.noreply) {
          // Nothing will come back and nothing is owed to the client: do not hold up replies.
          msg.owner = null;
          this.pool.forward(msg, this.affinity, this);
          return;
        }
        this.enqueue(msg);
        this.pool.forward(msg, this.affinity, this);
        return;
      case ROUTE_FRAGMENT:
        this.enqueue(msg);
        this.pool.forwardFragments(msg, this.affinity, this);
        return;
      case ROUTE_ALL:
        this.enqueue(msg);
        this.pool.forwardToAll(msg, this.affinity, this);
        return;
      case ROUTE_QUIT:
        msg.closeAfter = true;
        this.closing = true;
        msg.done = true;
        this.enqueue(msg);
        this.drain();
        return;
      case ROUTE_LOCAL:
        msg.done = true;
        this.enqueue(msg);
        if (this.queue.length === 1) this.drain();
        return;
    }
  }

  onFramingError(reply: Buffer): void {
    if (this.closing) return;
    const msg = new Msg();
    msg.route = ROUTE_LOCAL;
    msg.reply = reply;
    msg.done = true;
    msg.closeAfter = true;
    this.closing = true;
    this.failed = true;
    this.enqueue(msg);
    this.drain();
  }

  private enqueue(msg: Msg): void {
    this.queue.push(msg);
    const bytes = msg.data.length;
    this.pendingBytes += bytes;
    this.memory.grow(bytes);
  }

  onMsgDone(msg: Msg): void {
    if (this.queue.peek() === msg) this.drain();
    else if (msg.fragments === null && msg.reply !== null) {
      // Held until the requests before it are answered (a merged reply was counted as its
      // fragments arrived).
      msg.replyBytes = msg.reply.length;
      this.onReplyHeld(msg.replyBytes);
    }
  }

  onReplyArriving(bytes: number): void {
    if (this.released) return;
    this.arrivingBytes += bytes;
    this.memory.grow(bytes);
  }

  onReplyHeld(bytes: number): void {
    this.memory.grow(bytes);
    // (Also while closing: a QUIT after a pipeline does not lift the bound on what it holds.)
    if ((this.heldReplyBytes += bytes) <= MAX_CLIENT_HELD_REPLY_BYTES || this.closed || this.heldOver) return;
    this.heldOver = true;
    if (log.level >= LOG_WARN) {
      log.warn(`client ${this.describe()}: over ${MAX_CLIENT_HELD_REPLY_BYTES} bytes of replies held behind unanswered requests, closing`);
    }
    // What is held is let go now, not when the requests still out come back.
    this.closing = true;
    this.failed = true;
    this.orphanPending();
    this.releaseMemory();
    this.stream.destroy();
  }

  acceptsReplyPieces(msg: Msg): boolean {
    // At the head of the queue, every earlier reply is in `out` already: order is kept.
    return !this.closed && this.queue.peek() === msg;
  }

  onReplyPiece(_msg: Msg, piece: Buffer): void {
    if (this.closed) return;
    this.out.push(piece);
    scheduleFlush(this);
  }

  /** Move every answered request at the head of the queue to the output, in order. */
  private drain(): void {
    const queue = this.queue;
    let released = 0;
    let head = queue.peek();
    while (head !== undefined && head.done) {
      queue.shift();
      released += head.data.length + head.replyBytes;
      this.pendingBytes -= head.data.length;
      this.heldReplyBytes -= head.replyBytes;
      if (head.reply !== null) this.out.push(head.reply);
      if (head.closeAfter) {
        this.closing = true;
        this.orphanPending();
        break;
      }
      head = queue.peek();
    }
    this.memory.shrink(released);
    if (this.queueFull && queue.length <= MAX_CLIENT_PENDING_REQUESTS / 2 && this.pendingBytes <= MAX_CLIENT_PENDING_BYTES / 2) {
      this.queueFull = false;
      this.resumeIfAllowed();
    }
    scheduleFlush(this);
  }

  flush(): void {
    if (this.closed) return;
    if (!this.out.empty) {
      if (!this.outWaited && this.queue.length > 0 && this.out.bytes < WAIT_FOR_PIPELINE_BELOW_BYTES) {
        // Requests of the pipeline are still out (on another server, or later in a server's
        // reply): give them one loop turn to come back and go out in the same write.
        this.outWaited = true;
        flushNextTurn(this);
        return;
      }
      this.outWaited = false;
      if (!this.out.writeTo(this.stream) && !this.writeBlocked) {
        this.writeBlocked = true;
        this.stream.pause();
      }
    }
    // (writeBlocked first: a field, where unsent asks the socket; below the high-water mark
    // the socket is far from the limits.)
    this.refreshHeld();
    if (this.writeBlocked && this.unsentBytes > MAX_CLIENT_UNSENT_BYTES) {
      if (log.level >= LOG_WARN) {
        log.warn(`client ${this.describe()}: over ${MAX_CLIENT_UNSENT_BYTES} bytes of replies not read, closing`);
      }
      this.failed = true;
      this.releaseMemory();
      this.stream.destroy();
      return;
    }
    if ((this.closing || this.eof) && this.queue.length === 0) this.endConnection();
  }

  /**
   * Every reply owed is out of the queue: end the connection. After the client's own end, with
   * every reply already in the kernel, a plain close does it (the FIN follows the data, and
   * nothing is left unread to turn it into a reset): no shutdown request, one system call
   * less, as twemproxy. Otherwise the FIN must wait for queued writes, and a client that is
   * still sending must get it before the close: end().
   */
  private endConnection(): void {
    if (this.eof && this.stream.unsent === 0) this.stream.destroy();
    else this.stream.end();
  }

  private countUnsent(unsent: number): void {
    if (this.released) return;
    this.memory.grow(unsent - this.unsentBytes);
    this.unsentBytes = unsent;
  }

  /**
   * Count what the socket holds now (after a write, and for ClientMemory before it chooses:
   * the socket may have taken replies since the last count).
   */
  refreshHeld(): void {
    if (this.writeBlocked) this.countUnsent(this.stream.unsent);
  }

  /** @internal stream event: every reply handed over has been taken by the kernel. */
  onDrain(): void {
    this.countUnsent(0);
    if (!this.writeBlocked) return;
    this.writeBlocked = false;
    this.resumeIfAllowed();
  }

  hold(): void {
    if (this.heldBy++ === 0) this.stream.pause();
  }

  release(): void {
    if (--this.heldBy === 0) this.resumeIfAllowed();
  }

  private resumeIfAllowed(): void {
    if (!this.writeBlocked && !this.queueFull && this.heldBy === 0 && !this.closing && !this.closed) {
      this.stream.resume();
    }
  }

  /** @internal stream event */
  onEnd(): void {
    // Half-close: keep writing the replies still owed, then close (spec 6.5).
    this.eof = true;
    if (this.parser.pendingBytes > 0 && log.level >= LOG_INFO) {
      log.info(`eof c ${this.describe()} discarding incomplete req len ${this.parser.pendingBytes}`);
    }
    if (this.queue.length === 0) scheduleFlush(this);
  }

  /** @internal stream event (the stream closes after it) */
  onError(err: NodeJS.ErrnoException): void {
    this.failed = true;
    if (log.level >= LOG_INFO) log.info(`client ${this.describe()} error: ${err.code ?? err.message}`);
  }

  /** @internal stream event */
  onClose(): void {
    if (this.closed) return;
    this.closed = true;
    const pool = this.pool;
    pool.stats.client_connections--;
    pool.counters.clients--;
    // A client that ended its side first counts in client_eof whatever fails after it (writing
    // replies it will not read: EPIPE), as in twemproxy's client_close_stats.
    if (this.failed && !this.eof) pool.stats.client_err++;
    else pool.stats.client_eof++;
    countConnectionClosed(pool.counters);
    pool.clients.delete(this);
    this.orphanPending();
    this.releaseMemory();
  }

  /**
   * Take what is still counted for this client off the tally (the queue's part goes with
   * orphanPending), and count nothing more for it.
   */
  private releaseMemory(): void {
    if (this.released) return;
    this.released = true;
    this.memory.shrink(this.partialBytes + this.unsentBytes + this.arrivingBytes);
    this.partialBytes = 0;
    this.unsentBytes = 0;
    this.arrivingBytes = 0;
  }

  get heldBytes(): number {
    return this.pendingBytes + this.heldReplyBytes + this.partialBytes + this.unsentBytes + this.arrivingBytes;
  }

  /** ClientMemory: the process holds too much for its clients, and this one holds the most. */
  evict(held: number, limit: string): boolean {
    if (this.released) return false;
    if (log.level >= LOG_WARN) {
      log.warn(`client ${this.describe()}: holds ${this.heldBytes} bytes, the most of all clients, which hold ${held} together, over ${limit}: closing`);
    }
    this.closing = true;
    this.failed = true;
    this.orphanPending();
    this.releaseMemory();
    this.stream.destroy();
    return true;
  }

  /** Replies still to come for this client will be read from the servers and dropped. */
  private orphanPending(): void {
    for (let msg = this.queue.shift(); msg !== undefined; msg = this.queue.shift()) {
      msg.owner = null;
      const fragments = msg.fragments;
      if (fragments !== null) for (const f of fragments) f.reply = null;
    }
    this.memory.shrink(this.pendingBytes + this.heldReplyBytes);
    this.pendingBytes = 0;
    this.heldReplyBytes = 0;
  }

  /**
   * Shutdown: read nothing more, and end the connection once the replies owed so far are
   * written (at once when none is owed).
   */
  shutdown(): void {
    if (this.closed) return;
    this.closing = true;
    // Proxy.close closes it when the grace period ends (and logs it), not the stream's linger
    // (as long, and started a moment later: it won that race, and the client went unlogged).
    this.stream.stopLinger();
    this.stream.pause();
    scheduleFlush(this);
  }

  /**
   * After shutdown(): every reply is out, the FIN after them too, and the client has sent
   * nothing for `ms` since (SHUTDOWN_QUIET_MS), so closing now resets nothing.
   */
  quietFor(ms: number, now: number): boolean {
    const since = this.stream.quietSince;
    return since >= 0 && now - since >= ms;
  }

  /** Close now, whatever is pending (shutdown after the grace period). */
  destroy(): void {
    this.stream.destroy();
  }

  private describe(): string {
    return this.stream.peer();
  }
}
