/**
 * tq's error taxonomy. Every error tq raises is a TqError with a stable `code`; the errors that
 * cross the wire also carry the Python class Celery uses for them (`excType`/`excModule`), so a
 * Python client re-raises `celery.exceptions.TaskRevokedError` for a task revoked in tq and
 * tq rebuilds the same class from a result Python stored.
 */
import { TqError, type TqErrorOptions, exceptionMessage, type ExceptionInfo } from '@tq/protocol';

export { TqError, ProtocolError, isTqError, type TqErrorOptions } from '@tq/protocol';

/** A TqError that Celery knows by a Python class. */
export class CeleryError extends TqError {
  /** The Python class name written as `exc_type`. */
  readonly excType: string;
  readonly excModule: string;
  readonly excArgs: unknown[];

  constructor(code: string, excType: string, excModule: string, message: string, options: TqErrorOptions & { excArgs?: unknown[] } = {}) {
    super(code, message, options);
    this.excType = excType;
    this.excModule = excModule;
    this.excArgs = options.excArgs ?? [message];
  }
}

/** Bad configuration or usage, found before anything is sent. */
export class ConfigurationError extends TqError {
  constructor(message: string, options?: TqErrorOptions) {
    super('CONFIGURATION_ERROR', message, options);
  }
}

/** A URL names an adapter package that is not installed. */
export class AdapterMissingError extends TqError {
  constructor(
    readonly scheme: string,
    readonly packageName: string,
    cause?: unknown,
  ) {
    super('ADAPTER_MISSING', `the ${scheme}:// transport needs the package ${packageName}; install it with: npm install ${packageName}`, { cause });
  }
}

/** The broker could not be reached or refused an operation. */
export class BrokerError extends TqError {
  constructor(message: string, options: TqErrorOptions = {}) {
    super('BROKER_ERROR', message, { retryable: true, ...options });
  }
}

/** The result backend could not be reached or refused an operation. */
export class BackendError extends TqError {
  constructor(message: string, options: TqErrorOptions = {}) {
    super('BACKEND_ERROR', message, { retryable: true, ...options });
  }
}

/** A value (arguments or a result) that the serializer cannot encode. */
export class EncodeError extends CeleryError {
  constructor(message: string, cause?: unknown) {
    super('ENCODE_ERROR', 'EncodeError', 'kombu.exceptions', message, { cause });
  }
}

/** A message named a task this process has not registered. */
export class NotRegistered extends CeleryError {
  constructor(readonly taskName: string) {
    super('TASK_NOT_REGISTERED', 'NotRegistered', 'celery.exceptions', `task ${JSON.stringify(taskName)} is not registered in this app`, {
      excArgs: [taskName],
    });
  }
}

/** `AsyncResult.get` or a remote-control call ran out of time. */
export class TimeoutError extends CeleryError {
  constructor(message: string) {
    super('TIMEOUT', 'TimeoutError', 'celery.exceptions', message, { retryable: true });
  }
}

/** The task was revoked (by id, by expiry, or terminated). */
export class TaskRevokedError extends CeleryError {
  constructor(reason: 'revoked' | 'terminated' | 'expired' | (string & {}) = 'revoked') {
    super('TASK_REVOKED', 'TaskRevokedError', 'celery.exceptions', reason, { excArgs: [reason] });
  }
}

export class MaxRetriesExceededError extends CeleryError {
  constructor(message: string) {
    super('MAX_RETRIES_EXCEEDED', 'MaxRetriesExceededError', 'celery.exceptions', message);
  }
}

/** The task's soft time limit passed: the task's AbortSignal fired and this was raised. */
export class SoftTimeLimitExceeded extends CeleryError {
  constructor(seconds?: number) {
    super('SOFT_TIME_LIMIT_EXCEEDED', 'SoftTimeLimitExceeded', 'billiard.exceptions', seconds === undefined ? 'soft time limit exceeded' : `soft time limit (${seconds}s) exceeded`, {
      excArgs: seconds === undefined ? [] : [seconds],
    });
  }
}

/** The task's hard time limit passed and it was stopped. */
export class TimeLimitExceeded extends CeleryError {
  constructor(seconds?: number) {
    super('TIME_LIMIT_EXCEEDED', 'TimeLimitExceeded', 'billiard.exceptions', seconds === undefined ? 'time limit exceeded' : `time limit (${seconds}s) exceeded`, {
      excArgs: seconds === undefined ? [] : [seconds],
    });
  }
}

/** The process or thread running the task died. */
export class WorkerLostError extends CeleryError {
  constructor(message: string) {
    super('WORKER_LOST', 'WorkerLostError', 'billiard.exceptions', message);
  }
}

/** A chord's header had a failure, so the body cannot run. */
export class ChordError extends CeleryError {
  constructor(message: string) {
    super('CHORD_ERROR', 'ChordError', 'celery.exceptions', message);
  }
}

export interface RetryOptions {
  /** Seconds until the retry runs (default: the task's `defaultRetryDelay`). */
  countdown?: number | string;
  eta?: Date | string;
  /** The error that caused the retry; stored as the RETRY result and re-raised when retries run out. */
  exc?: unknown;
  /** Override the task's maxRetries for this call. */
  maxRetries?: number | null;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  queue?: string;
  priority?: number;
}

/**
 * Raised by `retry()` to end the current run; the executor re-publishes the task. It is control
 * flow, not a failure: the stored state is RETRY.
 */
export class Retry extends CeleryError {
  constructor(
    readonly options: RetryOptions,
    message = 'Task can be retried',
  ) {
    super('RETRY', 'Retry', 'celery.exceptions', message, { cause: options.exc });
  }
}

/** Raised by a task to stop without storing any state (Celery's `Ignore`). */
export class Ignore extends CeleryError {
  constructor(message = 'ignored') {
    super('IGNORE', 'Ignore', 'celery.exceptions', message);
  }
}

/** Raised by a task to reject its message, optionally requeueing it (Celery's `Reject`). */
export class Reject extends CeleryError {
  constructor(
    readonly reason: string,
    readonly requeue = false,
  ) {
    super('REJECT', 'Reject', 'celery.exceptions', reason);
  }
}

/**
 * A task failure read back from the result backend: the error the task raised, rebuilt from
 * Celery's `{exc_type, exc_message, exc_module}`. Its `name` is the original class name
 * (`ValueError`, `PaymentDeclined`), and `traceback` is the text the worker stored.
 */
export class TaskError extends TqError {
  readonly excType: string;
  readonly excModule: string | null;
  readonly excArgs: unknown[];
  readonly taskId: string | undefined;
  readonly traceback: string | null;

  constructor(info: ExceptionInfo, details: { taskId?: string; traceback?: string | null } = {}) {
    super('TASK_FAILED', exceptionMessage(info) || info.exc_type);
    this.message = exceptionMessage(info);
    this.name = info.exc_type;
    this.excType = info.exc_type;
    this.excModule = info.exc_module ?? null;
    this.excArgs = Array.isArray(info.exc_message) ? info.exc_message : [info.exc_message];
    this.taskId = details.taskId;
    this.traceback = details.traceback ?? null;
  }
}

const REBUILDERS: Record<string, (info: ExceptionInfo) => CeleryError> = {
  TaskRevokedError: (info) => new TaskRevokedError(String(info.exc_message[0] ?? 'revoked')),
  TimeLimitExceeded: (info) => new TimeLimitExceeded(typeof info.exc_message[0] === 'number' ? info.exc_message[0] : undefined),
  SoftTimeLimitExceeded: (info) => new SoftTimeLimitExceeded(typeof info.exc_message[0] === 'number' ? info.exc_message[0] : undefined),
  WorkerLostError: (info) => new WorkerLostError(exceptionMessage(info)),
  ChordError: (info) => new ChordError(exceptionMessage(info)),
  MaxRetriesExceededError: (info) => new MaxRetriesExceededError(exceptionMessage(info)),
  NotRegistered: (info) => new NotRegistered(String(info.exc_message[0] ?? '')),
  TimeoutError: (info) => new TimeoutError(exceptionMessage(info)),
};

/**
 * Rebuild an error from stored exception info. Celery's own exceptions become tq's matching
 * classes; anything else becomes a TaskError carrying the original name. Nothing is looked up
 * by the name in the message beyond this fixed table: a stored result never chooses code to run.
 */
export function rebuildError(info: ExceptionInfo, details: { taskId?: string; traceback?: string | null } = {}): Error {
  const rebuild = REBUILDERS[info.exc_type];
  if (rebuild) {
    const err = rebuild(info) as CeleryError & { traceback?: string | null; taskId?: string };
    err.traceback = details.traceback ?? null;
    if (details.taskId) err.taskId = details.taskId;
    return err;
  }
  return new TaskError(info, details);
}
