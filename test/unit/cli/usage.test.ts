// The texts of -V, -h and -D: twemproxy's layout with Walnut's name, LF line ends, and the
// stats description generated from the metric tables.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { bannerText, describeStatsText, usageText } from '../../../src/cli/usage.js';
import { walnutVersion } from '../../../src/version.js';
import { POOL_METRICS, SERVER_METRICS } from '../../../src/stats/metrics.js';

test('walnutVersion is the version in the repository package.json', () => {
  // The compiled test sits at <out>/test/unit/cli; the repository root holds package.json.
  let version: string | null = null;
  for (const rel of ['../../../package.json', '../../../../package.json', '../../../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name: string; version: string };
      if (pkg.name === 'walnut') {
        version = pkg.version;
        break;
      }
    } catch {
      // not at this depth
    }
  }
  assert.notEqual(version, null);
  assert.equal(walnutVersion(), version);
});

test('banner: name, version, twemproxy compatibility, node version, blank line', () => {
  assert.equal(
    bannerText('1.2.3'),
    `This is walnut-1.2.3 (twemproxy 0.5.0 compatible)\nasync event backend: node ${process.version}\n\n`,
  );
  assert.ok(bannerText().startsWith(`This is walnut-${walnutVersion()} (`));
});

test('usage block: twemproxy layout, LF line ends, Walnut defaults', () => {
  const expected = [
    'Usage: walnut [-?hVdDt] [-v verbosity level] [-o output file]',
    '              [-c conf file] [-s stats port] [-a stats addr]',
    '              [-i stats interval] [-p pid file] [-m mbuf size]',
    '              [--workers=N|auto] [--limit-client-memory=S]',
    '',
    'Options:',
    '  -h, --help             : this help',
    '  -V, --version          : show version and exit',
    '  -t, --test-conf        : test configuration for syntax errors and exit',
    '  -d, --daemonize        : run as a daemon',
    '  -D, --describe-stats   : print stats description and exit',
    '  -v, --verbose=N        : set logging level (default: 5, min: 0, max: 11)',
    '  -o, --output=S         : set logging file (default: stderr)',
    '  -c, --conf-file=S      : set configuration file (default: conf/walnut.yml)',
    '  -s, --stats-port=N     : set stats monitoring port (default: 22222)',
    '  -a, --stats-addr=S     : set stats monitoring ip (default: 0.0.0.0)',
    '  -i, --stats-interval=N : set stats aggregation interval in msec (default: 30000 msec)',
    '  -p, --pid-file=S       : set pid file (default: off)',
    '  -m, --mbuf-size=N      : set size of mbuf chunk in bytes (default: 16384 bytes)',
    '      --workers=N        : set number of worker processes (default: 1, auto: one per core)',
    '      --limit-client-memory=S : set memory all clients may hold, e.g. 4gb (default: auto: half of memory, 0: no limit)',
    '',
    '',
  ].join('\n');
  assert.equal(usageText(), expected);
  assert.ok(!usageText().includes('\r'));
});

test('-D text: the spec 1.4 block, byte for byte', () => {
  const expected = [
    'pool stats:',
    '  client_eof          "# eof on client connections"',
    '  client_err          "# errors on client connections"',
    '  client_connections  "# active client connections"',
    '  server_ejects       "# times backend server was ejected"',
    '  forward_error       "# times we encountered a forwarding error"',
    '  fragments           "# fragments created from a multi-vector request"',
    '',
    'server stats:',
    '  server_eof          "# eof on server connections"',
    '  server_err          "# errors on server connections"',
    '  server_timedout     "# timeouts on server connections"',
    '  server_connections  "# active server connections"',
    '  server_ejected_at   "timestamp when server was ejected in usec since epoch"',
    '  requests            "# requests"',
    '  request_bytes       "total request bytes"',
    '  responses           "# responses"',
    '  response_bytes      "total response bytes"',
    '  in_queue            "# requests in incoming queue"',
    '  in_queue_bytes      "current request bytes in incoming queue"',
    '  out_queue           "# requests in outgoing queue"',
    '  out_queue_bytes     "current request bytes in outgoing queue"',
    '',
  ].join('\n');
  assert.equal(describeStatsText(), expected);
});

test('-D text has one line per metric of the tables, in table order', () => {
  const names = describeStatsText()
    .split('\n')
    .filter((l) => l.startsWith('  '))
    .map((l) => l.trim().split(/\s+/)[0]);
  assert.deepEqual(names, [...POOL_METRICS.map((m) => m[0]), ...SERVER_METRICS.map((m) => m[0])]);
});
