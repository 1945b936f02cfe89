/**
 * The options of a task call (`applyAsync`, `Signature.set`) in camelCase for TypeScript, and
 * their Celery wire names (`task_id`, `link_error`, …) as they appear in a signature's `options`
 * dict. Signatures keep the wire form so a dict from Python passes through tq unchanged.
 */
import { pyIsoDatetime, type SignatureDict } from '@tq/protocol';
import type { PublishRetryPolicy } from './config.js';
import type { Duration } from './duration.js';

/** Anything that can be written as a signature dict (a Signature, or a dict from the wire). */
export interface SignatureLike {
  toDict(): SignatureDict;
}

export type LinkTarget = SignatureLike | SignatureDict;

export interface ApplyOptions {
  /** Keyword arguments, for tasks written in Python or tasks that read `this.kwargs`. */
  kwargs?: Record<string, unknown>;
  /** Use this id instead of a new UUID. */
  taskId?: string;
  /** Seconds (or `'10s'`) from now before the task may run. */
  countdown?: Duration;
  /** Earliest time the task may run. */
  eta?: Date | string;
  /** Seconds from now, or a time, after which the task is revoked instead of run. */
  expires?: Duration | Date;
  queue?: string;
  exchange?: string;
  routingKey?: string;
  /** 0–255; which way wins depends on the broker (see BrokerCapabilities.priorities). */
  priority?: number;
  serializer?: 'json' | 'msgpack';
  /** `gzip`, `zlib` or `brotli`. */
  compression?: string | null;
  /** Extra message headers. */
  headers?: Record<string, unknown>;
  /** A display name for the task in logs and monitors. */
  shadow?: string;
  timeLimit?: Duration | null;
  softTimeLimit?: Duration | null;
  ignoreResult?: boolean;
  /** Tasks to call with this task's result when it succeeds. */
  link?: LinkTarget | LinkTarget[];
  /** Tasks to call with this task's id when it fails. */
  linkError?: LinkTarget | LinkTarget[];
  /** Retry the publish when the broker refuses it (default: the app's `taskPublishRetry`). */
  retry?: boolean;
  retryPolicy?: PublishRetryPolicy;
  groupId?: string;
  groupIndex?: number;
  /** Chord body this task belongs to (set by the canvas). */
  chord?: SignatureDict | null;
  /** Remaining chain steps, reversed (set by the canvas). */
  chain?: SignatureDict[] | null;
  rootId?: string;
  parentId?: string;
  replyTo?: string;
  /** Record this call as a child of the running task (default true). */
  addToParent?: boolean;
  /** Retries already made (for re-sends). */
  retries?: number;
  /** Extra message properties (e.g. SQS `MessageGroupId`). */
  properties?: Record<string, unknown>;
}

const CAMEL_TO_WIRE: Record<string, string> = {
  taskId: 'task_id',
  routingKey: 'routing_key',
  timeLimit: 'time_limit',
  softTimeLimit: 'soft_time_limit',
  ignoreResult: 'ignore_result',
  linkError: 'link_error',
  retryPolicy: 'retry_policy',
  groupId: 'group_id',
  groupIndex: 'group_index',
  rootId: 'root_id',
  parentId: 'parent_id',
  replyTo: 'reply_to',
  addToParent: 'add_to_parent',
};

const WIRE_TO_CAMEL: Record<string, string> = Object.fromEntries(Object.entries(CAMEL_TO_WIRE).map(([k, v]) => [v, k]));

const POLICY_TO_WIRE: Record<string, string> = {
  maxRetries: 'max_retries',
  intervalStart: 'interval_start',
  intervalStep: 'interval_step',
  intervalMax: 'interval_max',
};

/** Signature objects or dicts as a list of dicts (for `link`/`linkError`). */
export function signatureDicts(value: LinkTarget | LinkTarget[]): SignatureDict[] {
  return linkDicts(value);
}

function linkDicts(value: unknown): SignatureDict[] {
  const list = Array.isArray(value) ? value : [value];
  return list.map((item) =>
    typeof (item as SignatureLike).toDict === 'function' ? (item as SignatureLike).toDict() : (item as SignatureDict),
  );
}

/** camelCase call options → the wire `options` dict of a signature. */
export function toWireOptions(options: ApplyOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined || key === 'kwargs') continue;
    const wire = CAMEL_TO_WIRE[key] ?? key;
    if (key === 'link' || key === 'linkError') out[wire] = linkDicts(value);
    else if (key === 'eta' && value instanceof Date) out[wire] = pyIsoDatetime(value);
    else if (key === 'expires' && value instanceof Date) out[wire] = pyIsoDatetime(value);
    else if (key === 'retryPolicy' && value && typeof value === 'object') {
      out[wire] = Object.fromEntries(Object.entries(value).map(([k, v]) => [POLICY_TO_WIRE[k] ?? k, v]));
    } else out[wire] = value;
  }
  return out;
}

/** The wire `options` dict of a signature → camelCase call options. Unknown keys become properties. */
export function fromWireOptions(options: Record<string, unknown>): ApplyOptions {
  const out: Record<string, unknown> = {};
  const known = new Set([
    'countdown', 'eta', 'expires', 'queue', 'exchange', 'priority', 'serializer', 'compression', 'headers', 'shadow',
    'link', 'retry', 'chord', 'chain', 'retries', 'properties', 'kwargs',
  ]);
  let properties: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    const camel = WIRE_TO_CAMEL[key] ?? (known.has(key) || key in CAMEL_TO_WIRE ? key : undefined);
    if (camel === 'retryPolicy' && value && typeof value === 'object') {
      const reverse = Object.fromEntries(Object.entries(POLICY_TO_WIRE).map(([k, v]) => [v, k]));
      out[camel] = Object.fromEntries(Object.entries(value).map(([k, v]) => [reverse[k] ?? k, v]));
    } else if (camel) out[camel] = value;
    else if (key === 'chord_size' || key === 'subtask_type' || key === 'stamped_headers') continue;
    else (properties ??= {})[key] = value;
  }
  if (properties) out['properties'] = { ...(out['properties'] as Record<string, unknown> | undefined), ...properties };
  return out as ApplyOptions;
}

/** Merge option sets left to right; `link`/`linkError` lists are concatenated, others replaced. */
export function mergeWireOptions(...sets: Array<Record<string, unknown> | undefined>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const set of sets) {
    if (!set) continue;
    for (const [key, value] of Object.entries(set)) {
      if (value === undefined) continue;
      if ((key === 'link' || key === 'link_error') && Array.isArray(out[key]) && Array.isArray(value)) {
        out[key] = [...(out[key] as unknown[]), ...value];
      } else out[key] = value;
    }
  }
  return out;
}
