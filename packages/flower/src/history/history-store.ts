/**
 * Where task history lives beyond the process: a store of task records (TaskJson) keyed by id,
 * ordered by last update, bounded by retention. The monitor keeps the newest records in memory
 * (the events State) and writes changed ones behind, in batches; at start it loads the newest
 * back, so history survives restarts and replicas on one store share it.
 */
import { ConfigurationError, redactUrl, urlScheme } from '@tq/core';
import type { HistoryOptions, TaskJson } from '../types.js';

export interface StoredTask {
  task: TaskJson;
  /** Epoch seconds of the last event about it (the order of the history). */
  updated: number;
  /** The canvas links its events carried (`group`, `chord`, `chain_next`, `callbacks`), for the graph after a restart. */
  canvas?: Record<string, unknown>;
}

export interface ResolvedRetention {
  maxTasks: number;
  maxAgeSeconds: number | null;
}

export interface HistoryStore {
  /** `memory`, `redis`, `mongodb`. */
  readonly kind: string;
  /** Where, without secrets (for /api/ui/overview and logs). */
  readonly description: string;
  /** The newest `limit` records, oldest first. */
  load(limit: number): Promise<StoredTask[]>;
  /** Insert or replace records. */
  save(records: StoredTask[]): Promise<void>;
  /** Drop what retention no longer allows; resolves to how many were dropped. */
  trim(retention: ResolvedRetention, now: number): Promise<number>;
  /** Records held. */
  count(): Promise<number>;
  close(): Promise<void>;
}

/** Only the State: nothing survives a restart. */
export class MemoryHistory implements HistoryStore {
  readonly kind = 'memory';
  readonly description = 'memory';
  constructor(private readonly size: () => number) {}
  async load(): Promise<StoredTask[]> {
    return [];
  }
  async save(): Promise<void> {}
  async trim(): Promise<number> {
    return 0;
  }
  async count(): Promise<number> {
    return this.size();
  }
  async close(): Promise<void> {}
}

export function resolveRetention(options: HistoryOptions | undefined): ResolvedRetention {
  const maxTasks = options?.retention?.maxTasks ?? 100_000;
  const maxAge = options?.retention?.maxAgeSeconds ?? null;
  if (!Number.isInteger(maxTasks) || maxTasks < 1) throw new ConfigurationError(`history.retention.maxTasks must be a positive integer, got ${String(maxTasks)}`);
  if (maxAge !== null && !(maxAge > 0)) throw new ConfigurationError(`history.retention.maxAgeSeconds must be more than 0, got ${String(maxAge)}`);
  return { maxTasks, maxAgeSeconds: maxAge };
}

/** The store a `history.store` value names; the adapter is loaded only when used. */
export async function openHistory(options: HistoryOptions | undefined, memorySize: () => number): Promise<HistoryStore> {
  const store = options?.store ?? 'memory';
  if (store === 'memory' || store === 'memory://') return new MemoryHistory(memorySize);
  const scheme = urlScheme(store);
  const key = options?.key ?? 'tq-flower';
  if (scheme === 'redis' || scheme === 'rediss') {
    const { RedisHistory } = await import('./redis-history.js');
    return new RedisHistory(store, key);
  }
  if (scheme === 'mongodb' || scheme === 'mongodb+srv') {
    const { MongoHistory } = await import('./mongo-history.js');
    return MongoHistory.open(store, key);
  }
  throw new ConfigurationError(`history store ${redactUrl(store)} is not supported: use 'memory', a redis:// URL or a mongodb:// URL`);
}
