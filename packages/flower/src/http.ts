/**
 * The monitor's HTTP application (hono): under the prefix, `/healthcheck` and `/metrics` open
 * (as in Flower), everything else behind basic auth when users are configured; every POST needs
 * the session's `X-CSRF-Token` and is refused in read-only mode or for a read-only user.
 * Errors answer JSON `{ error }` with the status Flower would give.
 */
import { isTqError, redactUrl } from '@tq/core';
import { Hono } from 'hono';
import { flowerApi } from './routes/flower-api.js';
import { HttpError, type MonitorEnv, type RouteContext } from './routes/context.js';
import { staticUi } from './routes/static-ui.js';
import { uiApi } from './routes/ui-api.js';
import { SearchError } from './search.js';

export function normalizePrefix(prefix: string | undefined): string {
  if (!prefix || prefix === '/') return '';
  const p = `/${prefix.replace(/^\/+|\/+$/g, '')}`;
  if (!/^[A-Za-z0-9/_.~-]+$/.test(p)) throw new HttpError(400, `prefix may only contain letters, digits and / _ . ~ -, got ${JSON.stringify(prefix)}`);
  return p;
}

export function createHttpApp(ctx: RouteContext, prefix: string): Hono<MonitorEnv> {
  const root = new Hono<MonitorEnv>();
  const http = new Hono<MonitorEnv>();

  http.use('*', async (c, next) => {
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'no-referrer');
    c.header('X-Frame-Options', 'DENY');
    await next();
  });

  http.get('/healthcheck', (c) => c.text('OK'));
  http.get('/metrics', (c) => c.text(ctx.engine.metrics.render(ctx.engine.state.workers.values()), 200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' }));

  http.use('*', async (c, next) => {
    let user = null;
    if (ctx.auth.enabled) {
      user = ctx.auth.verify(c.req.header('authorization'));
      if (!user) {
        c.header('WWW-Authenticate', 'Basic realm="tq flower", charset="UTF-8"');
        return c.json({ error: 'authentication required' }, 401);
      }
    }
    c.set('user', user);
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      if (!ctx.auth.checkCsrf(user, c.req.header('x-csrf-token'))) return c.json({ error: 'missing or wrong X-CSRF-Token header (read it from GET /api/ui/session)' }, 403);
      if (ctx.readOnly) return c.json({ error: 'the monitor is read-only' }, 403);
      if (user?.role === 'read-only') return c.json({ error: `user ${user.username} is read-only` }, 403);
    }
    await next();
  });

  http.route('/', flowerApi(ctx));
  http.route('/', uiApi(ctx));
  http.route('/', staticUi(prefix));

  http.notFound((c) => c.json({ error: `no such endpoint: ${c.req.method} ${c.req.path}` }, 404));
  http.onError((err, c) => {
    if (err instanceof HttpError) return c.json({ error: err.message }, err.status);
    if (err instanceof SearchError) return c.json({ error: err.message.replace(/^\[tq\] /, '') }, 400);
    const message = redactUrl(err instanceof Error ? err.message : String(err));
    if (isTqError(err, 'CONFIGURATION_ERROR') || isTqError(err, 'NOT_REGISTERED')) return c.json({ error: message }, 400);
    ctx.app.logger.error(`[flower] ${c.req.method} ${c.req.path} failed: ${message}`);
    return c.json({ error: message }, isTqError(err) && err.retryable ? 503 : 500);
  });

  if (prefix) {
    root.get(prefix, (c) => c.redirect(`${prefix}/`, 301));
    root.route(prefix, http);
    // route() maps the sub-app's '/' to `<prefix>` alone; the UI's page is `<prefix>/` (its assets are relative).
    root.get(`${prefix}/`, (c) => http.fetch(new Request(new URL('/', c.req.url), c.req.raw), c.env));
    root.notFound((c) => c.json({ error: `not found: the monitor is under ${prefix}/` }, 404));
    return root;
  }
  return http;
}
