/**
 * A pool: its servers, the key placement over the live ones, ejection and re-admission, and
 * the forwarding of requests (whole or split into fragments). Mirrors twemproxy's struct
 * server_pool with server_pool_update / server_pool_conn (nc_server.c) and req_forward
 * (nc_request.c).
 */
import type { PoolConfig } from '../config/config.js';
import { Placement } from '../hash/placement.js';
import { MAX_GATHERED_REPLY_BYTES, type Codec, type KeyRouter } from '../proto/codec.js';
import { REPLY_TOO_LARGE, wholeFragment, type Msg } from '../proto/message.js';
import { newPoolStats, type PoolStats } from '../stats/metrics.js';
import type { PoolSnapshot } from '../stats/snapshot.js';
import { strerror } from '../util/errno.js';
import { log, LOG_WARN } from '../util/log.js';
import type { ClientConn } from './client-conn.js';
import type { ClientMemory } from './client-memory.js';
import type { ConnectionCounters } from './connection-counters.js';
import type { Feeder } from './server-conn.js';
import { MAX_SERVER_CONNECTIONS } from './limits.js';
import { Server } from './server.js';

export class ServerPool implements KeyRouter {
  readonly config: PoolConfig;
  readonly codec: Codec;
  readonly counters: ConnectionCounters;
  /** The process-wide bound on what clients hold, shared by every pool. */
  readonly memory: ClientMemory;
  readonly stats: PoolStats = newPoolStats();
  readonly servers: readonly Server[];
  private placement: Placement;
  /** Earliest retry time among ejected servers (performance.now() ms); 0 when none is ejected. */
  private nextRebuild = 0;
  private liveCount: number;
  /** Hands out client affinities (connection slot choice), round-robin over clients. */
  private nextAffinity = 0;
  /** Open client connections of this pool. */
  readonly clients = new Set<ClientConn>();
  /** Set on shutdown: closes then are not failures. */
  closing = false;

  constructor(config: PoolConfig, codec: Codec, counters: ConnectionCounters, memory: ClientMemory) {
    this.config = config;
    this.codec = codec;
    this.counters = counters;
    this.memory = memory;
    memory.track(this.clients);
    if (config.serverConnections > MAX_SERVER_CONNECTIONS && log.level >= LOG_WARN) {
      log.warn(`pool ${config.name}: server_connections ${config.serverConnections} is taken as ${MAX_SERVER_CONNECTIONS}, the most Walnut opens to one server`);
    }
    this.servers = config.servers.map((s, i) => new Server(this, i, s));
    this.liveCount = this.servers.length;
    this.placement = this.buildPlacement();
  }

  /** Key bytes → server index (-1 when every server is ejected). Used by codecs to fragment. */
  serverIndexFor(buf: Buffer, start: number, end: number): number {
    this.readmitDue();
    if (this.liveCount === 0) return -1;
    return this.placement.serverIndexFor(buf, start, end);
  }

  /**
   * Route a whole request to its server; `affinity` picks the client's connection slot, and
   * `feeder` (the client) is held back if that connection is congested.
   */
  forward(msg: Msg, affinity: number, feeder: Feeder | null): void {
    const index = this.serverIndexFor(msg.keyBuf, msg.keyStart, msg.keyEnd);
    if (index < 0) this.fail(msg, 'ECONNREFUSED');
    else this.servers[index]!.send(msg, affinity, feeder);
  }

  /** Split a multi-key request per server and send the fragments. */
  forwardFragments(msg: Msg, affinity: number, feeder: Feeder | null): void {
    const fragments = this.codec.fragment(msg, this);
    // The parsers route only requests with keys here; were a codec to split one into nothing,
    // the request would never complete and every later reply of its client would wait behind it.
    if (fragments.length === 0) this.fail(msg, 'EINVAL');
    else this.sendFragments(fragments, affinity, feeder);
  }

  /**
   * Send a request whole to every live server (SCRIPT LOAD), each copy a fragment; the codec
   * merges the replies. With no live server it fails as a request for an ejected one does.
   */
  forwardToAll(msg: Msg, affinity: number, feeder: Feeder | null): void {
    this.readmitDue();
    const fragments: Msg[] = [];
    for (const server of this.servers) if (server.live) fragments.push(wholeFragment(msg, server.index));
    if (fragments.length === 0) fragments.push(wholeFragment(msg, -1));
    msg.fragments = fragments;
    msg.pending = fragments.length;
    this.sendFragments(fragments, affinity, feeder);
  }

  private sendFragments(fragments: readonly Msg[], affinity: number, feeder: Feeder | null): void {
    this.stats.fragments += fragments.length;
    for (const fragment of fragments) {
      if (fragment.serverIndex < 0) this.fail(fragment, 'ECONNREFUSED');
      else this.servers[fragment.serverIndex]!.send(fragment, affinity, feeder);
    }
  }

  /**
   * A request (or fragment) has its reply or its error. Completes the top-level request when
   * it is whole or its last fragment arrives, and hands it to its owner.
   */
  complete(msg: Msg): void {
    msg.done = true;
    const parent = msg.parent;
    if (parent === null) {
      // forward_error counts error replies a client receives: not those of a client that has
      // gone, nor of noreply requests (twemproxy counts in rsp_send_next).
      if (msg.owner === null) return;
      if (msg.streamedBytes > 0) this.endStreamed(msg, msg);
      else if (msg.errorCode !== null) msg.reply = this.codec.errorReply(strerror(msg.errorCode));
      if (msg.errorCode !== null) this.stats.forward_error++;
      msg.owner.onMsgDone(msg);
      return;
    }
    const reply = msg.reply;
    if (reply !== null) this.gather(msg, parent, reply.length);
    if (--parent.pending !== 0) return;
    if (parent.owner === null) {
      parent.done = true;
      return;
    }
    // Only a single fragment streams (Codec.replyPassesThrough): its reply is the merged one.
    if (msg.streamedBytes > 0) this.endStreamed(msg, parent);
    else this.codec.coalesce(parent);
    parent.done = true;
    // Counted once per split request that a fragment failed, or whose sub-replies could not be
    // merged (`-ERR Invalid argument`: coalesce sets errorCode), as twemproxy's rsp_send_next
    // counts every request it answers with an error of its own.
    const fragments = parent.fragments;
    if (parent.errorCode !== null) {
      this.stats.forward_error++;
    } else if (fragments !== null) {
      for (const f of fragments) {
        if (f.errorCode !== null) {
          this.stats.forward_error++;
          break;
        }
      }
    }
    parent.owner.onMsgDone(parent);
  }

  /**
   * A fragment's reply of `bytes` is kept for the merge: counted for the parent and its client,
   * or dropped when nobody will merge it.
   */
  private gather(fragment: Msg, parent: Msg, bytes: number): void {
    const owner = parent.owner;
    if (owner === null) {
      fragment.reply = null;
      return;
    }
    if ((parent.replyFlags & REPLY_TOO_LARGE) !== 0) {
      dropTooLarge(fragment);
      return;
    }
    if (parent.replyBytes + bytes <= MAX_GATHERED_REPLY_BYTES) {
      parent.replyBytes += bytes;
      owner.onReplyHeld(bytes);
      return;
    }
    // Together too large to merge: the request fails, and what was gathered is let go now.
    parent.replyFlags |= REPLY_TOO_LARGE;
    dropTooLarge(fragment);
    for (const f of parent.fragments ?? []) if (f.reply !== null) dropTooLarge(f);
    owner.onReplyHeld(-parent.replyBytes);
    parent.replyBytes = 0;
  }

  /**
   * `top` (msg itself, or its parent) has had part of its reply streamed to the client: the
   * rest completes it, and a failure, which can no longer be reported in the stream, closes the
   * client connection after the part already sent.
   */
  private endStreamed(msg: Msg, top: Msg): void {
    if (msg.errorCode === null) {
      top.reply = msg.reply;
      return;
    }
    top.reply = null;
    top.closeAfter = true;
    if (log.level >= LOG_WARN) {
      log.warn(
        `pool ${this.config.name}: reply cut off after ${msg.streamedBytes} bytes (${strerror(msg.errorCode)}): closing the client`,
      );
    }
  }

  /** A new client's connection-slot affinity. */
  takeAffinity(): number {
    const a = this.nextAffinity;
    this.nextAffinity = (a + 1) & 0x3fffffff;
    return a;
  }

  /**
   * Fail a request (or fragment) at once with a Node error code, as if its server had failed:
   * no live server, or no queue room left on its connection.
   */
  fail(msg: Msg, code: string): void {
    msg.errorCode = code;
    this.complete(msg);
  }

  /** Open one connection to every server (the pool's `preconnect: true`). */
  preconnect(): void {
    for (const server of this.servers) server.preconnect();
  }

  /** A server reached server_failure_limit: take it out of the placement. */
  onEjected(server: Server): void {
    this.stats.server_ejects++;
    if (log.level >= LOG_WARN) {
      log.warn(
        `pool ${this.config.name}: server ${server.config.pname} ejected for ${this.config.serverRetryTimeout} ms`,
      );
    }
    this.rebuild();
  }

  /** Re-admission is lazy (spec 7): checked when a request is routed. */
  private readmitDue(): void {
    if (this.nextRebuild !== 0 && performance.now() > this.nextRebuild) this.readmit();
  }

  /** Retry time passed for some ejected server: put back every server whose time has come. */
  private readmit(): void {
    const now = performance.now();
    for (const server of this.servers) {
      if (server.nextRetry !== 0 && server.nextRetry <= now) server.nextRetry = 0;
    }
    this.rebuild();
  }

  private rebuild(): void {
    let next = 0;
    let live = 0;
    for (const server of this.servers) {
      if (server.nextRetry === 0) live++;
      else if (next === 0 || server.nextRetry < next) next = server.nextRetry;
    }
    this.nextRebuild = next;
    this.liveCount = live;
    // With no live server the old placement is kept but unused (twemproxy does the same).
    if (live > 0) this.placement = this.buildPlacement();
  }

  private buildPlacement(): Placement {
    const nodes = [];
    for (const server of this.servers) {
      if (server.live) {
        nodes.push({ name: server.config.name, weight: server.config.weight, index: server.index });
      }
    }
    return new Placement(
      { hash: this.config.hash, distribution: this.config.distribution, hashTag: this.config.hashTag },
      nodes,
    );
  }

  snapshot(): PoolSnapshot {
    for (const server of this.servers) server.syncQueueGauges();
    return {
      name: this.config.name,
      stats: { ...this.stats },
      servers: this.servers.map((s) => ({ name: s.config.name, stats: { ...s.stats } })),
    };
  }

  /** Shutdown: no more requests come; make sure the servers read every one sent (Server.fence). */
  fence(): void {
    for (const server of this.servers) server.fence();
  }

  /** Every server connection has handed over its requests and heard back. */
  get serversSettled(): boolean {
    return this.servers.every((s) => s.settled);
  }

  /** Close every server connection (shutdown). */
  close(): void {
    this.closing = true;
    this.memory.untrack(this.clients);
    for (const server of this.servers) server.closeAll('ECONNABORTED');
  }
}


/** A fragment's reply let go because the merge would be too large: it failed with EMSGSIZE. */
function dropTooLarge(fragment: Msg): void {
  fragment.reply = null;
  fragment.errorCode ??= 'EMSGSIZE';
}
