/**
 * `-A <module>`: load the user's app module, as Celery's `-A proj`. The module exports the app
 * as `default` or `app` (or name it: `-A ./src/app.ts:myApp`). TypeScript modules are loaded
 * through tsx when it is installed.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App, ConfigurationError } from '@tq/core';

function isApp(value: unknown): value is App {
  return value instanceof App || (typeof value === 'object' && value !== null && value.constructor?.name === 'App' && 'tasks' in value && 'getBroker' in value);
}

let tsxRegistered = false;

async function ensureTypeScript(path: string): Promise<void> {
  if (tsxRegistered || !/\.[cm]?tsx?$/.test(path)) return;
  try {
    const api = (await import('tsx/esm/api')) as { register(): unknown };
    api.register();
    tsxRegistered = true;
  } catch (err) {
    // Already running under a TypeScript loader (node --import tsx): importing works anyway.
    if (process.execArgv.some((a) => a.includes('tsx'))) return;
    throw new ConfigurationError(`${path} is TypeScript: install tsx (npm install -D tsx) or compile it and pass the .js file`, { cause: err });
  }
}

export async function loadApp(spec: string | undefined): Promise<App> {
  if (!spec) throw new ConfigurationError('no app given: pass -A <module>, e.g. tq worker -A ./src/app.ts (the module exports the app as default or as app)');
  const colon = spec.lastIndexOf(':');
  const hasExport = colon > 1 && !/^[a-z]:[\\/]/i.test(spec) && !spec.slice(colon + 1).includes('/');
  const modulePath = hasExport ? spec.slice(0, colon) : spec;
  const exportName = hasExport ? spec.slice(colon + 1) : undefined;
  const filePath = isAbsolute(modulePath) ? modulePath : resolve(process.cwd(), modulePath);
  const specifier = existsSync(filePath) ? pathToFileURL(filePath).href : modulePath;
  if (!existsSync(filePath) && (modulePath.startsWith('.') || modulePath.startsWith('/'))) {
    throw new ConfigurationError(`app module ${modulePath} not found (looked at ${filePath})`);
  }
  await ensureTypeScript(filePath);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(specifier)) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigurationError(`could not load the app module ${modulePath}: ${(err as Error).message}`, { cause: err });
  }
  const candidates = exportName ? [exportName] : ['default', 'app'];
  for (const name of candidates) {
    const value = mod[name];
    if (isApp(value)) return value;
  }
  const found = Object.keys(mod).filter((k) => isApp(mod[k]));
  throw new ConfigurationError(
    `${modulePath} does not export a tq app as ${candidates.join(' or ')}${found.length ? ` (it exports apps named: ${found.join(', ')}; use -A ${modulePath}:${found[0]})` : ''}`,
  );
}
