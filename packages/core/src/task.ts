/**
 * Tasks: a named function the workers run, with Celery's task options. Two styles:
 *
 *   const add = app.task('tasks.add', (x: number, y: number) => x + y);          // function
 *   class Mul extends Task<[number, number], number> {                            // class
 *     static taskName = 'tasks.mul';
 *     run(x: number, y: number) { return x * y; }
 *   }
 *   const mul = app.register(Mul);
 *
 * Argument and result types flow from the function into `delay`, `applyAsync`, `s()` and
 * `AsyncResult<R>`. Keyword arguments (from Python callers) are matched to parameters by name.
 */
import { signatureDict } from '@tq/protocol';
import { ConfigurationError } from './errors.js';
import type { ApplyOptions } from './apply-options.js';
import type { App } from './app.js';
import type { AsyncResult } from './async-result.js';
import type { TaskContext } from './context.js';
import { toSeconds, toSecondsOrNull, type Duration } from './duration.js';
import { joinBatch } from './batch.js';
import { resolveFlowOptions, type FlowTaskOptions, type RateLimitSpec, type ResolvedFlow } from './flow.js';
import { Signature, type Remaining, type Suffixes } from './signature.js';

/** Matches errors by class, by name, or by a predicate. */
export type ErrorMatcher = (abstract new (...args: never[]) => Error) | string | ((error: unknown) => boolean);

export interface TaskOptions extends FlowTaskOptions {
  /** The task's name, as senders call it (`'tasks.add'`). */
  name?: string;
  /** Pass the request as the first argument (Celery's `bind=True`). Function tasks also get it as `this`. */
  bind?: boolean;
  /** Parameter names, for matching keyword arguments; read from the function when omitted. */
  params?: string[];
  /** Retries allowed (default 3); `null` retries forever. */
  maxRetries?: number | null;
  /** Seconds before a retry when no countdown is given (default 180). */
  defaultRetryDelay?: Duration;
  /** Retry automatically on these errors. */
  autoretryFor?: ErrorMatcher[];
  /** …except these. */
  dontAutoretryFor?: ErrorMatcher[];
  /** Options for automatic retries (`countdown`, `maxRetries`). */
  retryKwargs?: { countdown?: Duration; maxRetries?: number | null };
  /** Exponential backoff for automatic retries: `true` (factor 1 s) or a factor in seconds. */
  retryBackoff?: boolean | number;
  /** Cap on the backoff in seconds (default 600). */
  retryBackoffMax?: Duration;
  /** Randomise the backoff in [0, backoff] (default true). */
  retryJitter?: boolean;
  /**
   * `'10/s'`, `'100/m'`, `'1000/h'`, or a number per second: enforced per worker, as Celery.
   * `{ rate, scope: 'global' }` shares one limit between every worker (see flow.ts).
   */
  rateLimit?: string | number | RateLimitSpec | null;
  /** Hard time limit in seconds: the task is stopped and fails with TimeLimitExceeded. */
  timeLimit?: Duration | null;
  /** Soft time limit: the task's AbortSignal fires and SoftTimeLimitExceeded is raised where it waits. */
  softTimeLimit?: Duration | null;
  ignoreResult?: boolean;
  storeErrorsEvenIfIgnored?: boolean;
  /** Acknowledge the message after the task ran instead of before. */
  acksLate?: boolean;
  /** With acksLate: also acknowledge when the task failed or timed out (default true). */
  acksOnFailureOrTimeout?: boolean;
  /** With acksLate: requeue the message if the process running the task dies. */
  rejectOnWorkerLost?: boolean;
  /** Store STARTED when a worker begins the task. */
  trackStarted?: boolean;
  serializer?: 'json' | 'msgpack';
  compression?: string | null;
  /** Default expiry for calls. */
  expires?: Duration | null;
  priority?: number | null;
  queue?: string;
  exchange?: string;
  routingKey?: string;
  /** Expected errors: logged briefly, without a traceback. */
  throws?: ErrorMatcher[];
  /** Send task events for this task (default true). */
  sendEvents?: boolean;
}

/** Options after defaults; durations in seconds. */
export interface ResolvedTaskOptions {
  maxRetries: number | null;
  defaultRetryDelay: number;
  autoretryFor: ErrorMatcher[];
  dontAutoretryFor: ErrorMatcher[];
  retryKwargs: { countdown?: number; maxRetries?: number | null };
  retryBackoff: number;
  retryBackoffMax: number;
  retryJitter: boolean;
  rateLimit: string | number | null;
  timeLimit: number | null;
  softTimeLimit: number | null;
  ignoreResult: boolean;
  storeErrorsEvenIfIgnored: boolean;
  acksLate: boolean;
  acksOnFailureOrTimeout: boolean;
  rejectOnWorkerLost: boolean;
  trackStarted: boolean;
  serializer: 'json' | 'msgpack' | undefined;
  compression: string | null | undefined;
  expires: number | null;
  priority: number | null;
  queue: string | undefined;
  exchange: string | undefined;
  routingKey: string | undefined;
  throws: ErrorMatcher[];
  sendEvents: boolean;
  /** Cluster-wide flow control (global/per-key limits, dedup, batch); null when the task uses none. */
  flow: ResolvedFlow | null;
}

/** Does `error` match one of the matchers (class, name, or predicate)? */
export function matchesError(error: unknown, matchers: readonly ErrorMatcher[]): boolean {
  for (const matcher of matchers) {
    if (typeof matcher === 'string') {
      if (error instanceof Error && (error.name === matcher || (error as { excType?: string }).excType === matcher)) return true;
    } else if (isErrorClass(matcher)) {
      if (error instanceof matcher) return true;
      // Errors that crossed a process boundary keep their name but not their prototype.
      if (error instanceof Error && error.name === matcher.name && matcher.name !== 'Error') return true;
    } else if ((matcher as (e: unknown) => boolean)(error)) return true;
  }
  return false;
}

function isErrorClass(value: unknown): value is abstract new (...args: never[]) => Error {
  return typeof value === 'function' && (value === Error || value.prototype instanceof Error);
}

function isAsyncFunction(fn: unknown): boolean {
  const name = (fn as { constructor?: { name?: string } } | undefined)?.constructor?.name;
  return name === 'AsyncFunction' || name === 'AsyncGeneratorFunction';
}

/** Parameter names of a function, read from its source; empty when they cannot be read. */
export function parameterNames(fn: (...args: never[]) => unknown): string[] {
  const source = Function.prototype.toString.call(fn);
  const m = /^(?:async\s+)?(?:function\b[^(]*|[\w$]+\s*)?\(([^)]*)\)/.exec(source) ?? /^(?:async\s+)?([\w$]+)\s*=>/.exec(source);
  if (!m) return [];
  return m[1]!
    .split(',')
    .map((p) => p.replace(/\/\*.*?\*\//g, '').replace(/=.*$/s, '').trim())
    .filter((p) => p.length > 0)
    .map((p) => (/^\.\.\.|^[{[]/.test(p) ? '' : p));
}

/** Any task, whatever its argument and result types (for registries and pools). */
export type AnyTask = Task<never, unknown>;

export class Task<A extends unknown[] = unknown[], R = unknown> {
  /** Class tasks set their name here. */
  static taskName?: string;
  /** Class tasks set their options here. */
  static options?: TaskOptions;

  /** The app the task is registered in (set by `app.task` / `app.register`). */
  app!: App;
  name!: string;
  options!: ResolvedTaskOptions;
  /** Parameter names for keyword arguments; `null` when unknown. */
  params: string[] | null = null;
  bind = false;
  /** The function of a function-style task. */
  protected fn: ((this: TaskContext, ...args: never[]) => unknown) | undefined;

  /** Called by the app when it registers the task. */
  attach(app: App, name: string, options: TaskOptions, fn?: (this: TaskContext, ...args: never[]) => unknown): this {
    this.app = app;
    this.name = name;
    this.fn = fn;
    this.bind = options.bind ?? false;
    this.options = resolveTaskOptions(app, options.name === name ? options : { ...options, name });
    const source = fn ?? (this.run as (...args: never[]) => unknown);
    const names = options.params ?? parameterNames(source);
    this.params = names.length > 0 && names.every(Boolean) ? (this.bind ? names.slice(1) : names) : null;
    this.isAsync = isAsyncFunction(source);
    return this;
  }

  /**
   * Whether the body is async (or was seen returning a promise): its request must then follow it
   * across awaits (see current-request.ts).
   */
  isAsync = false;

  get maxRetries(): number | null {
    return this.options.maxRetries;
  }

  get defaultRetryDelay(): number {
    return this.options.defaultRetryDelay;
  }

  /** The task body. Class tasks override it; function tasks run their function. */
  run(...args: A): R | Promise<R> {
    if (!this.fn) throw new ConfigurationError(`task ${this.name} has no run() method`);
    return (this.fn as (...a: unknown[]) => R | Promise<R>).call(this.request as TaskContext, ...args);
  }

  /**
   * Run the body for a request: keyword arguments are placed by parameter name; a bound task
   * receives the request first.
   */
  invoke(context: TaskContext, args: readonly unknown[], kwargs: Readonly<Record<string, unknown>>): unknown {
    if (this.options.flow?.batch) return joinBatch(this as unknown as AnyTask, context, args, kwargs, (calls) => (this.fn ? (this.fn as (this: TaskContext, c: unknown) => unknown).call(context, calls) : (this.run as unknown as (c: unknown) => unknown).call(this, calls)));
    const positional = this.placeKeywords(args, kwargs);
    if (this.fn) {
      const fn = this.fn as (this: TaskContext, ...a: unknown[]) => unknown;
      return this.bind ? fn.call(context, context, ...positional) : fn.call(context, ...positional);
    }
    return (this.run as (...a: unknown[]) => unknown).apply(this, this.bind ? [context, ...positional] : positional);
  }

  private placeKeywords(args: readonly unknown[], kwargs: Readonly<Record<string, unknown>>): unknown[] {
    const keys = Object.keys(kwargs);
    if (keys.length === 0) return [...args];
    if (!this.params) {
      throw new TypeError(`${this.name}() got keyword arguments (${keys.join(', ')}) but its parameter names are unknown; set the task option params`);
    }
    const out = [...args];
    for (const key of keys) {
      const index = this.params.indexOf(key);
      if (index === -1) throw new TypeError(`${this.name}() got an unexpected keyword argument '${key}'`);
      if (index < args.length) throw new TypeError(`${this.name}() got multiple values for argument '${key}'`);
      out[index] = kwargs[key];
    }
    return out;
  }

  /** The running request (inside the task body), from the app's async context. */
  get request(): TaskContext | undefined {
    return this.app?.currentRequest();
  }

  /** Retry the running task (see TaskContext.retry). */
  retry(options?: Parameters<TaskContext['retry']>[0]): never {
    const request = this.request;
    if (!request) throw new ConfigurationError(`${this.name}.retry() called outside a running task`);
    return request.retry(options);
  }

  /** Store a custom state for the running task. */
  updateState(state: string, meta?: unknown): Promise<void> {
    const request = this.request;
    if (!request) throw new ConfigurationError(`${this.name}.updateState() called outside a running task`);
    return request.updateState(state, meta);
  }

  /** Publish a custom event about the running task (see TaskContext.sendEvent). */
  sendEvent(type: string, fields?: Record<string, unknown>): Promise<void> {
    const request = this.request;
    if (!request) throw new ConfigurationError(`${this.name}.sendEvent() called outside a running task`);
    return request.sendEvent(type, fields);
  }

  /** Send the task with these arguments. */
  delay(...args: A): Promise<AsyncResult<R>> {
    return this.applyAsync(args);
  }

  /** Send the task with arguments and Celery's call options (countdown, queue, link, …). */
  applyAsync(args?: A, options: ApplyOptions = {}): Promise<AsyncResult<R>> {
    return this.app.sendTask<R>(this.name, args ?? [], options);
  }

  /**
   * Send the task once per argument list, in one bulk publish (see `app.sendTasks`); `options`
   * apply to every call. Resolves with the results in order.
   */
  applyAsyncMany(argsList: Iterable<A>, options: ApplyOptions = {}): Promise<AsyncResult<R>[]> {
    if (options.taskId !== undefined) return Promise.reject(new ConfigurationError(`${this.name}.applyAsyncMany() cannot take a taskId: every call gets its own`));
    const calls: Array<{ name: string; args: readonly unknown[]; options: ApplyOptions }> = [];
    for (const args of argsList) calls.push({ name: this.name, args, options });
    return this.app.sendTasks<R>(calls);
  }

  /** Run the task here and now, without a broker (Celery's `apply`): returns a finished result. */
  apply(args?: A, options: ApplyOptions = {}): Promise<AsyncResult<R>> {
    return this.app.applyEager<R>(this as unknown as AnyTask, args ?? [], options);
  }

  /** A signature with some arguments bound (call-time arguments are prepended). */
  s<P extends Suffixes<A>>(...args: P): Signature<Remaining<A, P>, R> {
    return this.app.signature({ task: this.name, args, kwargs: {}, options: {}, subtask_type: null, immutable: false }) as unknown as Signature<Remaining<A, P>, R>;
  }

  /** An immutable signature: it ignores the result of a previous step. */
  si(...args: A): Signature<unknown[], R> {
    return this.app.signature({ task: this.name, args, kwargs: {}, options: {}, subtask_type: null, immutable: true }) as unknown as Signature<unknown[], R>;
  }

  /** Celery's `task.map(it)`: one `celery.map` task calling this task for each item. */
  map(items: Iterable<A[0]>): Signature<unknown[], R[]> {
    return this.app.signature({
      task: 'celery.map',
      args: [],
      kwargs: { task: signatureDict(this.name), it: [...items] },
      options: {},
      subtask_type: 'xmap',
      immutable: true,
    }) as unknown as Signature<unknown[], R[]>;
  }

  /** Celery's `task.starmap(it)`: like map, each item being the argument list. */
  starmap(items: Iterable<A>): Signature<unknown[], R[]> {
    return this.app.signature({
      task: 'celery.starmap',
      args: [],
      kwargs: { task: signatureDict(this.name), it: [...items] },
      options: {},
      subtask_type: 'xstarmap',
      immutable: true,
    }) as unknown as Signature<unknown[], R[]>;
  }

  /** Celery's `task.chunks(it, n)`: the argument lists split into chunks of n, one task per chunk. */
  chunks(items: Iterable<A>, size: number): Signature<unknown[], R[][]> {
    if (!Number.isInteger(size) || size < 1) throw new ConfigurationError(`chunks size must be a positive integer, got ${size}`);
    return this.app.signature({
      task: 'celery.chunks',
      args: [],
      kwargs: { task: signatureDict(this.name), it: [...items], n: size },
      options: {},
      subtask_type: 'chunks',
      immutable: true,
    }) as unknown as Signature<unknown[], R[][]>;
  }

  /** Hooks for class tasks, as Celery's Task methods. */
  beforeStart?(taskId: string, args: unknown[], kwargs: Record<string, unknown>): void | Promise<void>;
  onSuccess?(result: R, taskId: string, args: unknown[], kwargs: Record<string, unknown>): void | Promise<void>;
  onFailure?(error: unknown, taskId: string, args: unknown[], kwargs: Record<string, unknown>): void | Promise<void>;
  onRetry?(error: unknown, taskId: string, args: unknown[], kwargs: Record<string, unknown>): void | Promise<void>;
  afterReturn?(state: string, result: unknown, taskId: string, args: unknown[], kwargs: Record<string, unknown>): void | Promise<void>;
}

function validRateLimit(value: string | number | null): string | number | null {
  parseRateLimit(value);
  return value;
}

export function resolveTaskOptions(app: App, options: TaskOptions): ResolvedTaskOptions {
  const conf = app.conf;
  const backoff = options.retryBackoff === true ? 1 : options.retryBackoff === false || options.retryBackoff === undefined ? 0 : options.retryBackoff;
  const retryKwargs: ResolvedTaskOptions['retryKwargs'] = {};
  if (options.retryKwargs?.countdown !== undefined) retryKwargs.countdown = toSeconds(options.retryKwargs.countdown, 'retryKwargs.countdown');
  if (options.retryKwargs?.maxRetries !== undefined) retryKwargs.maxRetries = options.retryKwargs.maxRetries;
  return {
    maxRetries: options.maxRetries === undefined ? 3 : options.maxRetries,
    defaultRetryDelay: options.defaultRetryDelay === undefined ? 180 : toSeconds(options.defaultRetryDelay, 'defaultRetryDelay'),
    autoretryFor: options.autoretryFor ?? [],
    dontAutoretryFor: options.dontAutoretryFor ?? [],
    retryKwargs,
    retryBackoff: backoff,
    retryBackoffMax: options.retryBackoffMax === undefined ? 600 : toSeconds(options.retryBackoffMax, 'retryBackoffMax'),
    retryJitter: options.retryJitter ?? true,
    rateLimit: validRateLimit(isGlobalRate(options.rateLimit) ? null : (workerRateLimit(options.rateLimit) ?? conf.taskDefaultRateLimit)),
    timeLimit: options.timeLimit === undefined ? conf.taskTimeLimit : toSecondsOrNull(options.timeLimit, 'timeLimit'),
    softTimeLimit: options.softTimeLimit === undefined ? conf.taskSoftTimeLimit : toSecondsOrNull(options.softTimeLimit, 'softTimeLimit'),
    ignoreResult: options.ignoreResult ?? conf.taskIgnoreResult,
    storeErrorsEvenIfIgnored: options.storeErrorsEvenIfIgnored ?? conf.taskStoreErrorsEvenIfIgnored,
    acksLate: options.acksLate ?? conf.taskAcksLate,
    acksOnFailureOrTimeout: options.acksOnFailureOrTimeout ?? conf.taskAcksOnFailureOrTimeout,
    rejectOnWorkerLost: options.rejectOnWorkerLost ?? conf.taskRejectOnWorkerLost,
    trackStarted: options.trackStarted ?? conf.taskTrackStarted,
    serializer: options.serializer,
    compression: options.compression,
    expires: toSecondsOrNull(options.expires, 'expires'),
    priority: options.priority ?? null,
    queue: options.queue,
    exchange: options.exchange,
    routingKey: options.routingKey,
    throws: options.throws ?? [],
    sendEvents: options.sendEvents ?? true,
    flow: resolveFlowOptions(app, options.name ?? '(unnamed)', options, parseRateLimit),
  };
}

function isGlobalRate(value: TaskOptions['rateLimit']): boolean {
  return typeof value === 'object' && value !== null && value.scope === 'global';
}

/** The per-worker (Celery) part of `rateLimit`: a global limit is kept in `flow` instead. */
function workerRateLimit(value: TaskOptions['rateLimit']): string | number | null | undefined {
  return value === null || typeof value !== 'object' ? value : value.rate;
}

const RATE_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600 };

/**
 * A rate limit in tasks per second, as Celery's `rate()`: `'10/s'`, `'100/m'`, `'1000/h'`, a
 * bare number (`'5'`, `5`) per second; `null`, `''`, `0` mean no limit (0 is returned).
 * Throws a ConfigurationError that names the accepted forms.
 */
export function parseRateLimit(value: string | number | null | undefined): number {
  if (value === null || value === undefined || value === '' || value === 0) return 0;
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new ConfigurationError(`a rate limit must be a number ≥ 0 or a string like '10/s', '100/m', '1000/h'; got ${value}`);
    return value;
  }
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(?:\/\s*([smh]))?\s*$/.exec(String(value));
  if (!m) throw new ConfigurationError(`a rate limit must look like '10/s', '100/m', '1000/h' or a number per second; got ${JSON.stringify(value)}`);
  return Number(m[1]) / RATE_UNITS[m[2] ?? 's']!;
}

/** Celery's `get_exponential_backoff_interval`: min(max, factor·2^retries), jittered in [0, n]. */
export function backoffInterval(factor: number, retries: number, maximum: number, jitter: boolean, random: () => number = Math.random): number {
  const countdown = Math.min(maximum, factor * 2 ** retries);
  return Math.max(0, jitter ? Math.floor(random() * (Math.floor(countdown) + 1)) : countdown);
}
