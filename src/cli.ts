// Walnut's entry point: parse the command line, then print texts, test the configuration, or
// run the proxy. Mirrors twemproxy's nc.c (main).
import { parseArgs, resolveConfFile } from './cli/args.js';
import { readCmdline, wordsNotUtf8 } from './cli/raw-argv.js';
import { holdStartupSignals } from './cli/startup-signals.js';
import { bannerText, describeStatsText, usageText } from './cli/usage.js';
import { writeStderr } from './util/log.js';

/** Runs the command line `argv` (without node and script) and returns the exit status. */
async function main(argv: readonly string[]): Promise<number> {
  const parsed = parseArgs(argv, process.env, wordsNotUtf8(argv, readCmdline()));
  if (!parsed.ok) {
    writeStderr(`${parsed.error}\n${usageText()}`);
    return 1;
  }
  const options = parsed.options;
  // twemproxy's precedence: -V/-h/-D win over -t, which wins over running.
  if (options.showVersion) {
    let text = bannerText();
    if (options.showHelp) text += usageText();
    if (options.describeStats) text += describeStatsText();
    writeStderr(text);
    return 0;
  }
  const conf = resolveConfFile(options);
  // Loaded on demand so that -V/-h/-D never load (or depend on) the config and proxy code.
  if (options.testConf) {
    const { testConf } = await import('./cli/test-conf.js');
    return testConf(conf.file, conf.note);
  }
  const startupSignals = holdStartupSignals();
  const { runProxy } = await import('./cli/run.js');
  return runProxy(options, conf.file, argv, conf.note, startupSignals);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    writeStderr(`walnut: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
