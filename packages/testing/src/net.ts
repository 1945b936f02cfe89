/** Loopback ports for tests. */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/**
 * A loopback TCP forwarder to a real server that starts listening only when told to: a broker
 * that comes up after its clients (or goes away: `close()` drops every connection). With `tls`
 * it terminates TLS in front of a plain server, as stunnel or a load balancer does.
 */
export class TcpForwarder {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();

  constructor(
    readonly port: number,
    readonly target: { host?: string; port: number },
    readonly tls?: { cert: Buffer; key: Buffer },
  ) {}

  listen(): Promise<void> {
    const forward = (client: Socket) => {
      const upstream = connect(this.target.port, this.target.host ?? '127.0.0.1');
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.once('close', () => this.sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.once('close', () => upstream.destroy());
      upstream.once('close', () => client.destroy());
    };
    const server = this.tls ? createTlsServer(this.tls, forward) : createServer(forward);
    // A client that refuses the certificate ends the handshake; that is its business, not an error here.
    server.on('tlsClientError', () => undefined);
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
  }

  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    const server = this.server;
    this.server = null;
    return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
}
