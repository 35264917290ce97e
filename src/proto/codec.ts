/**
 * The protocol interface: one Codec object per pool, chosen from the pool's `redis:` setting.
 * Mirrors twemproxy's nc_proto.h function table: the proxy core never branches on protocol,
 * it only calls these methods.
 *
 * Parsers are incremental state machines over Buffers. They never throw on bad input: a
 * request that is wrong but still framed becomes a Msg with a local error reply, and a stream
 * that can no longer be framed is reported once through the sink's framing-error callback,
 * after which the parser ignores further input.
 */
import type { Msg } from './message.js';

/** Receives what a RequestParser finds in the client's byte stream, in stream order. */
export interface RequestSink {
  onRequest(msg: Msg): void;
  /** The stream cannot be framed any more; `reply` is the error to send before closing. */
  onFramingError(reply: Buffer): void;
}

export interface RequestParser {
  /**
   * Parse one chunk read from the client. Msgs may keep slices of `chunk` (zero copy), so the
   * caller must not reuse the chunk's memory afterwards.
   */
  feed(chunk: Buffer, sink: RequestSink): void;
  /** Bytes of a request that has started but is not complete yet. */
  readonly pendingBytes: number;
}

/** Receives complete replies framed out of a server's byte stream. */
export interface ReplySink {
  /**
   * One complete reply; `flags` holds REPLY_* bits. After streamReply said yes, only the
   * reply's last piece (and flags 0: streamed replies are never error replies).
   */
  onReply(reply: Buffer, flags: number): void;
  /**
   * A reply that goes on past the chunk has reached STREAM_MIN_BYTES, and is not an error
   * reply; `head` is its first piece. True when the sink will pass the reply on as it arrives:
   * the parser then gives it every piece through onReplyPiece instead of keeping them. Asked
   * at most once per reply.
   */
  streamReply(head: Buffer): boolean;
  onReplyPiece(piece: Buffer): void;
  /** The server sent bytes that are not a valid reply: the connection must be closed. */
  onReplyFramingError(reason: string): void;
}

/**
 * A reply still incomplete at this size may be passed to the client piece by piece instead of
 * being gathered first: a large value or a 10,000-key MGET then reaches the client while the
 * rest is still being read, and is never held whole in the proxy.
 */
export const STREAM_MIN_BYTES = 32 * 1024;

/**
 * The most a reply parser gathers of one reply that is not streamed (not at the head of its
 * client's queue, or a fragment to merge). Past it the rest of the reply is read and dropped,
 * and the reply is reported as REPLY_TOO_LARGE: the request fails, the stream stays framed.
 * The same bound applies to the replies of a request's fragments taken together. One small
 * request (an MGET naming a large value thousands of times) can otherwise fill the memory.
 */
export const MAX_GATHERED_REPLY_BYTES = 512 * 1024 * 1024;

export interface ReplyParser {
  feed(chunk: Buffer, sink: ReplySink): void;
  readonly pendingBytes: number;
}

/** What a codec needs from the pool to split a request by server. */
export interface KeyRouter {
  /** Server index for key bytes [start, end) of buf, or -1 when no server is live. */
  serverIndexFor(buf: Buffer, start: number, end: number): number;
}

export interface Codec {
  readonly protocol: 'redis' | 'memcache';
  /** One parser per client connection (it may hold per-client state such as AUTH). */
  newRequestParser(): RequestParser;
  /** One parser per server connection. */
  newReplyParser(): ReplyParser;
  /**
   * Split a ROUTE_FRAGMENT msg: sub-requests in ascending server index order (usually one per
   * server; memcache gat/gats are cut at 2048-byte lines, so possibly several), each with
   * `data`, `serverIndex` and `parent` set. Keys whose server index is -1 go
   * to a fragment with serverIndex -1 (the core fails it with ECONNREFUSED).
   */
  fragment(msg: Msg, router: KeyRouter): Msg[];
  /**
   * All fragments of `msg` are done (each has `reply` or `errorCode`): set `msg.reply` to the
   * merged reply (or the error reply), and `msg.closeAfter` if the client must be closed.
   * When the reply is an error the proxy made (a failed fragment, or sub-replies that cannot
   * be merged) rather than one a server sent, also set `msg.errorCode` to its cause ('EINVAL'
   * for sub-replies): the pool counts it in forward_error, as twemproxy does.
   */
  coalesce(msg: Msg): void;
  /**
   * Whether the reply of `msg`'s only fragment, starting with `head`, is exactly what coalesce
   * would produce (so it may be streamed to the client unmerged).
   */
  replyPassesThrough(msg: Msg, head: Buffer): boolean;
  /** The error reply for a transport failure, e.g. `-ERR Connection refused\r\n`. */
  errorReply(text: string): Buffer;
  /**
   * Whether a reply flagged REPLY_TRANSIENT (redis -OOM, -BUSY, -LOADING) to `msg` says the
   * server is failing. Not when the client chose the error text: a script's reply.
   */
  transientMeansFailing(msg: Msg): boolean;
  /**
   * Requests to send first on every new server connection (redis: AUTH, then SELECT), as
   * internal Msgs whose replies are swallowed. Empty when none are needed.
   */
  connectPreamble(): Msg[];
  /**
   * An internal request whose reply shows the server has read everything sent before it, for
   * a connection that sent requests without replies (memcached `noreply`); null where every
   * request has a reply (redis).
   */
  fenceRequest(): Msg | null;
}
