// Short-lived connections, the way an application that connects per web request uses a
// proxy: each of `parallel` loops connects, sends one request, reads its whole reply, closes,
// and starts over. Measures connections per second, the latency of one whole connection
// (connect to reply) and checks every reply against the expected bytes. No twemproxy
// counterpart.
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { quantileSorted } from './summary.js';

export interface ChurnSpec {
  port: number;
  /** Connections to complete in all. */
  connections: number;
  /** Connections open at once. */
  parallel: number;
  request: Buffer;
  /** The exact reply: a connection is done once this many bytes have arrived. */
  reply: Buffer;
  timeoutMs: number;
}

export interface ChurnResult {
  /** Connections completed per second. */
  rps: number;
  p50Ms: number;
  p99Ms: number;
  avgMs: number;
  completed: number;
  /** Connections whose reply differed from the expected bytes. */
  errors: number;
  failure: string;
}

/** One connection: resolves with its time in ms and whether its reply matched. */
function oneConnection(spec: ChurnSpec): Promise<{ ms: number; matched: boolean }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const socket = connect(spec.port, '127.0.0.1');
    socket.setNoDelay(true);
    const parts: Buffer[] = [];
    let got = 0;
    socket.on('connect', () => socket.write(spec.request));
    socket.on('data', (chunk: Buffer) => {
      parts.push(chunk);
      got += chunk.length;
      if (got < spec.reply.length) return;
      const ms = performance.now() - t0;
      socket.destroy();
      resolve({ ms, matched: got === spec.reply.length && Buffer.concat(parts).equals(spec.reply) });
    });
    socket.on('error', reject);
    socket.on('end', () => reject(new Error(`connection closed after ${got} of ${spec.reply.length} reply bytes`)));
  });
}

export async function runConnectChurn(spec: ChurnSpec): Promise<ChurnResult> {
  const times: number[] = [];
  let errors = 0;
  let started = 0;
  let failure = '';
  const t0 = performance.now();
  const deadline = t0 + spec.timeoutMs;
  const loop = async (): Promise<void> => {
    while (started < spec.connections && failure === '') {
      if (performance.now() > deadline) {
        failure = `timed out after ${times.length} of ${spec.connections} connections`;
        return;
      }
      started++;
      try {
        const r = await oneConnection(spec);
        times.push(r.ms);
        if (!r.matched) errors++;
      } catch (e) {
        failure = e instanceof Error ? e.message : String(e);
      }
    }
  };
  await Promise.all(Array.from({ length: spec.parallel }, loop));
  const seconds = (performance.now() - t0) / 1000;
  times.sort((a, b) => a - b);
  const fail = (why: string): ChurnResult => ({ rps: NaN, p50Ms: NaN, p99Ms: NaN, avgMs: NaN, completed: times.length, errors, failure: why });
  if (failure !== '') return fail(failure);
  if (times.length === 0) return fail('no connection completed');
  return {
    rps: times.length / seconds,
    p50Ms: quantileSorted(times, times.length, 0.5),
    p99Ms: quantileSorted(times, times.length, 0.99),
    avgMs: times.reduce((a, b) => a + b, 0) / times.length,
    completed: times.length,
    errors,
    failure: '',
  };
}
