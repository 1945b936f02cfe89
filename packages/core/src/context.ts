/**
 * The running request: what a task can know about the call it is serving (Celery's
 * `self.request` with `bind=True`), and what it can do about it — retry, update its state, and
 * stop when its AbortSignal fires (soft time limit, revoke with terminate, worker shutdown).
 *
 * Function tasks receive it as `this`; with `{ bind: true }` as their first argument; class tasks
 * read `this.request`. It travels with async code through the app's AsyncLocalStorage, which is
 * also how tasks applied during a run learn their parent and root.
 */
import type { SignatureDict, TaskMessage } from '@tq/protocol';
import { argsRepr, kwargsRepr } from '@tq/protocol';
import type { DeliveryInfo } from './broker.js';
import { toSeconds } from './duration.js';
import { ConfigurationError, MaxRetriesExceededError, Retry, type RetryOptions } from './errors.js';
import type { TaskState } from './states.js';

/** What the context needs from its task (kept narrow so that any pool can provide it). */
export interface ContextTask {
  readonly name: string;
  readonly maxRetries: number | null;
  readonly defaultRetryDelay: number;
}

/**
 * How `updateState` stores; provided by the executor (in-process) or a pool's proxy. Called with
 * the context as `this`, so that one function can serve every run.
 */
export type StateUpdater = (this: TaskContext, state: TaskState, meta: unknown) => Promise<void>;

/** Fields every event gets from its sender; a task's own event cannot set them (Celery refuses them too). */
const RESERVED_EVENT_FIELDS = ['type', 'uuid', 'hostname', 'pid', 'clock', 'utcoffset', 'timestamp'] as const;

/** How `sendEvent` publishes; provided by the executor. */
export type EventSender = (type: string, fields: Record<string, unknown>) => Promise<void>;

/** A task applied while this one runs, recorded as its child in the stored result. */
export interface ChildRef {
  id: string;
  /** Group results record their members too. */
  tuple: unknown;
}

/** Where a run's AbortSignal comes from: the signal, or what makes it when a task first asks. */
export type SignalSource = AbortSignal | (() => AbortSignal) | { readonly signal: AbortSignal };

export interface TaskContextInit {
  message: TaskMessage;
  task: ContextTask;
  deliveryInfo?: DeliveryInfo;
  hostname: string;
  /** The abort signal, or a function or an object (a `LazyAbort`) making it on first use. */
  signal?: SignalSource;
  isEager?: boolean;
  updateState?: StateUpdater;
  sendEvent?: EventSender;
}

const NO_DELIVERY: DeliveryInfo = Object.freeze({ exchange: '', routingKey: '', priority: null, redelivered: false });

/**
 * Fields are read from the message on demand: a context is made for every task run, and most
 * tasks read few of them.
 */
export class TaskContext {
  /** The message itself, for retries and pools. */
  readonly message: TaskMessage;
  readonly deliveryInfo: DeliveryInfo;
  /** The node name of the worker running it. */
  readonly hostname: string;
  readonly isEager: boolean;
  /** Tasks applied during this run (recorded as children of its result). */
  readonly children: ChildRef[] = [];
  private signalSource: SignalSource | undefined;
  private readonly task: ContextTask;
  private readonly stateUpdater: StateUpdater | undefined;
  private readonly eventSender: EventSender | undefined;

  constructor(init: TaskContextInit) {
    this.message = init.message;
    this.task = init.task;
    this.deliveryInfo = init.deliveryInfo ?? NO_DELIVERY;
    this.hostname = init.hostname;
    this.isEager = init.isEager ?? false;
    this.signalSource = init.signal;
    this.stateUpdater = init.updateState;
    this.eventSender = init.sendEvent;
  }

  /** The task id. */
  get id(): string {
    return this.message.headers.id;
  }
  /** The registered task name. */
  get name(): string {
    return this.message.headers.task;
  }
  get args(): unknown[] {
    return this.message.args;
  }
  get kwargs(): Record<string, unknown> {
    return this.message.kwargs;
  }
  /** How many times this task has been retried (0 on the first run). */
  get retries(): number {
    return this.message.headers.retries;
  }
  get rootId(): string | null {
    return this.message.headers.root_id;
  }
  get parentId(): string | null {
    return this.message.headers.parent_id;
  }
  get group(): string | null {
    return this.message.headers.group;
  }
  get groupIndex(): number | null {
    return this.message.headers.group_index;
  }
  get chord(): SignatureDict | null {
    return this.message.embed.chord;
  }
  get callbacks(): SignatureDict[] | null {
    return this.message.embed.callbacks;
  }
  get errbacks(): SignatureDict[] | null {
    return this.message.embed.errbacks;
  }
  get chain(): SignatureDict[] | null {
    return this.message.embed.chain;
  }
  get replyTo(): string | null {
    const replyTo = this.message.properties.reply_to;
    return typeof replyTo === 'string' && replyTo ? replyTo : null;
  }
  get correlationId(): string | null {
    const id = this.message.properties.correlation_id;
    return typeof id === 'string' ? id : null;
  }
  get eta(): string | null {
    return this.message.headers.eta;
  }
  get expires(): string | null {
    return this.message.headers.expires;
  }
  get timeLimit(): number | null {
    return this.message.headers.timelimit[0];
  }
  get softTimeLimit(): number | null {
    return this.message.headers.timelimit[1];
  }
  get origin(): string | null {
    return this.message.headers.origin || null;
  }
  get shadow(): string | null {
    return this.message.headers.shadow;
  }
  get ignoreResult(): boolean {
    return this.message.headers.ignore_result;
  }
  /** Every header of the message, custom ones included. */
  get headers(): Readonly<Record<string, unknown>> {
    return this.message.headers;
  }

  /** Fires when the task should stop: soft time limit, revoke with terminate, or worker shutdown. */
  get signal(): AbortSignal {
    let source = this.signalSource;
    if (typeof source === 'function') source = this.signalSource = source();
    else if (source !== undefined && !(source instanceof AbortSignal)) source = this.signalSource = source.signal;
    if (!source) source = this.signalSource = new AbortController().signal;
    return source;
  }

  /**
   * Retry this task: ends the current run (it throws) and the worker sends the task again with
   * `retries + 1` after `countdown` seconds (default: the task's `defaultRetryDelay`). When the
   * retries are used up it throws `exc` if given, else MaxRetriesExceededError — as Celery.
   *
   * Use it as `throw this.retry({ exc: err, countdown: 5 })` or just call it.
   */
  retry(options: RetryOptions = {}): never {
    const maxRetries = options.maxRetries !== undefined ? options.maxRetries : this.task.maxRetries;
    const next = this.retries + 1;
    if (maxRetries !== null && next > maxRetries) {
      if (options.exc !== undefined) throw options.exc;
      throw new MaxRetriesExceededError(
        `Can't retry ${this.name}[${this.id}] args:${argsRepr(options.args ?? this.args)} kwargs:${kwargsRepr(options.kwargs ?? this.kwargs)}`,
      );
    }
    const countdown = options.eta === undefined ? (options.countdown === undefined ? this.task.defaultRetryDelay : toSeconds(options.countdown, 'countdown')) : undefined;
    throw new Retry({ ...options, ...(countdown === undefined ? {} : { countdown }) }, retryMessage(options, countdown));
  }

  /** Store a custom state (e.g. `'PROGRESS'`, `{ current: 3, total: 10 }`), visible to `AsyncResult.state()`. */
  async updateState(state: TaskState, meta: unknown = null): Promise<void> {
    if (!this.stateUpdater) return;
    await this.stateUpdater.call(this, state, meta);
  }

  /**
   * Publish a custom event about this task, e.g. `sendEvent('task-progress', { current: 3 })`
   * (Celery's `Task.send_event`): it carries the task's `uuid` and the worker's hostname, goes out
   * at once whether or not the worker sends task events (`-E`), and reaches every event receiver
   * — tq's, Celery's, Flower's. Resolves once published (or queued while the broker is away).
   */
  async sendEvent(type: string, fields: Record<string, unknown> = {}): Promise<void> {
    if (typeof type !== 'string' || type === '') throw new ConfigurationError(`sendEvent needs an event type such as 'task-progress', got ${JSON.stringify(type)}`);
    const reserved = RESERVED_EVENT_FIELDS.filter((key) => Object.hasOwn(fields, key));
    if (reserved.length > 0) throw new ConfigurationError(`sendEvent sets ${reserved.join(', ')} itself; name your fields otherwise`);
    if (!this.eventSender) return;
    await this.eventSender(type, { uuid: this.id, ...fields });
  }

  /** A plain view of the request, for logs and remote inspection. */
  toJSON(): Record<string, unknown> {
    return {
      id: this.id,
      name: this.name,
      args: this.args,
      kwargs: this.kwargs,
      retries: this.retries,
      rootId: this.rootId,
      parentId: this.parentId,
      group: this.group,
      groupIndex: this.groupIndex,
      hostname: this.hostname,
      deliveryInfo: this.deliveryInfo,
      eta: this.eta,
      expires: this.expires,
      isEager: this.isEager,
    };
  }
}

function retryMessage(options: RetryOptions, countdown: number | undefined): string {
  const when = options.eta !== undefined ? `at ${String(options.eta instanceof Date ? options.eta.toISOString() : options.eta)}` : `in ${countdown}s`;
  const exc = options.exc instanceof Error ? `: ${options.exc.message}` : '';
  return `Retry ${when}${exc}`;
}
