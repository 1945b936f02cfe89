/**
 * `createMonitor(app, options)`: tq's monitor as a request handler to mount anywhere — a
 * standard `fetch(Request) → Response` and a Node `(req, res)` handler (http.createServer,
 * express, fastify's middie) — plus `start()` (subscribe to events, poll the workers, sample
 * queues, load history) and `close()`.
 *
 *   const monitor = createMonitor(app, { prefix: '/flower' });
 *   await monitor.start();
 *   http.createServer(monitor.handler).listen(5555);
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import type { App } from '@tq/core';
import { Auth } from './auth.js';
import { MonitorEngine } from './engine.js';
import { createHttpApp, normalizePrefix } from './http.js';
import type { MonitorOptions } from './types.js';
import { VERSION } from './version.js';

export interface Monitor {
  /** A standard fetch handler (Request → Response). */
  readonly fetch: (request: Request) => Promise<Response>;
  /** A Node handler for http.createServer and middleware stacks. */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  /** The URL prefix in use ('' for none). */
  readonly prefix: string;
  /** The model behind the API (State, inspect cache, history, metrics). */
  readonly engine: MonitorEngine;
  start(): Promise<void>;
  close(): Promise<void>;
}

export function createMonitor(app: App, options: MonitorOptions = {}): Monitor {
  const prefix = normalizePrefix(options.prefix);
  const auth = new Auth(options.auth?.users);
  const engine = new MonitorEngine(app, options);
  const http = createHttpApp({ app, engine, auth, readOnly: options.readOnly ?? false, version: VERSION }, prefix);
  const fetch = async (request: Request): Promise<Response> => http.fetch(request);
  const handler = getRequestListener(fetch) as (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  return {
    fetch,
    handler,
    prefix,
    engine,
    start: () => engine.start(),
    close: () => engine.close(),
  };
}
