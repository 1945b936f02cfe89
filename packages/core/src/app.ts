/**
 * The App: one tq application — its configuration, task registry, broker and result backend,
 * routing and remote control. Everything tq keeps in memory belongs to an App; two apps in one
 * process share nothing unless given the same broker or backend object.
 *
 *   const app = createApp({ broker: 'redis://127.0.0.1:6379/0', backend: 'redis://127.0.0.1:6379/1' });
 */
import { createResultMeta, createTaskMessage, type ResultMetaInput, type SignatureDict } from '@tq/protocol';
import { signatureDicts, type ApplyOptions } from './apply-options.js';
import { AsyncResult } from './async-result.js';
import type { Broker } from './broker.js';
import { LamportClock } from './clock.js';
import { resolveConfig, withEnvironment, type AppConfig, type ResolvedConfig } from './config.js';
import type { TaskContext } from './context.js';
import { Control } from './control.js';
import { CurrentRequest } from './current-request.js';
import { Events } from './events/events.js';
import { EagerResult } from './eager-result.js';
import { sendDeduplicated } from './dedup.js';
import { ConfigurationError, NotRegistered } from './errors.js';
import { closeFlowStore } from './flow.js';
import { TaskExecutor } from './executor.js';
import { anonNodename, uuid } from './ids.js';
import { createConsoleLogger, type Logger } from './logger.js';
import { MemoryBroker } from './memory/memory-broker.js';
import { Producer } from './producer.js';
import type { ResultBackend } from './result-backend.js';
import { Router } from './routing.js';
import { Signature } from './signature.js';
import { Signals } from './signals.js';
import { READY_STATES } from './states.js';
import { Task, type AnyTask, type TaskOptions } from './task.js';
import { createBackendFromUrl, createBrokerFromUrl, redactUrl, type AdapterContext } from './transports.js';

/** Builds the Signature subclass for a `subtask_type` (registered by @tq/canvas). */
export type SignatureFactory = (app: App, dict: SignatureDict) => Signature;

/** Builds a group's result from its id and members (registered by @tq/canvas). */
export type GroupResultFactory = (app: App, id: string, results: AsyncResult[], parent: AsyncResult | null) => AsyncResult;

/** Something that extends an app: registers signature kinds, built-in tasks, hooks. Runs once per app. */
export interface AppPlugin {
  name: string;
  install(app: App): void;
}

type AnyFn = (...args: never[]) => unknown;
type TaskFn = (this: TaskContext, ...args: never[]) => unknown;
type BoundFn = (context: TaskContext, ...args: never[]) => unknown;
type Tail<T extends readonly unknown[]> = T extends readonly [unknown, ...infer Rest] ? Rest : never[];
type Params<F extends AnyFn> = F extends (...args: infer P) => unknown ? P : never;

export interface StoreResultOptions {
  traceback?: string | null;
  /** The running request: supplies children, group/parent ids and result_extended fields. */
  context?: Partial<Pick<TaskContext, 'name' | 'args' | 'kwargs' | 'hostname' | 'retries' | 'deliveryInfo' | 'children' | 'group' | 'parentId' | 'replyTo'>>;
  expires?: number | null;
  /** Where a message-based backend (rpc://) sends the result, when there is no context. */
  replyTo?: string | null;
}

export class App {
  readonly conf: ResolvedConfig;
  readonly logger: Logger;
  readonly tasks = new Map<string, AnyTask>();
  readonly router: Router;
  /** This client's id: the reply-to of its task messages and the name of its pidbox reply queue. */
  readonly oid = uuid();
  readonly signals: Signals;
  readonly control: Control;
  /** Celery events: receivers, cluster State, and task-sent when `taskSendSentEvent` is on. */
  readonly events: Events;
  readonly clock = new LamportClock();
  readonly producer: Producer;
  readonly signatureKinds = new Map<string, SignatureFactory>();
  groupResultFactory: GroupResultFactory | null = null;

  private readonly current = new CurrentRequest();
  private readonly plugins = new Set<string>();
  private brokerPromise: Promise<Broker> | null = null;
  /** The broker object, kept across failed connects so that a retry reuses it. */
  private brokerInstance: Broker | null = null;
  /** Transports built here from URLs are closed with the app; objects passed in belong to the caller. */
  private ownsBroker = false;
  private ownsBackend = false;
  private backendPromise: Promise<ResultBackend | null> | null = null;
  private backendResolved: ResultBackend | null | undefined = undefined;
  private brokerResolved: Broker | null = null;
  private eagerExecutor: TaskExecutor | null = null;
  private closed = false;

  /** The configuration as given, with transport URLs from the environment applied (see withEnvironment). */
  readonly config: AppConfig;

  constructor(config: AppConfig = {}) {
    this.config = config = withEnvironment(config);
    this.conf = resolveConfig(config);
    this.logger = config.logger ?? createConsoleLogger({ name: this.conf.main === '__main__' ? 'tq' : this.conf.main });
    this.signals = new Signals(() => this.logger);
    this.router = new Router(config.taskRoutes, this.conf.taskQueues, {
      defaultQueue: this.conf.taskDefaultQueue,
      defaultExchange: this.conf.taskDefaultExchange,
      defaultExchangeType: this.conf.taskDefaultExchangeType,
      defaultRoutingKey: this.conf.taskDefaultRoutingKey,
      defaultPriority: this.conf.taskDefaultPriority,
      queueMaxPriority: this.conf.taskQueueMaxPriority,
      createMissingQueues: this.conf.taskCreateMissingQueues,
    });
    this.control = new Control(this);
    this.events = new Events(this);
    this.producer = new Producer(this);
  }

  // -- transports --------------------------------------------------------------------------

  private adapterContext(options: Record<string, unknown> | undefined): AdapterContext {
    return {
      logger: this.logger,
      options: options ?? {},
      broker: () => this.getBroker(),
      resultExpires: this.conf.resultExpires,
      oid: this.oid,
    };
  }

  /** The broker once connected (null before), for hot paths that must not wait a tick. */
  brokerIfReady(): Broker | null {
    return this.brokerResolved;
  }

  /** The broker, created (and connected) on first use; after a failed connect, the next call tries again. */
  getBroker(): Promise<Broker> {
    this.closed = false; // an app used again after close() reconnects, and its next close() closes that
    this.brokerPromise ??= (async () => {
      if (!this.brokerInstance) {
        const spec = this.config.broker ?? 'memory://';
        this.brokerInstance = typeof spec === 'string' ? await createBrokerFromUrl(spec, this.adapterContext(this.config.brokerTransportOptions), this.config.transports) : spec;
        this.ownsBroker = typeof spec === 'string';
      }
      const broker = this.brokerInstance;
      await broker.connect();
      this.brokerResolved = broker;
      return broker;
    })();
    this.brokerPromise.catch(() => {
      this.brokerPromise = null;
    });
    return this.brokerPromise;
  }

  /** The result backend, or null when results are disabled. */
  getBackend(): Promise<ResultBackend | null> {
    this.closed = false;
    this.backendPromise ??= (async () => {
      let spec = this.config.backend;
      if (spec === undefined) {
        const broker = this.config.broker;
        const brokerIsMemory = broker === undefined || broker instanceof MemoryBroker || (typeof broker === 'string' && broker.startsWith('memory://'));
        spec = brokerIsMemory ? 'memory://' : null;
      }
      if (spec === null) return null;
      const backend = typeof spec === 'string' ? await createBackendFromUrl(spec, this.adapterContext(this.config.resultBackendTransportOptions), this.config.transports) : spec;
      this.ownsBackend = typeof spec === 'string';
      await backend.connect();
      this.backendResolved = backend;
      return backend;
    })();
    this.backendPromise.catch(() => {
      this.backendPromise = null;
    });
    return this.backendPromise;
  }

  /** The backend if it is already connected (for synchronous hooks such as pre-subscribing). */
  backendIfReady(): ResultBackend | null {
    return this.backendResolved ?? null;
  }

  /** The backend, or a clear error saying that `what` needs one. */
  async requireBackend(what: string): Promise<ResultBackend> {
    const backend = await this.getBackend();
    if (!backend) {
      throw new ConfigurationError(`${what} needs a result backend; set createApp({ backend: 'redis://…' }) (the ${this.brokerDescription()} broker has none by default)`);
    }
    return backend;
  }

  private brokerDescription(): string {
    const broker = this.config.broker;
    return typeof broker === 'string' ? redactUrl(broker) : (broker?.name ?? 'memory');
  }

  // -- tasks -------------------------------------------------------------------------------

  /**
   * Define a task from a function. The request is `this` inside a `function` body, or the first
   * argument with `{ bind: true }`.
   */
  task<F extends BoundFn>(options: TaskOptions & { name: string; bind: true }, fn: F): Task<Tail<Params<F>>, Awaited<ReturnType<F>>>;
  task<F extends TaskFn>(nameOrOptions: string | (TaskOptions & { name: string }), fn: F): Task<Params<F>, Awaited<ReturnType<F>>>;
  task(nameOrOptions: string | (TaskOptions & { name: string }), fn: AnyFn): AnyTask {
    const options = typeof nameOrOptions === 'string' ? { name: nameOrOptions } : nameOrOptions;
    if (typeof fn !== 'function') throw new ConfigurationError(`task ${options.name} needs a function`);
    const task = new Task<never, unknown>().attach(this, this.taskName(options.name, fn), options, fn as TaskFn);
    return this.add(task);
  }

  /** Register a class-style task (`class X extends Task { static taskName = '…'; run() {…} }`). */
  register<T extends AnyTask>(TaskClass: (new () => T) & { taskName?: string | undefined; options?: TaskOptions | undefined }): T {
    const task = new TaskClass();
    const options = TaskClass.options ?? {};
    task.attach(this, this.taskName(TaskClass.taskName ?? options.name, TaskClass), options);
    return this.add(task) as T;
  }

  private taskName(name: string | undefined, source: { name: string }): string {
    if (name) return name;
    if (!source.name) throw new ConfigurationError('a task needs a name: pass { name } or use a named function');
    return `${this.conf.main}.${source.name}`;
  }

  private add(task: AnyTask): AnyTask {
    if (this.tasks.has(task.name)) this.logger.warn(`task ${task.name} was registered twice; the last definition wins`);
    this.tasks.set(task.name, task);
    return task;
  }

  /** Install a plugin once. */
  use(plugin: AppPlugin): this {
    if (!this.plugins.has(plugin.name)) {
      this.plugins.add(plugin.name);
      plugin.install(this);
    }
    return this;
  }

  hasPlugin(name: string): boolean {
    return this.plugins.has(name);
  }

  // -- calling -----------------------------------------------------------------------------

  /**
   * Send a task by name (Celery's `send_task`); a registered task's options apply. In eager mode
   * a registered task runs here instead.
   */
  sendTask<R = unknown>(name: string, args: readonly unknown[] = [], options: ApplyOptions = {}): Promise<AsyncResult<R>> {
    const task = this.tasks.get(name);
    if (this.conf.taskAlwaysEager) {
      if (task) return this.applyEager<R>(task, args, options);
      this.logger.warn(`taskAlwaysEager has no effect on ${name}: it is not registered in this app, so it is sent`);
    }
    if (task?.options.flow?.dedup) return sendDeduplicated<R>(this, task, args, options);
    // Not an async function: every delay() comes through here, and a `then` costs less.
    return this.producer.send(name, args, options, task).then(this.resultOf) as Promise<AsyncResult<R>>;
  }

  private readonly resultOf = (id: string): AsyncResult => new AsyncResult(id, this);

  /**
   * Send many tasks in one call (tq's bulk publish; Celery has none): every message is built and
   * checked first, then all are published together, so the Redis broker sends them as a few
   * pipelined LPUSHes. Resolves with one result per call, in order, once the broker has them all.
   * Calls of deduplicated tasks (`dedupKey`) go out after the others, one at a time. In eager
   * mode each registered task runs here instead, one after the other.
   */
  async sendTasks<R = unknown>(calls: ReadonlyArray<{ name: string; args?: readonly unknown[]; options?: ApplyOptions }>): Promise<AsyncResult<R>[]> {
    if (this.conf.taskAlwaysEager) {
      const out: AsyncResult<R>[] = [];
      for (const call of calls) out.push(await this.sendTask<R>(call.name, call.args ?? [], call.options ?? {}));
      return out;
    }
    // Deduplicated calls claim their keys one at a time, in order, after the others went out in
    // bulk (a later call with the same key must see the earlier one's claim; see dedup.ts).
    const bulk: number[] = [];
    const deduplicated: number[] = [];
    calls.forEach((call, i) => (this.tasks.get(call.name)?.options.flow?.dedup ? deduplicated : bulk).push(i));
    const out = new Array<AsyncResult<R>>(calls.length);
    if (bulk.length > 0) {
      const ids = await this.producer.sendMany(bulk.map((i) => {
        const call = calls[i]!;
        const task = this.tasks.get(call.name);
        return { name: call.name, args: call.args ?? [], ...(call.options ? { options: call.options } : {}), ...(task ? { task } : {}) };
      }));
      bulk.forEach((i, k) => (out[i] = new AsyncResult<R>(ids[k]!, this)));
    }
    for (const i of deduplicated) {
      const call = calls[i]!;
      out[i] = await this.sendTask<R>(call.name, call.args ?? [], call.options ?? {});
    }
    return out;
  }

  /** Run a task in this process now (Celery's `apply` and eager mode). */
  async applyEager<R>(task: AnyTask, args: readonly unknown[], options: ApplyOptions = {}): Promise<AsyncResult<R>> {
    const id = options.taskId ?? uuid();
    const parent = this.currentRequest();
    const message = createTaskMessage({
      id,
      task: task.name,
      args: [...args],
      kwargs: options.kwargs ?? {},
      callbacks: options.link ? signatureDicts(options.link) : null,
      errbacks: options.linkError ? signatureDicts(options.linkError) : null,
      chain: options.chain ?? null,
      chord: options.chord ?? null,
      group: options.groupId ?? null,
      groupIndex: options.groupIndex ?? null,
      retries: options.retries ?? 0,
      rootId: options.rootId ?? parent?.rootId ?? parent?.id ?? null,
      parentId: options.parentId ?? parent?.id ?? null,
      origin: anonNodename(),
    });
    this.eagerExecutor ??= new TaskExecutor(this, { hostname: anonNodename() });
    const outcome = await this.eagerExecutor.execute(task, message, { isEager: true });
    if (outcome.state === 'FAILURE' && this.conf.taskEagerPropagates) throw outcome.error;
    return new EagerResult<R>(id, this, outcome);
  }

  /** A signature from a task name or a Celery signature dict (with its canvas kind, if registered). */
  signature<A extends unknown[] = unknown[], R = unknown>(dictOrName: SignatureDict | string, args: unknown[] = [], kwargs: Record<string, unknown> = {}): Signature<A, R> {
    const dict: SignatureDict =
      typeof dictOrName === 'string'
        ? { task: dictOrName, args, kwargs, options: {}, subtask_type: null, immutable: false }
        : dictOrName;
    if (dictOrName instanceof Signature) return dictOrName as unknown as Signature<A, R>;
    const factory = dict.subtask_type ? this.signatureKinds.get(dict.subtask_type) : undefined;
    return (factory ? factory(this, dict) : new Signature(this, dict)) as Signature<A, R>;
  }

  /** A handle on a task's result by id. */
  asyncResult<R = unknown>(id: string): AsyncResult<R> {
    return new AsyncResult<R>(id, this);
  }

  /** Rebuild a result (or a group's result) from Celery's tuple form `[[id, parent], children|null]`. */
  resultFromTuple(tuple: unknown): AsyncResult | null {
    if (!Array.isArray(tuple) || tuple.length !== 2) return null;
    const [head, nodes] = tuple as [unknown, unknown];
    const [id, parentTuple] = Array.isArray(head) ? (head as [unknown, unknown]) : [head, null];
    if (typeof id !== 'string') return null;
    const parent = parentTuple ? this.resultFromTuple(parentTuple) : null;
    if (Array.isArray(nodes)) {
      const children = nodes.map((node) => this.resultFromTuple(node)).filter((r): r is AsyncResult => r !== null);
      if (this.groupResultFactory) return this.groupResultFactory(this, id, children, parent);
    }
    return new AsyncResult(id, this, { parent });
  }

  /** Store a state for a task id with Celery's meta layout (used by the executor and the canvas). */
  storeResult(taskId: string, state: string, result: unknown, options: StoreResultOptions = {}): Promise<void> {
    // Not an async function: once the backend is connected a store is one call into it, which a
    // worker makes per task (docs/performance.md).
    const backend = this.backendResolved;
    if (backend === undefined) return this.getBackend().then((connected) => (connected ? this.storeIn(connected, taskId, state, result, options) : undefined));
    return backend ? this.storeIn(backend, taskId, state, result, options) : Promise.resolve();
  }

  private storeIn(backend: ResultBackend, taskId: string, state: string, result: unknown, options: StoreResultOptions): Promise<void> {
    try {
      const context = options.context;
      const children = context?.children;
      const meta = createResultMeta({
        taskId,
        status: state,
        result,
        traceback: options.traceback ?? null,
        children: children && children.length > 0 ? children.map((child) => child.tuple) : [],
        dateDone: READY_STATES.has(state) ? new Date() : null,
        groupId: context?.group ?? null,
        parentId: context?.parentId ?? null,
        extended: this.conf.resultExtended && context ? extendedMetaOf(context) : undefined,
      });
      return backend.store(meta, {
        expires: options.expires ?? this.conf.resultExpires,
        replyTo: options.replyTo ?? context?.replyTo ?? null,
        correlationId: taskId,
      });
    } catch (err) {
      return Promise.reject(err); // a meta that cannot be built fails the store, as it always did
    }
  }

  // -- the running request -----------------------------------------------------------------

  /** The request of the task running here, if any (see current-request.ts). */
  currentRequest(): TaskContext | undefined {
    return this.current.get();
  }

  /**
   * Run `fn` with `context` as the current request; with `acrossAwaits` (the default) it stays
   * current after awaits inside `fn`, which costs every promise in the process on Node 20.
   */
  runInContext<T>(context: TaskContext, fn: () => T, acrossAwaits = true): T {
    return this.current.run(context, fn, acrossAwaits);
  }

  /** Throw NotRegistered unless a task of this name is registered. */
  requireTask(name: string): AnyTask {
    const task = this.tasks.get(name);
    if (!task) throw new NotRegistered(name);
    return task;
  }

  /** Release the broker and backend connections and timers. Idempotent; using the app afterwards connects again. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.control.close();
    await this.events.close();
    await closeFlowStore(this);
    // The broker is closed without waiting for a connect in flight (closing it ends that connect).
    const broker = this.ownsBroker ? this.brokerInstance : null;
    const backend = await this.backendPromise?.catch(() => null);
    await Promise.all([broker?.close(), this.ownsBackend ? backend?.close() : undefined]);
    await this.brokerPromise?.catch(() => null);
    this.brokerPromise = null;
    this.brokerInstance = null;
    this.backendPromise = null;
    this.backendResolved = undefined;
    this.brokerResolved = null;
  }
}

/** Celery's `result_extended` fields of a run. */
function extendedMetaOf(context: NonNullable<StoreResultOptions['context']>): NonNullable<ResultMetaInput['extended']> {
  return {
    name: context.name ?? null,
    args: context.args ?? null,
    kwargs: context.kwargs ?? null,
    worker: context.hostname ?? null,
    retries: context.retries ?? null,
    queue: context.deliveryInfo?.routingKey || null,
  };
}

/** Create an app. With no broker it runs on the embedded `memory://` transport. */
export function createApp(config: AppConfig = {}): App {
  return new App(config);
}
