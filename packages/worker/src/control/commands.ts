/**
 * Control commands: changes to a running worker, with Celery's arguments and replies
 * (`{ok: …}` or `{error: …}`; a handler that throws replies `{error: "ValueError('…')"}`, as
 * kombu does for Celery's).
 */
import { parseRateLimit, type QueueDeclaration } from '@tq/core';
import type { Worker } from '../worker.js';
import { commandsOf } from './meta.js';

/** The control commands a tq worker carries out itself (the events step adds the event ones). */
export const CONTROL_COMMANDS = commandsOf('control').filter((name) => !['enable_events', 'disable_events', 'heartbeat'].includes(name));

/** Python's ValueError, which Celery raises for refused commands. */
class ValueError extends Error {
  override name = 'ValueError';
}

const ok = (value: string) => ({ ok: value });
const nok = (value: string) => ({ error: value });

function ids(value: unknown): string[] {
  const list = Array.isArray(value) ? value.flat() : value === undefined || value === null ? [] : [value];
  return [...new Set(list.filter((id): id is string => typeof id === 'string' && id.length > 0))];
}

function optionalNumber(value: unknown): number | null {
  if (value === null || value === undefined || value === '') return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

export function registerControlCommandsOnly(worker: Worker): void {
  const { pidbox, app } = worker;

  const revoke = (args: Record<string, unknown>) => {
    const taskIds = ids(args['task_id']);
    const terminate = args['terminate'] === true;
    const signal = typeof args['signal'] === 'string' && args['signal'] ? args['signal'] : 'SIGTERM';
    const terminated = worker.revoke(taskIds, terminate, signal);
    if (terminate) return ok(terminated.length ? `terminate: ${terminated.join(', ')}` : 'terminate: tasks unknown');
    worker.logger.info(`Tasks flagged as revoked: ${taskIds.join(', ')}`);
    return ok(`tasks ${taskIds.join(', ')} flagged as revoked`);
  };
  pidbox.register('revoke', revoke);
  pidbox.register('terminate', (args) => revoke({ task_id: args['task_id'], terminate: true, signal: args['signal'] }));

  pidbox.register('rate_limit', (args) => {
    const name = String(args['task_name'] ?? '');
    const rate = args['rate_limit'] as string | number | null | undefined;
    try {
      parseRateLimit(rate ?? null);
    } catch (err) {
      return nok(`Invalid rate limit string: ${(err as Error).message.replace(/^\[tq\] /, '')}`);
    }
    if (!app.tasks.has(name)) {
      worker.logger.error(`Rate limit attempt for unknown task ${name}`);
      return nok('unknown task');
    }
    worker.setRateLimit(name, rate ?? null);
    if (!rate) {
      worker.logger.info(`Rate limits disabled for tasks of type ${name}`);
      return ok('rate limit disabled successfully');
    }
    worker.logger.info(`New rate limit for tasks of type ${name}: ${rate}.`);
    return ok('new rate limit set successfully');
  });

  pidbox.register('time_limit', (args) => {
    const name = String(args['task_name'] ?? '');
    if (!app.tasks.has(name)) {
      worker.logger.error(`Change time limit attempt for unknown task ${name}`);
      return nok('unknown task');
    }
    const soft = optionalNumber(args['soft']);
    const hard = optionalNumber(args['hard']);
    worker.setTimeLimits(name, { soft, hard });
    worker.logger.info(`New time limits for tasks of type ${name}: soft=${soft} hard=${hard}`);
    return ok('time limits set successfully');
  });

  pidbox.register('pool_grow', (args) => {
    if (worker.autoscaler) return nok('pool_grow is not supported with autoscale. Adjust autoscale range instead.');
    worker.growPool(positive(args['n']));
    return ok('pool will grow');
  });

  pidbox.register('pool_shrink', (args) => {
    if (worker.autoscaler) return nok('pool_shrink is not supported with autoscale. Adjust autoscale range instead.');
    worker.shrinkPool(positive(args['n']));
    return ok('pool will shrink');
  });

  pidbox.register('autoscale', (args) => {
    if (!worker.autoscaler) throw new ValueError('Autoscale not enabled');
    const [max, min] = worker.autoscaler.update(optionalNumber(args['max']), optionalNumber(args['min']));
    return ok(`autoscale now max=${max} min=${min}`);
  });

  pidbox.register('pool_restart', async () => {
    if (!worker.poolRestarts) throw new ValueError('Pool restarts not enabled');
    await worker.restartPool();
    return ok('reload started');
  });

  pidbox.register('add_consumer', (args) => {
    const queue = String(args['queue'] ?? '');
    if (!queue) return nok('add_consumer needs a queue name');
    const declaration = queueDeclaration(worker, queue, args);
    worker.addQueue(declaration).catch((err: unknown) => worker.logger.error(`add_consumer ${queue} failed: ${(err as Error).message}`));
    return ok(`add consumer ${queue}`);
  });

  pidbox.register('cancel_consumer', (args) => {
    const queue = String(args['queue'] ?? '');
    worker.cancelQueue(queue).catch((err: unknown) => worker.logger.error(`cancel_consumer ${queue} failed: ${(err as Error).message}`));
    return ok(`no longer consuming from ${queue}`);
  });

  pidbox.register('shutdown', (args) => {
    worker.logger.warn(typeof args['msg'] === 'string' ? args['msg'] : 'Got shutdown from remote');
    // Reply first; the warm shutdown starts once the reply is on its way.
    setImmediate(() => void worker.stop());
    return ok('shutting down');
  });
}

function positive(value: unknown): number {
  const n = value === undefined || value === null ? 1 : Number(value);
  if (!Number.isInteger(n) || n < 1) throw new ValueError(`n must be a positive integer, got ${String(value)}`);
  return n;
}

/** The queue `add_consumer` names: the app's declaration, or one built from the arguments (kombu's `Queue.from_dict`). */
function queueDeclaration(worker: Worker, name: string, args: Record<string, unknown>): QueueDeclaration {
  const base = worker.app.router.queue(name);
  const exchange = typeof args['exchange'] === 'string' && args['exchange'] ? args['exchange'] : null;
  const exchangeType = args['exchange_type'] === 'topic' || args['exchange_type'] === 'fanout' ? args['exchange_type'] : 'direct';
  const routingKey = typeof args['routing_key'] === 'string' && args['routing_key'] ? args['routing_key'] : null;
  const declaration: QueueDeclaration = { ...base };
  if (exchange || routingKey) {
    declaration.bindings = [{ exchange: exchange ?? name, routingKey: routingKey ?? name, exchangeType }];
  }
  if (typeof args['durable'] === 'boolean') declaration.durable = args['durable'];
  if (typeof args['auto_delete'] === 'boolean') declaration.autoDelete = args['auto_delete'];
  if (typeof args['exclusive'] === 'boolean') declaration.exclusive = args['exclusive'];
  if (typeof args['queue_arguments'] === 'object' && args['queue_arguments'] !== null) declaration.arguments = args['queue_arguments'] as Record<string, unknown>;
  return declaration;
}
