/**
 * Task result metadata as Celery's result backends store it (`celery-task-meta-<id>` and its
 * equivalents), with Celery's key order and exception encoding.
 */
import { ProtocolError } from './errors.js';
import { pyIsoDatetime } from './python-json.js';
import { isPlainObject } from './signature-dict.js';

/** Celery's encoding of an exception: a type name, its args and its module. */
export interface ExceptionInfo {
  exc_type: string;
  exc_message: unknown[];
  exc_module: string | null;
}

/** `[[id, parent], null]` for a task, `[[gid, parent], [children…]]` for a group. */
export type ResultTuple = [[string, ResultTuple | null | string], ResultTuple[] | null];

export interface ResultMeta {
  status: string;
  result: unknown;
  traceback: string | null;
  children: unknown[];
  date_done: string | null;
  group_id?: string;
  parent_id?: string;
  name?: string | null;
  args?: unknown[] | null;
  kwargs?: Record<string, unknown> | null;
  worker?: string | null;
  retries?: number | null;
  queue?: string | null;
  task_id: string;
  [extra: string]: unknown;
}

/** Python's built-in exception names: a JavaScript error of one of these names maps onto it. */
const PY_BUILTINS = new Set([
  'Exception', 'ArithmeticError', 'AssertionError', 'AttributeError', 'BufferError', 'EOFError',
  'FloatingPointError', 'ImportError', 'IndexError', 'KeyError', 'LookupError', 'MemoryError',
  'ModuleNotFoundError', 'NameError', 'NotImplementedError', 'OSError', 'OverflowError',
  'RecursionError', 'ReferenceError', 'RuntimeError', 'StopIteration', 'SyntaxError', 'SystemError',
  'TypeError', 'UnicodeError', 'ValueError', 'ZeroDivisionError', 'ConnectionError',
  'TimeoutError', 'PermissionError', 'FileNotFoundError', 'FileExistsError', 'KeyboardInterrupt',
]);

/** What an error may declare to control its Celery encoding (tq's own errors do). */
export interface PythonExceptionLike {
  name?: string;
  message?: string;
  /** The Python class name to report, e.g. `TaskRevokedError`. */
  excType?: string;
  /** The Python module to report, e.g. `celery.exceptions`. */
  excModule?: string | null;
  /** The exception's args; defaults to `[message]`. */
  excArgs?: unknown[];
}

/** Encode an error (JavaScript or one rebuilt from Python) the way Celery stores exceptions. */
export function encodeException(error: unknown): ExceptionInfo {
  if (!(error instanceof Error) && !(isPlainObject(error) && ('message' in error || 'excType' in error))) {
    return { exc_type: 'Exception', exc_message: [String(error)], exc_module: 'builtins' };
  }
  const err = error as PythonExceptionLike;
  const name = err.excType ?? (err.name && err.name !== 'Error' ? err.name : 'Exception');
  const module = err.excModule !== undefined ? err.excModule : PY_BUILTINS.has(name) ? 'builtins' : null;
  return {
    exc_type: name,
    exc_message: err.excArgs ?? [err.message ?? ''],
    exc_module: module,
  };
}

export function isExceptionInfo(value: unknown): value is ExceptionInfo {
  return isPlainObject(value) && typeof value['exc_type'] === 'string';
}

/** The message of a decoded exception, as Python's `str(exc)` would print it. */
export function exceptionMessage(info: ExceptionInfo): string {
  const args = Array.isArray(info.exc_message) ? info.exc_message : [info.exc_message];
  if (args.length === 0) return '';
  if (args.length === 1) return typeof args[0] === 'string' ? args[0] : JSON.stringify(args[0]);
  return JSON.stringify(args);
}

export interface ResultMetaInput {
  taskId: string;
  status: string;
  result: unknown;
  traceback?: string | null;
  children?: unknown[];
  /** Set for ready states; `null` otherwise. */
  dateDone?: Date | null;
  groupId?: string | null;
  parentId?: string | null;
  /** `result_extended` fields, when enabled. */
  extended?: {
    name: string | null;
    args: unknown[] | null;
    kwargs: Record<string, unknown> | null;
    worker: string | null;
    retries: number | null;
    queue: string | null;
  };
}

/** Build result meta in Celery's key order. */
export function createResultMeta(input: ResultMetaInput): ResultMeta {
  // Built key by key in Celery's order (task_id last), never with `delete`, to keep a fast object shape.
  const meta: Record<string, unknown> = {
    status: input.status,
    result: input.result,
    traceback: input.traceback ?? null,
    children: input.children ?? [],
    date_done: input.dateDone ? pyIsoDatetime(input.dateDone) : null,
  };
  if (input.groupId) meta['group_id'] = input.groupId;
  if (input.parentId) meta['parent_id'] = input.parentId;
  if (input.extended) {
    const e = input.extended;
    meta['name'] = e.name;
    meta['args'] = e.args;
    meta['kwargs'] = e.kwargs;
    meta['worker'] = e.worker;
    meta['retries'] = e.retries;
    meta['queue'] = e.queue;
  }
  meta['task_id'] = input.taskId;
  return meta as ResultMeta;
}

/** Validate result meta read from a backend (which may have been written by Python). */
export function validateResultMeta(value: unknown, taskId: string): ResultMeta {
  if (!isPlainObject(value)) throw new ProtocolError('result meta must be a mapping', { field: 'meta', messageId: taskId });
  if (typeof value['status'] !== 'string') throw new ProtocolError('result meta has no status', { field: 'meta.status', messageId: taskId });
  // Celery's own meta (and tq's) is already in shape: returned as it is, not copied.
  const traceback = value['traceback'];
  const dateDone = value['date_done'];
  if (
    value['result'] !== undefined &&
    (traceback === null || typeof traceback === 'string') &&
    Array.isArray(value['children']) &&
    (dateDone === null || typeof dateDone === 'string') &&
    typeof value['task_id'] === 'string'
  ) {
    return value as unknown as ResultMeta;
  }
  return {
    ...value,
    status: value['status'],
    result: value['result'] ?? null,
    traceback: typeof value['traceback'] === 'string' ? value['traceback'] : null,
    children: Array.isArray(value['children']) ? value['children'] : [],
    date_done: typeof value['date_done'] === 'string' ? value['date_done'] : null,
    task_id: typeof value['task_id'] === 'string' ? value['task_id'] : taskId,
  };
}
