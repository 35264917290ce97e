// Times one 10,000-key MGET (redis) or multi-get (memcached) through each target, trial by
// trial interleaved, and checks every reply against the one a single server sends. Exercises
// the proxies' fragment + coalesce paths (twemproxy's redis_fragment / memcache_fragment).
import type { Socket } from 'node:net';
import { cpuSeconds } from './proc-stats.js';
import { afterBytes, exchange, openSocket, respCommand } from './raw-client.js';
import { TARGETS, type BulkResult, type TargetName } from './results.js';
import { BULK_KEYS, bulkKey, bulkValue, type Suite } from './setup.js';
import { median, ratio } from './summary.js';

/** The request and the exact reply a server holding every key sends. */
export function bulkExchange(protocol: Suite['protocol'], keys: number): { request: Buffer; reply: Buffer } {
  const names = Array.from({ length: keys }, (_, i) => bulkKey(i));
  if (protocol === 'redis') {
    const parts = [`*${keys}\r\n`];
    for (let i = 0; i < keys; i++) parts.push(`$${bulkValue(i).length}\r\n${bulkValue(i)}\r\n`);
    return { request: Buffer.from(respCommand(['MGET', ...names])), reply: Buffer.from(parts.join('')) };
  }
  const parts: string[] = [];
  for (let i = 0; i < keys; i++) parts.push(`VALUE ${bulkKey(i)} 0 ${bulkValue(i).length}\r\n${bulkValue(i)}\r\n`);
  parts.push('END\r\n');
  return { request: Buffer.from(`get ${names.join(' ')}\r\n`), reply: Buffer.from(parts.join('')) };
}

/**
 * `trials` timed requests per target after `warmups` untimed ones, on one connection per target.
 * A reply of the wrong length never completes and fails the target (timeout); one of the right
 * length but other bytes is recorded as differing.
 */
export async function runBulk(
  suite: Suite,
  proxyPids: Record<Exclude<TargetName, 'direct'>, number>,
  trials: number,
  warmups: number,
  onTrial: () => void,
): Promise<BulkResult> {
  const { request, reply } = bulkExchange(suite.protocol, BULK_KEYS);
  const trialsMs: Record<TargetName, number[]> = { direct: [], twemproxy: [], walnut: [] };
  const warmupMs: Record<TargetName, number[]> = { direct: [], twemproxy: [], walnut: [] };
  const cpu: Record<TargetName, number> = { direct: 0, twemproxy: 0, walnut: 0 };
  const matches: Record<TargetName, boolean> = { direct: true, twemproxy: true, walnut: true };
  const sockets = new Map<TargetName, Socket>();
  const failures: string[] = [];
  const failed = new Set<TargetName>();
  try {
    for (const t of TARGETS) sockets.set(t, await openSocket(suite.ports[t]));
    for (let i = 0; i < warmups + trials; i++) {
      for (const t of TARGETS) {
        if (failed.has(t)) continue;
        const socket = sockets.get(t) as Socket;
        const pid = t === 'direct' ? 0 : proxyPids[t];
        const cpu0 = pid > 0 ? cpuSeconds(pid) : 0;
        try {
          const r = await exchange(socket, request, afterBytes(reply.length), 30_000);
          const cpu1 = pid > 0 ? cpuSeconds(pid) : 0;
          if (!r.reply.equals(reply)) matches[t] = false;
          if (i >= warmups) {
            trialsMs[t].push(r.ms);
            cpu[t] += cpu1 - cpu0;
          } else {
            warmupMs[t].push(r.ms);
          }
        } catch (e) {
          failed.add(t);
          failures.push(`${t}: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      if (i >= warmups) onTrial();
    }
  } catch (e) {
    failures.push(e instanceof Error ? e.message : String(e));
  } finally {
    for (const s of sockets.values()) s.destroy();
  }
  const medianMs = {
    direct: median(trialsMs.direct),
    twemproxy: median(trialsMs.twemproxy),
    walnut: median(trialsMs.walnut),
  };
  const warmupMedianMs = { direct: median(warmupMs.direct), twemproxy: median(warmupMs.twemproxy), walnut: median(warmupMs.walnut) };
  const perReq = (t: TargetName): number =>
    t === 'direct' || trialsMs[t].length === 0 ? Number.NaN : (cpu[t] * 1000) / trialsMs[t].length;
  return {
    suite: suite.name,
    keys: BULK_KEYS,
    trialsMs,
    medianMs,
    warmupMedianMs,
    cpuMsPerReq: { direct: Number.NaN, twemproxy: perReq('twemproxy'), walnut: perReq('walnut') },
    replyMatches: matches,
    walnutVsDirect: ratio(medianMs.walnut, medianMs.direct),
    walnutVsTwemproxy: ratio(medianMs.walnut, medianMs.twemproxy),
    failure: failures.join('; '),
  };
}
