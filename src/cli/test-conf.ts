// -t: load and validate the configuration, print one verdict line on stderr.
// Mirrors twemproxy's nc.c (nc_test_conf), but says why a file is invalid, once.
import { loadConfig } from '../config/load.js';
import { errorReason } from '../util/errno.js';
import { writeStderr } from '../util/log.js';
import { PROGRAM } from './args.js';

/** `walnut: configuration file '<path>' syntax is invalid: <reason>` */
export function invalidConfText(path: string, reason: string): string {
  return `${PROGRAM}: configuration file '${path}' syntax is invalid: ${reason}\n`;
}

/**
 * Validates `path` (without binding anything) and returns the exit status: 0 valid, 1 not.
 * `note` says how a default path was chosen, for when it cannot be read.
 */
export async function testConf(path: string, note: string | null = null): Promise<number> {
  try {
    await loadConfig(path, note);
  } catch (err) {
    writeStderr(invalidConfText(path, errorReason(err)));
    return 1;
  }
  writeStderr(`${PROGRAM}: configuration file '${path}' syntax is ok\n`);
  return 0;
}
