// Memory of a proxy after a burst of large values: clients pipelining SETs and GETs of 1 MB
// values for a few seconds, then nothing. The buffers that carried them are freed, but the
// allocator can keep them (glibc's heap; twemproxy's mbuf free list keeps every mbuf it ever
// allocated): does RSS come back near its start? Read again BURST_SETTLE_MS after the burst,
// past Walnut's heap trim interval (src/proxy/heap-trim.ts, TRIM_RSS_INTERVAL_MS).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { RunningProxy } from '../../scripts/lib/processes.js';
import { rssKb } from './proc-stats.js';
import { afterBytes, exchange, openSocket, respCommand } from './raw-client.js';
import type { BurstResult, ProxyName } from './results.js';
import { startProxy, type PoolPorts } from './setup.js';

const BURST_CLIENTS = 20;
const BURST_VALUE_BYTES = 1024 * 1024;
/** SETs, then as many GETs, per pipeline of each client. */
const BURST_KEYS_PER_CLIENT = 5;
const BURST_MS = 5_000;
/** A little more than TRIM_RSS_INTERVAL_MS, and RSS sampling's own delay. */
export const BURST_SETTLE_MS = 65_000;

/** One client's pipelines of SETs then GETs of its own keys, until `until` (performance clock ms). */
async function burstClient(socket: Socket, id: number, value: string, until: number): Promise<number> {
  let payload = '';
  for (let k = 0; k < BURST_KEYS_PER_CLIENT; k++) payload += respCommand(['SET', `bench:burst:${id}:${k}`, value]);
  for (let k = 0; k < BURST_KEYS_PER_CLIENT; k++) payload += respCommand(['GET', `bench:burst:${id}:${k}`]);
  const bulk = `$${BURST_VALUE_BYTES}\r\n`.length + BURST_VALUE_BYTES + 2;
  const replyBytes = BURST_KEYS_PER_CLIENT * ('+OK\r\n'.length + bulk);
  let bytes = 0;
  while (performance.now() < until) {
    const { reply } = await exchange(socket, payload, afterBytes(replyBytes), 30_000);
    if (reply.length !== replyBytes || reply.subarray(0, 5).toString('latin1') !== '+OK\r\n') {
      throw new Error(`burst client ${id}: unexpected reply (${reply.length} bytes, starting ${JSON.stringify(reply.subarray(0, 20).toString('latin1'))})`);
    }
    bytes += 2 * BURST_KEYS_PER_CLIENT * BURST_VALUE_BYTES;
  }
  return bytes;
}

export async function measureBurst(
  which: ProxyName,
  yaml: (ports: PoolPorts) => string,
  extraArgs: readonly string[],
): Promise<BurstResult> {
  let proxy: RunningProxy | null = null;
  const sockets: Socket[] = [];
  const result: BurstResult = {
    proxy: which,
    megabytes: 0,
    rssBeforeKb: NaN,
    rssPeakKb: NaN,
    rssAfter1sKb: NaN,
    rssAfterSettleKb: NaN,
    retainedShare: NaN,
    failure: '',
  };
  try {
    const started = await startProxy(which, yaml, extraArgs);
    proxy = started.proxy;
    const pid = proxy.pid;
    for (let i = 0; i < BURST_CLIENTS; i++) sockets.push(await openSocket(started.ports.redis1));
    await sleep(1_000);
    result.rssBeforeKb = rssKb(pid);
    let peak = result.rssBeforeKb;
    const sampler = setInterval(() => (peak = Math.max(peak, rssKb(pid))), 100);
    try {
      const value = 'v'.repeat(BURST_VALUE_BYTES);
      const until = performance.now() + BURST_MS;
      const bytes = await Promise.all(sockets.map((s, i) => burstClient(s, i, value, until)));
      result.megabytes = bytes.reduce((a, b) => a + b, 0) / (1024 * 1024);
    } finally {
      clearInterval(sampler);
    }
    // Clean up the keys through the proxy (the backend serves later sections' runs).
    for (const [i, s] of sockets.entries()) {
      const keys = Array.from({ length: BURST_KEYS_PER_CLIENT }, (_, k) => `bench:burst:${i}:${k}`);
      await exchange(s, respCommand(['DEL', ...keys]), afterBytes(`:${BURST_KEYS_PER_CLIENT}\r\n`.length), 10_000);
    }
    for (const s of sockets.splice(0)) s.destroy();
    result.rssPeakKb = Math.max(peak, rssKb(pid));
    await sleep(1_000);
    result.rssAfter1sKb = rssKb(pid);
    await sleep(BURST_SETTLE_MS - 1_000);
    result.rssAfterSettleKb = rssKb(pid);
    const growth = result.rssPeakKb - result.rssBeforeKb;
    result.retainedShare = growth > 0 ? (result.rssAfterSettleKb - result.rssBeforeKb) / growth : NaN;
  } catch (e) {
    result.failure = e instanceof Error ? e.message : String(e);
  } finally {
    for (const s of sockets) s.destroy();
    await proxy?.stop();
  }
  return result;
}
