/**
 * Signatures as Celery serializes them: plain dicts that travel inside messages (links,
 * chains, chord bodies) and describe a task call without making it.
 */
import { ProtocolError } from './errors.js';

export type SubtaskType = 'chain' | 'group' | 'chord' | 'chunks' | 'xmap' | 'xstarmap' | null;

export interface SignatureDict {
  task: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  options: Record<string, unknown>;
  subtask_type: SubtaskType | string | null;
  immutable: boolean;
  /** Celery adds this to chord bodies; other keys may appear and are kept. */
  chord_size?: number | null;
  [extra: string]: unknown;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array) && !(value instanceof Date);
}

/**
 * Check the shape of a signature dict received in a message and fill Celery's defaults.
 * The dict is only data: nothing in it is ever called, it names tasks the worker has registered.
 */
export function validateSignatureDict(value: unknown, field: string, messageId?: string | null): SignatureDict {
  const fail = (what: string, at = field): never => {
    throw new ProtocolError(what, { field: at, messageId: messageId ?? null });
  };
  if (!isPlainObject(value)) return fail('a signature must be an object');
  const { task, args = [], kwargs = {}, options = {}, subtask_type = null, immutable = false } = value;
  if (typeof task !== 'string' || task.length === 0) return fail('a signature needs a task name (string)', `${field}.task`);
  if (!Array.isArray(args)) return fail('signature args must be a list', `${field}.args`);
  if (!isPlainObject(kwargs)) return fail('signature kwargs must be a mapping', `${field}.kwargs`);
  if (!isPlainObject(options)) return fail('signature options must be a mapping', `${field}.options`);
  if (subtask_type !== null && typeof subtask_type !== 'string') return fail('subtask_type must be a string or null', `${field}.subtask_type`);
  if (typeof immutable !== 'boolean') return fail('immutable must be a boolean', `${field}.immutable`);
  return { ...value, task, args, kwargs, options, subtask_type, immutable };
}

/** Build a signature dict with Celery's key order. */
export function signatureDict(
  task: string,
  args: unknown[] = [],
  kwargs: Record<string, unknown> = {},
  options: Record<string, unknown> = {},
  subtaskType: string | null = null,
  immutable = false,
): SignatureDict {
  return { task, args, kwargs, options, subtask_type: subtaskType, immutable };
}
