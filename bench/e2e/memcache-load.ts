// A memcached ASCII load generator over raw sockets, the memcache counterpart of
// redis-benchmark: N connections, each sending batches of a fixed pipeline depth and waiting
// for the whole batch before the next, recording every request's latency from its batch's
// send. No twemproxy counterpart (twemproxy's README points at mcperf for this).
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { quantileSorted } from './summary.js';

export const MEMCACHE_TESTS = ['SET', 'GET', 'MGET_10'] as const;
export type MemcacheTest = (typeof MEMCACHE_TESTS)[number];

/** Keys per multi-get in the MGET_10 test. */
export const MGET_KEYS = 10;

const CR = 13;
const LF = 10;

/** "key:000000012345", the shape redis-benchmark gives __rand_int__ keys. */
export function benchKey(i: number): string {
  return `key:${String(i).padStart(12, '0')}`;
}

/**
 * Counts complete memcached replies in a byte stream fed chunk by chunk: a retrieval reply
 * ends with END, a storage reply is one line (STORED, NOT_STORED, EXISTS, NOT_FOUND), and
 * ERROR / CLIENT_ERROR / SERVER_ERROR lines end a reply as errors. VALUE data blocks are
 * skipped by their declared length, so values may contain anything.
 */
export class ReplyCounter {
  /** Complete replies so far. */
  replies = 0;
  /** Of which error replies. */
  errors = 0;
  /** Bytes of a VALUE data block (plus its CRLF) still to skip. */
  private skip = 0;
  /** The start of a line split across chunks, or null. */
  private partial: Buffer | null = null;

  /** Consumes one chunk; returns how many replies it completed. */
  feed(chunk: Buffer): number {
    const before = this.replies;
    let pos = 0;
    const len = chunk.length;
    while (pos < len) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, len - pos);
        this.skip -= n;
        pos += n;
        continue;
      }
      const nl = chunk.indexOf(LF, pos);
      if (nl < 0) {
        const rest = chunk.subarray(pos);
        this.partial = this.partial === null ? Buffer.from(rest) : Buffer.concat([this.partial, rest]);
        break;
      }
      if (this.partial !== null) {
        const line = Buffer.concat([this.partial, chunk.subarray(pos, nl + 1)]);
        this.partial = null;
        this.onLine(line, 0, line.length - 1);
      } else {
        this.onLine(chunk, pos, nl);
      }
      pos = nl + 1;
    }
    return this.replies - before;
  }

  /** One line buf[start, nl) (nl is the LF). */
  private onLine(buf: Buffer, start: number, nl: number): void {
    const c0 = buf[start];
    const c1 = buf[start + 1];
    if (c0 === 0x56 /* V */) {
      // VALUE <key> <flags> <bytes> [<cas>]: we only send get, so <bytes> is the last token.
      let end = nl;
      if (buf[end - 1] === CR) end--;
      let i = end - 1;
      let bytes = 0;
      let mul = 1;
      while (i > start && (buf[i] as number) >= 0x30 && (buf[i] as number) <= 0x39) {
        bytes += ((buf[i] as number) - 0x30) * mul;
        mul *= 10;
        i--;
      }
      this.skip = bytes + 2;
      return;
    }
    if (c0 === 0x45 /* E */) {
      // END, or ERROR / EXISTS
      this.replies++;
      if (c1 === 0x52 /* R */) this.errors++;
      return;
    }
    if (c0 === 0x53 /* S */) {
      // STORED, or SERVER_ERROR
      this.replies++;
      if (c1 === 0x45 /* E */) this.errors++;
      return;
    }
    if (c0 === 0x43 /* C */) {
      // CLIENT_ERROR
      this.replies++;
      this.errors++;
      return;
    }
    // NOT_STORED, NOT_FOUND, DELETED, TOUCHED, a number (incr): one-line replies
    this.replies++;
  }
}

export interface McLoadSpec {
  port: number;
  test: MemcacheTest;
  /** Total requests (commands; an MGET_10 is one request). */
  requests: number;
  connections: number;
  /** Requests per batch on one connection. */
  depth: number;
  /** Keys are benchKey(0 .. keyspace-1), chosen at random. */
  keyspace: number;
  valueSize: number;
  timeoutMs: number;
}

export interface McLoadResult {
  requests: number;
  errors: number;
  seconds: number;
  rps: number;
  avgMs: number;
  p50Ms: number;
  p99Ms: number;
  /** Why the run is incomplete (connection error, timeout), or ''. */
  failure: string;
}

/** Batches prepared up front so the loop allocates nothing per request. */
const PREPARED_BATCHES = 256;

/** A deterministic generator, so every target gets the same key sequence. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
}

/** `depth` requests of `test` with random keys, as one buffer. */
export function buildBatch(test: MemcacheTest, depth: number, keyspace: number, value: Buffer, next: () => number): Buffer {
  const parts: string[] = [];
  for (let i = 0; i < depth; i++) {
    if (test === 'SET') {
      parts.push(`set ${benchKey(next() % keyspace)} 0 0 ${value.length}\r\n${value.toString('latin1')}\r\n`);
    } else if (test === 'GET') {
      parts.push(`get ${benchKey(next() % keyspace)}\r\n`);
    } else {
      const keys: string[] = [];
      for (let k = 0; k < MGET_KEYS; k++) keys.push(benchKey(next() % keyspace));
      parts.push(`get ${keys.join(' ')}\r\n`);
    }
  }
  return Buffer.from(parts.join(''), 'latin1');
}

function openConnection(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    s.setNoDelay(true);
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** State shared by the connections of one run. */
class LoadRun {
  readonly latencies: Float64Array;
  recorded = 0;
  issued = 0;
  errors = 0;
  active = 0;
  failure = '';
  t0 = 0;
  settled = false;
  readonly batches: readonly Buffer[];
  readonly spec: McLoadSpec;
  /** Called once when every connection is done or one failed. */
  onDone: () => void = () => undefined;

  constructor(spec: McLoadSpec, batches: readonly Buffer[]) {
    this.spec = spec;
    this.batches = batches;
    this.latencies = new Float64Array(spec.requests + spec.depth * spec.connections);
  }

  fail(why: string): void {
    if (this.settled) return;
    if (this.failure === '') this.failure = why;
    this.onDone();
  }
}

/** One connection: sends a batch, counts its replies, sends the next while requests remain. */
class LoadConnection {
  private readonly run: LoadRun;
  private readonly socket: Socket;
  private readonly index: number;
  private readonly counter = new ReplyCounter();
  private batchIndex: number;
  private pending = 0;
  private sentAt = 0;

  constructor(run: LoadRun, socket: Socket, index: number) {
    this.run = run;
    this.socket = socket;
    this.index = index;
    // Connections start at different prepared batches so they do not all hit the same keys.
    this.batchIndex = (index * 7) % run.batches.length;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (e: Error) => run.fail(`connection ${this.index}: ${e.message}`));
    socket.on('close', () => run.fail(`connection ${this.index}: closed by the other side`));
  }

  /** Sends the next batch; false when the run has issued all its requests. */
  send(): boolean {
    const run = this.run;
    if (run.issued >= run.spec.requests) return false;
    run.issued += run.spec.depth;
    this.pending = run.spec.depth;
    this.sentAt = performance.now();
    this.socket.write(run.batches[this.batchIndex] as Buffer);
    this.batchIndex = this.batchIndex + 1 === run.batches.length ? 0 : this.batchIndex + 1;
    return true;
  }

  private onData(chunk: Buffer): void {
    const run = this.run;
    const done = this.counter.feed(chunk);
    if (done === 0 || run.settled) return;
    // Replies that arrive in one chunk arrived at the same moment: one clock read per chunk.
    const lat = performance.now() - this.sentAt;
    const lats = run.latencies;
    let r = run.recorded;
    for (let i = 0; i < done && r < lats.length; i++) lats[r++] = lat;
    run.recorded = r;
    run.errors += this.counter.errors;
    this.counter.errors = 0;
    this.pending -= done;
    if (this.pending <= 0 && !this.send()) {
      run.active--;
      if (run.active === 0) run.onDone();
    }
  }
}

/** Runs the load and resolves with its figures; never rejects. */
export async function runMemcacheLoad(spec: McLoadSpec): Promise<McLoadResult> {
  const value = Buffer.alloc(spec.valueSize, 0x78);
  const next = lcg(12345);
  const batches: Buffer[] = [];
  for (let i = 0; i < PREPARED_BATCHES; i++) batches.push(buildBatch(spec.test, spec.depth, spec.keyspace, value, next));

  let sockets: Socket[];
  try {
    sockets = await Promise.all(Array.from({ length: spec.connections }, () => openConnection(spec.port)));
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return { requests: 0, errors: 0, seconds: 0, rps: 0, avgMs: NaN, p50Ms: NaN, p99Ms: NaN, failure: `connect: ${why}` };
  }

  const run = new LoadRun(spec, batches);
  return new Promise<McLoadResult>((resolve) => {
    const timer = setTimeout(
      () => run.fail(`timed out after ${spec.timeoutMs} ms with ${run.recorded}/${spec.requests} replies`),
      spec.timeoutMs,
    );
    run.onDone = () => {
      if (run.settled) return;
      run.settled = true;
      const t1 = performance.now();
      clearTimeout(timer);
      for (const s of sockets) s.destroy();
      const n = run.recorded;
      const sorted = run.latencies.subarray(0, n).sort();
      let sum = 0;
      for (let i = 0; i < n; i++) sum += sorted[i] as number;
      const seconds = (t1 - run.t0) / 1000;
      resolve({
        requests: n,
        errors: run.errors,
        seconds,
        rps: seconds > 0 ? n / seconds : 0,
        avgMs: n > 0 ? sum / n : NaN,
        p50Ms: quantileSorted(sorted, n, 0.5),
        p99Ms: quantileSorted(sorted, n, 0.99),
        failure: run.failure,
      });
    };
    const conns = sockets.map((s, i) => new LoadConnection(run, s, i));
    run.t0 = performance.now();
    for (const c of conns) if (c.send()) run.active++;
    if (run.active === 0) run.onDone();
  });
}
