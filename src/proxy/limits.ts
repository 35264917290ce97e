/**
 * Memory bounds. twemproxy has none (spec 10: no maximum pipeline depth, no queue limits), so
 * a client that writes without reading, or a stalled backend, grows it without limit. Walnut
 * stops reading from a client instead (TCP backpressure reaches the client) when one of the
 * bounds below is hit:
 * - the client's own backlog (the first two): resumes when it has drained to half;
 * - the unsent bytes of a server connection the client sends to: resumes when that
 *   connection's socket has drained (or the connection closed).
 * A client whose socket does not take its replies is not read either until that socket drains.
 */

/** Requests of one client that are parsed but not yet answered. */
export const MAX_CLIENT_PENDING_REQUESTS = 4096;

/** Request bytes of one client that are parsed but not yet answered. */
export const MAX_CLIENT_PENDING_BYTES = 32 * 1024 * 1024;

/**
 * Request bytes of one server connection that the kernel has not accepted yet (a slow,
 * stopped or still-connecting server). Clients that send to it are paused until it drains.
 */
export const MAX_SERVER_UNSENT_BYTES = 4 * 1024 * 1024;

/**
 * How long a client that has been sent its last reply and a FIN (after QUIT, an unframeable
 * request, a refused connection or at shutdown) may keep its own side open: the connection is
 * then closed. Without it such a client holds a descriptor for ever.
 */
export const CLIENT_LINGER_MS = 5_000;
