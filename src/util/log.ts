// Levelled logger writing `[YYYY-MM-DD HH:MM:SS.mmm] message` lines to stderr or a file.
// Mirrors twemproxy's nc_log.c (log_init, log_reopen, log_level_up/down, _log, log_stderr).
import { closeSync, openSync, writeSync } from 'node:fs';
import { strerror } from './errno.js';

export const LOG_EMERG = 0;
export const LOG_ALERT = 1;
export const LOG_CRIT = 2;
export const LOG_ERR = 3;
export const LOG_WARN = 4;
export const LOG_NOTICE = 5;
export const LOG_INFO = 6;
export const LOG_DEBUG = 7;
export const LOG_VERB = 8;
export const LOG_VVERB = 9;
export const LOG_VVVERB = 10;
export const LOG_PVERB = 11;

const STDERR_FD = 2;

/** Retries of a log write the pipe refused (EAGAIN): a few microseconds' worth. */
const MAX_EAGAIN_SPINS = 100;

/**
 * Writes all of `text` to `fd`, never throwing. A pipe that Node put in non-blocking mode can
 * answer EAGAIN or accept part of a write, so we retry until everything is out; any other
 * error drops the rest (a logger that throws would take the proxy down with it).
 */
function writeAll(fd: number, text: string): void {
  let buf = Buffer.from(text, 'utf8');
  let spins = 0;
  while (buf.length > 0) {
    let n: number;
    try {
      n = writeSync(fd, buf);
    } catch (err) {
      // A full non-blocking pipe: retry a little, then drop the rest. Every spin holds up the
      // event loop (every client), so a slow reader of the log costs log lines, not service.
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN' && ++spins < MAX_EAGAIN_SPINS) continue;
      return;
    }
    buf = buf.subarray(n);
  }
}

/** Writes text to stderr synchronously (so it is out before process.exit), never throwing. */
export function writeStderr(text: string): void {
  writeAll(STDERR_FD, text);
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : `${n}`;
}

/** `YYYY-MM-DD HH:MM:SS.mmm` in local time, as twemproxy's log lines. */
export function formatLogTime(d: Date): string {
  const ms = d.getMilliseconds();
  const msText = ms < 10 ? `00${ms}` : ms < 100 ? `0${ms}` : `${ms}`;
  return (
    `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}.${msText}`
  );
}

/**
 * The process logger. `level` is a plain numeric field so hot paths can test it before
 * building any string: `if (log.level >= LOG_INFO) log.info(`...`)`. The level methods check
 * it again, so an unguarded call is merely slower, never wrong.
 */
export class Logger {
  /** Current verbosity, 0 (EMERG) .. 11 (PVERB); default NOTICE as twemproxy's -v default. */
  level: number = LOG_NOTICE;
  private fd: number = STDERR_FD;
  private path: string | null = null;

  /** The log file path, or null when logging to stderr. */
  get file(): string | null {
    return this.path;
  }

  /**
   * Logs to `path` (opened for appending, created 0644) or to stderr when `path` is null or
   * empty (twemproxy treats `-o ''` as stderr). Throws the fs error (with `.code`) on failure
   * and keeps the previous destination.
   */
  open(path: string | null): void {
    if (path === null || path === '') {
      this.closeFile();
      this.path = null;
      this.fd = STDERR_FD;
      return;
    }
    const fd = openSync(path, 'a', 0o644);
    this.closeFile();
    this.fd = fd;
    this.path = path;
  }

  /**
   * SIGHUP: reopen the log file so a rotated file is let go. The new file is opened before
   * the old one is closed, so a failure (reported on stderr) keeps logging to the old file
   * instead of losing lines as twemproxy does. A no-op when logging to stderr.
   */
  reopen(): void {
    const path = this.path;
    if (path === null) return;
    let fd: number;
    try {
      fd = openSync(path, 'a', 0o644);
    } catch (err) {
      const reason = strerror((err as NodeJS.ErrnoException).code ?? '');
      writeStderr(`reopening log file '${path}' failed, ignored: ${reason}\n`);
      // Also where the lines go on: under -d stderr is /dev/null, and an operator who finds
      // the new file missing or empty looks in the old one.
      this.error(`reopening log file '${path}' failed, ignored: ${reason}; logging goes on to the file opened before`);
      return;
    }
    this.closeFile();
    this.fd = fd;
  }

  /** Closes the log file (if any) and goes back to stderr. */
  close(): void {
    this.closeFile();
    this.path = null;
    this.fd = STDERR_FD;
  }

  private closeFile(): void {
    if (this.fd !== STDERR_FD) {
      try {
        closeSync(this.fd);
      } catch {
        // already closed: nothing to release
      }
      this.fd = STDERR_FD;
    }
  }

  /** Sets the level, clamped to 0..11 as twemproxy's log_init does for -v. */
  setLevel(level: number): void {
    this.level = Math.max(LOG_EMERG, Math.min(LOG_PVERB, Math.trunc(level)));
  }

  /** SIGTTIN: one level more verbose; returns false when already at PVERB. */
  levelUp(): boolean {
    if (this.level >= LOG_PVERB) return false;
    this.level++;
    return true;
  }

  /** SIGTTOU: one level less verbose; returns false when already at EMERG. */
  levelDown(): boolean {
    if (this.level <= LOG_EMERG) return false;
    this.level--;
    return true;
  }

  /** Writes one line whatever the level (twemproxy's loga: startup, shutdown, signals). */
  always(message: string): void {
    writeAll(this.fd, `[${formatLogTime(new Date())}] ${message}\n`);
  }

  /** Writes one line if the level is at least `level`. */
  at(level: number, message: string): void {
    if (this.level >= level) this.always(message);
  }

  /** Errors: printed at level ALERT and above, as twemproxy's log_error. */
  error(message: string): void {
    if (this.level >= LOG_ALERT) this.always(message);
  }

  warn(message: string): void {
    if (this.level >= LOG_WARN) this.always(message);
  }

  notice(message: string): void {
    if (this.level >= LOG_NOTICE) this.always(message);
  }

  info(message: string): void {
    if (this.level >= LOG_INFO) this.always(message);
  }

  debug(message: string): void {
    if (this.level >= LOG_DEBUG) this.always(message);
  }

  verb(message: string): void {
    if (this.level >= LOG_VERB) this.always(message);
  }

  vverb(message: string): void {
    if (this.level >= LOG_VVERB) this.always(message);
  }

  pverb(message: string): void {
    if (this.level >= LOG_PVERB) this.always(message);
  }
}

/** The process-wide logger. */
export const log: Logger = new Logger();
