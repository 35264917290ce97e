/**
 * Scalar helpers shared by the config parsers: twemproxy's nc_atoi (nc_util.c) with its exact
 * overflow behaviour, and byte-level string measures (twemproxy works on bytes, not characters).
 */

/**
 * twemproxy's nc_atoi: ASCII digits only, accumulated in a 32-bit int that silently wraps, and -1
 * for an empty string, any other character, or a negative final value. So `2147483648` is
 * rejected while `4294967296` is accepted as 0, exactly as the C code does.
 */
export function ncAtoi(text: string): number {
  if (text.length === 0) return -1;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    value = (Math.imul(value, 10) + (c - 0x30)) | 0;
  }
  return value < 0 ? -1 : value;
}

/** True when every character is an ASCII digit (and there is at least one). */
export function isDigits(text: string): boolean {
  return /^[0-9]+$/.test(text);
}

/** Length in UTF-8 bytes, the length twemproxy sees. */
export function byteLength(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}
