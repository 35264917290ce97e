// A loopback port another listener holds for the length of a test: where Walnut must fail to
// bind (a pool or the stats port) and say so.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';

/** Runs `body` with a 127.0.0.1 port that this process listens on, and lets it go afterwards. */
export async function withTakenPort<T>(body: (port: number) => Promise<T>): Promise<T> {
  const holder: Server = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  try {
    const address = holder.address();
    assert.ok(address !== null && typeof address === 'object');
    return await body(address.port);
  } finally {
    await new Promise<void>((resolve) => holder.close(() => resolve()));
  }
}
