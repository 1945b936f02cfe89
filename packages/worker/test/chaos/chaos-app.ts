/**
 * The chaos run's app, imported by its worker and beat processes and by their pool children:
 * transports from the environment the harness sets, one acksLate task that records each
 * execution in a ledger file (start and end, with the pids), and a beat entry every second.
 * The harness passes each transport's options as JSON (SQS needs a queue-name prefix, MongoDB
 * refuses Redis's key prefix); without them, the Redis/RabbitMQ options below.
 */
import { appendFileSync } from 'node:fs';
import { createApp, type TaskContext } from '@tq/core';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`the chaos app needs ${name} (set by the chaos harness)`);
  return value;
};

const prefix = process.env['TQ_CHAOS_PREFIX'] ?? 'chaos:';
const ledger = env('TQ_CHAOS_LEDGER');
const json = (name: string): Record<string, unknown> | undefined => {
  const value = process.env[name];
  return value ? (JSON.parse(value) as Record<string, unknown>) : undefined;
};

export const app = createApp({
  main: 'chaos',
  broker: env('TQ_CHAOS_BROKER'),
  backend: env('TQ_CHAOS_BACKEND'),
  taskDefaultQueue: env('TQ_CHAOS_QUEUE'),
  // A killed worker's unacknowledged Redis (and SQS) messages come back after this long (RabbitMQ: at once).
  brokerTransportOptions: json('TQ_CHAOS_BROKER_OPTIONS') ?? { globalKeyprefix: prefix, visibilityTimeout: 6, unackedRestoreInterval: 1 },
  resultBackendTransportOptions: json('TQ_CHAOS_BACKEND_OPTIONS') ?? { globalKeyprefix: prefix },
  beatSchedule: { tick: { task: 'chaos.tick', schedule: 1 } },
});

/** Append one line; O_APPEND writes this small are atomic across processes. */
function record(line: string): void {
  appendFileSync(ledger, `${line}\n`);
}

export const work = app.task(
  // Not `bind`: that passes the request as the first argument; `this` is the request anyway.
  { name: 'chaos.work', acksLate: true, rejectOnWorkerLost: true },
  async function (this: TaskContext, i: number, ms: number) {
    record(`S ${this.id} ${process.pid} ${process.ppid} ${Date.now()}`);
    await new Promise((resolve) => setTimeout(resolve, ms));
    record(`E ${this.id} ${process.pid} ${Date.now()}`);
    return i;
  },
);

export const tick = app.task({ name: 'chaos.tick' }, function (this: TaskContext) {
  record(`T ${this.id} ${process.pid} ${Date.now()}`);
});

export default app;
