/**
 * The ResultBackend contract: where task states and results live. Core stores through it, waits
 * on it and joins chords with it; `@tq/testing`'s `runBackendConformance` checks every rule.
 * Meta is Celery's (`ResultMeta` from @tq/protocol), so Python and tq read each other's results.
 */
import type { ResultMeta } from '@tq/protocol';

export interface BackendCapabilities {
  /**
   * `chordPartReturn` joins chord headers atomically (Redis: Celery's `.j/.t/.s` keys). Without
   * it, chords use the `celery.chord_unlock` task, as in Celery.
   */
  chordCounter: boolean;
  /** `waitFor` is pushed (pub/sub, in-process notification), not polled. */
  nativeWait: boolean;
  /** Results survive a process restart (everything but memory). */
  persistent: boolean;
}

/** One chord header's outcome, as Celery's Redis backend records it in `.j`. */
export interface ChordPart {
  index: number;
  taskId: string;
  state: string;
  /** The result, or the encoded exception for FAILURE/REVOKED. */
  result: unknown;
}

export interface StoreOptions {
  /** Seconds to keep the result; null/undefined keeps the backend's default. */
  expires?: number | null;
  /** The request's reply_to, for backends that send results as messages (rpc://). */
  replyTo?: string | null;
  /** The request's correlation id (the task id), for the same backends. */
  correlationId?: string | null;
}

export interface WaitOptions {
  /** Seconds; reject with TimeoutError after this long. Omitted: wait forever. */
  timeout?: number | null;
  signal?: AbortSignal;
  /** Poll interval in seconds for backends without `nativeWait` (Celery's `interval`, 0.5). */
  interval?: number;
}

export interface ResultBackend {
  readonly name: string;
  readonly capabilities: BackendCapabilities;
  /** Connect; idempotent; other methods connect on first use. */
  connect(): Promise<void>;
  /**
   * Store a task's meta. MUST NOT replace a stored SUCCESS (Celery's rule: the first success
   * wins, a late RETRY or STARTED never hides it). Wakes every `waitFor` on the id when the state
   * is ready.
   */
  store(meta: ResultMeta, options?: StoreOptions): Promise<void>;
  /** The stored meta, or null for an unknown (PENDING) id. */
  get(taskId: string): Promise<ResultMeta | null>;
  /** Meta for many ids in one round trip; unknown ids are absent from the map. */
  getMany(taskIds: readonly string[]): Promise<Map<string, ResultMeta>>;
  /**
   * Resolve with the meta once the task is in a ready state (SUCCESS, FAILURE, REVOKED);
   * reject with TimeoutError after `timeout`. A ready meta stored before the call resolves it
   * at once.
   */
  waitFor(taskId: string, options?: WaitOptions): Promise<ResultMeta>;
  /** Called before a task is sent so that a pushed result cannot be missed (Redis subscribes here). */
  onTaskCall?(taskId: string): void | Promise<void>;
  /** Delete a task's result. */
  forget(taskId: string): Promise<void>;
  /** Save a group's result tuple (`celery-taskset-meta-<gid>`): `[[gid, null], [child tuples…]]`. */
  saveGroup(groupId: string, result: unknown, options?: StoreOptions): Promise<void>;
  restoreGroup(groupId: string): Promise<unknown | null>;
  deleteGroup(groupId: string): Promise<void>;
  /** Record how many header results a chord waits for (needs `chordCounter`). */
  setChordSize?(groupId: string, size: number): Promise<void>;
  /**
   * Record one header's outcome (needs `chordCounter`). Exactly one call per chord — the one
   * that completes it — resolves to every part ordered by index; all others resolve to null.
   * The counter keys are removed once the chord completes.
   */
  chordPartReturn?(groupId: string, part: ChordPart, size?: number): Promise<ChordPart[] | null>;
  /** Add to the number of parts a chord waits for, for tasks added to a running chord (Celery's `.t`). */
  addToChord?(groupId: string, count: number): Promise<void>;
  /**
   * Optional (beat's lease and run records, see docs/beat.md): the string stored under `key`, or
   * null when absent or expired. Keys are tq's own (`tq-beat:<name>:…`), apart from task results.
   * Present together with `compareAndSet`; MUST be strongly consistent with it (read your writes).
   */
  getValue?(key: string): Promise<string | null>;
  /**
   * Optional, with `getValue`: atomically, if the value under `key` equals `expected` (null: the
   * key is absent or expired), replace it with `value` (null: delete it) and resolve true;
   * otherwise change nothing and resolve false. With `ttl` (seconds, fractions allowed) the new
   * value expires after that long; without it, it never expires. Redis: one Lua script
   * (GET, compare, SET … PX / DEL); Mongo: a conditional update or an insert on a unique _id.
   */
  compareAndSet?(key: string, expected: string | null, value: string | null, options?: { ttl?: number }): Promise<boolean>;
  close(): Promise<void>;
}
