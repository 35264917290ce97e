// Memory of a proxy holding many idle client connections (twemproxy allocates a struct conn
// per client in nc_connection.c conn_get; Walnut a socket and a ClientConn), and whether it
// comes back after they leave. Runs on a fresh proxy so earlier load does not blur the figure.
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunningProxy } from '../../scripts/lib/processes.js';
import { openFds, rssKb } from './proc-stats.js';
import { afterLines, closeAll, exchange, openIdle, openSocket, respCommand } from './raw-client.js';
import { idleSummary, type IdleResult, type ProxyName } from './results.js';
import { startProxy, type PoolPorts } from './setup.js';

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

/**
 * Opens `clients` idle connections, waits until the proxy holds them all, reads its RSS, closes
 * them, waits until the proxy has let them go, and reads its RSS a second later.
 */
async function holdIdle(
  pid: number,
  port: number,
  clients: number,
  fdsBefore: number,
): Promise<{ rss: number; after1s: number; failed: number; failure: string }> {
  const { sockets, failed } = await openIdle(port, clients, CONNECT_CONCURRENCY);
  // Connected on our side is not yet accepted on theirs: wait until the proxy holds them.
  const accepted = await waitFor(() => openFds(pid) >= fdsBefore + sockets.length, 30_000);
  await sleep(1_000);
  const rss = await steadyRss(pid);
  const held = openFds(pid) - fdsBefore;
  await closeAll(sockets);
  await waitFor(() => openFds(pid) <= fdsBefore + 5, 30_000);
  await sleep(1_000);
  const failure = accepted ? '' : `the proxy holds only ${held} of ${sockets.length} connections`;
  return { rss, after1s: rssKb(pid), failed, failure };
}

export async function measureIdle(
  which: ProxyName,
  yaml: (ports: PoolPorts) => string,
  clients: number,
  extraArgs: readonly string[],
): Promise<IdleResult> {
  let proxy: RunningProxy | null = null;
  try {
    const started = await startProxy(which, yaml, extraArgs);
    proxy = started.proxy;
    const ports = started.ports;
    const pid = proxy.pid;
    // One request first, so lazily built state (server connections, code paths) is in place.
    const s = await openSocket(ports.redis1);
    const got = await exchange(s, respCommand(['GET', 'bench:sanity']), afterLines(2), 5_000);
    s.destroy();
    const text = got.reply.toString('latin1');
    if (text !== '$2\r\nok\r\n') throw new Error(`GET through the fresh proxy: ${JSON.stringify(text)}`);
    await sleep(1_000);
    const fdsBefore = openFds(pid);
    const before = await steadyRss(pid);

    const first = await holdIdle(pid, ports.redis1, clients, fdsBefore);
    await sleep(4_000);
    const after5s = await steadyRss(pid);
    // V8's memory reducer gives the young generation back about 8 s after the last full
    // collection: read again once it has run.
    await sleep(10_000);
    const after15s = await steadyRss(pid);
    // A second wave of as many clients tells memory kept for reuse (RSS stays flat) from
    // memory that keeps growing with every wave.
    const second = await holdIdle(pid, ports.redis1, clients, fdsBefore);
    const rss = {
      before,
      withClients: first.rss,
      after1s: first.after1s,
      after5s,
      after15s,
      secondWave: second.rss,
      afterSecondClose: second.after1s,
    };
    return idleSummary(which, clients, first.failed, rss, started.fdLimit, first.failure || second.failure);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    const none = { before: NaN, withClients: NaN, after1s: NaN, after5s: NaN, after15s: NaN, secondWave: NaN, afterSecondClose: NaN };
    return idleSummary(which, clients, clients, none, NaN, why);
  } finally {
    await proxy?.stop();
  }
}
