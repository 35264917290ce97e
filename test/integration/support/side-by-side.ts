// Walnut and Debian's nutcracker started side by side on the same configuration, for the tests
// that compare the two step by step.
import { freePort, startNutcracker, startWalnut, type RunningProxy } from '../../../scripts/lib/processes.js';

type ProxyName = 'walnut' | 'nutcracker';

/** Walnut and nutcracker, each listening on a port of its own, on the configuration `config(port)`. */
export async function startBoth(config: (port: number) => string): Promise<Record<ProxyName, { proxy: RunningProxy; port: number }>> {
  const [wp, np] = await Promise.all([freePort(), freePort()]);
  const [walnut, nutcracker] = await Promise.all([
    startWalnut(config(wp), { listenPorts: [wp] }),
    startNutcracker(config(np), { listenPorts: [np] }),
  ]);
  return { walnut: { proxy: walnut, port: wp }, nutcracker: { proxy: nutcracker, port: np } };
}
