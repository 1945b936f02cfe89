/**
 * The worker: consumes task messages from its queues and runs them in a pool through the core
 * executor, as Celery's worker does.
 *
 * - Prefetch is `concurrency × prefetchMultiplier` unacknowledged messages; ETA tasks are held
 *   here until due and do not count against it.
 * - A message is acknowledged when its task starts, or after it ran with `acksLate`.
 * - On brokers with a visibility timeout (Redis, SQS) every held message is touched well within
 *   it, so a long ETA wait or a long acksLate task is never restored and run twice.
 * - Bad messages (invalid, unknown task, forbidden serializer) are rejected with a logged reason
 *   (dead-lettered where the broker has one); the worker keeps going.
 * - `stop()` is a warm shutdown: stop consuming, give every message not yet started back to the
 *   broker, and wait for running tasks (up to `shutdownTimeout`, then their AbortSignals fire).
 *
 * The worker is assembled from bootsteps (pool, pidbox, consumer, …) that start in dependency
 * order; users add their own with `steps`.
 */
import { availableParallelism } from 'node:os';
import {
  LazyAbort,
  NotRegistered,
  TaskExecutor,
  expandNodename,
  type AnyTask,
  type App,
  type Broker,
  type Consumer,
  type Delivery,
  type Logger,
  type Outcome,
  type QueueDeclaration,
  type TaskContext,
} from '@tq/core';
import { decodeTaskMessage, parsePyDatetime, type TaskMessage } from '@tq/protocol';
import { orderSteps, type Bootstep } from './bootsteps.js';
import { WorkerHooks } from './hooks.js';
import { Pidbox } from './pidbox.js';
import { AsyncPool } from './pools/async-pool.js';
import type { Pool, PoolKind } from './pools/pool.js';
import type { RequestInfo } from './request-info.js';
import { RevokedSet } from './revoked.js';

export interface WorkerOptions {
  /** Tasks run at once (default: 100 for the async pool). */
  concurrency?: number;
  pool?: PoolKind;
  /** Queues to consume (default: the app's default queue). */
  queues?: string[];
  /** Queues not to consume (Celery's `-X`). */
  excludeQueues?: string[];
  /** Messages prefetched per slot (default 4); 0 prefetches without limit. */
  prefetchMultiplier?: number;
  /** Node name, `-n` style (`w1@%h`); default `celery@<host>`. */
  hostname?: string;
  /** Seconds a warm shutdown waits for running tasks before signalling them to abort (default 30). */
  shutdownTimeout?: number;
  /** Extra components started with the worker, in dependency order. */
  steps?: Bootstep<Worker>[];
  logger?: Logger;
}

/** A task message the worker holds: waiting for its ETA, waiting for a slot, or running. */
class Request implements RequestInfo {
  readonly id: string;
  readonly name: string;
  readonly abort = new LazyAbort();
  timeStart: number | null = null;
  acknowledged = false;
  settled = false;
  timer: NodeJS.Timeout | undefined;
  workerPid: number | null = null;

  constructor(
    readonly delivery: Delivery,
    readonly message: TaskMessage,
    readonly task: AnyTask,
  ) {
    this.id = message.headers.id;
    this.name = message.headers.task;
  }

  get deliveryInfo() {
    return this.delivery.info;
  }
}

export type WorkerState = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

const MAX_TIMEOUT = 2 ** 31 - 1;

export class Worker {
  readonly app: App;
  readonly hostname: string;
  readonly logger: Logger;
  readonly hooks: WorkerHooks;
  readonly revoked = new RevokedSet();
  readonly executor: TaskExecutor;
  readonly pool: Pool;
  readonly queues: QueueDeclaration[];
  readonly prefetchMultiplier: number;
  readonly shutdownTimeout: number;
  readonly pidbox: Pidbox;
  /** Counts by task name of tasks this worker ran (Celery's `stats.total`). */
  readonly totals = new Map<string, number>();
  readonly startedAt = Date.now();

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
  private idleWaiters: Array<() => void> = [];
  private stopPromise: Promise<void> | null = null;
  private readonly steps: Bootstep<Worker>[];
  private started: Bootstep<Worker>[] = [];
  private keepAlive: NodeJS.Timeout | null = null;

  constructor(app: App, options: WorkerOptions = {}) {
    this.app = app;
    this.hostname = expandNodename(options.hostname);
    this.logger = options.logger ?? app.logger;
    this.hooks = new WorkerHooks(this.logger);
    const kind = options.pool ?? 'async';
    const concurrency = options.concurrency ?? (kind === 'async' ? 100 : availableParallelism());
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new TypeError(`concurrency must be a positive integer, got ${concurrency}`);
    this.prefetchMultiplier = options.prefetchMultiplier ?? 4;
    this.shutdownTimeout = options.shutdownTimeout ?? 30;
    this.executor = new TaskExecutor(app, { hostname: this.hostname, logger: this.logger, hooks: this.executorHooks() });
    if (kind !== 'async') throw new TypeError(`pool ${kind} is not available in this build; use 'async'`);
    this.pool = new AsyncPool({ concurrency, executor: this.executor });
    const exclude = new Set(options.excludeQueues ?? []);
    const names = (options.queues?.length ? options.queues : [app.conf.taskDefaultQueue]).filter((q) => !exclude.has(q));
    if (names.length === 0) throw new TypeError('the worker has no queue to consume (every queue was excluded)');
    this.queues = names.map((name) => app.router.queue(name));
    this.pidbox = new Pidbox(app, this.hostname);
    this.registerControl();
    this.steps = orderSteps([...this.builtinSteps(), ...(options.steps ?? [])]);
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

  private builtinSteps(): Bootstep<Worker>[] {
    return [
      { name: 'pool', start: () => this.pool.start(), stop: () => this.pool.stop() },
      { name: 'pidbox', requires: ['pool'], start: () => this.pidbox.start(this.broker!), stop: () => this.pidbox.stop() },
      { name: 'consumer', requires: ['pool'], start: () => this.startConsuming(), stop: () => this.stopConsuming() },
    ];
  }

  /** Prefetch for the current pool size, plus one per held ETA task (as Celery raises its QoS). */
  private prefetch(): number {
    if (this.prefetchMultiplier === 0) return 0;
    return this.pool.concurrency * this.prefetchMultiplier + this.held.size;
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`[tq] worker ${this.hostname} was already started`);
    this.state = 'starting';
    this.broker = await this.app.getBroker();
    try {
      for (const step of this.steps) {
        await step.start(this);
        this.started.push(step);
      }
    } catch (err) {
      this.logger.error(`${this.hostname} could not start: ${(err as Error).message}`);
      await this.stopSteps();
      this.state = 'stopped';
      throw err;
    }
    this.hooks.emit('online');
    this.logger.info(`${this.hostname} ready: ${this.pool.kind} pool, concurrency ${this.pool.concurrency}, queues ${this.queues.map((q) => q.name).join(', ')}`);
  }

  private async startConsuming(): Promise<void> {
    const broker = this.broker!;
    this.state = 'running';
    this.consumer = await broker.consume(this.queues, (delivery) => this.receive(delivery), {
      prefetch: this.prefetch(),
      tag: this.hostname,
    });
    if (broker.capabilities.visibilityTimeout) {
      const every = Math.max(1, Math.min(60, (broker.visibilityTimeout ?? 3600) / 4)) * 1000;
      this.keepAlive = setInterval(() => this.touchHeld(), every);
      this.keepAlive.unref();
    }
  }

  /** Keep every message this worker holds from being restored by the broker's visibility timeout. */
  private touchHeld(): void {
    const touch = (request: Request) => {
      if (!request.settled && request.delivery.touch) {
        request.delivery.touch().catch((err: unknown) => this.logger.warn(`could not extend the visibility of ${request.id}: ${(err as Error).message}`));
      }
    };
    for (const request of this.held) touch(request);
    for (let i = this.readyHead; i < this.ready.length; i++) touch(this.ready[i]!);
    for (const request of this.active.values()) touch(request);
  }

  private async stopConsuming(): Promise<void> {
    await this.consumer?.cancel().catch((err) => this.logger.warn(`cancelling the consumer failed: ${(err as Error).message}`));
  }

  private receive(delivery: Delivery): void {
    if (this.state === 'stopping' || this.state === 'stopped') {
      void delivery.reject(true);
      return;
    }
    let message: TaskMessage;
    try {
      message = decodeTaskMessage(delivery.message);
    } catch (err) {
      this.logger.error(`rejected a message from ${delivery.queue}: ${(err as Error).message}`);
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
    this.logger.info(`Discarding ${reason} task ${headers.task}[${headers.id}]`);
    this.hooks.emit('revoked', request, { terminated: false, signum: null, expired: reason === 'expired' });
    void this.executor
      .markRevoked(request.message, reason, request.delivery.info)
      .catch((err) => this.logger.error(`could not store the revocation of ${headers.id}: ${(err as Error).message}`))
      .finally(() => this.settle(request, 'ack'));
    return true;
  }

  private hold(request: Request, at: number): void {
    this.held.add(request);
    void this.consumer?.setPrefetch(this.prefetch());
    const arm = () => {
      const wait = at - Date.now();
      request.timer = setTimeout(wait > MAX_TIMEOUT ? arm : release, Math.min(Math.max(wait, 0), MAX_TIMEOUT));
    };
    const release = () => {
      this.held.delete(request);
      request.timer = undefined;
      void this.consumer?.setPrefetch(this.prefetch());
      if (!this.revokedOrExpired(request)) this.enqueue(request);
    };
    arm();
  }

  private enqueue(request: Request): void {
    this.ready.push(request);
    this.pump();
  }

  private pump(): void {
    while (this.state === 'running' && this.pool.running < this.pool.concurrency && this.readyHead < this.ready.length) {
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
    const { message, task, delivery } = request;
    if (this.revokedOrExpired(request)) return;
    if (!task.options.acksLate) this.settle(request, 'ack');
    request.timeStart = Date.now() / 1000;
    request.workerPid = process.pid;
    this.active.set(request.id, request);
    void this.pool
      .run({ task, message, deliveryInfo: delivery.info, signal: () => request.abort.signal })
      .then((outcome) => this.finish(request, outcome));
  }

  private finish(request: Request, outcome: Outcome): void {
    this.active.delete(request.id);
    this.totals.set(request.name, (this.totals.get(request.name) ?? 0) + 1);
    if (outcome.state === 'REJECTED') this.settle(request, outcome.requeue ? 'requeue' : 'reject');
    else if (outcome.state === 'FAILURE' && request.task.options.acksLate && !request.task.options.acksOnFailureOrTimeout) this.settle(request, 'reject');
    else this.settle(request, 'ack');
    if (this.active.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    this.pump();
  }

  private settle(request: Request, how: 'ack' | 'reject' | 'requeue'): void {
    if (request.settled) return;
    request.settled = true;
    request.acknowledged = how === 'ack';
    const done = how === 'ack' ? request.delivery.ack() : request.delivery.reject(how === 'requeue');
    done.catch((err: unknown) => this.logger.error(`could not ${how} task ${request.id}: ${(err as Error).message}`));
  }

  /** Requests waiting for a free slot (Celery's "reserved"). */
  reserved(): RequestInfo[] {
    return this.ready.slice(this.readyHead) as Request[];
  }

  /** Revoke ids on this worker; with `terminate`, running ones are signalled to abort. */
  revoke(ids: string[], terminate = false, signal = 'SIGTERM'): string[] {
    const terminated: string[] = [];
    for (const id of ids) {
      this.revoked.add(id);
      const running = this.active.get(id);
      if (terminate && running) {
        running.abort.abort(new TerminatedSignal(signal));
        this.hooks.emit('revoked', running, { terminated: true, signum: signal, expired: false });
        terminated.push(id);
      }
    }
    return terminated;
  }

  private registerControl(): void {
    this.pidbox.register('ping', () => ({ ok: 'pong' }));
    this.pidbox.register('revoke', (args) => {
      const raw = args['task_id'];
      const ids = (Array.isArray(raw) ? raw : [raw]).filter((id): id is string => typeof id === 'string');
      const terminate = args['terminate'] === true;
      const terminated = this.revoke(ids, terminate, typeof args['signal'] === 'string' ? args['signal'] : 'SIGTERM');
      if (terminate) return { ok: terminated.length ? `terminate: ${terminated.join(', ')}` : 'terminate: tasks unknown' };
      return { ok: `tasks ${ids.join(', ')} flagged as revoked` };
    });
  }

  /** Resolves once no task is running. */
  private whenIdle(): Promise<void> {
    if (this.active.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Warm shutdown: stop consuming, return every message not started to the broker, wait for
   * running tasks up to `shutdownTimeout` seconds, then abort the rest. Idempotent.
   */
  stop(options: { timeout?: number } = {}): Promise<void> {
    this.stopPromise ??= this.shutdown(options.timeout ?? this.shutdownTimeout);
    return this.stopPromise;
  }

  private async shutdown(timeout: number): Promise<void> {
    if (this.state === 'new') {
      this.state = 'stopped';
      return;
    }
    this.state = 'stopping';
    if (this.keepAlive) clearInterval(this.keepAlive);
    await this.stopConsuming();
    for (const request of this.held) {
      clearTimeout(request.timer);
      this.settle(request, 'requeue');
    }
    this.held.clear();
    for (let i = this.readyHead; i < this.ready.length; i++) this.settle(this.ready[i]!, 'requeue');
    this.ready.length = 0;
    this.readyHead = 0;
    if (this.active.size > 0) {
      this.logger.info(`${this.hostname}: waiting for ${this.active.size} running task(s) to finish`);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        this.whenIdle().then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), timeout * 1000);
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        this.logger.warn(`${this.hostname}: ${this.active.size} task(s) still running after ${timeout}s; signalling them to abort`);
        for (const request of this.active.values()) {
          request.abort.abort(new TerminatedSignal('SIGTERM'));
          if (request.task.options.acksLate) this.settle(request, 'requeue');
        }
      }
    }
    await this.stopSteps();
    this.state = 'stopped';
    this.hooks.emit('offline');
    this.logger.info(`${this.hostname} stopped`);
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

/** The abort reason when a task is terminated by revoke or shutdown. */
export class TerminatedSignal extends Error {
  constructor(readonly signal: string) {
    super(`terminated by ${signal}`);
    this.name = 'Terminated';
  }
}
