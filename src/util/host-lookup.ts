/**
 * Host names looked up as twemproxy looks them up. twemproxy hands getaddrinfo the bytes as
 * written; Node's dns.lookup first converts a name to its IDNA form, which maps full-width
 * characters and drops soft hyphens, zero-width spaces and byte-order marks ("１２７.０.０.１"
 * and "local\u00adhost" become 127.0.0.1 and localhost). getaddrinfo knows no name that is not
 * ASCII, so such a host fails in twemproxy, and must fail here too rather than reach a server.
 */
import { lookup, type LookupAddress, type LookupOptions } from 'node:dns';

export function isAsciiHost(host: string): boolean {
  return /^[\x00-\x7f]*$/.test(host);
}

/** getaddrinfo's answer for a name it does not know. */
export function hostNotFound(host: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND', hostname: host });
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** dns.lookup for net.connect's `lookup` option, failing a name that is not ASCII. */
export function asciiLookup(host: string, options: LookupOptions, callback: LookupCallback): void {
  if (!isAsciiHost(host)) {
    process.nextTick(callback, hostNotFound(host), '', 0);
    return;
  }
  lookup(host, options, callback);
}
