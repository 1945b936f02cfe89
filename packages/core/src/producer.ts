/**
 * Sending task messages: turns a call (name, arguments, Celery's options) into a protocol v2
 * message, routes it, and publishes it with the retry policy. Inside a running task it also
 * records the parent/root ids and the new task as a child, as Celery does.
 */
import { argsRepr, createTaskMessage, encodeTaskMessage, kwargsRepr, parsePyDatetime, type RawMessage, type SignatureDict, type TaskMessage } from '@tq/protocol';
import { signatureDicts, type ApplyOptions, type LinkTarget } from './apply-options.js';
import type { App } from './app.js';
import type { Broker, QueueDeclaration } from './broker.js';
import type { PublishRetryPolicy } from './config.js';
import { toSeconds, toSecondsOrNull } from './duration.js';
import { BrokerError, ConfigurationError, EncodeError, isTqError } from './errors.js';
import { anonNodename, uuid } from './ids.js';
import type { ResolvedRoute, Route } from './routing.js';
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

interface BuiltCall {
  id: string;
  name: string;
  message: TaskMessage;
  raw: RawMessage;
  route: ResolvedRoute;
  eta: Date | null;
  now: number;
  ignoreResult: boolean;
  /** The running task to record this one as a child of, if any. */
  parent: CurrentRequestLike | null;
}

type CurrentRequestLike = NonNullable<ReturnType<App['currentRequest']>>;

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
  private readonly declaring = new Map<string, Promise<void>>();
  readonly origin = anonNodename();

  constructor(private readonly app: App) {}

  /**
   * Build, route and publish a task message. Resolves with the task id once the broker has the
   * message; rejects with a clear error when arguments cannot be encoded or the broker refuses
   * past the retry policy.
   */
  send(name: string, args: readonly unknown[], options: ApplyOptions, task?: AnyTask): Promise<string> {
    const app = this.app;
    let call: BuiltCall;
    try {
      call = this.build(name, args, options, task, app.currentRequest());
    } catch (err) {
      return Promise.reject(err);
    }
    // Not an async function in the usual case (backend and broker connected, the queue declared):
    // the publish is settled into the id by one `then` (docs/performance.md).
    const backend = call.ignoreResult ? null : app.backendIfReady();
    const broker = app.brokerIfReady();
    if ((backend || call.ignoreResult || app.config.backend === null) && broker && this.declared.has(call.route.queue.name)) {
      const listening = backend?.onTaskCall?.(call.id);
      const published = listening
        ? listening.then(() => this.publishWithRetry(broker, call, null, options))
        : this.publishWithRetry(broker, call, null, options);
      return published.then(() => this.sent(call));
    }
    return this.sendInSteps(call, options);
  }

  /** `send` while the backend or broker is still connecting, or to a queue not declared yet. */
  private async sendInSteps(call: BuiltCall, options: ApplyOptions): Promise<string> {
    const app = this.app;
    if (!call.ignoreResult) {
      // A backend that pushes results (Redis pub/sub, rpc reply queues) must listen before the
      // task can finish, so it is created now if this is the app's first call.
      const backend = app.backendIfReady() ?? (app.config.backend === null ? null : await app.getBackend());
      const listening = backend?.onTaskCall?.(call.id);
      if (listening) await listening;
    }
    const broker = app.brokerIfReady() ?? (await app.getBroker());
    // Declared already (the usual case): straight to the publish, no extra step on the way.
    if (this.declared.has(call.route.queue.name)) await this.publishWithRetry(broker, call, null, options);
    else await this.publishDeclared(broker, call, options);
    return this.sent(call);
  }

  /**
   * Send many task messages at once (`app.sendTasks`, `task.applyAsyncMany`): every message is
   * built first (an encoding error rejects the whole call before anything is sent), the result
   * backend listens for all of them in one step, and the publishes go out in the same event-loop
   * turn, so brokers that coalesce (Redis: one LPUSH per queue and turn) send them in a few
   * commands. Resolves with the ids in call order once the broker has every message; a publish
   * that fails is retried on its own under the retry policy, and the first error past it rejects.
   */
  async sendMany(calls: ReadonlyArray<{ name: string; args: readonly unknown[]; options?: ApplyOptions; task?: AnyTask }>): Promise<string[]> {
    if (calls.length === 0) return [];
    const app = this.app;
    const parent = app.currentRequest();
    const built = calls.map((c) => this.build(c.name, c.args, c.options ?? {}, c.task, parent));
    if (built.some((b) => !b.ignoreResult)) {
      const backend = app.backendIfReady() ?? (app.config.backend === null ? null : await app.getBackend());
      if (backend?.onTaskCall) {
        const listening: Promise<void>[] = [];
        for (const b of built) {
          if (b.ignoreResult) continue;
          const pending = backend.onTaskCall(b.id);
          if (pending) listening.push(pending);
        }
        if (listening.length > 0) await Promise.all(listening);
      }
    }
    const broker = app.brokerIfReady() ?? (await app.getBroker());
    // A queue not declared yet is declared by the first call to it, before the others go out.
    const firsts = new Set<number>();
    const fresh = new Set<string>();
    built.forEach((b, i) => {
      const queue = b.route.queue.name;
      if (this.declared.has(queue) || fresh.has(queue)) return;
      fresh.add(queue);
      firsts.add(i);
    });
    if (firsts.size > 0) await Promise.all([...firsts].map((i) => this.publishDeclared(broker, built[i]!, calls[i]!.options ?? {})));
    // Then everything else in this turn. Calls sharing a batch share its promise, so one handler
    // per distinct promise finds the ones to retry.
    const attempts = new Map<Promise<void>, number[]>();
    const failed: number[] = [];
    built.forEach((b, i) => {
      if (firsts.has(i)) return;
      let attempt: Promise<void>;
      try {
        attempt = this.publishOnce(broker, b, null);
      } catch {
        failed.push(i);
        return;
      }
      const group = attempts.get(attempt);
      if (group) group.push(i);
      else attempts.set(attempt, [i]);
    });
    await Promise.all(
      [...attempts].map(([attempt, indices]) =>
        attempt.then(
          () => undefined,
          () => {
            failed.push(...indices);
          },
        ),
      ),
    );
    failed.sort((a, b) => a - b);
    for (const i of failed) await this.publishDeclared(broker, built[i]!, calls[i]!.options ?? {});
    for (const b of built) this.sent(b);
    return built.map((b) => b.id);
  }

  /** Everything about one call that does not need the broker: the message, encoded and routed. */
  private build(name: string, args: readonly unknown[], options: ApplyOptions, task: AnyTask | undefined, parent: ReturnType<App['currentRequest']>): BuiltCall {
    if (!Array.isArray(args)) throw new ConfigurationError(`task args must be an array, got ${typeof args}`);
    const kwargs = options.kwargs ?? {};
    if (typeof kwargs !== 'object' || kwargs === null || Array.isArray(kwargs)) {
      throw new ConfigurationError('task kwargs must be a plain object');
    }
    const app = this.app;
    const conf = app.conf;
    const taskOptions = task?.options;
    const id = options.taskId ?? uuid();

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

    const explicit: Route = {};
    const queue = options.queue ?? taskOptions?.queue;
    if (queue) explicit.queue = queue;
    const exchange = options.exchange ?? taskOptions?.exchange;
    if (exchange) explicit.exchange = exchange;
    const routingKey = options.routingKey ?? taskOptions?.routingKey;
    if (routingKey) explicit.routingKey = routingKey;
    if (priority !== undefined) explicit.priority = priority;
    const route = app.router.route(name, args, kwargs, explicit);

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
    return { id, name, message, raw, route, eta, now, ignoreResult, parent: options.addToParent === false ? null : (parent ?? null) };
  }

  private publishOnce(broker: Broker, call: BuiltCall, declare: QueueDeclaration | null): Promise<void> {
    // Core of every publish: no options object when there is nothing to say (the common case).
    const deliverAt = call.eta && broker.capabilities.delayedDelivery && call.eta.getTime() > call.now ? call.eta.getTime() : undefined;
    if (!declare && deliverAt === undefined) return broker.publish(call.raw, call.route.target);
    return broker.publish(call.raw, call.route.target, { ...(declare ? { declare: [declare] } : {}), ...(deliverAt === undefined ? {} : { deliverAt }) });
  }

  private retryPolicy(options: ApplyOptions): Required<PublishRetryPolicy> | null {
    const conf = this.app.conf;
    if (!(options.retry ?? conf.taskPublishRetry)) return null;
    // The configuration's policy is complete already (merged with the defaults when it was read).
    return options.retryPolicy ? { ...conf.taskPublishRetryPolicy, ...options.retryPolicy } : conf.taskPublishRetryPolicy;
  }

  /** After the broker has it: the parent's children and `taskSent` listeners. Returns the id. */
  private sent(call: BuiltCall): string {
    const { id, message, route, parent } = call;
    if (parent) parent.children.push({ id, tuple: [[id, null], null] });
    if (this.app.signals.has('taskSent')) this.app.signals.emit('taskSent', {
      id,
      name: call.name,
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

  /**
   * Publish under the retry policy, declaring the call's queue with the first publish to it.
   * Calls racing to a queue not declared yet wait for the first one instead of each declaring it
   * (which would also keep every one of them off the broker's fast path).
   */
  private async publishDeclared(broker: Broker, call: BuiltCall, options: ApplyOptions): Promise<void> {
    const queue = call.route.queue;
    if (!this.declared.has(queue.name)) {
      const pending = this.declaring.get(queue.name);
      if (pending) await pending.catch(() => undefined);
    }
    if (this.declared.has(queue.name)) {
      await this.publishWithRetry(broker, call, null, options);
      return;
    }
    const first = this.publishWithRetry(broker, call, queue, options);
    this.declaring.set(queue.name, first);
    try {
      await first;
      this.declared.add(queue.name);
    } finally {
      if (this.declaring.get(queue.name) === first) this.declaring.delete(queue.name);
    }
  }

  /** Publish once; only after a failure is the call's retry policy worked out and followed. */
  private publishWithRetry(broker: Broker, call: BuiltCall, declare: QueueDeclaration | null, options: ApplyOptions): Promise<void> {
    // Not an async function: every send comes through here, and a `catch` costs less.
    const retry = (err: unknown) => this.retryPublish(broker, call, declare, this.retryPolicy(options), err);
    try {
      return this.publishOnce(broker, call, declare).catch(retry);
    } catch (err) {
      return retry(err);
    }
  }

  /** After a failed first publish: retry under the policy, or throw the error past it. */
  private async retryPublish(broker: Broker, call: BuiltCall, declare: QueueDeclaration | null, policy: Required<PublishRetryPolicy> | null, first: unknown): Promise<void> {
    let err = first;
    for (let attempt = 0; ; attempt++) {
      const what = `${call.name}[${call.id}]`;
      const retryable = !isTqError(err) || (err as { retryable?: boolean }).retryable === true;
      if (!policy || !retryable || attempt >= policy.maxRetries) {
        if (isTqError(err)) throw err;
        throw new BrokerError(`could not publish ${what} to the ${broker.name} broker: ${(err as Error).message}`, { cause: err });
      }
      const wait = Math.min(policy.intervalMax, policy.intervalStart + attempt * policy.intervalStep);
      this.app.logger.warn(`publish of ${what} failed, retrying in ${wait}s (${attempt + 1}/${policy.maxRetries})`, { error: (err as Error).message });
      await sleep(wait * 1000);
      try {
        await this.publishOnce(broker, call, declare);
        return;
      } catch (next) {
        err = next;
      }
    }
  }
}
