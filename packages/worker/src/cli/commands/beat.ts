/**
 * `tq beat -A <module>`: send the app's `beatSchedule` entries when they are due (Celery's
 * `celery beat`). State goes to the result backend when it can hold it (then several `tq beat`
 * processes may run: one sends, the others stand by) or to a schedule file. Stops on
 * SIGINT/SIGTERM, handing the lease over.
 */
import { ConfigurationError } from '@tq/core';
import { Beat, type BeatOptions } from '../../beat/beat.js';
import { TQ_VERSION } from '../../events/events-step.js';
import { applyLogLevel, describeOptions, loglevel, numberOption, parse, type Options } from '../args.js';
import { loadApp } from '../load-app.js';

export const summary = 'send periodic tasks: tq beat -A ./src/app.ts [-s celerybeat-schedule]';

const OPTIONS: Options = {
  schedule: { type: 'string', short: 's' },
  store: { type: 'string' },
  'max-interval': { type: 'string' },
  'lease-ttl': { type: 'string' },
  name: { type: 'string' },
};

const STORES = new Set(['auto', 'backend', 'file']);

export async function run(argv: string[]): Promise<number> {
  const { values } = parse('beat', argv, OPTIONS);
  if (values['help']) {
    process.stdout.write(
      `usage: tq beat -A <module> [options]\n` +
        `Sends the app's beatSchedule entries when due. --store backend keeps state and a leader lease in the\n` +
        `result backend (several beats, one sender); --store file (or -s FILE) keeps it in a file (one beat).\n` +
        `options: ${describeOptions(OPTIONS)}\n`,
    );
    return 0;
  }
  const store = values['store'] === undefined ? undefined : String(values['store']);
  if (store !== undefined && !STORES.has(store)) throw new ConfigurationError(`--store must be auto, backend or file, got ${JSON.stringify(store)}`);
  const maxInterval = numberOption(values['max-interval'], 'max-interval');
  const leaseTtl = numberOption(values['lease-ttl'], 'lease-ttl');
  const app = await loadApp(values['app'] as string | undefined);
  applyLogLevel(app, loglevel(values['loglevel']));
  const options: BeatOptions = {
    ...(store ? { store: store as 'auto' | 'backend' | 'file' } : {}),
    ...(values['schedule'] ? { scheduleFile: String(values['schedule']) } : {}),
    ...(maxInterval === undefined ? {} : { maxInterval }),
    ...(leaseTtl === undefined ? {} : { leaseTtl }),
    ...(values['name'] ? { name: String(values['name']) } : {}),
  };
  const beat = new Beat(app, options);
  // The memory transport keeps nothing in Node's event loop, and beat's timers do not either.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  let stopping: Promise<void> | null = null;
  const stopped = new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.stdout.write(`\nbeat: shutting down (${signal})\n`);
      stopping ??= beat.stop().finally(resolve);
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  try {
    process.stdout.write(`tq beat v${TQ_VERSION} is starting.\n`);
    await beat.start();
    const broker = await app.getBroker();
    process.stdout.write(
      [
        `LocalTime -> ${new Date().toISOString().replace('T', ' ').slice(0, 19)}`,
        'Configuration ->',
        `    . broker -> ${broker.name}`,
        `    . state -> ${beat.store!.description}${beat.store!.shared ? ` (lease ${beat.leaseTtl}s, owner ${beat.owner})` : ''}`,
        `    . timezone -> ${beat.timezone}`,
        `    . maxinterval -> ${beat.maxInterval}s`,
        `    . entries -> ${beat.entries.map((e) => `${e.name} (${e.task}, ${String(e.schedule)})`).join('; ') || 'none'}`,
        '',
      ].join('\n'),
    );
    await stopped;
    return 0;
  } finally {
    clearInterval(keepAlive);
    await (stopping ?? beat.stop());
    await app.close();
  }
}
