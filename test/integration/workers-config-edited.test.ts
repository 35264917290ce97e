// --workers: a replacement for a worker that died runs the configuration the primary read,
// not the file as edited since (workers used to load the file again: the replacement then served
// another pool alone, and the stats, added up by position, counted that pool's clients and
// requests as alpha's). Traffic to a pool added to the file must not show in alpha's stats, and
// that pool is not served until Walnut restarts.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { freePort, startRedis, startWalnut, type Running, type RunningProxy } from '../../scripts/lib/processes.js';
import { requestUntil } from './support/request-until.js';
import { pidServing, workerPids } from './support/workers.js';
import { poolStat, serverStat, type Stats } from './support/stats.js';

describe('--workers 2: a worker replaced after the configuration file was edited', () => {
  let alphaBackend: Running;
  let betaBackend: Running;
  let walnut: RunningProxy;
  let alphaPort: number;
  let betaPort: number;

  before(async () => {
    [alphaBackend, betaBackend] = await Promise.all([startRedis(), startRedis()]);
    [alphaPort, betaPort] = [await freePort(), await freePort()];
    const yaml = `alpha:\n  listen: 127.0.0.1:${alphaPort}\n  redis: true\n  servers:\n    - 127.0.0.1:${alphaBackend.port}:1 a0\n`;
    walnut = await startWalnut(yaml, { listenPorts: [alphaPort], args: ['--workers', '2'] });
  });

  after(async () => {
    await walnut.stop();
    await Promise.all([alphaBackend.stop(), betaBackend.stop()]);
  });

  test("another pool's traffic is not counted as alpha's", async () => {
    const alpha = walnut.configPath;
    // The operator adds a pool in front of alpha (to take effect at the next restart).
    const edited =
      `beta:\n  listen: 127.0.0.1:${betaPort}\n  redis: true\n  servers:\n    - 127.0.0.1:${betaBackend.port}:1 b0\n` +
      `alpha:\n  listen: 127.0.0.1:${alphaPort}\n  redis: true\n  servers:\n    - 127.0.0.1:${alphaBackend.port}:1 a0\n`;
    writeFileSync(alpha, edited);
    const [victim, survivor] = workerPids(walnut.pid);
    assert.ok(victim !== undefined && survivor !== undefined);
    process.kill(victim, 'SIGKILL');
    // Wait until the replacement serves alpha's clients.
    let replacement = 0;
    let lastError = '';
    for (let i = 0; i < 400 && replacement === 0; i++) {
      // A connection handed to the killed worker just before it died is closed: ask again.
      const pid = await pidServing(alphaPort).catch((e: unknown) => {
        lastError = e instanceof Error ? e.message : String(e);
        return 0;
      });
      if (pid !== survivor && workerPids(walnut.pid).includes(pid)) replacement = pid;
      else await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(replacement > 0, `a replacement worker serves alpha (last probe error: ${lastError || 'none'})`);

    // The probing clients' closes are counted once Walnut has seen them: wait for that.
    let before = (await walnut.stats()) as Stats;
    for (let i = 0; i < 200 && poolStat(before, 'alpha', 'client_connections') !== 0; i++) {
      await new Promise((r) => setTimeout(r, 25));
      before = (await walnut.stats()) as Stats;
    }
    assert.equal(poolStat(before, 'alpha', 'client_connections'), 0);
    // Clients of beta, if anything listens there.
    for (let i = 0; i < 5; i++) await requestUntil(betaPort, '*2\r\n$3\r\nGET\r\n$1\r\nk\r\n', '\r\n', 2_000);
    const after = (await walnut.stats()) as Stats;

    assert.equal(poolStat(after, 'alpha', 'client_eof'), poolStat(before, 'alpha', 'client_eof'), 'alpha client_eof');
    assert.equal(serverStat(after, 'alpha', 'a0', 'requests'), serverStat(before, 'alpha', 'a0', 'requests'), 'alpha a0 requests');
  });
});
