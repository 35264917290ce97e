/**
 * The validated configuration: what a nutcracker YAML file means once every default is filled
 * in. Mirrors twemproxy's struct conf_pool / conf_server (nc_conf.h). Produced by
 * config/load.ts; read-only afterwards (a reload builds a new Config).
 */
import type { DistributionName, HashName } from '../hash/names.js';

export interface ListenConfig {
  /** The `listen:` value exactly as written (twemproxy compares these for duplicates). */
  readonly raw: string;
  /** TCP: host as written and the address it resolved to; '' for unix sockets. */
  readonly host: string;
  readonly address: string;
  readonly port: number;
  /** Unix socket path, or null for TCP. */
  readonly path: string | null;
  /** Unix socket permission bits (0 = leave as created). */
  readonly mode: number;
}

export interface ServerConfig {
  /** The entry without its ` name` suffix, e.g. `127.0.0.1:6379:1` (twemproxy's pname). */
  readonly pname: string;
  /**
   * The name used for hashing (ketama points) and as the stats key: the explicit name, else
   * `host` when port is 11211, else `host:port` as written, else `/path:` for unix sockets.
   */
  readonly name: string;
  /** TCP host (not resolved: resolution happens on every new connection); '' for unix. */
  readonly host: string;
  readonly port: number;
  /** Unix socket path, or null for TCP. */
  readonly path: string | null;
  readonly weight: number;
}

export interface PoolConfig {
  readonly name: string;
  readonly listen: ListenConfig;
  readonly hash: HashName;
  /** The two hash tag bytes, or null. */
  readonly hashTag: Buffer | null;
  readonly distribution: DistributionName;
  /** Per-request timeout in ms; 0 = wait forever. */
  readonly timeout: number;
  readonly backlog: number;
  /** Maximum client connections of this pool; 0 = unlimited (enforced, unlike twemproxy). */
  readonly clientConnections: number;
  readonly redis: boolean;
  readonly redisAuth: string | null;
  readonly redisDb: number;
  readonly preconnect: boolean;
  readonly autoEjectHosts: boolean;
  readonly serverConnections: number;
  readonly serverRetryTimeout: number;
  readonly serverFailureLimit: number;
  readonly tcpkeepalive: boolean;
  readonly reuseport: boolean;
  /** Servers in twemproxy's order: sorted by name, length first (it decides modula slots). */
  readonly servers: readonly ServerConfig[];
}

export interface Config {
  /** The configuration file path as given on the command line. */
  readonly file: string;
  /** Pools sorted by name, length first (twemproxy's stats order). */
  readonly pools: readonly PoolConfig[];
}
