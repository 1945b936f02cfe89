/**
 * The task executor that every worker pool shares (Celery's tracer): run one task message and do
 * everything that follows from its outcome, in Celery's order —
 *
 *   STARTED (trackStarted) → run → on success: callbacks and the next chain step are sent, then
 *   SUCCESS is stored (with those as children), then the chord counter is told;
 *   on Retry: RETRY is stored and the task re-sent with retries + 1;
 *   on failure: FAILURE is stored (with the traceback), the chord is told, the rest of the chain
 *   is marked failed, and the errbacks are sent.
 *
 * It never throws: every outcome, including an internal error (the backend down), is returned
 * for the worker to acknowledge, reject or requeue the message and to emit events.
 */
import { encodeException, type SignatureDict, type TaskMessage } from '@tq/protocol';
import type { ApplyOptions } from './apply-options.js';
import type { App } from './app.js';
import type { DeliveryInfo } from './broker.js';
import { chordPartReturn } from './chord-join.js';
import { TaskContext, type EventSender, type StateUpdater } from './context.js';
import { Ignore, isTqError, Reject, Retry, SoftTimeLimitExceeded, TaskRevokedError, TimeLimitExceeded } from './errors.js';
import { LazyAbort } from './lazy-abort.js';
import type { Logger } from './logger.js';
import { FAILURE, RETRY, REVOKED, STARTED, SUCCESS } from './states.js';
import { backoffInterval, matchesError, type AnyTask } from './task.js';

/** Runs the task body for a context; pools replace it to run the body elsewhere. */
export type Invoker = (task: AnyTask, context: TaskContext, args: readonly unknown[], kwargs: Readonly<Record<string, unknown>>) => Promise<unknown>;

/** Per-worker observers (events); every one is optional and must not throw. */
export interface ExecutorHooks {
  started?(context: TaskContext): void;
  succeeded?(context: TaskContext, result: unknown, runtime: number): void;
  failed?(context: TaskContext, error: unknown, traceback: string | null, runtime: number): void;
  retried?(context: TaskContext, error: unknown, traceback: string | null): void;
  rejected?(context: TaskContext, requeue: boolean): void;
}

export interface ExecutorOptions {
  /** The worker's node name, recorded as the result's worker and in STARTED meta. */
  hostname: string;
  hooks?: ExecutorHooks;
  logger?: Logger;
  /** The pid recorded in STARTED meta (the child's pid in a process pool). */
  pid?: number;
}

export interface RunOptions {
  deliveryInfo?: DeliveryInfo;
  /** Fires on soft time limit, revoke-terminate, shutdown; exposed as the task's `signal` (or a function making it lazily). */
  signal?: AbortSignal | (() => AbortSignal);
  /**
   * Interrupts the run. When it is aborted the task's AbortSignal fires with the reason and the
   * run ends at once with that reason, wherever the task is awaiting (a body that ignores its
   * signal is abandoned, not stopped: JavaScript cannot stop a function from outside):
   * `TaskRevokedError` (terminate) → REVOKED; `Reject` → REJECTED; any other error (time limits,
   * `WorkerLostError`) → FAILURE with it. Also the task's `signal` unless `signal` is given.
   */
  abort?: LazyAbort;
  /**
   * Seconds until the soft time limit: the task's AbortSignal fires and the run fails with
   * SoftTimeLimitExceeded (subject to `autoretryFor`, as in Celery).
   */
  softTimeLimit?: number | null;
  /**
   * Seconds until the hard time limit, enforced here: the run fails with TimeLimitExceeded at the
   * deadline. Pools that can stop a task (child processes, threads) enforce the hard limit
   * themselves by killing it and leave this unset.
   */
  timeLimit?: number | null;
  invoke?: Invoker;
  isEager?: boolean;
}

export type Outcome =
  | { state: 'SUCCESS'; value: unknown; runtime: number }
  | { state: 'FAILURE'; error: unknown; traceback: string | null; runtime: number; expected: boolean }
  | { state: 'RETRY'; error: unknown; runtime: number }
  | { state: 'IGNORED'; runtime: number }
  | { state: 'REJECTED'; requeue: boolean; error: unknown; runtime: number }
  /** Ended by a terminate (`abort` with a TaskRevokedError): REVOKED is stored. */
  | { state: 'REVOKED'; reason: string; runtime: number };

/** Headers Celery defines; anything else in a message is a custom header that a retry carries on. */
const STANDARD_HEADERS = new Set([
  'lang', 'task', 'id', 'shadow', 'eta', 'expires', 'group', 'group_index', 'retries', 'timelimit', 'root_id',
  'parent_id', 'argsrepr', 'kwargsrepr', 'origin', 'ignore_result', 'replaced_task_nesting', 'stamped_headers',
  'stamps', 'compression', 'redelivered',
]);

/**
 * Whether a run whose outcome could not be recorded goes back to its queue instead of being
 * acknowledged: an `acksLate` task (its message is not acknowledged until it ends) that met a
 * passing outage of the result backend or the broker while storing its result or sending what
 * follows it. Acknowledging it would lose it, the message gone and no result stored; requeued,
 * it runs again once the outage is over (acksLate is at-least-once already).
 */
function requeuesUnrecorded(task: AnyTask, error: unknown): boolean {
  return task.options.acksLate && isTqError(error) && error.retryable && (error.code === 'BACKEND_ERROR' || error.code === 'BROKER_ERROR');
}

export function tracebackOf(error: unknown): string | null {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return null;
}

/**
 * Whether a plain function body returned a promise. The first time it does, the task is marked
 * async: from then on its request follows it across awaits.
 */
function returnedPromise(task: AnyTask, value: unknown): boolean {
  if (value === null || typeof value !== 'object' || typeof (value as PromiseLike<unknown>).then !== 'function') return false;
  if (!task.isAsync) {
    task.isAsync = true;
    task.app.logger.warn(
      `task ${task.name} is a plain function that returns a promise: declare it async, so that tasks it sends after an await get it as their parent from the first run on (they do from now on)`,
    );
  }
  return true;
}

const defaultInvoke: Invoker = (task, context, args, kwargs) => {
  let value: unknown;
  try {
    value = task.invoke(context, args, kwargs);
  } catch (err) {
    return Promise.reject(err);
  }
  returnedPromise(task, value);
  return Promise.resolve(value);
};

/** One run of a task, as the steps after its body need it. */
interface Run {
  task: AnyTask;
  context: TaskContext;
  options: RunOptions;
  abort: LazyAbort | undefined;
  storeResults: boolean;
  /** A `performance.now()` reading. */
  started: number;
}

/** Seconds since `started` (a `performance.now()` reading). */
function secondsSince(started: number): number {
  return (performance.now() - started) / 1000;
}

export class TaskExecutor {
  private readonly hooks: ExecutorHooks;
  private readonly logger: Logger;
  readonly hostname: string;
  private readonly pid: number;

  constructor(
    private readonly app: App,
    options: ExecutorOptions,
  ) {
    this.hooks = options.hooks ?? {};
    this.logger = options.logger ?? app.logger;
    this.hostname = options.hostname;
    this.pid = options.pid ?? process.pid;
    const executor = this;
    this.updateState = function (this: TaskContext, state: string, meta: unknown): Promise<void> {
      return !this.isEager || executor.app.conf.taskStoreEagerResult ? executor.store(this, state, meta) : Promise.resolve();
    };
  }

  /** How tasks run here store a custom state: one function for every run, called with the run's context as `this`. */
  private readonly updateState: StateUpdater;

  /** How tasks run here publish their own events (`TaskContext.sendEvent`): from this worker's node name. */
  private readonly eventSender: EventSender = (type, fields) => this.app.events.sendTaskEvent(this.hostname, type, fields);

  /**
   * Run a message for a registered task. Not an async function: a plain body with nothing to
   * store or await before it runs (the usual task) is called here and its result stored with one
   * `then`; anything else takes `executeInSteps` (docs/performance.md).
   */
  execute(task: AnyTask, message: TaskMessage, options: RunOptions = {}): Promise<Outcome> {
    const app = this.app;
    const started = performance.now();
    const ignoreResult = task.options.ignoreResult || message.headers.ignore_result;
    const storeResults = options.isEager ? app.conf.taskStoreEagerResult && !ignoreResult : !ignoreResult;
    const abort = options.abort ?? (options.softTimeLimit || options.timeLimit ? new LazyAbort() : undefined);
    const isEager = options.isEager ?? false;
    const context = new TaskContext({
      message,
      task,
      hostname: this.hostname,
      isEager,
      deliveryInfo: options.deliveryInfo,
      signal: options.signal ?? abort,
      updateState: this.updateState,
      sendEvent: this.eventSender,
    });
    const run: Run = { task, context, options, abort, storeResults, started };
    const storesStarted = task.options.trackStarted && !ignoreResult && !isEager;
    if (storesStarted || task.beforeStart || options.invoke || task.isAsync || abort?.aborted) return this.executeInSteps(run, storesStarted);

    this.announceStart(context);
    let value: unknown;
    try {
      value = app.runInContext(context, () => task.invoke(context, message.args, message.kwargs), false);
    } catch (error) {
      return this.runFailed(run, error);
    }
    // A plain function body has finished when it returns: no await to end early and no time
    // limit can fire during it, so its outcome needs no race (nor timers), unless it returned a
    // promise after all.
    if (returnedPromise(task, value)) {
      const running = Promise.resolve(value);
      return this.awaitBody(run, abort ? this.guard(run, abort, () => running) : running);
    }
    return this.succeed(run, value);
  }

  /** The run with a STARTED store, a `beforeStart`, an async body or a pool's invoker: awaited step by step. */
  private async executeInSteps(run: Run, storesStarted: boolean): Promise<Outcome> {
    const { task, context, options, abort } = run;
    try {
      if (storesStarted) await this.store(context, STARTED, { pid: this.pid, hostname: this.hostname });
      this.announceStart(context);
      if (task.beforeStart) await task.beforeStart(context.id, context.args, context.kwargs);
    } catch (internal) {
      return this.internalError(run, internal);
    }
    const invoke = options.invoke ?? defaultInvoke;
    const body = this.app.runInContext(
      context,
      () => (abort ? this.guardedInvoke(run, abort) : invoke(task, context, context.args, context.kwargs)),
      task.isAsync,
    );
    return this.awaitBody(run, body);
  }

  private async awaitBody(run: Run, body: Promise<unknown>): Promise<Outcome> {
    let value: unknown;
    try {
      value = await body;
    } catch (error) {
      return this.runFailed(run, error);
    }
    return this.succeed(run, value);
  }

  private announceStart(context: TaskContext): void {
    if (this.hooks.started) this.safely(() => this.hooks.started!(context));
    this.app.signals.emit('taskPrerun', context);
  }

  /** The body threw or rejected: a terminate, a retry (asked for or automatic), or a failure. */
  private runFailed(run: Run, error: unknown): Promise<Outcome> {
    const { task, context, abort, storeResults, started } = run;
    const runtime = () => secondsSince(started);
    // An interrupt is the run's end, not the task's doing: only a soft limit (raised "inside"
    // the task, as in Celery) may be retried automatically.
    const interrupted = abort !== undefined && abort.aborted && error === abort.reason;
    if (interrupted && error instanceof TaskRevokedError) return this.onTerminated(task, context, error, storeResults, runtime);
    let retried: unknown;
    try {
      retried = interrupted && !(error instanceof SoftTimeLimitExceeded) ? error : this.autoretry(task, context, error);
    } catch (internal) {
      return this.internalError(run, internal);
    }
    return this.onError(task, context, retried, storeResults, runtime);
  }

  /**
   * What follows a body that returned `value`. With nothing to send or tell and no handlers (the
   * usual task), SUCCESS is stored and the outcome made in one `then`; else `succeedInSteps`.
   */
  private succeed(run: Run, value: unknown): Promise<Outcome> {
    const { task, context } = run;
    if (context.callbacks?.length || context.chain?.length || context.chord || task.onSuccess || task.afterReturn) return this.succeedInSteps(run, value);
    if (!run.storeResults) return Promise.resolve(this.succeeded(run, value));
    return this.store(context, SUCCESS, value).then(
      () => this.succeeded(run, value),
      (internal: unknown) => this.internalError(run, internal),
    );
  }

  private async succeedInSteps(run: Run, value: unknown): Promise<Outcome> {
    const { task, context } = run;
    try {
      // Callbacks and the next chain step go first, so SUCCESS is stored with them as children.
      if (context.callbacks?.length || context.chain?.length) await this.dispatchCallbacksAndChain(context, value);
      if (run.storeResults) await this.store(context, SUCCESS, value);
      if (context.chord) await chordPartReturn(this.app, context, SUCCESS, value);
      const took = secondsSince(run.started);
      if (task.onSuccess) await task.onSuccess(value, context.id, context.args, context.kwargs);
      this.announceSuccess(context, value, took);
      if (task.afterReturn) await task.afterReturn(SUCCESS, value, context.id, context.args, context.kwargs);
      this.app.signals.emit('taskPostrun', context, SUCCESS, value);
      return { state: SUCCESS, value, runtime: took };
    } catch (internal) {
      return this.internalError(run, internal);
    }
  }

  /** The end of a success with no handlers: logged, announced, the outcome. */
  private succeeded(run: Run, value: unknown): Outcome | Promise<Outcome> {
    const took = secondsSince(run.started);
    try {
      this.announceSuccess(run.context, value, took);
      this.app.signals.emit('taskPostrun', run.context, SUCCESS, value);
    } catch (internal) {
      return this.internalError(run, internal); // a logger that threw
    }
    return { state: SUCCESS, value, runtime: took };
  }

  private announceSuccess(context: TaskContext, value: unknown, took: number): void {
    if (this.logger.enabled?.('info') ?? true) this.logger.info(`Task ${context.name}[${context.id}] succeeded in ${took.toFixed(6)}s`);
    if (this.hooks.succeeded) this.safely(() => this.hooks.succeeded!(context, value, took));
    this.app.signals.emit('taskSuccess', context, value);
  }

  /** Storing or sending failed (backend or broker down, a result that cannot be encoded). */
  private internalError(run: Run, internal: unknown): Promise<Outcome> {
    const { task, context, storeResults, started } = run;
    this.logger.error(`Task ${context.name}[${context.id}] raised an internal error: ${(internal as Error).message}`);
    const runtime = () => secondsSince(started);
    const requeued = this.requeued(task, context, internal, runtime);
    return requeued ? Promise.resolve(requeued) : this.onError(task, context, internal, storeResults, runtime);
  }

  /**
   * Record the end of a run that happened elsewhere and was cut short — the child process or
   * thread running it was killed (hard time limit, terminate, cold shutdown) or died — as Celery's
   * parent does (`on_timeout`, `on_failure(WorkerLostError)`): `TaskRevokedError` stores REVOKED,
   * `Reject` requeues or drops without storing, any other error stores FAILURE and sends the
   * errbacks, with the task's `onFailure`, the signals and the `failed` hook.
   */
  async interrupted(task: AnyTask, message: TaskMessage, reason: Error, options: { deliveryInfo?: DeliveryInfo; runtime?: number } = {}): Promise<Outcome> {
    const context = this.contextElsewhere(task, message, options.deliveryInfo);
    const storeResults = !(task.options.ignoreResult || message.headers.ignore_result);
    const runtime = () => options.runtime ?? 0;
    if (reason instanceof TaskRevokedError) return this.onTerminated(task, context, reason, storeResults, runtime);
    return this.onError(task, context, reason, storeResults, runtime);
  }

  /**
   * For a run that happened elsewhere and whose outcome could not be recorded (a child pool's
   * result that the worker, writing it behind the child, failed to store): the requeue outcome
   * `requeuesUnrecorded` calls for, logged and announced as in-process runs are; null otherwise.
   */
  unrecorded(task: AnyTask, message: TaskMessage, error: unknown, options: { deliveryInfo?: DeliveryInfo; runtime?: number } = {}): Outcome | null {
    if (!requeuesUnrecorded(task, error)) return null;
    return this.requeued(task, this.contextElsewhere(task, message, options.deliveryInfo), error, () => options.runtime ?? 0);
  }

  /** A context for recording a run that happened elsewhere: it cannot store custom states any more. */
  private contextElsewhere(task: AnyTask, message: TaskMessage, deliveryInfo: DeliveryInfo | undefined): TaskContext {
    return new TaskContext({
      message,
      task,
      hostname: this.hostname,
      ...(deliveryInfo ? { deliveryInfo } : {}),
      updateState: async () => undefined,
      sendEvent: this.eventSender,
    });
  }

  /**
   * Run the body so that an abort ends the run where the task awaits, and arm the time limits.
   * The timers are cleared when the run ends, by the body or by an abort.
   */
  private guardedInvoke(run: Run, abort: LazyAbort): Promise<unknown> {
    const { task, context, options } = run;
    if (abort.aborted) return Promise.reject(abort.reason);
    if (!options.invoke && !task.isAsync) {
      // A plain body, as in execute; it may return a promise after all (see defaultInvoke).
      const running = defaultInvoke(task, context, context.args, context.kwargs);
      return task.isAsync ? this.guard(run, abort, () => running) : running;
    }
    const invoke = options.invoke ?? defaultInvoke;
    return this.guard(run, abort, () => invoke(task, context, context.args, context.kwargs));
  }

  /** Race a body against the abort, with the time limits armed before `start` runs it, so that its synchronous part counts against them too. */
  private guard(run: Run, abort: LazyAbort, start: () => Promise<unknown>): Promise<unknown> {
    const { context, options } = run;
    const softLimit = options.softTimeLimit;
    const hardLimit = options.timeLimit;
    if (!softLimit && !hardLimit) return abort.race(start());
    const soft = softLimit
      ? setTimeout(() => {
          this.logger.warn(`Soft time limit (${softLimit}s) exceeded for ${context.name}[${context.id}]`);
          abort.abort(new SoftTimeLimitExceeded(softLimit));
        }, softLimit * 1000)
      : undefined;
    const hard = hardLimit
      ? setTimeout(() => {
          this.logger.error(`Hard time limit (${hardLimit}s) exceeded for ${context.name}[${context.id}]`);
          abort.abort(new TimeLimitExceeded(hardLimit));
        }, hardLimit * 1000)
      : undefined;
    const clear = (): void => {
      clearTimeout(soft);
      clearTimeout(hard);
    };
    const running = abort.race(start());
    running.then(clear, clear);
    return running;
  }

  /**
   * Celery's `_announce_revoked`: store REVOKED; the worker reports the revoke. The reason is the
   * error's: 'terminated' for a terminate, 'revoked' for a job a pool withdrew before it started.
   */
  private async onTerminated(task: AnyTask, context: TaskContext, error: TaskRevokedError, storeResults: boolean, runtime: () => number): Promise<Outcome> {
    const reason = error.excArgs[0] === 'revoked' ? 'revoked' : 'terminated';
    try {
      this.logger.info(`Task ${context.name}[${context.id}] ${reason}`);
      const store = storeResults || (task.options.storeErrorsEvenIfIgnored && !context.isEager);
      await this.markFailure(context, error, null, store, REVOKED);
      this.app.signals.emit('taskRevoked', context, reason);
    } catch (internal) {
      this.logger.error(`Task ${context.name}[${context.id}]: could not record the revocation: ${(internal as Error).message}`);
    }
    return { state: REVOKED, reason, runtime: runtime() };
  }

  /** Celery's autoretry_for: turn a matching error into a retry (or the error, once retries run out). */
  private autoretry(task: AnyTask, context: TaskContext, error: unknown): unknown {
    const { autoretryFor, dontAutoretryFor, retryBackoff, retryBackoffMax, retryJitter, retryKwargs } = task.options;
    if (autoretryFor.length === 0 || error instanceof Retry || error instanceof Ignore || error instanceof Reject) return error;
    if (!matchesError(error, autoretryFor) || matchesError(error, dontAutoretryFor)) return error;
    const countdown = retryBackoff > 0 ? backoffInterval(retryBackoff, context.retries, retryBackoffMax, retryJitter) : retryKwargs.countdown;
    try {
      context.retry({ exc: error, ...(countdown === undefined ? {} : { countdown }), ...(retryKwargs.maxRetries === undefined ? {} : { maxRetries: retryKwargs.maxRetries }) });
    } catch (thrown) {
      return thrown;
    }
    return error;
  }

  private async onError(task: AnyTask, context: TaskContext, error: unknown, storeResults: boolean, runtime: () => number): Promise<Outcome> {
    const app = this.app;
    try {
      if (error instanceof Ignore) {
        this.logger.info(`Task ${context.name}[${context.id}] ignored`);
        return { state: 'IGNORED', runtime: runtime() };
      }
      if (error instanceof Reject) {
        this.logger.info(`Task ${context.name}[${context.id}] rejected (requeue=${error.requeue}): ${error.reason}`);
        this.safely(() => this.hooks.rejected?.(context, error.requeue));
        return { state: 'REJECTED', requeue: error.requeue, error, runtime: runtime() };
      }
      if (error instanceof Retry) return await this.onRetry(task, context, error, storeResults, runtime);
      return await this.onFailure(task, context, error, storeResults, runtime);
    } catch (internal) {
      this.logger.error(`Task ${context.name}[${context.id}]: could not record the outcome: ${(internal as Error).message}`);
      return this.requeued(task, context, internal, runtime) ?? { state: FAILURE, error: internal, traceback: tracebackOf(internal), runtime: runtime(), expected: false };
    }
  }

  /** The outcome for a run that `requeuesUnrecorded`, announced as a rejection with requeue; null for any other. */
  private requeued(task: AnyTask, context: TaskContext, error: unknown, runtime: () => number): Outcome | null {
    if (context.isEager || !requeuesUnrecorded(task, error)) return null;
    this.logger.warn(`Task ${context.name}[${context.id}] requeued: its outcome could not be recorded (${(error as Error).message}); it runs again`);
    this.safely(() => this.hooks.rejected?.(context, true));
    return { state: 'REJECTED', requeue: true, error, runtime: runtime() };
  }

  private async onRetry(task: AnyTask, context: TaskContext, retry: Retry, storeResults: boolean, runtime: () => number): Promise<Outcome> {
    const cause = retry.options.exc ?? retry;
    const traceback = tracebackOf(cause);
    if (context.isEager) {
      // Celery runs an eager retry again at once.
      return this.retryEagerly(task, context, retry);
    }
    if (storeResults) await this.store(context, RETRY, encodeException(cause), traceback);
    // task-retried goes out before the new message does: on an in-process broker the retry can
    // run and succeed before the send returns, and a monitor (Celery's event state) that saw
    // task-retried after task-succeeded would show the finished task as RETRY. A send that
    // fails is followed by task-failed.
    this.safely(() => this.hooks.retried?.(context, cause, traceback));
    try {
      await this.resend(context, retry);
    } catch (sendError) {
      this.logger.error(`Task ${context.name}[${context.id}]: the retry could not be sent: ${(sendError as Error).message}`);
      return this.onFailure(task, context, sendError, storeResults, runtime);
    }
    this.logger.info(`Task ${context.name}[${context.id}] retry: ${retry.message}`);
    if (task.onRetry) await task.onRetry(cause, context.id, context.args, context.kwargs);
    this.app.signals.emit('taskRetry', context, cause);
    return { state: RETRY, error: cause, runtime: runtime() };
  }

  private async retryEagerly(task: AnyTask, context: TaskContext, retry: Retry): Promise<Outcome> {
    const message = structuredRetryMessage(context, retry);
    return this.execute(task, message, { isEager: true });
  }

  /** Re-send the task as Celery's `signature_from_request`: same id, retries + 1. */
  private async resend(context: TaskContext, retry: Retry): Promise<void> {
    const h = context.message.headers;
    const headers: Record<string, unknown> = {};
    for (const key of Object.keys(h)) if (!STANDARD_HEADERS.has(key)) headers[key] = h[key];
    const { deliveryInfo } = context;
    const opts = retry.options;
    const routing =
      opts.queue !== undefined
        ? { queue: opts.queue }
        : deliveryInfo.exchange === '' && deliveryInfo.routingKey
          ? { queue: deliveryInfo.routingKey }
          : deliveryInfo.exchange
            ? { exchange: deliveryInfo.exchange, routingKey: deliveryInfo.routingKey }
            : {};
    const priority = opts.priority ?? deliveryInfo.priority ?? undefined;
    await this.app.sendTask(context.name, opts.args ?? context.args, {
      kwargs: opts.kwargs ?? context.kwargs,
      taskId: context.id,
      rootId: context.rootId ?? context.id,
      parentId: context.parentId ?? context.id,
      ...(context.group ? { groupId: context.group } : {}),
      ...(context.groupIndex !== null ? { groupIndex: context.groupIndex } : {}),
      ...(context.shadow ? { shadow: context.shadow } : {}),
      chord: context.chord,
      chain: context.chain,
      ...(context.callbacks ? { link: context.callbacks } : {}),
      ...(context.errbacks ? { linkError: context.errbacks } : {}),
      ...(context.expires ? { expires: new Date(context.expires) } : {}),
      timeLimit: context.timeLimit,
      softTimeLimit: context.softTimeLimit,
      headers,
      retries: context.retries + 1,
      ...(context.replyTo ? { replyTo: context.replyTo } : {}),
      ...(opts.eta !== undefined ? { eta: opts.eta } : { countdown: opts.countdown ?? 0 }),
      ...(priority === undefined || priority === null ? {} : { priority }),
      ...routing,
      addToParent: false,
    });
  }

  private async onFailure(task: AnyTask, context: TaskContext, error: unknown, storeResults: boolean, runtime: () => number): Promise<Outcome> {
    const expected = matchesError(error, task.options.throws);
    const traceback = tracebackOf(error);
    const took = runtime();
    if (expected) this.logger.info(`Task ${context.name}[${context.id}] raised expected: ${describe(error)}`);
    else this.logger.error(`Task ${context.name}[${context.id}] raised unexpected: ${describe(error)}`, { traceback: traceback ?? undefined });
    const store = storeResults || (task.options.storeErrorsEvenIfIgnored && !context.isEager);
    await this.markFailure(context, error, traceback, store);
    if (task.onFailure) await task.onFailure(error, context.id, context.args, context.kwargs);
    this.safely(() => this.hooks.failed?.(context, error, traceback, took));
    this.app.signals.emit('taskFailure', context, error);
    if (task.afterReturn) await task.afterReturn(FAILURE, error, context.id, context.args, context.kwargs);
    this.app.signals.emit('taskPostrun', context, FAILURE, error);
    return { state: FAILURE, error, traceback, runtime: took, expected };
  }

  /**
   * Celery's `mark_as_failure`: store the failure, tell the chord, fail the rest of the chain
   * (so that waiting on a chain's last result does not hang), and send the errbacks.
   */
  async markFailure(context: Pick<TaskContext, 'id' | 'name' | 'group' | 'groupIndex' | 'chord' | 'chain' | 'errbacks' | 'rootId'> & Partial<TaskContext>, error: unknown, traceback: string | null, store = true, state = FAILURE): Promise<void> {
    const app = this.app;
    const encoded = encodeException(error);
    if (store) await this.store(context as TaskContext, state, encoded, traceback);
    await chordPartReturn(app, context, state, encoded);
    const pending = [...(context.chain ?? [])];
    while (pending.length > 0) {
      const element = pending.shift()!;
      // A group (a chain's last step) or a chain (a chord's body) stands for its members: each
      // is marked (and told to its chord, if any), never the group or chain as a whole.
      if (element.subtask_type === 'group' || element.subtask_type === 'chain') {
        pending.push(...((element.kwargs as { tasks?: SignatureDict[] }).tasks ?? []));
        continue;
      }
      const options = element.options ?? {};
      const id = typeof options['task_id'] === 'string' ? options['task_id'] : null;
      if (id) await app.storeResult(id, state, encoded, { traceback, replyTo: typeof options['reply_to'] === 'string' ? options['reply_to'] : null });
      if (options['chord']) {
        await chordPartReturn(app, {
          id: id ?? '',
          group: (options['group_id'] as string | undefined) ?? null,
          groupIndex: (options['group_index'] as number | undefined) ?? null,
          chord: options['chord'] as SignatureDict,
        }, state, encoded);
      }
      if (element.subtask_type === 'chord') {
        const body = (element.kwargs as { body?: SignatureDict }).body;
        if (body) pending.push(body);
      }
    }
    if (context.errbacks?.length) {
      for (const errback of context.errbacks) {
        await this.sendAsChild(context as TaskContext, errback, [context.id], { parentId: context.id, rootId: context.rootId ?? context.id });
      }
    }
  }

  /** Mark a message REVOKED without running it (revoked by id, or expired). */
  async markRevoked(message: TaskMessage, reason: 'revoked' | 'expired' | 'terminated', deliveryInfo?: DeliveryInfo): Promise<void> {
    const task = this.app.tasks.get(message.headers.task);
    const context = new TaskContext({
      message,
      task: task ?? { name: message.headers.task, maxRetries: 0, defaultRetryDelay: 0 },
      hostname: this.hostname,
      ...(deliveryInfo ? { deliveryInfo } : {}),
      sendEvent: this.eventSender,
    });
    const error = new TaskRevokedError(reason);
    const ignore = (task?.options.ignoreResult ?? false) || message.headers.ignore_result;
    await this.markFailure(context, error, null, !ignore || (task?.options.storeErrorsEvenIfIgnored ?? false), REVOKED);
    this.app.signals.emit('taskRevoked', context, reason);
  }

  /** Store a state for a running (or never-run) task with Celery's meta, honouring result_extended. */
  private store(context: TaskContext, state: string, result: unknown, traceback: string | null = null): Promise<void> {
    return this.app.storeResult(context.id, state, result, { traceback, context });
  }

  /** Send link callbacks and the next chain step with the task's return value. */
  private async dispatchCallbacksAndChain(context: TaskContext, value: unknown): Promise<void> {
    const rootId = context.rootId ?? context.id;
    const priority = this.app.conf.taskInheritParentPriority ? (context.deliveryInfo.priority ?? undefined) : undefined;
    const common = { parentId: context.id, rootId, ...(priority === undefined ? {} : { priority }) };
    for (const callback of context.callbacks ?? []) {
      await this.sendAsChild(context, callback, [value], common);
    }
    const chain = context.chain;
    if (chain && chain.length > 0) {
      const next = chain[chain.length - 1]!;
      await this.sendAsChild(context, next, [value], { ...common, chain: chain.slice(0, -1) });
    }
  }

  /**
   * Apply a signature as a child of the running task. A plain task reads its parent when the send
   * starts, synchronously; a workflow (group, chord, …) may await before it records itself, so it
   * gets the request across awaits (see current-request.ts).
   */
  private sendAsChild(context: TaskContext, dict: SignatureDict, args: unknown[], options: ApplyOptions): Promise<unknown> {
    const sig = this.app.signature(dict);
    return this.app.runInContext(context, () => sig.applyAsync(args, options), sig.subtaskType !== null);
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.logger.error(`an executor hook failed: ${(err as Error).message}`);
    }
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

function structuredRetryMessage(context: TaskContext, retry: Retry): TaskMessage {
  const message = context.message;
  return {
    ...message,
    args: retry.options.args ?? message.args,
    kwargs: retry.options.kwargs ?? message.kwargs,
    headers: { ...message.headers, retries: message.headers.retries + 1 },
  };
}

