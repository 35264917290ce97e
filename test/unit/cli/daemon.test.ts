// The daemon child marker.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DAEMON_ENV, isDaemonChild } from '../../../src/cli/daemon.js';

test('isDaemonChild reads the marker set for the re-spawned child', () => {
  assert.equal(isDaemonChild({}), false);
  assert.equal(isDaemonChild({ [DAEMON_ENV]: '0' }), false);
  assert.equal(isDaemonChild({ [DAEMON_ENV]: '1' }), true);
});
