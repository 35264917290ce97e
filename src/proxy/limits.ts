/**
 * Memory bounds. twemproxy has none (spec 10: no maximum pipeline depth, no queue limits), so
 * a client that writes without reading, or a stalled backend, grows it without limit. Walnut
 * stops reading from a client instead (TCP backpressure reaches the client) when one of the
 * bounds below is hit:
 * - the client's own backlog (the first two): resumes when it has drained to half;
 * - the unsent bytes of a server connection the client sends to: resumes when that
 *   connection's socket has drained (or the connection closed).
 * A client whose socket does not take its replies is not read either until that socket drains.
 * Pausing cannot bound everything (a request still arriving, replies already asked for, new
 * clients for a stopped server): the hard bounds after MAX_SERVER_UNSENT_BYTES refuse or close.
 * What all clients hold together is bounded by --limit-client-memory (client-memory.ts).
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
 * The hard bound behind MAX_SERVER_UNSENT_BYTES. A paused client's last read still gets in,
 * and new clients keep coming: past this many queued request bytes, a request for the
 * connection fails at once (ENOBUFS) instead of being queued. A client that has not been held
 * back by the connection since it was last uncongested (a newcomer) is refused from half of
 * it, so that newcomers cannot take all the room from the clients waiting their turn.
 */
export const MAX_SERVER_QUEUED_BYTES = 64 * 1024 * 1024;

/**
 * Bytes of one request still being received. A request cannot be forwarded before it is
 * whole, so a client sending a larger one gets an error reply and is disconnected. Redis takes
 * no argument larger than 512 MB (proto-max-bulk-len).
 */
export const MAX_REQUEST_BYTES = 512 * 1024 * 1024;

/**
 * Reply bytes handed to a client's socket that the kernel has not taken (a client that does
 * not read what it asked for). Past it the client is disconnected, as Redis does with its
 * client-output-buffer-limit.
 */
export const MAX_CLIENT_UNSENT_BYTES = 256 * 1024 * 1024;

/**
 * Reply bytes held for one client's requests until they can be written: replies waiting
 * behind an earlier, unanswered request, and fragments' replies gathered for a merge. Past
 * it the client is disconnected. Not less than MAX_GATHERED_REPLY_BYTES, so that one request
 * alone too large to merge gets its own error reply instead.
 */
export const MAX_CLIENT_HELD_REPLY_BYTES = 512 * 1024 * 1024;

/**
 * A client being closed (after QUIT, an unframeable request, a refused connection or at
 * shutdown) gets this long to take the replies still queued for it, renewed while it takes
 * some, and then this long after the FIN to close its own side: the connection is then
 * closed. Without it such a client, reading nothing, holds a descriptor and its replies for
 * ever.
 */
export const CLIENT_LINGER_MS = 5_000;

/**
 * At shutdown, a client whose FIN has gone out after its last reply, and that has sent nothing
 * for this long since, is closed without waiting for it to close its side. Closing a socket
 * with input unread resets it, and the reset makes the client's kernel drop replies the client
 * has not read yet: a client still sending (a pipeline behind the requests accepted) is waited
 * for, up to the grace period. One that has gone quiet is not: an idle pooled connection that
 * nobody reads (redis-py, Jedis, PHP) would otherwise hold the exit for the whole grace period.
 * Half a second: a client that pauses longer than that between pipelined batches, with replies
 * still unread, and then sends again, can lose those replies; a restart waits that long for
 * idle clients.
 */
export const SHUTDOWN_QUIET_MS = 500;

/**
 * Most connection slots per server (`server_connections` above it is taken as this many,
 * with a warning). Each slot is kept as an array entry per server, and one Walnut cannot open
 * more connections to one server than it has local ports (about 28,000) anyway; twemproxy
 * takes the value as is, and opens a new connection per request up to it.
 */
export const MAX_SERVER_CONNECTIONS = 4096;

/**
 * Descriptors kept free beyond the clients, the server connections the configuration allows
 * and those open once Walnut listens (see fd-limit.ts): stats readers, the log, /proc reads,
 * name lookups, clients being refused. twemproxy keeps the same number (RESERVED_FDS).
 */
export const RESERVED_FDS = 32;

/**
 * Of RESERVED_FDS, how many refused clients may be open at once waiting for their
 * `max number of clients reached` to be read (up to CLIENT_LINGER_MS each); past it a client
 * over the descriptor limit is closed at once without a reply, as twemproxy closes it.
 */
export const MAX_REFUSALS_OPEN = 16;
