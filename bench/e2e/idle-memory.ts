// Memory of a proxy holding many idle client connections (twemproxy allocates a struct conn
// per client in nc_connection.c conn_get; Walnut a socket and a ClientConn), and whether it
// comes back after they leave. Runs on a fresh proxy so earlier load does not blur the figure.
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunningProxy } from '../../scripts/lib/processes.js';
import { openFds, rssKb } from './proc-stats.js';
import { afterBytes, afterLines, closeAll, exchange, openIdle, openSocket, respCommand } from './raw-client.js';
import { idleSummary, type IdleResult, type ProxyName } from './results.js';
import { freePoolPorts, startProxy } from './setup.js';

/** Connections being opened at once (the proxies' listen backlog is 512). */
const CONNECT_CONCURRENCY = 200;

/** Polls `cond` every 100 ms until it holds or `ms` pass; returns whether it held. */
async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (cond()) return true;
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
}

/** The median of three RSS readings 100 ms apart, to step over a transient allocation. */
async function steadyRss(pid: number): Promise<number> {
  const v: number[] = [];
  for (let i = 0; i < 3; i++) {
    v.push(rssKb(pid));
    if (i < 2) await sleep(100);
  }
  return v.sort((a, b) => a - b)[1] as number;
}

/** Two pipelines of 1,000 GETs of a 16 KB value on one connection: some 32 MB of replies. */
async function trafficBurst(port: number): Promise<void> {
  const s = await openSocket(port);
  try {
    const set = respCommand(['SET', 'bench:idle', 'x'.repeat(16_384)]);
    await exchange(s, set, afterLines(1), 5_000);
    const get = respCommand(['GET', 'bench:idle']).repeat(1_000);
    for (let i = 0; i < 2; i++) await exchange(s, get, afterBytes(1_000 * (16_384 + 10)), 10_000);
  } finally {
    s.destroy();
  }
}

export async function measureIdle(
  which: ProxyName,
  yaml: (ports: Awaited<ReturnType<typeof freePoolPorts>>) => string,
  clients: number,
  walnutArgs: readonly string[],
): Promise<IdleResult> {
  const ports = await freePoolPorts();
  let proxy: RunningProxy | null = null;
  try {
    const started = await startProxy(which, yaml(ports), ports, walnutArgs);
    proxy = started.proxy;
    const pid = proxy.pid;
    // One request first, so lazily built state (server connections, code paths) is in place.
    const s = await openSocket(ports.redis1);
    await exchange(s, respCommand(['PING']), afterLines(1), 5_000);
    s.destroy();
    await sleep(1_000);
    const fdsBefore = openFds(pid);
    const before = await steadyRss(pid);

    const { sockets, failed } = await openIdle(ports.redis1, clients, CONNECT_CONCURRENCY);
    // Connected on our side is not yet accepted on theirs: wait until the proxy holds them.
    const accepted = await waitFor(() => openFds(pid) >= fdsBefore + sockets.length, 30_000);
    await sleep(1_000);
    const withClients = await steadyRss(pid);
    const heldFds = openFds(pid) - fdsBefore;

    await closeAll(sockets);
    await waitFor(() => openFds(pid) <= fdsBefore + 5, 30_000);
    await sleep(1_000);
    const after1s = rssKb(pid);
    await sleep(4_000);
    const after5s = await steadyRss(pid);
    // V8 collects garbage when allocating, not when idle: a little traffic tells a leak (memory
    // stays) from garbage not yet collected (memory drops).
    await trafficBurst(ports.redis1);
    await sleep(1_000);
    const afterTraffic = await steadyRss(pid);
    const failure = accepted ? '' : `the proxy holds only ${heldFds} of ${sockets.length} connections`;
    return idleSummary(which, clients, failed, { before, withClients, after1s, after5s, afterTraffic }, started.fdLimit, failure);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return idleSummary(which, clients, clients, { before: NaN, withClients: NaN, after1s: NaN, after5s: NaN, afterTraffic: NaN }, NaN, why);
  } finally {
    await proxy?.stop();
  }
}
