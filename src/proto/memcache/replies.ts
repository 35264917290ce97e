/**
 * Replies the proxy itself sends to memcache clients: memcached's own error lines for bad
 * requests, and twemproxy's `SERVER_ERROR <strerror>` for transport failures (nc_memcache.c
 * memcache_post_coalesce / nc_request.c req_forward_error).
 *
 * The constants are shared by every Msg that uses them: never mutate them.
 */

/** memcached's reply to an unknown command (including uppercase names: memcached 1.6 is case-sensitive). */
export const MC_R_ERROR = Buffer.from('ERROR\r\n', 'latin1');
/** memcached's reply to a malformed command line (missing or extra fields, bad numbers, long key). */
export const MC_R_BAD_FORMAT = Buffer.from('CLIENT_ERROR bad command line format\r\n', 'latin1');
/** memcached's reply when a storage data block is not followed by CR LF. */
export const MC_R_BAD_DATA_CHUNK = Buffer.from('CLIENT_ERROR bad data chunk\r\n', 'latin1');
/** memcached's reply to an incr/decr whose delta is not an unsigned 64-bit number. */
export const MC_R_BAD_DELTA = Buffer.from('CLIENT_ERROR invalid numeric delta argument\r\n', 'latin1');
/** memcached's reply to a touch/gat/gats whose exptime is not a number. */
export const MC_R_BAD_EXPTIME = Buffer.from('CLIENT_ERROR invalid exptime argument\r\n', 'latin1');
/** memcached's reply to `delete <key> <something other than 0 or noreply>` (two spaces are memcached's). */
export const MC_R_DELETE_USAGE = Buffer.from(
  'CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n',
  'latin1',
);
/** Framing error: a command line without CR LF within the line cap. */
export const MC_R_LINE_TOO_LONG = Buffer.from('CLIENT_ERROR line too long\r\n', 'latin1');
/** Length of a binary-protocol request or response header. */
export const MC_BINARY_HEADER = 24;
const BINARY_NOT_SUPPORTED = 0x0083;
const BINARY_REFUSAL_TEXT = Buffer.from('walnut: binary protocol is not supported', 'latin1');

/**
 * The refusal of a binary-protocol request, given its header: a binary response (status
 * 0x0083 "not supported", the request's opcode and opaque, the text as body), which binary
 * clients such as memjs match to the request and report. A text reply they cannot read would
 * leave them waiting for ever.
 */
export function mcBinaryRefusal(header: Buffer): Buffer {
  const out = Buffer.alloc(MC_BINARY_HEADER + BINARY_REFUSAL_TEXT.length);
  out[0] = 0x81; // response magic
  out[1] = header[1]!; // opcode
  out.writeUInt16BE(BINARY_NOT_SUPPORTED, 6);
  out.writeUInt32BE(BINARY_REFUSAL_TEXT.length, 8);
  header.copy(out, 12, 12, 16); // opaque
  BINARY_REFUSAL_TEXT.copy(out, MC_BINARY_HEADER);
  return out;
}
/** twemproxy's reply when a multi-get sub-reply is not VALUE…END (strerror(EINVAL)). */
export const MC_R_INVALID_ARGUMENT = Buffer.from('SERVER_ERROR Invalid argument\r\n', 'latin1');
/** The end marker of a retrieval reply. */
export const MC_R_END = Buffer.from('END\r\n', 'latin1');

/** `SERVER_ERROR <text>\r\n`, the memcache form of every proxy-generated error. */
export function mcServerError(text: string): Buffer {
  return Buffer.from(`SERVER_ERROR ${text}\r\n`, 'latin1');
}

/**
 * The reply to a memcached command the proxy cannot serve; the name is bytes [start, end) of
 * buf. CLIENT_ERROR, not SERVER_ERROR: some clients (the npm `memcached` package) take any
 * SERVER_ERROR as a dead server and stop using it for 30 s, while nothing is wrong with it.
 */
export function mcUnsupportedReply(buf: Buffer, start: number, end: number): Buffer {
  return Buffer.from(`CLIENT_ERROR walnut: '${buf.toString('latin1', start, end)}' is not supported by the proxy\r\n`, 'latin1');
}
