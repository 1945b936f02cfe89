/**
 * Sending task messages: turns a call (name, arguments, Celery's options) into a protocol v2
 * message, routes it, and publishes it with the retry policy. Inside a running task it also
 * records the parent/root ids and the new task as a child, as Celery does.
 */
import { argsRepr, createTaskMessage, encodeTaskMessage, kwargsRepr, parsePyDatetime, type SignatureDict } from '@tq/protocol';
import { signatureDicts, type ApplyOptions, type LinkTarget } from './apply-options.js';
import type { App } from './app.js';
import type { Broker, QueueDeclaration } from './broker.js';
import { DEFAULT_PUBLISH_RETRY_POLICY, type PublishRetryPolicy } from './config.js';
import { toSeconds, toSecondsOrNull } from './duration.js';
import { BrokerError, ConfigurationError, EncodeError, isTqError } from './errors.js';
import { anonNodename, uuid } from './ids.js';
import type { AnyTask } from './task.js';

/** What was sent, for `taskSent` listeners (events, logs). */
export interface SentTask {
  id: string;
  name: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  argsrepr: string;
  kwargsrepr: string;
  rootId: string;
  parentId: string | null;
  retries: number;
  eta: string | null;
  expires: string | null;
  queue: string;
  exchange: string;
  routingKey: string;
}

function linkList(value: LinkTarget | LinkTarget[] | undefined): SignatureDict[] | null {
  if (value === undefined) return null;
  const list = signatureDicts(value);
  return list.length === 0 ? null : list;
}

function toDate(value: Date | string, what: string): Date {
  const date = value instanceof Date ? value : parsePyDatetime(value);
  if (!date || Number.isNaN(date.getTime())) throw new ConfigurationError(`${what} must be a Date or an ISO-8601 string, got ${JSON.stringify(value)}`);
  return date;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class Producer {
  private readonly declared = new Set<string>();
  readonly origin = anonNodename();

  constructor(private readonly app: App) {}

  /**
   * Build, route and publish a task message. Resolves with the task id once the broker has the
   * message; rejects with a clear error when arguments cannot be encoded or the broker refuses
   * past the retry policy.
   */
  async send(name: string, args: readonly unknown[], options: ApplyOptions, task?: AnyTask): Promise<string> {
    if (!Array.isArray(args)) throw new ConfigurationError(`task args must be an array, got ${typeof args}`);
    const kwargs = options.kwargs ?? {};
    if (typeof kwargs !== 'object' || kwargs === null || Array.isArray(kwargs)) {
      throw new ConfigurationError('task kwargs must be a plain object');
    }
    const app = this.app;
    const conf = app.conf;
    const taskOptions = task?.options;
    const id = options.taskId ?? uuid();
    const parent = app.currentRequest();

    let rootId = options.rootId;
    let parentId = options.parentId;
    let priority = options.priority ?? taskOptions?.priority ?? undefined;
    if (parent && !parent.isEager) {
      rootId ??= parent.rootId ?? parent.id;
      parentId ??= parent.id;
      if (conf.taskInheritParentPriority && priority === undefined && parent.deliveryInfo.priority !== null) {
        priority = parent.deliveryInfo.priority;
      }
    }

    const route = app.router.route(name, args, kwargs, {
      ...(options.queue ?? taskOptions?.queue ? { queue: options.queue ?? taskOptions?.queue } : {}),
      ...(options.exchange ?? taskOptions?.exchange ? { exchange: options.exchange ?? taskOptions?.exchange } : {}),
      ...(options.routingKey ?? taskOptions?.routingKey ? { routingKey: options.routingKey ?? taskOptions?.routingKey } : {}),
      ...(priority === undefined ? {} : { priority }),
    });

    const now = Date.now();
    let eta: Date | null = null;
    if (options.countdown !== undefined && options.countdown !== null) {
      const seconds = toSeconds(options.countdown, 'countdown');
      if (seconds > 0) eta = new Date(now + seconds * 1000);
    } else if (options.eta !== undefined) {
      eta = toDate(options.eta, 'eta');
    }
    const expiresOption = options.expires ?? taskOptions?.expires ?? null;
    let expires: Date | null = null;
    let expirationSeconds: number | null = null;
    if (expiresOption !== null) {
      if (expiresOption instanceof Date || (typeof expiresOption === 'string' && /^\d{4}-/.test(expiresOption))) {
        expires = toDate(expiresOption as Date | string, 'expires');
      } else {
        expires = new Date(now + toSeconds(expiresOption as number | string, 'expires') * 1000);
      }
      expirationSeconds = Math.max(0, (expires.getTime() - now) / 1000);
    }

    const ignoreResult = options.ignoreResult ?? taskOptions?.ignoreResult ?? conf.taskIgnoreResult;
    const message = createTaskMessage({
      id,
      task: name,
      args: [...args],
      kwargs,
      callbacks: linkList(options.link),
      errbacks: linkList(options.linkError),
      chain: options.chain ?? null,
      chord: options.chord ?? null,
      shadow: options.shadow ?? null,
      eta,
      expires,
      group: options.groupId ?? null,
      groupIndex: options.groupIndex ?? null,
      retries: options.retries ?? 0,
      timeLimit: toSecondsOrNull(options.timeLimit, 'timeLimit') ?? taskOptions?.timeLimit ?? null,
      softTimeLimit: toSecondsOrNull(options.softTimeLimit, 'softTimeLimit') ?? taskOptions?.softTimeLimit ?? null,
      rootId: rootId ?? null,
      parentId: parentId ?? null,
      argsrepr: argsRepr(args, conf.argsreprMaxsize),
      kwargsrepr: kwargsRepr(kwargs, conf.argsreprMaxsize),
      origin: this.origin,
      ignoreResult,
      ...(options.headers ? { headers: options.headers } : {}),
      replyTo: options.replyTo ?? app.oid,
      priority: route.priority,
      expirationSeconds,
      ...(options.properties ? { properties: options.properties } : {}),
    });

    let raw;
    try {
      raw = encodeTaskMessage(message, {
        serializer: options.serializer ?? taskOptions?.serializer ?? conf.taskSerializer,
        compression: options.compression !== undefined ? options.compression : (taskOptions?.compression ?? conf.taskCompression),
      });
    } catch (err) {
      if (isTqError(err)) throw err;
      throw new EncodeError(`cannot encode the arguments of ${name}[${id}]: ${(err as Error).message}`, err);
    }

    if (!ignoreResult) {
      // A backend that pushes results (Redis pub/sub, rpc reply queues) must listen before the
      // task can finish, so it is created now if this is the app's first call.
      const backend = app.backendIfReady() ?? (app.config.backend === null ? null : await app.getBackend());
      const listening = backend?.onTaskCall?.(id);
      if (listening) await listening;
    }
    const broker = app.brokerIfReady() ?? (await app.getBroker());
    const declare = this.declare(route.queue);
    const deliverAt = eta && broker.capabilities.delayedDelivery && eta.getTime() > now ? eta.getTime() : undefined;
    const retry = options.retry ?? conf.taskPublishRetry;
    const policy = { ...DEFAULT_PUBLISH_RETRY_POLICY, ...conf.taskPublishRetryPolicy, ...(options.retryPolicy ?? {}) };
    await this.publishWithRetry(broker, () =>
      broker.publish(raw, route.target, { ...(declare ? { declare: [declare] } : {}), ...(deliverAt === undefined ? {} : { deliverAt }) }),
      retry ? policy : null,
      `${name}[${id}]`,
    );
    if (declare) this.declared.add(declare.name);

    if (parent && options.addToParent !== false) parent.children.push({ id, tuple: [[id, null], null] });
    if (app.signals.has('taskSent')) app.signals.emit('taskSent', {
      id,
      name,
      args: message.args,
      kwargs: message.kwargs,
      argsrepr: message.headers.argsrepr,
      kwargsrepr: message.headers.kwargsrepr,
      rootId: message.headers.root_id ?? id,
      parentId: message.headers.parent_id,
      retries: message.headers.retries,
      eta: message.headers.eta,
      expires: message.headers.expires,
      queue: route.queue.name,
      exchange: route.target.exchange,
      routingKey: route.target.routingKey,
    });
    return id;
  }

  private declare(queue: QueueDeclaration): QueueDeclaration | null {
    return this.declared.has(queue.name) ? null : queue;
  }

  private async publishWithRetry(broker: Broker, publish: () => Promise<void>, policy: Required<PublishRetryPolicy> | null, what: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await publish();
        return;
      } catch (err) {
        const retryable = !isTqError(err) || (err as { retryable?: boolean }).retryable === true;
        if (!policy || !retryable || attempt >= policy.maxRetries) {
          if (isTqError(err)) throw err;
          throw new BrokerError(`could not publish ${what} to the ${broker.name} broker: ${(err as Error).message}`, { cause: err });
        }
        const wait = Math.min(policy.intervalMax, policy.intervalStart + attempt * policy.intervalStep);
        this.app.logger.warn(`publish of ${what} failed, retrying in ${wait}s (${attempt + 1}/${policy.maxRetries})`, { error: (err as Error).message });
        await sleep(wait * 1000);
      }
    }
  }
}
