/**
 * Host names looked up as twemproxy looks them up. twemproxy hands getaddrinfo the bytes as
 * written; Node's dns.lookup first converts a name to its IDNA form, which maps full-width
 * characters and drops soft hyphens, zero-width spaces and byte-order marks ("１２７.０.０.１"
 * and "local\u00adhost" become 127.0.0.1 and localhost). getaddrinfo knows no name that is not
 * ASCII, so such a host fails in twemproxy, and must fail here too rather than reach a server.
 */
import { lookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { lookup as lookupAsync } from 'node:dns/promises';

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

/**
 * The lookup for net.connect to a server's `host`. An empty host (a server written
 * ":6379:1") fails as getaddrinfo("") fails in twemproxy, whose requests for that server get
 * "Host is down": net.connect takes "" for "localhost" before any lookup, and would reach
 * whatever serves that port on this machine.
 */
export function serverLookup(host: string): typeof asciiLookup {
  return host === '' ? emptyHostLookup : asciiLookup;
}

function emptyHostLookup(_host: string, _options: LookupOptions, callback: LookupCallback): void {
  process.nextTick(callback, hostNotFound(''), '', 0);
}

/**
 * getaddrinfo's first answer in its own order, as nc_resolve_inet uses it. An empty name fails
 * as in getaddrinfo: dns.lookup answers it with no address at all, which listen() would take
 * as "every interface".
 */
export async function resolveLikeGetaddrinfo(host: string): Promise<string> {
  if (host === '' || !isAsciiHost(host)) throw hostNotFound(host);
  const { address } = await lookupAsync(host, { verbatim: true });
  return address;
}

const GAI_TEXT: Readonly<Record<string, string>> = {
  ENOTFOUND: 'Name or service not known',
  EAI_NONAME: 'Name or service not known',
  EAI_AGAIN: 'Temporary failure in name resolution',
  EAI_FAIL: 'Non-recoverable failure in name resolution',
  ENODATA: 'No address associated with hostname',
  EAI_NODATA: 'No address associated with hostname',
  EAI_FAMILY: 'ai_family not supported',
  EAI_MEMORY: 'Memory allocation failure',
};

/** gai_strerror's text for a Node lookup error code, as twemproxy prints it. */
export function gaiText(code: string): string {
  return GAI_TEXT[code] ?? (code === '' ? 'resolution failed' : code);
}
