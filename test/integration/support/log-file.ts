// Reading a proxy's log file in tests: its messages without the timestamps, and waiting for one.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

/** The messages of the log at `path` (timestamps removed); none when the file does not exist. */
export function logMessages(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.replace(/^\[[^\]]*\] /, ''));
}

/**
 * Waits until the log at `path` holds the message `line`, `times` times or more (fails the test
 * after 10 s).
 */
export async function waitForLogMessage(path: string, line: string, times = 1): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (logMessages(path).filter((m) => m === line).length < times) {
    if (Date.now() > deadline) assert.fail(`no log message ${JSON.stringify(line)} in ${path}:\n${logMessages(path).join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
