/**
 * Memory bounds. twemproxy has none (spec 10: no maximum pipeline depth, no queue limits), so
 * a client that writes without reading, or a stalled backend, grows it without limit. Walnut
 * stops reading from a client instead (TCP backpressure reaches the client) when either bound
 * below is hit, and resumes when its backlog has drained to half.
 */

/** Requests of one client that are parsed but not yet answered. */
export const MAX_CLIENT_PENDING_REQUESTS = 4096;

/** Request bytes of one client that are parsed but not yet answered. */
export const MAX_CLIENT_PENDING_BYTES = 32 * 1024 * 1024;
