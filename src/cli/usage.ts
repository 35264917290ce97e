// The texts the command line prints: version banner, usage block and the -D stats description.
// Mirrors twemproxy's nc.c (nc_show_usage, the -V banner) and nc_stats.c (stats_describe).
import { POOL_METRICS, SERVER_METRICS } from '../stats/metrics.js';
import { TWEMPROXY_VERSION } from '../stats/stats-json.js';
import { walnutVersion } from '../version.js';
import { DEFAULTS, LOG_LEVEL_MAX, PROGRAM } from './args.js';

/** -V: three lines, the last empty (twemproxy's `This is nutcracker-0.5.0` + event backend). */
export function bannerText(version: string = walnutVersion()): string {
  return (
    `This is ${PROGRAM}-${version} (twemproxy ${TWEMPROXY_VERSION} compatible)\n` +
    `async event backend: node ${process.version}\n` +
    '\n'
  );
}

/**
 * -h and option errors: twemproxy's usage block with the same layout, plain LF line ends
 * (its CR LF ends are an accident of its CRLF macro), and the continuation lines aligned under
 * the first option as the original is for its own name.
 */
export function usageText(): string {
  const head = `Usage: ${PROGRAM} `;
  const indent = ' '.repeat(head.length);
  return (
    `${head}[-?hVdDt] [-v verbosity level] [-o output file]\n` +
    `${indent}[-c conf file] [-s stats port] [-a stats addr]\n` +
    `${indent}[-i stats interval] [-p pid file] [-m mbuf size]\n` +
    `${indent}[--workers=N|auto] [--limit-client-memory=S]\n` +
    '\n' +
    'Options:\n' +
    '  -h, --help             : this help\n' +
    '  -V, --version          : show version and exit\n' +
    '  -t, --test-conf        : test configuration for syntax errors and exit\n' +
    '  -d, --daemonize        : run as a daemon\n' +
    '  -D, --describe-stats   : print stats description and exit\n' +
    `  -v, --verbose=N        : set logging level (default: ${DEFAULTS.verbosity}, min: 0, max: ${LOG_LEVEL_MAX})\n` +
    '  -o, --output=S         : set logging file (default: stderr)\n' +
    `  -c, --conf-file=S      : set configuration file (default: ${DEFAULTS.confFile})\n` +
    `  -s, --stats-port=N     : set stats monitoring port (default: ${DEFAULTS.statsPort})\n` +
    `  -a, --stats-addr=S     : set stats monitoring ip (default: ${DEFAULTS.statsAddr})\n` +
    `  -i, --stats-interval=N : set stats aggregation interval in msec (default: ${DEFAULTS.statsInterval} msec)\n` +
    '  -p, --pid-file=S       : set pid file (default: off)\n' +
    `  -m, --mbuf-size=N      : set size of mbuf chunk in bytes (default: ${DEFAULTS.mbufSize} bytes)\n` +
    `      --workers=N        : set number of worker processes (default: ${DEFAULTS.workers}, auto: one per core)\n` +
    `      --limit-client-memory=S : set memory all clients may hold, e.g. 4gb (default: ${DEFAULTS.limitClientMemory}: half of memory, 0: no limit)\n` +
    '\n'
  );
}

function describeLine(name: string, description: string): string {
  // printf's %-20s: pad to 20 columns, never truncate.
  return `  ${name.padEnd(20)}"${description}"\n`;
}

/** -D: every pool and server metric with its description, generated from the metric tables. */
export function describeStatsText(): string {
  let text = 'pool stats:\n';
  for (const [name, , description] of POOL_METRICS) text += describeLine(name, description);
  text += '\nserver stats:\n';
  for (const [name, , description] of SERVER_METRICS) text += describeLine(name, description);
  return text;
}
