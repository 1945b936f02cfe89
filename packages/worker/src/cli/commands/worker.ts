/** `tq worker -A <module>`: start a worker for the app's tasks (Celery's `celery worker`). */
import { createWriteStream, type WriteStream } from 'node:fs';
import { ConfigurationError, createConsoleLogger, isTqError, toSeconds, type App, type Logger } from '@tq/core';
import { POOL_KINDS, type PoolKind } from '../../pools/pool.js';
import { parseMemorySize } from '../../size.js';
import { Worker } from '../../worker.js';
import { applyLogLevel, describeOptions, listOption, loglevel, numberOption, parse, type Options } from '../args.js';
import { loadApp } from '../load-app.js';
import { acquirePidfile } from '../pidfile.js';

export const summary = 'start a worker: tq worker -A ./src/app.ts [-P process] [-c 4] [-Q a,b] [-n name@%h]';

const OPTIONS: Options = {
  concurrency: { type: 'string', short: 'c' },
  pool: { type: 'string', short: 'P' },
  queues: { type: 'string', short: 'Q', multiple: true },
  'exclude-queues': { type: 'string', short: 'X', multiple: true },
  hostname: { type: 'string', short: 'n' },
  'prefetch-multiplier': { type: 'string' },
  optimization: { type: 'string', short: 'O' },
  autoscale: { type: 'string' },
  'max-tasks-per-child': { type: 'string' },
  'pool-window': { type: 'string' },
  'max-memory-per-child': { type: 'string' },
  'time-limit': { type: 'string' },
  'soft-time-limit': { type: 'string' },
  statedb: { type: 'string', short: 'S' },
  autoreload: { type: 'boolean' },
  logfile: { type: 'string', short: 'f' },
  pidfile: { type: 'string' },
  'shutdown-timeout': { type: 'string' },
  'without-mingle': { type: 'boolean' },
  'task-events': { type: 'boolean', short: 'E' },
  'without-heartbeat': { type: 'boolean' },
  beat: { type: 'boolean', short: 'B' },
  schedule: { type: 'string', short: 's' },
  'control-allow': { type: 'string', multiple: true },
};

const HELP = `usage: tq worker -A <module[:export]> [options]

  -P, --pool async|process|thread|solo   where tasks run (default async); see the README's pool table
  -c, --concurrency N                     slots (default: 100 async, 1 solo, CPUs otherwise)
  -Q, --queues a,b   -X, --exclude-queues a,b
  -n, --hostname name@%h                  node name (default celery@%h)
  --prefetch-multiplier N                 messages prefetched per slot (default 4; 0 = no limit)
  -O fair                                 hold no more messages than there are free slots
  --autoscale max,min                     grow under backlog, shrink after idle
  --max-tasks-per-child N                 replace a child after N tasks (process/thread pools)
  --pool-window N                         jobs a pool child holds: the one it runs + N-1 queued (default 1)
  --max-memory-per-child SIZE             replace a child above SIZE after a task (KiB, or 200MB)
  --time-limit S, --soft-time-limit S     worker-wide time limits in seconds
  -S, --statedb FILE                      keep revoked ids across restarts
  --autoreload                            restart the pool when the app's files change (process/thread pools)
  -f, --logfile FILE    --pidfile FILE    -l, --loglevel debug|info|warn|error
  --shutdown-timeout S                    warm shutdown waits this long for running tasks (default 30)
  --without-mingle                        do not sync revokes with other workers at start-up
  -E, --task-events                       send task events (monitoring); --without-heartbeat
  -B, --beat                              also run beat (periodic tasks); -s, --schedule FILE
  --control-allow a,b                     remote-control commands accepted (names, or inspect/control); others refused
`;

function poolOption(value: unknown): PoolKind | undefined {
  if (value === undefined) return undefined;
  const pool = String(value) === 'prefork' ? 'process' : String(value) === 'threads' ? 'thread' : String(value);
  if (!(POOL_KINDS as readonly string[]).includes(pool)) {
    throw new ConfigurationError(`--pool must be one of ${POOL_KINDS.join(', ')} (got ${JSON.stringify(value)})`);
  }
  return pool as PoolKind;
}

function autoscaleOption(value: unknown): [number, number] | undefined {
  if (value === undefined) return undefined;
  const m = /^\s*(\d+)\s*(?:,\s*(\d+)\s*)?$/.exec(String(value));
  if (!m) throw new ConfigurationError(`--autoscale must be max,min (e.g. --autoscale 10,3), got ${JSON.stringify(value)}`);
  const max = Number(m[1]);
  const min = m[2] === undefined ? 0 : Number(m[2]);
  if (max < 1 || min > max) throw new ConfigurationError(`--autoscale needs max ≥ 1 and min ≤ max, got ${JSON.stringify(value)}`);
  return [max, min];
}

function durationOption(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  try {
    const seconds = toSeconds(String(value), name);
    if (seconds <= 0) throw new Error('not positive');
    return seconds;
  } catch {
    throw new ConfigurationError(`--${name} must be a positive number of seconds (or like 30s, 5m), got ${JSON.stringify(value)}`);
  }
}

function optimizationOption(value: unknown): 'default' | 'fair' | undefined {
  if (value === undefined) return undefined;
  if (value === 'fair' || value === 'default') return value;
  throw new ConfigurationError(`-O must be fair or default, got ${JSON.stringify(value)}`);
}

/** `--logfile`: tq's console logger writes lines to the file instead of stderr. */
function fileLogger(app: App, path: string, level: ReturnType<typeof loglevel>): { logger: Logger; stream: WriteStream } {
  const stream = createWriteStream(path, { flags: 'a' });
  stream.on('error', (err) => process.stderr.write(`tq worker: cannot write the log file ${path}: ${err.message}\n`));
  const logger = createConsoleLogger({ level, name: app.conf.main === '__main__' ? 'tq' : app.conf.main, write: (line) => stream.write(`${line}\n`) });
  const current = app.logger as { level?: unknown };
  if (typeof current.level === 'string') Object.defineProperty(app, 'logger', { value: logger, configurable: true, writable: true });
  else process.stderr.write(`tq worker: the app has its own logger; --logfile applies to the worker's lines only\n`);
  return { logger, stream };
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parse('worker', argv, OPTIONS);
  if (values['help']) {
    process.stdout.write(`${HELP}\nall options: ${describeOptions({ ...OPTIONS })}\n`);
    return 0;
  }
  // Check every flag before anything is loaded or started.
  const pool = poolOption(values['pool']);
  const concurrency = numberOption(values['concurrency'], 'concurrency', { integer: true, min: 1 });
  const prefetchMultiplier = numberOption(values['prefetch-multiplier'], 'prefetch-multiplier', { integer: true, min: 0 });
  const shutdownTimeout = numberOption(values['shutdown-timeout'], 'shutdown-timeout');
  const optimization = optimizationOption(values['optimization']);
  const autoscale = autoscaleOption(values['autoscale']);
  const maxTasksPerChild = numberOption(values['max-tasks-per-child'], 'max-tasks-per-child', { integer: true, min: 1 });
  const poolWindow = numberOption(values['pool-window'], 'pool-window', { integer: true, min: 1 });
  const maxMemoryPerChild = values['max-memory-per-child'] === undefined ? undefined : parseMemorySize(String(values['max-memory-per-child']), '--max-memory-per-child');
  const timeLimit = durationOption(values['time-limit'], 'time-limit');
  const softTimeLimit = durationOption(values['soft-time-limit'], 'soft-time-limit');
  const level = loglevel(values['loglevel']);
  const queues = listOption(values['queues']);
  const excludeQueues = listOption(values['exclude-queues']);
  const controlAllow = listOption(values['control-allow']);
  const appSpec = values['app'] as string | undefined;

  const pidfile = values['pidfile'] ? acquirePidfile(String(values['pidfile'])) : null;
  let logStream: WriteStream | null = null;
  try {
    const app = await loadApp(appSpec);
    applyLogLevel(app, level);
    let logger: Logger | undefined;
    if (values['logfile']) ({ logger, stream: logStream } = fileLogger(app, String(values['logfile']), level));
    const worker = new Worker(app, {
      appModule: appSpec!,
      events: { taskEvents: values['task-events'] === true, withoutHeartbeat: values['without-heartbeat'] === true },
      ...(values['beat'] ? { beat: values['schedule'] ? { scheduleFile: String(values['schedule']) } : true } : {}),
      ...(logger ? { logger } : {}),
      ...(pool ? { pool } : {}),
      ...(concurrency === undefined ? {} : { concurrency }),
      ...(prefetchMultiplier === undefined ? {} : { prefetchMultiplier }),
      ...(shutdownTimeout === undefined ? {} : { shutdownTimeout }),
      ...(optimization ? { optimization } : {}),
      ...(autoscale ? { autoscale } : {}),
      ...(maxTasksPerChild === undefined ? {} : { maxTasksPerChild }),
      ...(poolWindow === undefined ? {} : { poolWindow }),
      ...(maxMemoryPerChild === undefined ? {} : { maxMemoryPerChild }),
      ...(timeLimit === undefined ? {} : { timeLimit }),
      ...(softTimeLimit === undefined ? {} : { softTimeLimit }),
      ...(values['statedb'] ? { statedb: String(values['statedb']) } : {}),
      ...(values['autoreload'] ? { autoreload: true } : {}),
      ...(values['without-mingle'] ? { mingle: false } : {}),
      ...(queues ? { queues } : {}),
      ...(excludeQueues ? { excludeQueues } : {}),
      ...(controlAllow ? { controlAllow } : {}),
      ...(values['hostname'] ? { hostname: String(values['hostname']) } : {}),
    });
    return await serve(app, worker);
  } finally {
    pidfile?.release();
    logStream?.end();
  }
}

/** Run until a signal or the `shutdown` command: first SIGTERM/SIGINT warm, second (or SIGQUIT) cold, third at once. */
async function serve(app: App, worker: Worker): Promise<number> {
  // Signal handlers go in before anything starts, so a supervisor's early SIGTERM is a warm
  // shutdown rather than an abrupt kill. The memory transport keeps nothing else in Node's event
  // loop, so an interval holds it open until shutdown.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  let signals = 0;
  let exitCode = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signal === 'SIGQUIT' && signals === 1) signals = 2;
    if (signals === 1) {
      process.stdout.write(`\nworker: warm shutdown (${signal}); send it again to stop at once\n`);
      // A stop during start ends a wait for the broker and otherwise lets the start finish first.
      void worker.stop();
    } else if (signals === 2) {
      exitCode = 1;
      process.stdout.write(`\nworker: cold shutdown (${signal}): running tasks are ended, acksLate ones go back to the queue\n`);
      void worker.stop({ cold: true });
    } else {
      process.stdout.write(`\nworker: exiting now (${signal})\n`);
      process.exit(1);
    }
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGQUIT', onSignal);
  try {
    try {
      await worker.start();
    } catch (err) {
      if (!isTqError(err, 'START_ABORTED')) throw err;
      // Stopped by a signal while it waited for the broker: a normal end.
      await app.close();
      return exitCode;
    }
    process.stdout.write(banner(app, worker, (await app.getBroker()).name));
    await worker.stopped;
    await app.close();
    return exitCode;
  } finally {
    clearInterval(keepAlive);
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    process.off('SIGQUIT', onSignal);
  }
}

function banner(app: App, worker: Worker, transport: string): string {
  const limits = [worker.softTimeLimit ? `soft ${worker.softTimeLimit}s` : null, worker.timeLimit ? `hard ${worker.timeLimit}s` : null].filter(Boolean).join(', ');
  const concurrency = worker.autoscaler ? `${worker.autoscaler.min}..${worker.autoscaler.max} (autoscale)` : String(worker.pool.concurrency);
  return [
    `-------------- ${worker.hostname} v0.1.0`,
    `--- transport:   ${transport}`,
    `--- concurrency: ${concurrency} (${worker.pool.kind})`,
    `--- prefetch:    ${worker.optimization === 'fair' ? 'fair (free slots only)' : worker.prefetchMultiplier === 0 ? 'no limit' : `${worker.prefetchMultiplier} per slot`}`,
    ...(limits ? [`--- limits:      ${limits}`] : []),
    ...(worker.statedb ? [`--- statedb:     ${worker.statedb.path}`] : []),
    `--- queues:      ${worker.queues.map((q) => q.name).join(', ')}`,
    `[tasks]`,
    ...[...app.tasks.keys()].sort().map((name) => `  . ${name}`),
    '',
    `${worker.hostname} ready.`,
    '',
  ].join('\n');
}
