/**
 * The built web UI: `<prefix>/` serves dist/ui/index.html and `<prefix>/assets/*` its assets.
 * The directory is found from this module's own location, so it works from src (tests) and
 * from dist (the published package). Without a build, `/` says how to make one.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono, type MiddlewareHandler } from 'hono';
import type { MonitorEnv } from './context.js';

/** packages/flower/dist/ui, from src/routes or dist/routes. */
export const UI_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'ui');

export function staticUi(prefix: string, dir = UI_DIR): Hono<MonitorEnv> {
  const ui = new Hono<MonitorEnv>();
  let assets: MiddlewareHandler | null = null;
  let index: MiddlewareHandler | null = null;
  const ready = () => existsSync(join(dir, 'index.html'));
  const strip = (path: string) => (prefix && path.startsWith(prefix) ? path.slice(prefix.length) : path) || '/';

  ui.get('/assets/*', async (c, next) => {
    if (!ready()) return c.text('not found', 404);
    assets ??= serveStatic({ root: dir, rewriteRequestPath: strip });
    return assets(c, next);
  });
  ui.get('/', async (c, next) => {
    if (!ready()) {
      return c.text(`The monitor's web UI is not built: run \`npm run build -w @tq/flower\` (looked for ${join(dir, 'index.html')}). The API works without it.\n`, 503);
    }
    index ??= serveStatic({ root: dir, path: 'index.html' });
    c.header('Cache-Control', 'no-cache');
    // The page loads only its own scripts and talks only to this origin.
    c.header('Content-Security-Policy', "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
    return index(c, next);
  });
  return ui;
}
