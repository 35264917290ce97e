// A memcached-protocol server that starts a reply line no reply can begin with (`BOGUS reply`,
// `STORED x`, `END `, `VALUE a b 1` ...) and then sends nothing more, against Walnut and
// Debian's nutcracker on the same configuration with no `timeout:`. twemproxy fails the request
// as soon as a byte shows the line is not a reply (the end of the first word, the byte after a
// word that takes only spaces, a VALUE header's field), with `SERVER_ERROR Invalid argument`,
// and closes the server connection. Walnut used to wait for the line's LF, which such a server
// may never send: the client's request then waited for ever.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { freePort, startNutcracker, startWalnut, type RunningProxy } from '../../scripts/lib/processes.js';
import { MisbehavingFakeServer } from './support/misbehaving-fake-server.js';
import { RawClient } from './support/raw-client.js';

/**
 * What the fake server sends for the first request on each connection (latin1), then nothing.
 * The last one is judged inside VALUE…END, where only VALUE or END
 * may follow.
 */
const STARTS: Readonly<Record<string, string>> = {
  'unknown word': 'BOGUS reply',
  'misspelt VALUE': 'VALUX a 0 1',
  'status word, then text': 'STORED x',
  'number, then text': '12 a',
  'number, then a letter': '12a',
  'END, then a space': 'END ',
  'VALUE, flags not a number': 'VALUE a b 1',
  'VALUE, length not a number': 'VALUE a 0 1x',
  'an unknown word inside VALUE…END': 'VALUE a 0 1\r\nx\r\nBOGUS ',
};
const WANT = 'SERVER_ERROR Invalid argument\r\n';

function poolYaml(port: number, server: number): string {
  return ['p:', `  listen: 127.0.0.1:${port}`, '  redis: false', '  servers:', `    - 127.0.0.1:${server}:1 fake`, ''].join('\n');
}

describe('memcache: a reply line that cannot be a reply fails before its line end', () => {
  const fakes = new Map<string, MisbehavingFakeServer>();
  const proxies: Record<'walnut' | 'nutcracker', Map<string, { proxy: RunningProxy; port: number }>> = {
    walnut: new Map(),
    nutcracker: new Map(),
  };

  before(async () => {
    for (const [name, start] of Object.entries(STARTS)) {
      const fake = await MisbehavingFakeServer.start((conn) => {
        conn.onLine(() => conn.write(start));
      });
      fakes.set(name, fake);
      for (const kind of ['walnut', 'nutcracker'] as const) {
        const port = await freePort();
        const launch = kind === 'walnut' ? startWalnut : startNutcracker;
        proxies[kind].set(name, { proxy: await launch(poolYaml(port, fake.port), { listenPorts: [port] }), port });
      }
    }
  });

  after(async () => {
    for (const kind of ['walnut', 'nutcracker'] as const) for (const p of proxies[kind].values()) await p.proxy.stop();
    for (const f of fakes.values()) await f.close();
  });

  for (const name of Object.keys(STARTS)) {
    test(name, async () => {
      for (const kind of ['nutcracker', 'walnut'] as const) {
        const c = await RawClient.connect(proxies[kind].get(name)!.port);
        try {
          await c.send('get a\r\n');
          // Well under any wait for a line end: the server sends nothing more.
          assert.equal(await c.readText(WANT, 1_500), WANT, `${kind}: ${JSON.stringify(STARTS[name])}`);
        } finally {
          c.destroy();
        }
      }
    });
  }
});
