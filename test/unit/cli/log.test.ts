// The logger (src/util/log.ts): level gating, line format, file output and SIGHUP-style reopen.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  formatLogTime,
  log,
  Logger,
  LOG_ALERT,
  LOG_CRIT,
  LOG_DEBUG,
  LOG_EMERG,
  LOG_ERR,
  LOG_INFO,
  LOG_NOTICE,
  LOG_PVERB,
  LOG_VERB,
  LOG_VVERB,
  LOG_VVVERB,
  LOG_WARN,
} from '../../../src/util/log.js';

const dir = mkdtempSync(join(tmpdir(), 'walnut-log-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let fileNo = 0;
function fileLogger(level: number): { logger: Logger; path: string } {
  const path = join(dir, `log-${fileNo++}.txt`);
  const logger = new Logger();
  logger.open(path);
  logger.setLevel(level);
  return { logger, path };
}

/** The messages of the log lines, after checking every line's timestamp prefix. */
function messages(path: string): string[] {
  const text = readFileSync(path, 'utf8');
  if (text === '') return [];
  assert.ok(text.endsWith('\n'));
  return text
    .slice(0, -1)
    .split('\n')
    .map((line) => {
      const m = /^\[(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3})\] (.*)$/s.exec(line);
      assert.ok(m, `bad log line ${JSON.stringify(line)}`);
      return m[2]!;
    });
}

test('level constants are twemproxy numbers 0..11', () => {
  assert.deepEqual(
    [LOG_EMERG, LOG_ALERT, LOG_CRIT, LOG_ERR, LOG_WARN, LOG_NOTICE, LOG_INFO, LOG_DEBUG, LOG_VERB, LOG_VVERB, LOG_VVVERB, LOG_PVERB],
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
  );
});

test('the singleton starts at NOTICE', () => {
  assert.equal(log.level, LOG_NOTICE);
  assert.equal(log.file, null);
});

test('formatLogTime: local time with zero padding and milliseconds', () => {
  assert.equal(formatLogTime(new Date(2024, 0, 2, 3, 4, 5, 6)), '2024-01-02 03:04:05.006');
  assert.equal(formatLogTime(new Date(1999, 11, 31, 23, 59, 58, 999)), '1999-12-31 23:59:58.999');
  assert.equal(formatLogTime(new Date(2030, 5, 15, 12, 30, 0, 45)), '2030-06-15 12:30:00.045');
});

test('each method writes only when the level allows it', () => {
  const methods = [
    ['error', LOG_ALERT],
    ['warn', LOG_WARN],
    ['notice', LOG_NOTICE],
    ['info', LOG_INFO],
    ['debug', LOG_DEBUG],
    ['verb', LOG_VERB],
    ['vverb', LOG_VVERB],
    ['pverb', LOG_PVERB],
  ] as const;
  for (let level = LOG_EMERG; level <= LOG_PVERB; level++) {
    const { logger, path } = fileLogger(level);
    const expected: string[] = [];
    for (const [name, min] of methods) {
      logger[name](`${name} message`);
      if (level >= min) expected.push(`${name} message`);
    }
    logger.at(LOG_ERR, 'at err');
    if (level >= LOG_ERR) expected.push('at err');
    logger.always('always');
    expected.push('always');
    logger.close();
    assert.deepEqual(messages(path), expected, `level ${level}`);
  }
});

test('one line per call; messages with odd characters are written as given', () => {
  const { logger, path } = fileLogger(LOG_NOTICE);
  logger.always('a "quoted" \u00e9 message');
  logger.always('');
  logger.close();
  assert.deepEqual(messages(path), ['a "quoted" \u00e9 message', '']);
});

test('setLevel clamps to 0..11; levelUp/levelDown stop at the ends', () => {
  const logger = new Logger();
  logger.setLevel(99);
  assert.equal(logger.level, LOG_PVERB);
  assert.equal(logger.levelUp(), false);
  assert.equal(logger.level, LOG_PVERB);
  assert.equal(logger.levelDown(), true);
  assert.equal(logger.level, LOG_VVVERB);
  logger.setLevel(-3);
  assert.equal(logger.level, LOG_EMERG);
  assert.equal(logger.levelDown(), false);
  assert.equal(logger.levelUp(), true);
  assert.equal(logger.level, LOG_ALERT);
});

test('open appends to an existing file and creates new files without execute or group/other write bits', () => {
  const { logger, path } = fileLogger(LOG_NOTICE);
  logger.always('first');
  logger.close();
  const again = new Logger();
  again.open(path);
  again.always('second');
  again.close();
  assert.deepEqual(messages(path), ['first', 'second']);
  assert.equal(statSync(path).mode & 0o133, 0);
});

test('open failure throws with the errno code and keeps the previous destination', () => {
  const { logger, path } = fileLogger(LOG_NOTICE);
  assert.throws(() => logger.open(join(dir, 'no-such-dir', 'x.log')), { code: 'ENOENT' });
  assert.equal(logger.file, path);
  logger.always('still here');
  logger.close();
  assert.deepEqual(messages(path), ['still here']);
});

test('reopen after rotation writes to a new file at the configured path', () => {
  const { logger, path } = fileLogger(LOG_NOTICE);
  logger.always('before rotation');
  renameSync(path, `${path}.1`);
  logger.always('after rename, before reopen');
  logger.reopen();
  logger.always('after reopen');
  logger.close();
  assert.deepEqual(messages(`${path}.1`), ['before rotation', 'after rename, before reopen']);
  assert.deepEqual(messages(path), ['after reopen']);
});

test('a failed reopen keeps writing to the old file instead of losing lines', () => {
  const sub = join(dir, 'rotating');
  mkdirSync(sub);
  const path = join(sub, 'w.log');
  const logger = new Logger();
  logger.open(path);
  logger.always('one');
  // The whole directory goes away: the path cannot be reopened.
  renameSync(sub, `${sub}.gone`);
  logger.reopen();
  logger.always('two');
  logger.close();
  // The reason is also in the file that goes on: under -d, stderr is /dev/null, and an operator
  // looking for why the new file stays empty finds it where the lines went.
  assert.deepEqual(messages(join(`${sub}.gone`, 'w.log')), [
    'one',
    `reopening log file '${path}' failed, ignored: No such file or directory; logging goes on to the file opened before`,
    'two',
  ]);
});

test('open(null) and open("") mean stderr', () => {
  const { logger } = fileLogger(LOG_NOTICE);
  logger.open('');
  assert.equal(logger.file, null);
  logger.open(null);
  assert.equal(logger.file, null);
  // reopen on stderr is a no-op
  assert.doesNotThrow(() => logger.reopen());
});
