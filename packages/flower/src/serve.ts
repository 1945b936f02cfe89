/**
 * `serveMonitor(app, options)`: the monitor on its own HTTP server (what `tq flower` runs).
 * Bound beyond loopback it refuses to start without auth: a monitor can revoke tasks and shut
 * workers down, and shows task arguments.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigurationError, type App } from '@tq/core';
import { createMonitor, type Monitor } from './monitor.js';
import type { MonitorOptions } from './types.js';

export interface ServeOptions extends MonitorOptions {
  /** Address to bind (default 127.0.0.1). */
  host?: string;
  /** Port (default 5555; 0 picks a free one). */
  port?: number;
}

export interface ServedMonitor {
  readonly monitor: Monitor;
  readonly server: Server;
  /** `http://host:port/prefix/`. */
  readonly url: string;
  close(): Promise<void>;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export async function serveMonitor(app: App, options: ServeOptions = {}): Promise<ServedMonitor> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 5555;
  if (!isLoopback(host) && !(options.auth?.users.length)) {
    throw new ConfigurationError(
      `refusing to serve the monitor on ${host} without authentication: anyone who can reach it could revoke tasks and shut workers down. Add users (--basic-auth user:password, or auth: { users }) or bind to 127.0.0.1`,
    );
  }
  const monitor = createMonitor(app, options);
  await monitor.start();
  const server = createServer((req, res) => void monitor.handler(req, res));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await monitor.close();
    throw new ConfigurationError(`cannot listen on ${host}:${port}: ${(err as Error).message}`, { cause: err });
  }
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${shown}:${address.port}${monitor.prefix}/`;
  let closing: Promise<void> | null = null;
  return {
    monitor,
    server,
    url,
    close: () =>
      (closing ??= (async () => {
        server.closeAllConnections?.();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await monitor.close();
      })()),
  };
}
