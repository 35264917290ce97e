/**
 * ConfigError: why a configuration file was rejected, with its location and twemproxy's own
 * log text for the same failure (the log_error calls of nc_conf.c conf_* functions).
 */

/** Everything a ConfigError is built from. */
export interface ConfigErrorInit {
  readonly file: string;
  readonly pool?: string | null;
  readonly key?: string | null;
  readonly line?: number | null;
  /** The human explanation: the bad value and what was expected. */
  readonly detail: string;
  /** null for a file twemproxy accepts but Walnut refuses (see the README's differences). */
  readonly twemproxyText: string | null;
}

/**
 * A configuration file that twemproxy would reject, that cannot be read, or (twemproxyText
 * null) that twemproxy reads wrongly and Walnut refuses. `message` is one line:
 * `<file>[:<line>]: [pool "<p>": ][key "<k>": ]<detail>[ [<twemproxy text>]]`.
 */
export class ConfigError extends Error {
  readonly file: string;
  readonly pool: string | null;
  readonly key: string | null;
  readonly line: number | null;
  /** the twemproxy log text for the same failure, e.g. 'conf: directive "hash" is not a valid hash' (used in logs for grep-compatibility) */
  readonly twemproxyText: string | null;
  /** The explanation alone, without location prefix and bracketed twemproxy text. */
  readonly detail: string;

  constructor(init: ConfigErrorInit) {
    super(formatConfigError(init));
    this.name = 'ConfigError';
    this.file = init.file;
    this.pool = init.pool ?? null;
    this.key = init.key ?? null;
    this.line = init.line ?? null;
    this.detail = init.detail;
    this.twemproxyText = init.twemproxyText;
  }
}

function formatConfigError(init: ConfigErrorInit): string {
  let out = init.file;
  if (init.line !== undefined && init.line !== null) out += `:${init.line}`;
  out += ': ';
  if (init.pool !== undefined && init.pool !== null) out += `pool ${quote(init.pool)}: `;
  if (init.key !== undefined && init.key !== null) out += `key ${quote(init.key)}: `;
  // The twemproxy text embeds raw values; escaping keeps the message on one line.
  const twemproxy = init.twemproxyText === null ? '' : ` [${escapeControls(init.twemproxyText)}]`;
  return `${out}${init.detail}${twemproxy}`;
}

/**
 * A user-supplied string in double quotes, control characters escaped, so messages stay on one
 * line; a byte-order mark too, which would be invisible.
 */
export function quote(value: string): string {
  return JSON.stringify(value).replaceAll('\ufeff', '\\ufeff');
}

/** Replaces line breaks and other control characters by visible escapes. */
export function escapeControls(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f\u0085\u2028\u2029]/g, (c) => {
    switch (c) {
      case '\n':
        return '\\n';
      case '\r':
        return '\\r';
      case '\t':
        return '\\t';
      default:
        return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
    }
  });
}
