/**
 * Default values and limits of pool settings (twemproxy's CONF_DEFAULT_* and related constants
 * in nc_conf.h, applied by nc_conf.c conf_validate_pool).
 */
import type { PoolConfig } from './config.js';

/** The value of every optional pool key when the file does not set it. */
export type PoolDefaults = Omit<PoolConfig, 'name' | 'listen' | 'servers'>;

export const DEFAULTS: PoolDefaults = Object.freeze({
  hash: 'fnv1a_64',
  hashTag: null,
  distribution: 'ketama',
  /** 0 = wait forever (twemproxy's unset timeout of -1 behaves the same). */
  timeout: 0,
  backlog: 512,
  clientConnections: 0,
  redis: false,
  redisAuth: null,
  redisDb: 0,
  preconnect: false,
  autoEjectHosts: false,
  serverConnections: 1,
  serverRetryTimeout: 30000,
  serverFailureLimit: 2,
  tcpkeepalive: false,
  reuseport: false,
});

/** Backends on this port are hashed by host alone (libmemcached compatibility). */
export const KETAMA_PORT = 11211;

/** sizeof(sockaddr_un.sun_path) on Linux: a unix socket path must be shorter than this. */
export const UNIX_PATH_MAX = 108;

/** Largest permission accepted for a unix listen socket. */
export const MAX_SOCKET_MODE = 0o777;

/** Largest TCP port. */
export const MAX_PORT = 65535;
