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
  /** One complete reply; `flags` holds REPLY_* bits. */
  onReply(reply: Buffer, flags: number): void;
  /** The server sent bytes that are not a valid reply: the connection must be closed. */
  onReplyFramingError(reason: string): void;
}

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
   */
  coalesce(msg: Msg): void;
  /** The error reply for a transport failure, e.g. `-ERR Connection refused\r\n`. */
  errorReply(text: string): Buffer;
  /**
   * Requests to send first on every new server connection (redis: AUTH, then SELECT), as
   * internal Msgs whose replies are swallowed. Empty when none are needed.
   */
  connectPreamble(): Msg[];
}
