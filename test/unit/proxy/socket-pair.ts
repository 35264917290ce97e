// Two connected loopback sockets for the socket I/O unit tests: `a` as a client connects it,
// `b` as a server accepted it, paused (it reads once a test resumes it or adds a reader).
import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';

export interface SocketPair {
  a: Socket;
  b: Socket;
  close(): void;
}

export async function socketPair(): Promise<SocketPair> {
  const server = createServer({ pauseOnConnect: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const accepted = once(server, 'connection');
  const a = connect(address.port, '127.0.0.1');
  const [b] = (await accepted) as [Socket];
  await once(a, 'connect');
  return {
    a,
    b,
    close: () => {
      a.destroy();
      b.destroy();
      server.close();
    },
  };
}
