/**
 * Flow control shared by a cluster (tq's own; Celery has none): the task options for global and
 * per-key rate limits, global and per-key concurrency limits, deduplication and batches, checked
 * when a task is registered, and the shared store they keep their state in.
 *
 * The store is the app's `flowStore` setting (a URL or a FlowStore object), else the result
 * backend's URL when it is Redis, else the broker's when it is Redis. Without one, an option
 * that must be shared by every worker is refused at registration: a limit silently enforced per
 * worker would multiply by the number of workers. See docs/flow-control.md.
 */
import type { App } from './app.js';
import { toSeconds, type Duration } from './duration.js';
import { AdapterMissingError, ConfigurationError } from './errors.js';
import type { Logger } from './logger.js';

/** What a rate/concurrency/dedup key function receives: the call's positional and keyword arguments. */
export type FlowKeyFn = (args: readonly unknown[], kwargs: Readonly<Record<string, unknown>>) => string;

/** `rateLimit` in its object form: `{ rate: '50/s', scope: 'global' }`. */
export interface RateLimitSpec {
  /** `'10/s'`, `'100/m'`, `'1000/h'` or a number per second. */
  rate: string | number;
  /** `'worker'` (Celery's meaning, the default) or `'global'`: one bucket shared by every worker. */
  scope?: 'worker' | 'global';
  /** Tokens that may be taken at once after an idle spell (global scope; default max(1, rate/10)). */
  burst?: number;
}

/** Deduplication modes: `'active'` drops a call while one with the same key is queued or running; `{ ttl }` drops for that long after the first. */
export type DedupMode = 'active' | { ttl: Duration };

/** Batch tasks: the body gets up to `size` calls at once, or what arrived within `wait` seconds of the first. */
export interface BatchSpec {
  size: number;
  wait?: Duration;
}

/** The flow-control part of a task's options, resolved. Null on tasks that use none. */
export interface ResolvedFlow {
  /** Tokens per second of the global bucket(s). */
  rate: number | null;
  burst: number;
  rateKey: FlowKeyFn | null;
  concurrency: number | null;
  concurrencyKey: FlowKeyFn | null;
  dedup: { key: FlowKeyFn | null; ttl: number | null } | null;
  batch: { size: number; wait: number } | null;
}

/**
 * The shared state behind flow control. Every method MUST be atomic across processes (a Redis
 * script per call in the Redis store); times come from the store's clock, never the callers'.
 */
export interface FlowStore {
  readonly name: string;
  /**
   * Take up to `want` tokens from bucket `key` (refilled at `rate` per second, holding at most
   * `burst`). Resolves with the number granted and, when fewer than wanted, the milliseconds
   * until the next token is due.
   */
  takeTokens(key: string, rate: number, burst: number, want: number): Promise<{ granted: number; waitMs: number }>;
  /**
   * Take leases on `key` (at most `limit` held at once, expired ones freed first) for the
   * `holders` in order, each for `ttlMs`. Resolves with how many of them got one and, when not
   * all did, a hint of when the next lease expires.
   */
  acquireLeases(key: string, holders: readonly string[], limit: number, ttlMs: number): Promise<{ granted: number; retryMs: number }>;
  /** Extend leases this process holds (MUST NOT resurrect a lease that expired and was freed). */
  renewLeases(leases: ReadonlyArray<{ key: string; holder: string }>, ttlMs: number): Promise<void>;
  releaseLease(key: string, holder: string): Promise<void>;
  /**
   * Claim `key` for task `id` for `ttlSeconds`. Resolves with whether the claim was made and
   * the id that holds the key; a refused claim (a duplicate) is counted under `counter`.
   */
  claim(key: string, id: string, ttlSeconds: number, counter: string): Promise<{ claimed: boolean; holder: string }>;
  /**
   * Give `key` to `to` (for `ttlSeconds`) if `from` still holds it or nobody does (it was freed
   * meanwhile), uncounting the refused claim under `counter`; true when it did.
   */
  reclaim(key: string, from: string, to: string, ttlSeconds: number, counter: string): Promise<boolean>;
  /** Free `key` if `id` holds it. */
  unclaim(key: string, id: string): Promise<void>;
  /** Current tokens per bucket, leases held per key, dedup claims and drops per task. */
  snapshot(): Promise<FlowSnapshot>;
  close(): Promise<void>;
}

export interface FlowSnapshot {
  /** Bucket key → tokens available now. */
  tokens: Record<string, number>;
  /** Concurrency key → leases held now. */
  running: Record<string, number>;
  /** Task name → calls dropped as duplicates (since the store was created). */
  deduped: Record<string, number>;
  /** Dedup keys currently claimed. */
  claimed: number;
}

/** The flow-control fields of TaskOptions (declared here, used by task.ts). */
export interface FlowTaskOptions {
  /** Key for a per-key global rate limit (per tenant, per API key). Needs `rateLimit` with `scope: 'global'`. */
  rateLimitKey?: FlowKeyFn;
  /** At most this many running at once across the cluster (per key with `concurrencyKey`). */
  concurrencyLimit?: number;
  concurrencyKey?: FlowKeyFn;
  /** Deduplicate calls by this key; `true` uses the caller's `taskId` (reuse of an id). */
  dedupKey?: FlowKeyFn | true;
  /** How long a duplicate is dropped (default `'active'`: while the first is queued or running). */
  dedup?: DedupMode;
  /** Run the body once for up to `size` calls (see batch.ts). */
  batch?: BatchSpec;
}

const REDIS_SCHEMES = new Set(['redis', 'rediss', 'redis+socket', 'sentinel']);

function schemeOf(url: string): string {
  return /^([a-z][a-z0-9+.-]*):\/\//i.exec(url.trim())?.[1]?.toLowerCase() ?? '';
}

/** Where the app's flow store comes from, or null when it has none (see the module comment). */
export function flowStoreSource(app: App): string | FlowStore | null {
  const explicit = app.config.flowStore;
  if (explicit) return explicit;
  for (const spec of [app.config.backend, app.config.broker]) {
    if (typeof spec === 'string' && REDIS_SCHEMES.has(schemeOf(spec))) return spec;
  }
  return null;
}

/** Resolve (and check) a task's flow-control options; `rateLimit` is the task's option as given. */
export function resolveFlowOptions(app: App, taskName: string, options: FlowTaskOptions & { rateLimit?: unknown }, parseRate: (v: string | number) => number): ResolvedFlow | null {
  const spec = typeof options.rateLimit === 'object' && options.rateLimit !== null ? (options.rateLimit as RateLimitSpec) : null;
  const global = spec !== null && spec.scope === 'global';
  if (spec && spec.scope !== undefined && spec.scope !== 'worker' && spec.scope !== 'global') {
    throw new ConfigurationError(`task ${taskName}: rateLimit.scope must be 'worker' or 'global', got ${JSON.stringify(spec.scope)}`);
  }
  if (options.rateLimitKey !== undefined && !global) {
    throw new ConfigurationError(`task ${taskName}: rateLimitKey needs rateLimit: { rate, scope: 'global' } (a per-key limit is shared by the cluster)`);
  }
  const { concurrencyLimit, batch } = options;
  if (concurrencyLimit !== undefined && (!Number.isInteger(concurrencyLimit) || concurrencyLimit < 1)) {
    throw new ConfigurationError(`task ${taskName}: concurrencyLimit must be a positive integer, got ${concurrencyLimit}`);
  }
  if (options.concurrencyKey !== undefined && concurrencyLimit === undefined) {
    throw new ConfigurationError(`task ${taskName}: concurrencyKey needs concurrencyLimit`);
  }
  if (options.dedup !== undefined && options.dedupKey === undefined) {
    throw new ConfigurationError(`task ${taskName}: dedup needs dedupKey (a function of the arguments, or true to deduplicate by taskId)`);
  }
  if (batch !== undefined && (!Number.isInteger(batch.size) || batch.size < 1)) {
    throw new ConfigurationError(`task ${taskName}: batch.size must be a positive integer, got ${batch.size}`);
  }
  const shared = global || concurrencyLimit !== undefined || options.dedupKey !== undefined;
  if (!global && concurrencyLimit === undefined && options.dedupKey === undefined && batch === undefined) return null;
  if (shared && !flowStoreSource(app)) {
    const what = [global && 'rateLimit with scope global', concurrencyLimit !== undefined && 'concurrencyLimit', options.dedupKey !== undefined && 'dedupKey'].filter(Boolean).join(', ');
    throw new ConfigurationError(
      `task ${taskName}: ${what} must be shared by every worker, and this app has no shared store; set createApp({ flowStore: 'redis://…' }) (or use a Redis broker or result backend). tq never enforces these per worker.`,
    );
  }
  const rate = global ? parseRate(spec!.rate) : null;
  if (global && !(rate! > 0)) throw new ConfigurationError(`task ${taskName}: rateLimit.rate must be above 0 for a global limit`);
  const burst = spec?.burst ?? Math.max(1, Math.floor((rate ?? 0) / 10));
  if (!(burst >= 1)) throw new ConfigurationError(`task ${taskName}: rateLimit.burst must be ≥ 1, got ${burst}`);
  const mode = options.dedup ?? 'active';
  if (mode !== 'active' && (typeof mode !== 'object' || mode === null || !('ttl' in mode))) {
    throw new ConfigurationError(`task ${taskName}: dedup must be 'active' or { ttl: seconds }, got ${JSON.stringify(mode)}`);
  }
  return {
    rate,
    burst,
    rateKey: options.rateLimitKey ?? null,
    concurrency: concurrencyLimit ?? null,
    concurrencyKey: options.concurrencyKey ?? null,
    dedup: options.dedupKey === undefined ? null : { key: options.dedupKey === true ? null : options.dedupKey, ttl: mode === 'active' ? null : toSeconds(mode.ttl, 'dedup.ttl') },
    batch: batch ? { size: batch.size, wait: batch.wait === undefined ? 1 : toSeconds(batch.wait, 'batch.wait') } : null,
  };
}

/** Seconds an `'active'` dedup claim is kept at most (a worker that died mid-task cannot free it): the app's `flowDedupMaxAge`, default 1 day. */
export function dedupMaxAge(app: App): number {
  const value = app.config.flowDedupMaxAge;
  return value === undefined ? 86400 : toSeconds(value, 'flowDedupMaxAge');
}

/** Seconds a concurrency lease lives without renewal: the app's `flowLeaseTtl`, default 10. */
export function leaseTtl(app: App): number {
  const value = app.config.flowLeaseTtl;
  return value === undefined ? 10 : toSeconds(value, 'flowLeaseTtl');
}

interface FlowStoreModule {
  createFlowStore?(url: string, context: { logger: Logger; prefix: string }): FlowStore | Promise<FlowStore>;
}

const stores = new WeakMap<App, { promise: Promise<FlowStore>; owned: boolean }>();

/** The app's flow store, created on first use (closed by `closeFlowStore`, which `app.close()` calls). */
export function getFlowStore(app: App): Promise<FlowStore> {
  let entry = stores.get(app);
  if (!entry) {
    const source = flowStoreSource(app);
    const owned = typeof source === 'string';
    const promise = (async () => {
      if (!source) throw new ConfigurationError('this app has no flow store; set createApp({ flowStore: \'redis://…\' })');
      if (typeof source !== 'string') return source;
      const scheme = schemeOf(source);
      if (!REDIS_SCHEMES.has(scheme)) throw new ConfigurationError(`flowStore: no flow store for ${scheme}:// (tq has one for redis://)`);
      let mod: FlowStoreModule;
      try {
        mod = (await import('@tq/broker-redis' as string)) as FlowStoreModule;
      } catch (err) {
        throw new AdapterMissingError(scheme, '@tq/broker-redis', err);
      }
      if (!mod.createFlowStore) throw new ConfigurationError('@tq/broker-redis is too old to hold a flow store; update it');
      const prefix = app.config.flowStorePrefix ?? 'tq:flow:';
      return mod.createFlowStore(source, { logger: app.logger, prefix });
    })();
    entry = { promise, owned };
    stores.set(app, entry);
    const made = entry;
    promise.catch(() => {
      // Only this attempt's entry: a newer one may have replaced it after a close.
      if (stores.get(app) === made) stores.delete(app);
    });
  }
  return entry.promise;
}

/** Close the app's flow store if it built one. */
export async function closeFlowStore(app: App): Promise<void> {
  const entry = stores.get(app);
  if (!entry) return;
  stores.delete(app);
  const store = await entry.promise.catch(() => null);
  if (entry.owned) await store?.close();
}

/** The key a flow key function gives, checked: a non-empty string. */
export function flowKey(fn: FlowKeyFn, args: readonly unknown[], kwargs: Readonly<Record<string, unknown>>, what: string): string {
  const key = fn(args, kwargs);
  if (typeof key !== 'string' || key === '') throw new ConfigurationError(`${what} must return a non-empty string, got ${JSON.stringify(key)}`);
  return key;
}
