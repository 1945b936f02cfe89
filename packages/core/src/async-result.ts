/**
 * AsyncResult: a handle on a task's outcome, read from the result backend (Celery's
 * `AsyncResult`). Unknown ids are PENDING, as in Celery. `get()` waits without polling on
 * backends that push results, and rethrows the task's error — rebuilt with its original name,
 * message and traceback — when the task failed.
 */
import { isExceptionInfo, type ExceptionInfo, type ResultMeta } from '@tq/protocol';
import type { App } from './app.js';
import type { ResultBackend, WaitOptions } from './result-backend.js';
import { toSecondsOrNull, type Duration } from './duration.js';
import { TaskRevokedError, TqError, rebuildError } from './errors.js';
import { FAILURE, PENDING, PROPAGATE_STATES, READY_STATES, REVOKED, SUCCESS, type TaskState } from './states.js';

export interface GetOptions {
  /** Seconds to wait before TimeoutError (default: wait forever, as Celery). */
  timeout?: Duration | null;
  /** Rethrow the task's error on FAILURE/REVOKED (default true); otherwise return it. */
  propagate?: boolean;
  /** Poll interval in seconds on backends without push (default 0.5). */
  interval?: number;
  signal?: AbortSignal;
}

export interface RevokeOptions {
  /** Also stop the task if it is running (its AbortSignal fires; a process pool kills the child). */
  terminate?: boolean;
  /** Signal for terminate (default SIGTERM). */
  signal?: string;
}

const NO_OPTIONS: GetOptions = Object.freeze({});
/** What `get()` without options waits with: forever, polling (where a backend must) every 0.5 s. */
const DEFAULT_WAIT: WaitOptions = Object.freeze({ timeout: null, interval: 0.5 });

function waitOptions(options: GetOptions): WaitOptions {
  return {
    timeout: toSecondsOrNull(options.timeout, 'timeout'),
    interval: options.interval ?? 0.5,
    ...(options.signal ? { signal: options.signal } : {}),
  };
}

/** `[[id, parent], null]`: Celery's result tuple. */
export type ResultTupleLike = [[string, unknown], unknown];

export class AsyncResult<R = unknown> {
  /** Set by the canvas for chain steps: the result before this one. */
  parent: AsyncResult | null;

  constructor(
    readonly id: string,
    readonly app: App,
    options: { parent?: AsyncResult | null } = {},
  ) {
    this.parent = options.parent ?? null;
  }

  /** The stored meta, or null while nothing is stored (PENDING). */
  async meta(): Promise<ResultMeta | null> {
    const backend = await this.app.requireBackend('reading a task result');
    return backend.get(this.id);
  }

  async state(): Promise<TaskState> {
    return (await this.meta())?.status ?? PENDING;
  }

  /** Alias of `state()`, as Celery's `status`. */
  status(): Promise<TaskState> {
    return this.state();
  }

  async ready(): Promise<boolean> {
    return READY_STATES.has(await this.state());
  }

  async successful(): Promise<boolean> {
    return (await this.state()) === SUCCESS;
  }

  async failed(): Promise<boolean> {
    return (await this.state()) === FAILURE;
  }

  /** Whether anything is stored for this id (Celery's `exists()`): tells "unknown" from "waiting". */
  async exists(): Promise<boolean> {
    return (await this.meta()) !== null;
  }

  /** The return value, the error for FAILURE/REVOKED, or the custom meta of a custom state. */
  async result(): Promise<unknown> {
    const meta = await this.meta();
    return meta ? this.valueOf(meta) : null;
  }

  /** Alias of `result()`, as Celery's `info`. */
  info(): Promise<unknown> {
    return this.result();
  }

  async traceback(): Promise<string | null> {
    return (await this.meta())?.traceback ?? null;
  }

  async dateDone(): Promise<Date | null> {
    const done = (await this.meta())?.date_done;
    if (!done) return null;
    return new Date(/[zZ]|[+-]\d{2}:?\d{2}$/.test(done) ? done : `${done}Z`);
  }

  /** Results of the tasks this one applied while it ran (callbacks, chain steps, subtasks). */
  async children(): Promise<AsyncResult[]> {
    const meta = await this.meta();
    return (meta?.children ?? []).flatMap((child) => this.app.resultFromTuple(child) ?? []);
  }

  /**
   * Wait for the task and return its value. Rethrows its error on FAILURE (a TaskError named after
   * the original error, or tq's class for Celery's own errors) and TaskRevokedError on REVOKED,
   * unless `propagate` is false. Throws TimeoutError after `timeout` seconds.
   */
  get(options: GetOptions = NO_OPTIONS): Promise<R> {
    // Not an async function: with the backend connected (the usual case) the wait's own promise is
    // settled into the value by one `then`, the cheapest way per call (docs/performance.md).
    const backend = this.app.backendIfReady();
    if (backend) return this.waitIn(backend, options);
    return this.app.requireBackend('waiting for a task result').then((connected) => this.waitIn(connected, options));
  }

  private waitIn(backend: ResultBackend, options: GetOptions): Promise<R> {
    let waiting: Promise<ResultMeta>;
    try {
      waiting = backend.waitFor(this.id, options === NO_OPTIONS ? DEFAULT_WAIT : waitOptions(options));
    } catch (err) {
      return Promise.reject(err); // a bad timeout, as the async function it was would have
    }
    const propagate = options.propagate ?? true;
    return waiting.then((meta) => this.settle(meta, propagate));
  }

  /** Delete the stored result. */
  async forget(): Promise<void> {
    const backend = await this.app.requireBackend('forgetting a task result');
    await backend.forget(this.id);
  }

  /** Ask every worker not to run this task (and to stop it with `terminate`). */
  async revoke(options: RevokeOptions = {}): Promise<void> {
    await this.app.control.revoke(this.id, options);
  }

  /** Celery's result tuple `[[id, parent], null]`. */
  asTuple(): ResultTupleLike {
    return [[this.id, this.parent ? this.parent.asTuple() : null], null];
  }

  toJSON(): ResultTupleLike {
    return this.asTuple();
  }

  toString(): string {
    return this.id;
  }

  /**
   * What `get()` gives for this ready meta: the value, or (with `propagate`, the default) a
   * throw of the task's error. For results read in bulk (a group's `getMany`).
   */
  settle(meta: ResultMeta, propagate = true): R {
    if (propagate && PROPAGATE_STATES.has(meta.status)) throw this.errorOf(meta);
    return this.valueOf(meta) as R;
  }

  protected valueOf(meta: ResultMeta): unknown {
    if (PROPAGATE_STATES.has(meta.status) || (meta.status === 'RETRY' && isExceptionInfo(meta.result))) {
      return this.errorOf(meta);
    }
    return meta.result;
  }

  protected errorOf(meta: ResultMeta): Error {
    if (isExceptionInfo(meta.result)) {
      return rebuildError(meta.result as ExceptionInfo, { taskId: this.id, traceback: meta.traceback });
    }
    if (meta.status === REVOKED) return new TaskRevokedError('revoked');
    return new TqError('TASK_FAILED', `task ${this.id} failed: ${JSON.stringify(meta.result)}`);
  }
}
