/** `tq worker -A <module>`: start a worker for the app's tasks (Celery's `celery worker`). */
import { ConfigurationError } from '@tq/core';
import { Worker } from '../../worker.js';
import { applyLogLevel, describeOptions, listOption, loglevel, numberOption, parse, type Options } from '../args.js';
import { loadApp } from '../load-app.js';

export const summary = 'start a worker: tq worker -A ./src/app.ts [-c 100] [-Q a,b] [-n name@%h]';

const OPTIONS: Options = {
  concurrency: { type: 'string', short: 'c' },
  queues: { type: 'string', short: 'Q', multiple: true },
  'exclude-queues': { type: 'string', short: 'X', multiple: true },
  hostname: { type: 'string', short: 'n' },
  pool: { type: 'string', short: 'P' },
  'prefetch-multiplier': { type: 'string' },
  'shutdown-timeout': { type: 'string' },
};

export async function run(argv: string[]): Promise<number> {
  const { values } = parse('worker', argv, OPTIONS);
  if (values['help']) {
    process.stdout.write(`usage: tq worker -A <module> [options]\noptions: ${describeOptions(OPTIONS)}\n`);
    return 0;
  }
  const pool = values['pool'] === undefined ? undefined : String(values['pool']);
  if (pool !== undefined && pool !== 'async') throw new ConfigurationError(`--pool must be async (got ${JSON.stringify(pool)})`);
  const app = await loadApp(values['app'] as string | undefined);
  applyLogLevel(app, loglevel(values['loglevel']));
  const concurrency = numberOption(values['concurrency'], 'concurrency', { integer: true, min: 1 });
  const prefetchMultiplier = numberOption(values['prefetch-multiplier'], 'prefetch-multiplier', { integer: true, min: 0 });
  const shutdownTimeout = numberOption(values['shutdown-timeout'], 'shutdown-timeout');
  const queues = listOption(values['queues']);
  const excludeQueues = listOption(values['exclude-queues']);
  const worker = new Worker(app, {
    ...(concurrency === undefined ? {} : { concurrency }),
    ...(prefetchMultiplier === undefined ? {} : { prefetchMultiplier }),
    ...(shutdownTimeout === undefined ? {} : { shutdownTimeout }),
    ...(queues ? { queues } : {}),
    ...(excludeQueues ? { excludeQueues } : {}),
    ...(values['hostname'] ? { hostname: String(values['hostname']) } : {}),
  });
  // Signal handlers go in before anything starts, so a supervisor's early SIGTERM is a warm
  // shutdown rather than an abrupt kill. The memory transport keeps nothing else in Node's event
  // loop, so an interval holds it open until shutdown.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  let signals = 0;
  let startup: Promise<void> = Promise.resolve();
  const stopped = new Promise<number>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals === 1) {
        process.stdout.write(`\nworker: warm shutdown (${signal}); send it again to stop at once\n`);
        void startup
          .catch(() => undefined)
          .then(() => worker.stop())
          .then(() => app.close())
          .then(() => resolve(0));
      } else {
        process.stdout.write(`\nworker: cold shutdown (${signal})\n`);
        resolve(1);
      }
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  startup = worker.start();
  await startup;
  process.stdout.write(
    [
      `-------------- ${worker.hostname} v0.1.0`,
      `--- transport:   ${(await app.getBroker()).name}`,
      `--- concurrency: ${worker.pool.concurrency} (${worker.pool.kind})`,
      `--- queues:      ${worker.queues.map((q) => q.name).join(', ')}`,
      `[tasks]`,
      ...[...app.tasks.keys()].sort().map((name) => `  . ${name}`),
      '',
      `${worker.hostname} ready.`,
      '',
    ].join('\n'),
  );
  const code = await stopped;
  clearInterval(keepAlive);
  if (code !== 0) process.exit(code);
  return code;
}
