// The stats document layout (spec 8.2): compared with literal strings written from the spec.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newPoolStats, newServerStats, type PoolStats, type ServerStats } from '../../../src/stats/metrics.js';
import type { StatsSnapshot } from '../../../src/stats/snapshot.js';
import { negativeGauges, statsJson, TWEMPROXY_VERSION } from '../../../src/stats/stats-json.js';

const INFO = { source: 'vm', version: '0.5.0', uptime: 12, timestamp: 1795595856 };

function pool(values: Partial<PoolStats>): PoolStats {
  return { ...newPoolStats(), ...values };
}

function server(values: Partial<ServerStats>): ServerStats {
  return { ...newServerStats(), ...values };
}

test('the reported version is twemproxy 0.5.0', () => {
  assert.equal(TWEMPROXY_VERSION, '0.5.0');
});

test('two pools, two servers: twemproxy separators, order and final newline', () => {
  const snapshot: StatsSnapshot = {
    totalConnections: 9,
    currConnections: 4,
    pools: [
      {
        name: 'beta',
        stats: pool({ client_eof: 1, client_err: 2, client_connections: 3, server_ejects: 4, forward_error: 5, fragments: 0 }),
        servers: [
          {
            name: 'srv2',
            stats: server({
              server_eof: 1,
              server_err: 2,
              server_timedout: 3,
              server_connections: 4,
              server_ejected_at: 1795595856123456,
              requests: 6,
              request_bytes: 7,
              responses: 8,
              response_bytes: 9,
              in_queue: 10,
              in_queue_bytes: 11,
              out_queue: 12,
              out_queue_bytes: 13,
            }),
          },
          { name: '127.0.0.1:6379', stats: server({}) },
        ],
      },
      { name: 'alpha', stats: pool({}), servers: [{ name: '127.0.0.1', stats: server({ requests: 20, responses: 20 }) }] },
    ],
  };
  const expected =
    '{"service":"nutcracker", "source":"vm", "version":"0.5.0", "uptime":12, "timestamp":1795595856, ' +
    '"total_connections":9, "curr_connections":4, ' +
    '"beta": {"client_eof":1, "client_err":2, "client_connections":3, "server_ejects":4, "forward_error":5, "fragments":0, ' +
    '"srv2": {"server_eof":1, "server_err":2, "server_timedout":3, "server_connections":4, ' +
    '"server_ejected_at":1795595856123456, "requests":6, "request_bytes":7, "responses":8, "response_bytes":9, ' +
    '"in_queue":10, "in_queue_bytes":11, "out_queue":12, "out_queue_bytes":13},' +
    '"127.0.0.1:6379": {"server_eof":0, "server_err":0, "server_timedout":0, "server_connections":0, ' +
    '"server_ejected_at":0, "requests":0, "request_bytes":0, "responses":0, "response_bytes":0, ' +
    '"in_queue":0, "in_queue_bytes":0, "out_queue":0, "out_queue_bytes":0}},' +
    '"alpha": {"client_eof":0, "client_err":0, "client_connections":0, "server_ejects":0, "forward_error":0, "fragments":0, ' +
    '"127.0.0.1": {"server_eof":0, "server_err":0, "server_timedout":0, "server_connections":0, ' +
    '"server_ejected_at":0, "requests":20, "request_bytes":0, "responses":20, "response_bytes":0, ' +
    '"in_queue":0, "in_queue_bytes":0, "out_queue":0, "out_queue_bytes":0}}}\n';
  const json = statsJson(snapshot, INFO);
  assert.equal(json, expected);
  // And it is JSON.
  const parsed = JSON.parse(json) as Record<string, Record<string, Record<string, number>>>;
  assert.equal(parsed['beta']!['srv2']!['out_queue_bytes'], 13);
});

test('no pools: the header alone', () => {
  const json = statsJson({ totalConnections: 0, currConnections: 0, pools: [] }, INFO);
  assert.equal(
    json,
    '{"service":"nutcracker", "source":"vm", "version":"0.5.0", "uptime":12, "timestamp":1795595856, ' +
      '"total_connections":0, "curr_connections":0}\n',
  );
});

test('negative gauges print as 0; counters and timestamps are printed as they are', () => {
  const snapshot: StatsSnapshot = {
    totalConnections: 3,
    currConnections: -1,
    pools: [
      {
        name: 'p',
        stats: pool({ client_connections: -2, client_eof: 5 }),
        servers: [{ name: 's', stats: server({ server_connections: -1, in_queue: -3, out_queue_bytes: -4, requests: 2 }) }],
      },
    ],
  };
  const parsed = JSON.parse(statsJson(snapshot, INFO)) as Record<string, unknown>;
  assert.equal(parsed['curr_connections'], 0);
  const p = parsed['p'] as Record<string, unknown>;
  assert.equal(p['client_connections'], 0);
  assert.equal(p['client_eof'], 5);
  const s = p['s'] as Record<string, number>;
  assert.deepEqual([s['server_connections'], s['in_queue'], s['out_queue_bytes'], s['requests']], [0, 0, 0, 2]);
});

test('negativeGauges names every gauge below zero, and only gauges', () => {
  const snapshot: StatsSnapshot = {
    totalConnections: -5,
    currConnections: -1,
    pools: [
      {
        name: 'p',
        // client_eof is a counter: never a gauge report, whatever its value.
        stats: pool({ client_connections: -2, client_eof: -7 }),
        servers: [
          { name: 'ok', stats: server({ server_connections: 0, in_queue: 1 }) },
          { name: 'a=b', stats: server({ server_connections: -1, in_queue: -3, out_queue_bytes: -4, requests: -2, server_ejected_at: -1 }) },
        ],
      },
    ],
  };
  assert.deepEqual(negativeGauges(snapshot), [
    'curr_connections=-1',
    'p.client_connections=-2',
    'p.a=b.server_connections=-1',
    'p.a=b.in_queue=-3',
    'p.a=b.out_queue_bytes=-4',
  ]);
  assert.deepEqual(negativeGauges({ totalConnections: 0, currConnections: 0, pools: [] }), []);
});

test('names needing it are JSON-escaped; ordinary names (unix paths, unicode) are written raw', () => {
  const snapshot: StatsSnapshot = {
    totalConnections: 1,
    currConnections: 1,
    pools: [
      {
        name: 'we"ird\\pool',
        stats: pool({}),
        servers: [
          { name: '/run/x.sock:', stats: server({}) },
          { name: 'caf\u00e9\ttab', stats: server({}) },
        ],
      },
    ],
  };
  const json = statsJson(snapshot, { ...INFO, source: 'host"name' });
  assert.ok(json.includes('"source":"host\\"name", '));
  assert.ok(json.includes(', "we\\"ird\\\\pool": {"client_eof":0'));
  assert.ok(json.includes(', "/run/x.sock:": {"server_eof":0'));
  assert.ok(json.includes('},"caf\u00e9\\ttab": {"server_eof":0'));
  const parsed = JSON.parse(json) as Record<string, Record<string, unknown>>;
  assert.deepEqual(Object.keys(parsed['we"ird\\pool']!).slice(-2), ['/run/x.sock:', 'caf\u00e9\ttab']);
});
