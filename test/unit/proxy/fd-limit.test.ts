// The open-files limit as /proc/self/limits gives it, and the server connections a
// configuration may open, from which the client limit of fd-limit.ts is derived.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PoolConfig } from '../../../src/config/config.js';
import { openFilesLimit, serverConnectionsAllowed } from '../../../src/proxy/fd-limit.js';
import { MAX_SERVER_CONNECTIONS } from '../../../src/proxy/limits.js';

const LIMITS = (soft: string, hard: string): string =>
  'Limit                     Soft Limit           Hard Limit           Units     \n' +
  'Max processes             63704                63704                processes \n' +
  `Max open files            ${soft.padEnd(21)}${hard.padEnd(21)}files     \n`;

test('the soft open-files limit is read; unlimited or missing is no limit', () => {
  assert.equal(openFilesLimit(LIMITS('128', '4096')), 128);
  assert.equal(openFilesLimit(LIMITS('unlimited', 'unlimited')), null);
  assert.equal(openFilesLimit('Limit Soft Limit Hard Limit Units\n'), null);
});

test('server connections allowed: server_connections times servers, each capped as the pools cap them', () => {
  const pool = (serverConnections: number, servers: number): PoolConfig =>
    ({ serverConnections, servers: new Array(servers).fill(null) }) as unknown as PoolConfig;
  assert.equal(serverConnectionsAllowed([pool(1, 2), pool(64, 4)]), 2 + 256);
  assert.equal(serverConnectionsAllowed([pool(2 ** 31 - 1, 3)]), MAX_SERVER_CONNECTIONS * 3);
});
