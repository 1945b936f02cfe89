/**
 * The worker: consumes task messages from its queues and runs them in a pool through the core
 * executor, as Celery's worker does.
 *
 * - Prefetch is `concurrency × prefetchMultiplier` unacknowledged messages (0: no limit); with
 *   `optimization: 'fair'` (`-O fair`) only as many as there are free slots. ETA tasks and
 *   rate-limited tasks are held here and do not count against it (Celery raises its QoS for them).
 * - A message is acknowledged when its task starts, or after it ran with `acksLate`.
 * - Time limits: the message's `timelimit` header, else the task's options, else the worker's.
 * - On brokers with a visibility timeout (Redis, SQS) every held message is touched well within
 *   it, so a long ETA wait or a long acksLate task is never restored and run twice.
 * - Bad messages (invalid, unknown task, forbidden serializer) are rejected with a logged reason
 *   (dead-lettered where the broker has one); the worker keeps going.
 * - `stop()` is a warm shutdown: stop consuming, give every message not yet started back to the
 *   broker, and wait for running tasks up to `shutdownTimeout`; then (or with `cold`) running
 *   tasks are ended: acksLate ones go back to the queue, the others are recorded as lost.
 *
 * The worker is assembled from bootsteps (pool, statedb, pidbox, mingle, consumer, autoscaler,
 * autoreload) that start in dependency order; users add their own with `steps`.
 */
import { availableParallelism } from 'node:os';
import { isAbsolute, resolve as resolvePath } from 'node:path';
import {
  ConfigurationError,
  NotRegistered,
  Reject,
  TaskExecutor,
  TaskRevokedError,
  TimeLimitExceeded,
  WorkerLostError,
  expandNodename,
  parseRateLimit,
  toSecondsOrNull,
  type App,
  type Broker,
  type Consumer,
  type Delivery,
  type Duration,
  type Logger,
  type Outcome,
  type QueueDeclaration,
  type TaskContext,
} from '@tq/core';
import { DEFAULT_MAX_BODY_SIZE, decodeTaskMessage, isTqError, parsePyDatetime, type DecodeLimits, type ProtocolError, type TaskMessage } from '@tq/protocol';
import { Autoscaler, autoscalerStep } from './autoscaler.js';
import { autoreloadStep } from './autoreload.js';
import { connectBackend, connectBroker, StartAborted } from './broker-connection.js';
import { orderSteps, type Bootstep } from './bootsteps.js';
import { controlAllowList } from './control/allow.js';
import { registerControlCommands } from './control/index.js';
import { WorkerHooks } from './hooks.js';
import { canvas } from '@tq/canvas';
import { beatStep } from './beat/beat-step.js';
import type { BeatOptions } from './beat/beat.js';
import { eventsStep, type EventsStepOptions } from './events/events-step.js';
import { mingleStep } from './mingle.js';
import { Pidbox } from './pidbox.js';
import { AsyncPool, SoloPool } from './pools/async-pool.js';
import { ChildPool } from './pools/child-pool.js';
import { POOL_KINDS, type JobEvent, type Pool, type PoolKind } from './pools/pool.js';
import { FlowControl } from './flow/flow-control.js';
import { RateLimiter } from './rate-limit.js';
import { Request } from './request.js';
import type { RequestInfo } from './request-info.js';
import { RevokedSet, type RevokedSetOptions } from './revoked.js';
import { parseMemorySize } from './size.js';
import { StateDb, statedbStep } from './statedb.js';

export interface WorkerOptions {
  /** Slots: tasks run at once (default: 100 for the async pool, the number of CPUs otherwise). */
  concurrency?: number;
  /** Where task bodies run: `async` (default), `process`, `thread` or `solo`. See the README. */
  pool?: PoolKind;
  /** Queues to consume (default: the app's default queue). */
  queues?: string[];
  /** Queues not to consume (Celery's `-X`). */
  excludeQueues?: string[];
  /** Messages prefetched per slot (default 4); 0 prefetches without limit (Celery's meaning). */
  prefetchMultiplier?: number;
  /** `'fair'` (Celery's `-O fair`): never hold more messages than there are free slots. */
  optimization?: 'default' | 'fair';
  /** Node name, `-n` style (`w1@%h`); default `celery@<host>`. */
  hostname?: string;
  /** Seconds a warm shutdown waits for running tasks before ending them (default 30). */
  shutdownTimeout?: number;
  /** Grow the pool up to `max` slots under backlog and shrink it to `min` after idle (`--autoscale max,min`). */
  autoscale?: { max: number; min: number } | readonly [max: number, min: number];
  /** Seconds without a scale-up before the autoscaler may shrink (Celery's AUTOSCALE_KEEPALIVE, 30). */
  autoscaleKeepalive?: number;
  /** Replace a child process/thread after it ran this many tasks. */
  maxTasksPerChild?: number | null;
  /**
   * Jobs a process/thread pool child may hold: the one it runs and up to `poolWindow − 1` queued
   * behind it (`--pool-window`; default the app's `workerPoolWindow`, else 1). See docs/pools.md.
   */
  poolWindow?: number;
  /** Replace a child after a task leaves it above this much memory: KiB as a number (Celery), or `'200MB'`. */
  maxMemoryPerChild?: number | string | null;
  /** Hard time limit for every task without its own (seconds). */
  timeLimit?: Duration | null;
  /** Soft time limit for every task without its own (seconds). */
  softTimeLimit?: Duration | null;
  /** Keep revoked ids (and the logical clock) in this file across restarts (`--statedb`). */
  statedb?: string | null;
  /** Restart the pool when the app's source files change (child pools; needs `appModule`). */
  autoreload?: boolean;
  /** Allow the `pool_restart` control command (Celery's `worker_pool_restarts`). */
  poolRestarts?: boolean;
  /**
   * The module that exports the app (`-A` syntax: `path[:export]`), which process and thread
   * pools import in each child. Required for those pools.
   */
  appModule?: string;
  /** Node options for child processes (default: this process's `execArgv`); threads take what applies. */
  execArgv?: string[];
  /** Sync revoked ids with the other workers at start-up, as Celery's mingle (default true). */
  mingle?: boolean;
  /** Seconds mingle waits for replies (default 1, as Celery). */
  mingleTimeout?: number;
  /** Bounds of the revoked-id memory (Celery: 50,000 ids, 3 hours). */
  revoked?: RevokedSetOptions;
  /**
   * Task events (`-E`): `true`, or the events step's options. Worker events (online, heartbeat
   * every 2 s, offline) are sent in any case on brokers with fanout, as Celery's workers do;
   * `{ withoutHeartbeat: true }` turns heartbeats off.
   */
  events?: boolean | EventsStepOptions;
  /**
   * Largest task message body accepted, in bytes, before and after decompression (default
   * 64 MiB); a bigger one is rejected unread, so a compression bomb never inflates.
   */
  maxMessageSize?: number;
  /**
   * Remote-control commands this worker accepts (`--control-allow`): names, or `'inspect'` /
   * `'control'` for each group; others are refused with a logged warning. Default: all.
   */
  controlAllow?: string[] | null;
  /** Run beat inside this worker (`-B`): `true`, or beat's options. */
  beat?: boolean | BeatOptions;
  /** Extra components started with the worker, in dependency order. */
  steps?: Bootstep<Worker>[];
  logger?: Logger;
}

export type WorkerState = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

const MAX_TIMEOUT = 2 ** 31 - 1;

/** The abort reason when a task is terminated by revoke: it ends as REVOKED (`terminated`). */
export class TerminatedSignal extends TaskRevokedError {
  constructor(readonly signal: string) {
    super('terminated');
  }
}

function normalizeSignal(signal: unknown): NodeJS.Signals {
  const name = typeof signal === 'string' && signal ? signal.toUpperCase() : 'SIGTERM';
  const full = (name.startsWith('SIG') ? name : `SIG${name}`) as NodeJS.Signals;
  return full;
}

export class Worker {
  readonly app: App;
  readonly hostname: string;
  readonly logger: Logger;
  readonly hooks: WorkerHooks;
  readonly revoked: RevokedSet;
  readonly executor: TaskExecutor;
  readonly pool: Pool;
  /** The queues being consumed (changed by `add_consumer` / `cancel_consumer`). */
  readonly queues: QueueDeclaration[];
  readonly prefetchMultiplier: number;
  readonly optimization: 'default' | 'fair';
  readonly shutdownTimeout: number;
  readonly pidbox: Pidbox;
  readonly rateLimiter: RateLimiter;
  /** Cluster-wide limits (global/per-key rate and concurrency), see flow/flow-control.ts. */
  readonly flow: FlowControl;
  readonly autoscaler: Autoscaler | null;
  readonly statedb: StateDb | null;
  readonly timeLimit: number | null;
  readonly softTimeLimit: number | null;
  readonly poolRestarts: boolean;
  readonly appModule: string | null;
  /** Counts by task name of tasks this worker started (Celery's `stats.total`). */
  readonly totals = new Map<string, number>();
  readonly startedAt = Date.now();
  /** Resolves once the worker has stopped (by `stop()`, a signal in the CLI, or the `shutdown` command). */
  readonly stopped: Promise<void>;

  state: WorkerState = 'new';
  broker: Broker | null = null;
  consumer: Consumer | null = null;
  /** Received and ready to run, waiting for a free slot (Celery's "reserved"). */
  private readonly ready: Array<Request | undefined> = [];
  private readyHead = 0;
  /** Held until their ETA (Celery's "scheduled"). */
  readonly held = new Set<Request>();
  /** Running, by task id (Celery's "active"). */
  readonly active = new Map<string, Request>();
  private runningAcked = 0;
  private idleWaiters: Array<() => void> = [];
  private stopPromise: Promise<void> | null = null;
  private startPromise: Promise<void> | null = null;
  /** Aborted by `stop()` during start, to end a wait for the broker. */
  private readonly startAbort = new AbortController();
  private coldRequested: (() => void) | null = null;
  private cold = false;
  private readonly steps: Bootstep<Worker>[];
  private started: Bootstep<Worker>[] = [];
  private keepAlive: NodeJS.Timeout | null = null;
  private lastPrefetch = -1;
  private resolveStopped!: () => void;
  private readonly mingle: boolean;
  private readonly decodeLimits: DecodeLimits;

  constructor(app: App, options: WorkerOptions = {}) {
    this.app = app;
    // Every worker runs Celery's built-in canvas tasks (celery.chord_unlock, celery.map, …).
    app.use(canvas);
    this.hostname = expandNodename(options.hostname);
    this.logger = options.logger ?? app.logger;
    this.hooks = new WorkerHooks(this.logger);
    this.revoked = new RevokedSet(options.revoked);
    this.stopped = new Promise((resolve) => (this.resolveStopped = resolve));
    const kind = options.pool ?? 'async';
    if (!POOL_KINDS.includes(kind)) throw new ConfigurationError(`pool must be one of ${POOL_KINDS.join(', ')}; got ${JSON.stringify(kind)}`);
    this.optimization = options.optimization ?? 'default';
    if (this.optimization !== 'default' && this.optimization !== 'fair') {
      throw new ConfigurationError(`optimization must be 'default' or 'fair'; got ${JSON.stringify(this.optimization)}`);
    }
    const autoscale = normalizeAutoscale(options.autoscale);
    if (autoscale && kind === 'solo') throw new ConfigurationError('the solo pool has one slot and cannot autoscale; use --pool async, thread or process');
    let concurrency = options.concurrency ?? (kind === 'async' ? 100 : kind === 'solo' ? 1 : availableParallelism());
    if (autoscale) concurrency = autoscale.min;
    if (!Number.isInteger(concurrency) || concurrency < (autoscale ? 0 : 1)) throw new ConfigurationError(`concurrency must be a positive integer, got ${concurrency}`);
    this.prefetchMultiplier = options.prefetchMultiplier ?? 4;
    if (!Number.isInteger(this.prefetchMultiplier) || this.prefetchMultiplier < 0) {
      throw new ConfigurationError(`prefetchMultiplier must be an integer ≥ 0 (0: no limit), got ${this.prefetchMultiplier}`);
    }
    this.shutdownTimeout = options.shutdownTimeout ?? 30;
    this.timeLimit = toSecondsOrNull(options.timeLimit, 'timeLimit') || null;
    this.softTimeLimit = toSecondsOrNull(options.softTimeLimit, 'softTimeLimit') || null;
    this.poolRestarts = options.poolRestarts ?? (options.autoreload || app.conf.raw.workerPoolRestarts === true);
    this.appModule = options.appModule ? resolveModuleSpec(options.appModule) : null;
    this.executor = new TaskExecutor(app, { hostname: this.hostname, logger: this.logger, hooks: this.executorHooks() });
    const poolOptions = { concurrency, executor: this.executor, logger: this.logger, onFree: () => this.pump() };
    if (kind === 'async') this.pool = new AsyncPool(poolOptions);
    else if (kind === 'solo') this.pool = new SoloPool(poolOptions);
    else {
      if (!this.appModule) {
        throw new ConfigurationError(`the ${kind} pool needs appModule: the module that exports the app (as for -A), which each child imports — a live App cannot be sent to another ${kind === 'process' ? 'process' : 'thread'}`);
      }
      const maxTasksPerChild = options.maxTasksPerChild ?? null;
      if (maxTasksPerChild !== null && (!Number.isInteger(maxTasksPerChild) || maxTasksPerChild < 1)) {
        throw new ConfigurationError(`maxTasksPerChild must be a positive integer, got ${maxTasksPerChild}`);
      }
      this.pool = new ChildPool(kind, {
        ...poolOptions,
        app,
        appModule: this.appModule,
        hostname: this.hostname,
        maxTasksPerChild,
        maxMemoryPerChild: options.maxMemoryPerChild === undefined || options.maxMemoryPerChild === null ? null : parseMemorySize(options.maxMemoryPerChild, 'maxMemoryPerChild'),
        ...(options.execArgv ? { execArgv: options.execArgv } : {}),
        // -O fair writes a task only to a child that is free, as in Celery: no job queues in a child.
        ...(this.optimization === 'fair' ? { window: 1 } : options.poolWindow === undefined ? {} : { window: options.poolWindow }),
        onTasks: (tasks) => this.syncTasks(tasks),
      });
      const window = options.poolWindow ?? app.conf.raw.workerPoolWindow;
      if (this.optimization === 'fair' && typeof window === 'number' && window > 1) {
        this.logger.info(`-O fair: each pool child holds only the job it runs (a pool window of ${window} does not apply)`);
      }
    }
    if (kind !== 'process' && kind !== 'thread') {
      if (options.maxTasksPerChild) this.logger.warn(`maxTasksPerChild has no effect on the ${kind} pool (it has no children to replace)`);
      if (options.maxMemoryPerChild) this.logger.warn(`maxMemoryPerChild has no effect on the ${kind} pool (it has no children to replace)`);
      if (options.poolWindow !== undefined && options.poolWindow !== 1) this.logger.warn(`poolWindow has no effect on the ${kind} pool (it has no children to hold jobs)`);
      if (options.autoreload) throw new ConfigurationError(`autoreload needs --pool process or thread: the ${kind} pool runs tasks in the worker's own process, which cannot load changed modules`);
    }
    if (options.autoreload && !this.appModule) throw new ConfigurationError('autoreload needs appModule (the module to watch)');
    const exclude = new Set(options.excludeQueues ?? []);
    const names = (options.queues?.length ? options.queues : [app.conf.taskDefaultQueue]).filter((q) => !exclude.has(q));
    if (names.length === 0) throw new ConfigurationError('the worker has no queue to consume (every queue was excluded)');
    this.queues = names.map((name) => app.router.queue(name));
    this.pidbox = new Pidbox(app, this.hostname, this.logger);
    this.pidbox.allow = controlAllowList(options.controlAllow, this.logger);
    this.rateLimiter = new RateLimiter(
      (request) => this.toReady(request),
      () => this.updatePrefetch(),
    );
    this.flow = new FlowControl(app, this.hostname, this.logger, (request) => this.admitLocal(request), () => this.updatePrefetch());
    this.autoscaler = autoscale ? new Autoscaler(this, autoscale.max, autoscale.min, options.autoscaleKeepalive ?? 30) : null;
    this.statedb = options.statedb ? new StateDb(this, options.statedb) : null;
    this.mingle = options.mingle ?? true;
    const maxBodySize = options.maxMessageSize ?? DEFAULT_MAX_BODY_SIZE;
    if (!(maxBodySize > 0)) throw new ConfigurationError(`maxMessageSize must be a positive number of bytes, got ${maxBodySize}`);
    this.decodeLimits = { maxBodySize };
    registerControlCommands(this);
    this.steps = orderSteps([...this.builtinSteps(options), ...(options.steps ?? [])]);
  }

  get poolKind(): PoolKind {
    return this.pool.kind;
  }

  /** Executor outcomes become worker hooks, carrying the worker's view of the request. */
  private executorHooks() {
    const info = (context: TaskContext): RequestInfo => this.active.get(context.id) ?? this.detachedInfo(context.message);
    return {
      started: (context: TaskContext) => this.hooks.emit('started', info(context)),
      succeeded: (context: TaskContext, result: unknown, runtime: number) => this.hooks.emit('succeeded', info(context), result, runtime),
      failed: (context: TaskContext, error: unknown, traceback: string | null, runtime: number) => this.hooks.emit('failed', info(context), error, traceback, runtime),
      retried: (context: TaskContext, error: unknown, traceback: string | null) => this.hooks.emit('retried', info(context), error, traceback),
      rejected: (context: TaskContext, requeue: boolean) => this.hooks.emit('rejected', info(context), requeue),
    };
  }

  /**
   * The pool started a request. A task that is not `acksLate` is acknowledged now, as Celery's
   * `on_accepted` does: in the async pool that is when it is handed over, in a process or thread
   * pool when its child starts it, so a job queued in a child (`workerPoolWindow` above 1) is
   * still the broker's until it runs, and goes back to the queue if the worker dies first.
   */
  private readonly onAccepted = (request: Request): void => {
    if (request.task.options.acksLate || request.settled) return;
    this.settle(request, 'ack');
    request.ackedAtStart = true;
    this.runningAcked++;
    if (this.optimization === 'fair') this.updatePrefetch();
  };

  /** Reports of a job running in a child become the same hooks. */
  private readonly onReport = (request: Request, event: JobEvent): void => {
    switch (event[0]) {
      case 'started':
        this.hooks.emit('started', request);
        break;
      case 'succeeded':
        this.hooks.emit('succeeded', request, event[1], event[2]);
        break;
      case 'failed':
        this.hooks.emit('failed', request, event[1], event[2], event[3]);
        break;
      case 'retried':
        this.hooks.emit('retried', request, event[1], event[2]);
        break;
      case 'rejected':
        this.hooks.emit('rejected', request, event[1]);
        break;
    }
  };

  private detachedInfo(message: TaskMessage): RequestInfo {
    return {
      id: message.headers.id,
      name: message.headers.task,
      message,
      deliveryInfo: { exchange: '', routingKey: '', priority: null, redelivered: false },
      timeStart: null,
      acknowledged: false,
      workerPid: null,
    };
  }

  private builtinSteps(options: WorkerOptions): Bootstep<Worker>[] {
    const steps: Bootstep<Worker>[] = [
      { name: 'pool', start: () => this.startPool(), stop: () => this.pool.stop() },
      { name: 'pidbox', requires: ['pool'], start: () => this.pidbox.start(this.broker!), stop: () => this.pidbox.stop() },
      { name: 'rate-limits', start: () => undefined, stop: () => this.rateLimiter.stop() },
      { name: 'flow', start: () => this.flow.start(), stop: () => this.flow.stop() },
    ];
    // Events start before the consumer, so worker-online is the first event a monitor sees.
    const events = typeof options.events === 'object' ? { taskEvents: true, ...options.events } : { taskEvents: options.events === true };
    steps.push(eventsStep(events));
    const consumerRequires = ['pool', 'pidbox', 'rate-limits', 'flow', 'events'];
    if (this.statedb) {
      steps.push(statedbStep(this.statedb));
      consumerRequires.push('statedb');
    }
    if (this.mingle) {
      steps.push(mingleStep(this, options.mingleTimeout ?? 1));
      consumerRequires.push('mingle');
    }
    steps.push({ name: 'consumer', requires: consumerRequires, start: () => this.startConsuming(), stop: () => this.stopConsuming() });
    if (this.autoscaler) steps.push(autoscalerStep(this.autoscaler));
    if (options.autoreload) steps.push(autoreloadStep(this));
    if (options.beat) steps.push(beatStep(typeof options.beat === 'object' ? options.beat : {}));
    return steps;
  }

  private async startPool(): Promise<void> {
    await this.pool.start();
    if (!this.pool.stopsAtTimeLimit && this.hasHardLimits()) {
      this.logger.warn(
        `the ${this.pool.kind} pool cannot stop a running task: a task past its hard time limit fails with TimeLimitExceeded at the deadline, but its code keeps running unless it heeds its AbortSignal; use --pool process or thread to enforce hard limits`,
      );
    }
  }

  private hasHardLimits(): boolean {
    if (this.timeLimit) return true;
    for (const task of this.app.tasks.values()) if (task.options.timeLimit) return true;
    return false;
  }

  /** Slots the prefetch is computed for: the autoscaler's maximum, else the pool's size. */
  get maxConcurrency(): number {
    return this.autoscaler?.max ?? this.pool.concurrency;
  }

  /**
   * Messages the broker may hand out unacknowledged. Held ETA and rate-limited requests are on
   * top (Celery raises its QoS for held ones), so that they never starve the pool.
   */
  prefetchCount(): number {
    const held = this.held.size + this.rateLimiter.waiting + this.flow.waiting;
    if (this.optimization === 'fair') return Math.max(1, this.maxConcurrency - this.runningAcked) + held;
    if (this.prefetchMultiplier === 0) return 0;
    return Math.max(1, this.maxConcurrency * this.prefetchMultiplier) + held;
  }

  /** Tell the consumer the current prefetch (when it changed). */
  updatePrefetch(): void {
    if (!this.consumer) return;
    const prefetch = this.prefetchCount();
    if (prefetch === this.lastPrefetch) return;
    this.lastPrefetch = prefetch;
    this.consumer.setPrefetch(prefetch).catch((err: unknown) => this.logger.warn(`could not change the prefetch to ${prefetch}: ${(err as Error).message}`));
  }

  /**
   * Connect (waiting for a broker or backend that is down, see broker-connection.ts), start the bootsteps
   * in dependency order and begin consuming.
   */
  start(): Promise<void> {
    if (this.state !== 'new') return Promise.reject(new Error(`[tq] worker ${this.hostname} was already started`));
    this.state = 'starting';
    this.startPromise = this.startSteps();
    return this.startPromise;
  }

  private async startSteps(): Promise<void> {
    try {
      const connecting = {
        retry: this.app.conf.brokerConnectionRetryOnStartup,
        maxRetries: this.app.conf.brokerConnectionMaxRetries,
        logger: this.logger,
        signal: this.startAbort.signal,
      };
      this.broker = await connectBroker(this.app, connecting);
      await connectBackend(this.app, connecting);
      for (const step of this.steps) {
        await step.start(this);
        this.started.push(step);
      }
    } catch (err) {
      if (!(err instanceof StartAborted)) this.logger.error(`${this.hostname} could not start: ${(err as Error).message}`);
      await this.stopSteps();
      this.state = 'stopped';
      this.resolveStopped();
      throw err;
    }
    this.hooks.emit('online');
    this.logger.info(`${this.hostname} ready: ${this.pool.kind} pool, concurrency ${this.pool.concurrency}, queues ${this.queues.map((q) => q.name).join(', ')}`);
  }

  private async startConsuming(): Promise<void> {
    const broker = this.broker!;
    this.state = 'running';
    this.lastPrefetch = this.prefetchCount();
    this.consumer = await broker.consume(this.queues, (delivery) => this.receive(delivery), {
      prefetch: this.lastPrefetch,
      tag: this.hostname,
    });
    if (broker.capabilities.visibilityTimeout) {
      const every = Math.max(0.05, Math.min(60, (broker.visibilityTimeout ?? 3600) / 4)) * 1000;
      this.keepAlive = setInterval(() => this.touchHeld(), every);
      this.keepAlive.unref();
    }
  }

  /** Every request the worker holds and has not settled. */
  private *holding(): IterableIterator<Request> {
    yield* this.held;
    yield* this.rateLimiter.requests();
    yield* this.flow.requests();
    for (let i = this.readyHead; i < this.ready.length; i++) yield this.ready[i]!;
    yield* this.active.values();
  }

  /** Keep every message this worker holds from being restored by the broker's visibility timeout. */
  private touchHeld(): void {
    for (const request of this.holding()) {
      if (!request.settled && request.delivery.touch) {
        request.delivery.touch().catch((err: unknown) => this.logger.warn(`could not extend the visibility of ${request.id}: ${(err as Error).message}`));
      }
    }
  }

  private async stopConsuming(): Promise<void> {
    const consumer = this.consumer;
    await consumer?.cancel().catch((err) => this.logger.warn(`cancelling the consumer failed: ${(err as Error).message}`));
  }

  private receive(delivery: Delivery): void {
    if (this.state === 'stopping' || this.state === 'stopped') {
      void delivery.reject(true);
      return;
    }
    let message: TaskMessage;
    try {
      message = decodeTaskMessage(delivery.message, this.decodeLimits);
    } catch (err) {
      // The error names the message id when one could be read; else the delivery tag identifies it.
      const named = isTqError(err, 'PROTOCOL_ERROR') && (err as ProtocolError).messageId;
      this.logger.error(`rejected a message from ${delivery.queue}${named ? '' : ` (delivery ${delivery.deliveryTag}, no readable id)`}: ${(err as Error).message}`);
      void delivery.reject(false);
      return;
    }
    const { id, task: name } = message.headers;
    const task = this.app.tasks.get(name);
    if (!task) {
      this.logger.error(`rejected task ${name}[${id}]: it is not registered in this worker (registered: ${[...this.app.tasks.keys()].slice(0, 20).join(', ')})`);
      void this.executor
        .markFailure({ id, name, group: message.headers.group, groupIndex: message.headers.group_index, chord: message.embed.chord, chain: message.embed.chain, errbacks: message.embed.errbacks, rootId: message.headers.root_id }, new NotRegistered(name), null)
        .catch((err) => this.logger.error(`could not store the failure of ${id}: ${(err as Error).message}`))
        .finally(() => void delivery.reject(false));
      return;
    }
    const request = new Request(delivery, message, task);
    request.onReport = this.onReport;
    request.onAccepted = this.onAccepted;
    if (this.hooks.has('received')) this.hooks.emit('received', request);
    if (this.revokedOrExpired(request)) return;
    const eta = message.headers.eta ? parsePyDatetime(message.headers.eta) : null;
    if (eta && eta.getTime() > Date.now()) {
      this.hold(request, eta.getTime());
      return;
    }
    this.enqueue(request);
  }

  /** Settle a message for a revoked or expired task without running it. */
  private revokedOrExpired(request: Request): boolean {
    const { headers } = request.message;
    let reason: 'revoked' | 'expired' | null = null;
    if (this.revoked.has(headers.id)) reason = 'revoked';
    else if (headers.expires) {
      const expires = parsePyDatetime(headers.expires);
      if (expires && expires.getTime() <= Date.now()) reason = 'expired';
    }
    if (!reason) return false;
    if (request.task.options.flow) this.flow.finished(request, null);
    this.logger.info(`Discarding ${reason} task ${headers.task}[${headers.id}]`);
    this.hooks.emit('revoked', request, { terminated: false, signum: null, expired: reason === 'expired' });
    void this.executor
      .markRevoked(request.message, reason, request.delivery.info)
      .catch((err) => this.logger.error(`could not store the revocation of ${headers.id}: ${(err as Error).message}`))
      .finally(() => this.settle(request, 'ack'));
    return true;
  }

  private hold(request: Request, at: number): void {
    request.eta = at;
    this.held.add(request);
    this.updatePrefetch();
    const arm = () => {
      const wait = at - Date.now();
      request.timer = setTimeout(wait > MAX_TIMEOUT ? arm : release, Math.min(Math.max(wait, 0), MAX_TIMEOUT));
    };
    const release = () => {
      this.held.delete(request);
      request.timer = undefined;
      this.updatePrefetch();
      if (!this.revokedOrExpired(request)) this.enqueue(request);
    };
    arm();
  }

  private enqueue(request: Request): void {
    if (request.task.options.flow && this.flow.admit(request)) return;
    this.admitLocal(request);
  }

  private admitLocal(request: Request): void {
    if (request.task.options.rateLimit && !this.rateLimiter.admit(request)) return;
    this.toReady(request);
  }

  private toReady(request: Request): void {
    if (this.state !== 'running') {
      // Released by a rate limit during shutdown: give it back.
      if (this.state === 'stopping' || this.state === 'stopped') this.settle(request, 'requeue');
      return;
    }
    this.ready.push(request);
    this.pump();
  }

  /** Start ready requests while the pool has free slots. */
  pump(): void {
    while (this.state === 'running' && this.readyHead < this.ready.length && this.pool.free > 0) {
      const request = this.ready[this.readyHead]!;
      this.ready[this.readyHead++] = undefined;
      if (this.readyHead > 1024 && this.readyHead * 2 > this.ready.length) {
        this.ready.splice(0, this.readyHead);
        this.readyHead = 0;
      }
      this.run(request);
    }
  }

  private run(request: Request): void {
    const { message, task } = request;
    if (this.revokedOrExpired(request)) return;
    request.timeStart = Date.now() / 1000;
    const [hardHeader, softHeader] = message.headers.timelimit;
    request.timeLimit = hardHeader || task.options.timeLimit || this.timeLimit || null;
    request.softTimeLimit = softHeader || task.options.softTimeLimit || this.softTimeLimit || null;
    if (this.pool instanceof ChildPool) request.wants = this.wantedEvents();
    this.active.set(request.id, request);
    this.totals.set(request.name, (this.totals.get(request.name) ?? 0) + 1);
    void this.pool.run(request).then(
      (outcome) => this.finish(request, outcome),
      (err: unknown) => {
        this.logger.error(`the ${this.pool.kind} pool failed to run ${request.name}[${request.id}]: ${(err as Error).message}`);
        this.finish(request, { state: 'FAILURE', error: err, traceback: null, runtime: 0, expected: false });
      },
    );
  }

  private wantedEvents(): Set<JobEvent[0]> {
    const wants = new Set<JobEvent[0]>();
    for (const name of ['started', 'succeeded', 'failed', 'retried', 'rejected'] as const) if (this.hooks.has(name)) wants.add(name);
    return wants;
  }

  private finish(request: Request, outcome: Outcome): void {
    this.active.delete(request.id);
    if (outcome.state === 'REVOKED' && outcome.reason === 'revoked') {
      // Withdrawn from a pool child before it started (a plain revoke, see revoke()).
      this.logger.info(`Discarding revoked task ${request.name}[${request.id}]`);
      this.hooks.emit('revoked', request, { terminated: false, signum: null, expired: false });
    }
    if (request.ackedAtStart) this.runningAcked--;
    if (request.task.options.flow) this.flow.finished(request, outcome);
    const { acksLate, acksOnFailureOrTimeout } = request.task.options;
    if (outcome.state === 'REJECTED') this.settle(request, outcome.requeue ? 'requeue' : 'reject');
    else if (outcome.state === 'FAILURE' && acksLate && !acksOnFailureOrTimeout) {
      // Celery: a timed-out task goes back to the queue; another failure is dropped (dead-lettered).
      this.settle(request, outcome.error instanceof TimeLimitExceeded ? 'requeue' : 'reject');
    } else this.settle(request, 'ack');
    if (this.active.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    if (this.optimization === 'fair') this.updatePrefetch();
    this.pump();
  }

  private settle(request: Request, how: 'ack' | 'reject' | 'requeue'): void {
    if (request.settled) return;
    request.settled = true;
    request.acknowledged = how === 'ack';
    const done = how === 'ack' ? request.delivery.ack() : request.delivery.reject(how === 'requeue');
    done.catch((err: unknown) => this.logger.error(`could not ${how} task ${request.id}: ${(err as Error).message}`));
  }

  /** Requests waiting for a free slot or a rate-limit token (Celery's "reserved"). */
  reserved(): Request[] {
    return [...(this.ready.slice(this.readyHead) as Request[]), ...this.rateLimiter.requests(), ...this.flow.requests()];
  }

  /** Requests the pool started (Celery's active requests). `active` also holds jobs queued in a pool child. */
  running(): Request[] {
    return [...this.active.values()].filter((r) => r.started);
  }

  /** Jobs handed to a pool child that has not started them (`workerPoolWindow` above 1): reserved, to Celery. */
  queuedInPool(): Request[] {
    return [...this.active.values()].filter((r) => !r.started);
  }

  /** Requests held until their ETA (Celery's "scheduled"). */
  scheduled(): Request[] {
    return [...this.held];
  }

  /** Revoke ids on this worker; with `terminate`, running ones are stopped. Returns the ids terminated. */
  revoke(ids: string[], terminate = false, signal: string = 'SIGTERM'): string[] {
    const terminated: string[] = [];
    const signum = normalizeSignal(signal);
    for (const id of ids) {
      this.revoked.add(id);
      if (!terminate) {
        // Handed to a pool child but not started (queued there, workerPoolWindow > 1): asked back.
        // Announced when it comes back unstarted (see finish); if its child started it first, it runs.
        const queued = this.active.get(id);
        if (queued && !queued.started) this.pool.withdraw?.(queued, new TaskRevokedError('revoked'));
        continue;
      }
      const running = this.active.get(id);
      if (running) {
        this.logger.info(`Terminating ${id} (${signum})`);
        this.hooks.emit('revoked', running, { terminated: true, signum, expired: false });
        this.pool.kill(running, new TerminatedSignal(signum), signum);
        terminated.push(id);
      } else if (this.isReserved(id)) terminated.push(id);
    }
    this.statedb?.changed();
    return terminated;
  }

  private isReserved(id: string): boolean {
    for (const request of this.holding()) if (request.id === id) return true;
    return false;
  }

  /** Where a task is on this worker, for `query_task`. */
  find(id: string): { state: 'active' | 'reserved' | 'scheduled'; request: Request } | null {
    const running = this.active.get(id);
    // Handed to a pool child that has not started it (queued there): reserved, as in inspect.
    if (running) return { state: running.started ? 'active' : 'reserved', request: running };
    for (const request of this.held) if (request.id === id) return { state: 'scheduled', request };
    for (const request of this.reserved()) if (request.id === id) return { state: 'reserved', request };
    return null;
  }

  /** Change a task type's rate limit at run time (the `rate_limit` command). */
  setRateLimit(taskName: string, rateLimit: string | number | null): void {
    const task = this.app.tasks.get(taskName);
    if (!task) throw new ConfigurationError(`unknown task ${taskName}`);
    parseRateLimit(rateLimit);
    task.options.rateLimit = rateLimit || null;
    this.rateLimiter.reset(taskName, rateLimit || null);
  }

  /** Change a task type's time limits at run time (the `time_limit` command); tasks already running keep theirs. */
  setTimeLimits(taskName: string, limits: { soft: number | null; hard: number | null }): void {
    const task = this.app.tasks.get(taskName);
    if (!task) throw new ConfigurationError(`unknown task ${taskName}`);
    task.options.softTimeLimit = limits.soft || null;
    task.options.timeLimit = limits.hard || null;
  }

  /** Add slots (the `pool_grow` command, `poolGrow`). */
  growPool(n: number): void {
    this.pool.grow(n);
    this.updatePrefetch();
    this.pump();
  }

  /** Remove slots (the `pool_shrink` command); busy slots go once their task is done. */
  shrinkPool(n: number): void {
    this.pool.shrink(n);
    this.updatePrefetch();
  }

  /** Restart the pool with fresh code (`pool_restart`, autoreload). */
  async restartPool(): Promise<void> {
    await this.pool.restart();
  }

  /** Consume another queue (the `add_consumer` command). */
  async addQueue(queue: QueueDeclaration): Promise<void> {
    if (this.queues.some((q) => q.name === queue.name)) {
      this.logger.info(`already consuming from ${queue.name}`);
      return;
    }
    await this.consumer?.addQueue(queue);
    this.queues.push(queue);
    this.logger.info(`started consuming from ${queue.name}`);
  }

  /** Stop consuming a queue (the `cancel_consumer` command); messages already held stay. */
  async cancelQueue(name: string): Promise<void> {
    const i = this.queues.findIndex((q) => q.name === name);
    if (i === -1) return;
    await this.consumer?.cancelQueue(name);
    this.queues.splice(i, 1);
    this.logger.info(`stopped consuming from ${name}`);
  }

  /** A restarted child pool reports the tasks its fresh code registers: new ones and changed options become known here too. */
  private syncTasks(tasks: Array<{ name: string; options: Record<string, unknown> }>): void {
    for (const { name, options } of tasks) {
      const known = this.app.tasks.get(name);
      if (known) {
        Object.assign(known.options, options);
        continue;
      }
      this.app.task({ name, ...options }, () => {
        throw new ConfigurationError(`task ${name} runs in the pool's children only`);
      });
      this.logger.info(`task ${name} appeared in the reloaded code`);
    }
  }

  /** Resolves once no task is running. */
  private whenIdle(): Promise<void> {
    if (this.active.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Warm shutdown: stop consuming, return every message not started to the broker, wait for
   * running tasks up to `timeout` seconds (default `shutdownTimeout`), then end the rest as a
   * cold shutdown does. With `cold`, running tasks are ended at once: acksLate ones go back to
   * the queue, the others are recorded as failed (WorkerLostError). Calling it again during a
   * warm shutdown with `cold` escalates it.
   */
  stop(options: { timeout?: number; cold?: boolean } = {}): Promise<void> {
    if (options.cold) {
      this.cold = true;
      this.coldRequested?.();
    }
    const timeout = options.cold ? 0 : (options.timeout ?? this.shutdownTimeout);
    if (this.state === 'starting' && this.startPromise) {
      // A stop during start ends a wait for the broker, lets started steps finish, then shuts down what started.
      this.startAbort.abort();
      const started = this.startPromise.catch(() => undefined);
      this.stopPromise ??= started.then(() => this.shutdown(timeout));
    }
    this.stopPromise ??= this.shutdown(timeout);
    return this.stopPromise;
  }

  private async shutdown(timeout: number): Promise<void> {
    if (this.state === 'new' || this.state === 'stopped') {
      this.state = 'stopped';
      this.resolveStopped();
      return;
    }
    this.state = 'stopping';
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.autoscaler?.stop();
    this.pool.drain();
    await this.stopConsuming();
    for (const request of this.held) {
      clearTimeout(request.timer);
      this.settle(request, 'requeue');
    }
    this.held.clear();
    for (const request of this.rateLimiter.drain()) this.settle(request, 'requeue');
    for (const request of this.flow.drain()) this.settle(request, 'requeue');
    for (let i = this.readyHead; i < this.ready.length; i++) this.settle(this.ready[i]!, 'requeue');
    this.ready.length = 0;
    this.readyHead = 0;
    if (this.active.size > 0) {
      let timedOut = this.cold || timeout <= 0;
      if (!timedOut) {
        this.logger.info(`${this.hostname}: waiting for ${this.active.size} running task(s) to finish (up to ${timeout}s)`);
        let timer: NodeJS.Timeout | undefined;
        timedOut = await Promise.race([
          this.whenIdle().then(() => false),
          new Promise<boolean>((resolve) => {
            timer = setTimeout(() => resolve(true), timeout * 1000);
            this.coldRequested = () => resolve(true);
          }),
        ]);
        clearTimeout(timer);
        this.coldRequested = null;
      }
      if (timedOut && this.active.size > 0) await this.endRunning();
    }
    await this.stopSteps();
    this.state = 'stopped';
    this.hooks.emit('offline');
    this.logger.info(`${this.hostname} stopped`);
    this.resolveStopped();
  }

  /**
   * Cold shutdown of running tasks: the ones not acknowledged yet (acksLate, or queued in a pool
   * child and not started) are requeued, the others recorded as lost.
   */
  private async endRunning(): Promise<void> {
    this.logger.warn(`${this.hostname}: cold shutdown, ending ${this.active.size} running task(s) (acksLate ones go back to the queue)`);
    for (const request of [...this.active.values()]) {
      const reason = !request.acknowledged
        ? new Reject('the worker shut down before the task finished', true)
        : new WorkerLostError(`the worker shut down before the task finished (it was acknowledged when it started)`);
      this.pool.kill(request, reason, 'SIGKILL');
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.whenIdle(), new Promise<void>((resolve) => (timer = setTimeout(resolve, 10_000)))]);
    clearTimeout(timer);
    // Whatever did not report back in time: unacknowledged messages go back, the rest stay acknowledged.
    for (const request of this.active.values()) this.settle(request, 'requeue');
  }

  private async stopSteps(): Promise<void> {
    for (const step of this.started.reverse()) {
      try {
        await step.stop?.(this);
      } catch (err) {
        this.logger.warn(`stopping ${step.name} failed: ${(err as Error).message}`);
      }
    }
    this.started = [];
  }
}

function normalizeAutoscale(value: WorkerOptions['autoscale']): { max: number; min: number } | null {
  if (value === undefined || value === null) return null;
  const [max, min] = Array.isArray(value) ? value : [(value as { max: number }).max, (value as { min: number }).min];
  if (!Number.isInteger(max) || !Number.isInteger(min) || min < 0 || max < 1 || min > max) {
    throw new ConfigurationError(`autoscale needs integers max ≥ 1 and 0 ≤ min ≤ max (--autoscale max,min), got ${JSON.stringify(value)}`);
  }
  return { max: max!, min: min! };
}

/** `path[:export]` with the path made absolute (children may run elsewhere). */
function resolveModuleSpec(spec: string): string {
  const colon = spec.lastIndexOf(':');
  const hasExport = colon > 1 && !/^[a-z]:[\\/]/i.test(spec) && !spec.slice(colon + 1).includes('/');
  const path = hasExport ? spec.slice(0, colon) : spec;
  const exportName = hasExport ? spec.slice(colon) : '';
  if (path.startsWith('file:') || (!path.startsWith('.') && !isAbsolute(path))) return spec;
  return `${isAbsolute(path) ? path : resolvePath(process.cwd(), path)}${exportName}`;
}
