/**
 * Msg: one request travelling through the proxy and, once answered, its reply.
 * Mirrors twemproxy's struct msg (nc_message.h), minus the mbuf chains: the request bytes are a
 * Buffer slice of what the client sent, the reply a slice of what the server sent.
 *
 * Codecs create Msgs while parsing; the proxy core routes them, queues them on server
 * connections and hands replies back to the client in order. Every field is initialised here
 * so that all Msgs share one hidden class (monomorphic property access on the hot path).
 */

/** How the core must route a parsed request; decided by the codec. */
export const ROUTE_KEY = 0; // forward `data` whole to the server owning the routing key
export const ROUTE_FRAGMENT = 1; // split per server with Codec.fragment, merge with Codec.coalesce
export const ROUTE_LOCAL = 2; // `reply` was set by the codec (PING, AUTH, error replies ...)
export const ROUTE_QUIT = 3; // send `reply` if any, then close the client connection
export const ROUTE_ALL = 4; // forward `data` whole to every live server, merge with Codec.coalesce
export type Route = typeof ROUTE_KEY | typeof ROUTE_FRAGMENT | typeof ROUTE_LOCAL | typeof ROUTE_QUIT | typeof ROUTE_ALL;

/** Bits of Msg.replyFlags, set by reply parsers. */
export const REPLY_ERROR = 1; // redis `-...` reply; memcache ERROR / CLIENT_ERROR / SERVER_ERROR
/** redis -OOM / -BUSY / -LOADING: twemproxy drops the reply and closes the server connection. */
export const REPLY_TRANSIENT = 2;
/** The reply was larger than MAX_GATHERED_REPLY_BYTES: read and dropped, `reply` is empty. */
export const REPLY_TOO_LARGE = 4;

export const EMPTY = Buffer.alloc(0);

/** Whoever waits for a Msg to complete: a client connection (or, in tests, a recorder). */
export interface MsgOwner {
  /** Called exactly once per top-level Msg when its reply (or error) is ready. */
  onMsgDone(msg: Msg): void;
  /**
   * Cut-through: whether the first part of `msg`'s reply may go to the client now, before the
   * rest has arrived (true only when every earlier reply has been handed to the output).
   */
  acceptsReplyPieces(msg: Msg): boolean;
  /** The next part of `msg`'s reply, after acceptsReplyPieces said yes. */
  onReplyPiece(msg: Msg, piece: Buffer): void;
  /**
   * Reply bytes kept for one of its requests before they can be written (a fragment's reply
   * gathered for the merge; negative when they are let go): Msg.replyBytes grew by `bytes`.
   */
  onReplyHeld(bytes: number): void;
  /**
   * Bytes of a reply to one of its requests that a server connection is still gathering
   * (not streamed, not complete): counted against the owner until the reply is whole, when
   * the same amount is given back (negative `bytes`).
   */
  onReplyArriving(bytes: number): void;
}

export class Msg {
  // ---- request, filled by the codec's request parser
  /** The bytes to send to the server (a slice of the client's input where possible). */
  data: Buffer = EMPTY;
  route: Route = ROUTE_KEY;
  /** Codec-specific command number (index into the codec's command table). */
  cmd = 0;
  /** Routing key: bytes [keyStart, keyEnd) of keyBuf (keyBuf is usually `data`). */
  keyBuf: Buffer = EMPTY;
  keyStart = 0;
  keyEnd = 0;
  /**
   * For ROUTE_FRAGMENT: codec-specific positions of the keys (and values) inside `data`,
   * e.g. redis stores [keyStart, keyEnd, ...]; null otherwise.
   */
  keys: Int32Array | null = null;
  /** Number of keys described by `keys`. */
  nkeys = 0;
  /** memcache `noreply`: the server sends nothing back and the client gets nothing. */
  noreply = false;
  /** Close the client connection after this Msg's reply has been written. */
  closeAfter = false;

  // ---- reply
  /** The reply to write to the client (or, for fragments, the raw sub-reply). */
  reply: Buffer | null = null;
  /** REPLY_* bits describing `reply` as framed by the reply parser. */
  replyFlags = 0;
  /**
   * Transport failure that completed this Msg instead of a reply: a Node error code such as
   * 'ECONNREFUSED', or '' for "server closed the connection" (twemproxy prints `unknown`).
   * null while no failure happened. For a split request, set by Codec.coalesce when the
   * merged reply is an error of the proxy's making.
   */
  errorCode: string | null = null;
  /**
   * Bytes of the reply already passed on to the client as they arrived (cut-through of a large
   * reply); `reply` then holds only the rest. A failure after that cannot be reported in the
   * stream: the client connection is closed instead.
   */
  streamedBytes = 0;
  done = false;

  // ---- bookkeeping, owned by the proxy core
  owner: MsgOwner | null = null;
  /** For a fragment: the Msg it was split from. */
  parent: Msg | null = null;
  /** For a fragmented Msg: its sub-requests, in ascending server index order. */
  fragments: Msg[] | null = null;
  /** For a fragmented Msg: fragments still waiting for their reply. */
  pending = 0;
  /**
   * Reply bytes held for this top-level Msg until they can be written, counted against its
   * owner: its fragments' replies gathered for the merge (at most MAX_GATHERED_REPLY_BYTES),
   * or its whole reply while an earlier request is still unanswered. REPLY_TOO_LARGE in a
   * fragmented Msg's replyFlags: the merge was given up, and later fragment replies are dropped.
   */
  replyBytes = 0;
  /** Index of the server this Msg (or fragment) was routed to; -1 when none. */
  serverIndex = -1;
  /** Deadline in ms (performance.now() clock) or 0 when the pool has no timeout. */
  deadline = 0;
  /** Request sent by the proxy itself (AUTH / SELECT on a new server connection). */
  internal = false;
}

/**
 * A fragment that is `parent`'s request whole, for server `serverIndex`: the one part of a
 * split whose keys all live on one server, or a copy per server (SCRIPT LOAD).
 */
export function wholeFragment(parent: Msg, serverIndex: number): Msg {
  const fragment = new Msg();
  fragment.data = parent.data;
  fragment.cmd = parent.cmd;
  fragment.serverIndex = serverIndex;
  fragment.parent = parent;
  fragment.owner = parent.owner;
  return fragment;
}

/**
 * Which failure a split request reports, as twemproxy picks it: going through the fragments in
 * server order, the first with a transport error code, or with a sub-reply `fits` refuses
 * ('EINVAL': twemproxy's "Invalid argument"). A fragment whose server merely closed the
 * connection ('') is passed over for a later fragment's cause, and reported only when no
 * fragment has one. null when every fragment was answered with a sub-reply that fits.
 */
export function fragmentsFailure(
  parent: Msg, frags: readonly Msg[], fits: (parent: Msg, fragment: Msg) => boolean,
): string | null {
  let closed = false;
  for (let i = 0; i < frags.length; i++) {
    const f = frags[i]!;
    const code = f.errorCode;
    if (code === null) {
      if (!fits(parent, f)) return 'EINVAL';
    } else if (code !== '') {
      return code;
    } else {
      closed = true;
    }
  }
  return closed ? '' : null;
}
