/**
 * `tq flower -A <module>` (or `tq flower --broker URL`, no app module needed): serve the web
 * monitor and Flower's REST API on 127.0.0.1:5555. The monitor lives in @tq/flower, loaded only
 * here, so the worker package does not depend on it; without it installed the command says
 * what to install.
 */
import { ConfigurationError, createApp, redactUrl, type App } from '@tq/core';
import { applyLogLevel, describeOptions, listOption, loglevel, numberOption, parse, type Options } from '../args.js';
import { loadApp } from '../load-app.js';

export const summary = 'serve the web monitor: tq flower -A ./src/app.ts [--port 5555] [--basic-auth user:pass]';

const OPTIONS: Options = {
  port: { type: 'string', short: 'p' },
  address: { type: 'string' },
  'basic-auth': { type: 'string', multiple: true },
  'read-only-user': { type: 'string', multiple: true },
  'read-only': { type: 'boolean' },
  history: { type: 'string' },
  'max-tasks': { type: 'string' },
  'max-age': { type: 'string' },
  'url-prefix': { type: 'string' },
  'inspect-interval': { type: 'string' },
  'purge-offline-workers': { type: 'string' },
};

/** The part of @tq/flower this command uses (typed here so the worker needs no build-time link to it). */
interface FlowerModule {
  serveMonitor(app: App, options: Record<string, unknown>): Promise<{ url: string; close(): Promise<void> }>;
  parseBasicAuth(spec: string, role?: 'admin' | 'read-only'): { username: string; password: string; role?: string };
}

async function loadFlower(): Promise<FlowerModule> {
  const name = '@tq/flower';
  try {
    return (await import(name)) as FlowerModule;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND' && String((err as Error).message).includes(name)) {
      throw new ConfigurationError(`tq flower needs the package @tq/flower; install it with: npm install @tq/flower`, { cause: err });
    }
    throw err;
  }
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parse('flower', argv, OPTIONS);
  if (values['help']) {
    process.stdout.write(
      `usage: tq flower [-A <module> | --broker URL] [--port 5555] [--address 127.0.0.1] [--basic-auth user:pass] [--read-only] [--history redis://…] [--url-prefix /flower]\n` +
        `Serves the monitor: dashboard, tasks, workers, queues, beat, Flower's REST API, /metrics.\n` +
        `Bound beyond loopback it needs --basic-auth.\n` +
        `options: ${describeOptions(OPTIONS)}\n`,
    );
    return 0;
  }
  const flower = await loadFlower();
  const app = values['app'] ? await loadApp(values['app'] as string) : values['broker'] ? createApp({ main: 'flower' }) : null;
  if (!app) throw new ConfigurationError('tq flower needs an app (-A ./src/app.ts) or a broker URL (--broker redis://127.0.0.1:6379/0)');
  applyLogLevel(app, loglevel(values['loglevel'], 'info'));
  const users = [
    ...(listOption(values['basic-auth']) ?? []).map((s) => flower.parseBasicAuth(s, 'admin')),
    ...(listOption(values['read-only-user']) ?? []).map((s) => flower.parseBasicAuth(s, 'read-only')),
  ];
  const maxTasks = numberOption(values['max-tasks'], 'max-tasks', { integer: true, min: 1 });
  const maxAge = numberOption(values['max-age'], 'max-age', { min: 1 });
  const purge = numberOption(values['purge-offline-workers'], 'purge-offline-workers');
  const options: Record<string, unknown> = {
    host: (values['address'] as string | undefined) ?? '127.0.0.1',
    port: numberOption(values['port'], 'port', { integer: true }) ?? 5555,
    readOnly: values['read-only'] === true,
    history: {
      store: (values['history'] as string | undefined) ?? 'memory',
      retention: { ...(maxTasks === undefined ? {} : { maxTasks }), ...(maxAge === undefined ? {} : { maxAgeSeconds: maxAge }) },
    },
    ...(users.length ? { auth: { users } } : {}),
    ...(values['url-prefix'] ? { prefix: values['url-prefix'] } : {}),
    ...(values['inspect-interval'] ? { inspectInterval: numberOption(values['inspect-interval'], 'inspect-interval') } : {}),
    ...(purge === undefined ? {} : { purgeOfflineWorkers: purge }),
  };
  // Nothing else may hold the event loop open on the memory transport.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  try {
    const served = await flower.serveMonitor(app, options);
    const broker = await app.getBroker();
    const history = (options['history'] as { store: string }).store;
    app.logger.info(`tq flower: serving ${served.url} (${broker.name} broker, history ${redactUrl(history)}${users.length ? `, ${users.length} user(s)` : ', no auth'}${options['readOnly'] ? ', read-only' : ''})`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    await served.close();
    return 0;
  } finally {
    clearInterval(keepAlive);
    await app.close();
  }
}
