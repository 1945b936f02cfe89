/**
 * Transport options, read from the app's `brokerTransportOptions` / `resultBackendTransportOptions`
 * (or passed directly). Each option takes tq's camelCase name or kombu/Celery's snake_case one, so
 * a Celery `broker_transport_options` dict can be copied across as it is.
 */
import { ConfigurationError } from '@tq/core';
import { DEFAULT_PRIORITY_STEPS, DEFAULT_SEP } from './layout.js';

export type QueueOrderStrategy = 'round_robin' | 'sorted' | 'priority';

export interface RedisBrokerOptions {
  /** Seconds before an unacknowledged message is restored to its queue (kombu: 3600). */
  visibilityTimeout?: number;
  /** Prefix for every key and pub/sub channel (kombu's `global_keyprefix`). */
  globalKeyprefix?: string;
  /** Separator between a queue name and its priority step (kombu: `\x06\x16`). */
  sep?: string;
  /** Priority steps (kombu: [0, 3, 6, 9]). */
  prioritySteps?: number[];
  /** Order in which queues are consumed: `round_robin` (default), `sorted` or `priority`. */
  queueOrderStrategy?: QueueOrderStrategy;
  /** Sentinel: the monitored master's name (Celery's `master_name`). */
  masterName?: string;
  /** Sentinel: password of the sentinels themselves (Celery's `sentinel_kwargs.password`). */
  sentinelPassword?: string;
  /** Seconds between visibility-timeout sweeps (default: a quarter of the timeout, at most 10 s). */
  unackedRestoreInterval?: number;
  /** At most this many messages restored per sweep (kombu's `unacked_restore_limit`; default all). */
  unackedRestoreLimit?: number | null;
  /** Seconds a sweep holds the `unacked_mutex` at most (kombu: 300). */
  unackedMutexExpire?: number;
  /** Seconds a BRPOP waits before it is sent again (kombu: 1). */
  brpopTimeout?: number;
  /** Messages popped per round trip at most (default 100). */
  batchSize?: number;
  /** Reconnect attempts a command waits for before it fails with a retryable error (default 10). */
  maxRetriesPerRequest?: number;
  /** Extra ioredis options (tls, timeouts, …), merged over the ones derived from the URL. */
  redisOptions?: Record<string, unknown>;
}

export interface ResolvedBrokerOptions {
  visibilityTimeout: number;
  globalKeyprefix: string;
  sep: string;
  prioritySteps: number[];
  queueOrderStrategy: QueueOrderStrategy;
  masterName: string | undefined;
  sentinelPassword: string | undefined;
  unackedRestoreInterval: number;
  unackedRestoreLimit: number | null;
  unackedMutexExpire: number;
  brpopTimeout: number;
  batchSize: number;
  maxRetriesPerRequest: number;
  redisOptions: Record<string, unknown>;
}

const ALIASES: Record<string, string> = {
  visibility_timeout: 'visibilityTimeout',
  global_keyprefix: 'globalKeyprefix',
  priority_steps: 'prioritySteps',
  queue_order_strategy: 'queueOrderStrategy',
  master_name: 'masterName',
  unacked_restore_interval: 'unackedRestoreInterval',
  unacked_restore_limit: 'unackedRestoreLimit',
  unacked_mutex_expire: 'unackedMutexExpire',
  brpop_timeout: 'brpopTimeout',
  batch_size: 'batchSize',
  max_retries_per_request: 'maxRetriesPerRequest',
  redis_options: 'redisOptions',
  bulk_subscribe_threshold: 'bulkSubscribeThreshold',
};

/** camelCase the keys of a transport-options object (kombu spellings accepted). */
export function normalizeOptions(raw: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw ?? {})) {
    if (value === undefined) continue;
    out[ALIASES[key] ?? key] = value;
  }
  const sentinelKwargs = out['sentinel_kwargs'] ?? out['sentinelKwargs'];
  if (out['sentinelPassword'] === undefined && sentinelKwargs && typeof sentinelKwargs === 'object') {
    const password = (sentinelKwargs as Record<string, unknown>)['password'];
    if (typeof password === 'string') out['sentinelPassword'] = password;
  }
  return out;
}

function positive(value: unknown, name: string, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) {
    throw new ConfigurationError(`the Redis transport option ${name} must be a positive number of seconds, got ${JSON.stringify(value)}`);
  }
  return n;
}

export function resolveBrokerOptions(raw: Record<string, unknown> | undefined): ResolvedBrokerOptions {
  const o = normalizeOptions(raw);
  const visibilityTimeout = positive(o['visibilityTimeout'], 'visibilityTimeout', 3600);
  const prefix = o['globalKeyprefix'] ?? '';
  if (typeof prefix !== 'string') throw new ConfigurationError('the Redis transport option globalKeyprefix must be a string');
  const sep = o['sep'] ?? DEFAULT_SEP;
  if (typeof sep !== 'string' || sep.length === 0) throw new ConfigurationError('the Redis transport option sep must be a non-empty string');
  const steps = o['prioritySteps'] ?? DEFAULT_PRIORITY_STEPS;
  if (!Array.isArray(steps) || steps.length === 0 || !steps.every((s) => Number.isInteger(s) && s >= 0)) {
    throw new ConfigurationError(`the Redis transport option prioritySteps must be a non-empty list of non-negative integers, got ${JSON.stringify(steps)}`);
  }
  const strategy = o['queueOrderStrategy'] ?? 'round_robin';
  if (strategy !== 'round_robin' && strategy !== 'sorted' && strategy !== 'priority') {
    throw new ConfigurationError(`the Redis transport option queueOrderStrategy must be round_robin, sorted or priority, got ${JSON.stringify(strategy)}`);
  }
  const limit = o['unackedRestoreLimit'];
  const batchSize = o['batchSize'] ?? 100;
  if (!Number.isInteger(batchSize) || (batchSize as number) < 1) throw new ConfigurationError('the Redis transport option batchSize must be a positive integer');
  const retries = o['maxRetriesPerRequest'] ?? 10;
  if (!Number.isInteger(retries) || (retries as number) < 0) throw new ConfigurationError('the Redis transport option maxRetriesPerRequest must be a non-negative integer');
  const masterName = o['masterName'];
  const sentinelPassword = o['sentinelPassword'];
  return {
    visibilityTimeout,
    globalKeyprefix: prefix,
    sep,
    prioritySteps: [...(steps as number[])],
    queueOrderStrategy: strategy,
    masterName: typeof masterName === 'string' && masterName ? masterName : undefined,
    sentinelPassword: typeof sentinelPassword === 'string' ? sentinelPassword : undefined,
    unackedRestoreInterval: positive(o['unackedRestoreInterval'], 'unackedRestoreInterval', Math.min(10, Math.max(0.05, visibilityTimeout / 4))),
    unackedRestoreLimit: limit === undefined || limit === null ? null : Math.max(1, Math.trunc(Number(limit))),
    unackedMutexExpire: positive(o['unackedMutexExpire'], 'unackedMutexExpire', 300),
    brpopTimeout: positive(o['brpopTimeout'], 'brpopTimeout', 1),
    batchSize: batchSize as number,
    maxRetriesPerRequest: retries as number,
    redisOptions: (o['redisOptions'] as Record<string, unknown> | undefined) ?? {},
  };
}

export interface RedisBackendOptions {
  /** Default seconds to keep results (default: the app's `resultExpires`, 1 day); null keeps them. */
  expires?: number | null;
  /**
   * With this many results awaited at once, one PSUBSCRIBE to all result channels replaces the
   * per-task SUBSCRIBEs until nothing is awaited (default 1000; 0 never).
   */
  bulkSubscribeThreshold?: number;
  /** Prefix for result keys (Celery's `result_backend_transport_options.global_keyprefix`). */
  globalKeyprefix?: string;
  masterName?: string;
  sentinelPassword?: string;
  maxRetriesPerRequest?: number;
  redisOptions?: Record<string, unknown>;
}

export interface ResolvedBackendOptions {
  expires: number | null;
  bulkSubscribeThreshold: number;
  /** The prefix as Celery applies it: `_` appended unless it ends in one of `:_-.`. */
  keyprefix: string;
  masterName: string | undefined;
  sentinelPassword: string | undefined;
  maxRetriesPerRequest: number;
  redisOptions: Record<string, unknown>;
}

export function resolveBackendOptions(raw: Record<string, unknown> | undefined, defaultExpires: number | null): ResolvedBackendOptions {
  const o = normalizeOptions(raw);
  let prefix = o['globalKeyprefix'] ?? '';
  if (typeof prefix !== 'string') throw new ConfigurationError('the Redis result backend option globalKeyprefix must be a string');
  if (prefix && !':_-.'.includes(prefix[prefix.length - 1]!)) prefix += '_';
  const expires = o['expires'] === undefined ? defaultExpires : (o['expires'] as number | null);
  const retries = o['maxRetriesPerRequest'] ?? 10;
  const masterName = o['masterName'];
  const sentinelPassword = o['sentinelPassword'];
  const bulk = o['bulkSubscribeThreshold'] ?? 1000;
  if (typeof bulk !== 'number' || !Number.isInteger(bulk) || bulk < 0) {
    throw new ConfigurationError('the Redis result backend option bulkSubscribeThreshold must be a non-negative integer');
  }
  return {
    expires: expires === null || expires === undefined || expires <= 0 ? null : expires,
    bulkSubscribeThreshold: bulk === 0 ? Number.POSITIVE_INFINITY : bulk,
    keyprefix: prefix,
    masterName: typeof masterName === 'string' && masterName ? masterName : undefined,
    sentinelPassword: typeof sentinelPassword === 'string' ? sentinelPassword : undefined,
    maxRetriesPerRequest: Number.isInteger(retries) ? (retries as number) : 10,
    redisOptions: (o['redisOptions'] as Record<string, unknown> | undefined) ?? {},
  };
}
