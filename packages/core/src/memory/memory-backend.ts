/**
 * The `memory://` result backend: results in a Map, waiters woken directly (no polling), and
 * an atomic chord counter. Every result that is not a plain string, number, boolean or null goes
 * through kombu's JSON on the way in, exactly as on a networked backend, so a value that could
 * not cross the wire fails here too instead of only in production.
 */
import { pyJsonDumps, pyJsonLoads, type ResultMeta } from '@tq/protocol';
import { BackendError, EncodeError, TimeoutError } from '../errors.js';
import type { BackendCapabilities, ChordPart, ResultBackend, StoreOptions, WaitOptions } from '../result-backend.js';
import { SUCCESS, isReady } from '../states.js';

/**
 * One task's slot in the results map: its stored result, flat, and the `waitFor` calls waiting
 * for it to be ready. A plain result costs this object and its date string; the meta's other
 * fields are kept as kombu JSON text only when a result has them. Every result stays until it
 * expires, so this is what `memory://` costs per task (docs/performance.md).
 *
 * Waiters live in the same slot rather than in a map of their own, so an awaited task costs two
 * lookups in the (large) map instead of six: `waitFor` finds no slot and adds one, `store` finds
 * it and fills it in place. A slot with waiters and no result yet has `status` null.
 */
interface Entry extends Kept {
  /** null: no result stored (yet); the slot is there for its waiters. */
  status: string | null;
  traceback: string | null;
  dateDone: string | null;
  /** children, group and parent ids, `result_extended` fields and any extra field, as JSON; null when there are none. */
  rest: string | null;
  waiting: PendingWait | PendingWait[] | null;
}

/** A slot that holds a result. */
type Stored = Entry & { status: string };

/**
 * A value kept as kombu JSON text, as a networked backend keeps it, so that a value which could
 * not be stored in Redis fails here too and callers never share objects with the store.
 * Primitives are their own JSON round trip and are kept as they are.
 */
interface Kept {
  value: unknown;
  encoded: boolean;
  expiresAt: number | null;
}

/** The fields every meta has, which an entry keeps in its own slots. */
const OWN_FIELDS = new Set(['status', 'result', 'traceback', 'date_done', 'task_id']);

function restOf(meta: ResultMeta): string | null {
  let rest: Record<string, unknown> | null = null;
  for (const key in meta) {
    const value = meta[key];
    if (OWN_FIELDS.has(key) || value === undefined || (key === 'children' && Array.isArray(value) && value.length === 0)) continue;
    (rest ??= {})[key] = value;
  }
  return rest === null ? null : encode(meta.task_id, rest, 'meta');
}

/** A new meta in Celery's key order (task_id last), sharing nothing with the entry. */
function metaOf(taskId: string, entry: Stored): ResultMeta {
  const { status, traceback, dateDone: date_done } = entry;
  const result = valueOf(entry);
  if (entry.rest === null) return { status, result, traceback, children: [], date_done, task_id: taskId };
  return { status, result, traceback, children: [], date_done, ...(pyJsonLoads(entry.rest) as object), task_id: taskId };
}

function isPrimitive(value: unknown): boolean {
  return value === null || typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));
}

/**
 * kombu JSON text for a stored value. Text with a `__type__` key is read back once here, so that a
 * value whose reading would fail (an unknown `__type__`) is refused by `store`, before anything is
 * kept, rather than failing every later `get` and the waiters. Dates, decimals, UUIDs and bytes
 * are written with such keys too, so a result holding one pays that second parse.
 */
function encode(taskId: string, value: unknown, what = 'result'): string {
  try {
    const text = pyJsonDumps(value);
    if (text.includes('"__type__"')) pyJsonLoads(text);
    return text;
  } catch (err) {
    throw new EncodeError(`the ${what} of task ${taskId} cannot be stored as JSON: ${(err as Error).message}`, err);
  }
}

function keep(taskId: string, value: unknown, expiresAt: number | null): Kept {
  return isPrimitive(value) ? { value, encoded: false, expiresAt } : { value: encode(taskId, value), encoded: true, expiresAt };
}

function valueOf(kept: Kept): unknown {
  return kept.encoded ? pyJsonLoads(kept.value as string) : kept.value;
}

/** Expired results are dropped as new ones arrive, at most this often (reads skip them sooner). */
const SWEEP_INTERVAL_MS = 60_000;

/** A slot for waiters only, before any result is stored. */
function waitingSlot(wait: PendingWait): Entry {
  return { status: null, value: undefined, encoded: false, traceback: null, dateDone: null, rest: null, expiresAt: null, waiting: wait };
}

/**
 * Sets a slot's result in place, keeping its waiters. Field by field: a spread or Object.assign
 * here gives the entries other shapes and made `store` several times slower.
 */
function fill(entry: Entry, status: string | null, value: unknown, encoded: boolean, traceback: string | null, dateDone: string | null, rest: string | null, expiresAt: number | null): void {
  entry.status = status;
  entry.value = value;
  entry.encoded = encoded;
  entry.traceback = traceback;
  entry.dateDone = dateDone;
  entry.rest = rest;
  entry.expiresAt = expiresAt;
}

/** Empties a slot's result (expired, forgotten); its waiters, if any, keep waiting. */
function clearResult(entry: Entry): void {
  fill(entry, null, undefined, false, null, null, null, null);
}

/** One `waitFor` call: settled by `store`, by its timeout, by its AbortSignal or by `close`. */
class PendingWait {
  private timer: NodeJS.Timeout | undefined;
  private readonly signal: AbortSignal | undefined;

  constructor(
    private readonly results: Map<string, Entry>,
    private readonly taskId: string,
    private readonly onResolve: (meta: ResultMeta) => void,
    private readonly onReject: (error: unknown) => void,
    options: WaitOptions,
  ) {
    if (options.timeout !== undefined && options.timeout !== null) {
      const seconds = options.timeout;
      this.timer = setTimeout(() => this.reject(new TimeoutError(`the result of task ${taskId} was not ready within ${seconds}s`)), seconds * 1000);
    }
    this.signal = options.signal;
    if (this.signal) {
      this.onAbort = () => this.reject(this.signal?.reason ?? new Error('aborted'));
      // Aborted already: the 'abort' event has been and gone.
      if (this.signal.aborted) queueMicrotask(this.onAbort);
      else this.signal.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  /** Made only for a wait with a signal (most have none). */
  private readonly onAbort: (() => void) | undefined;

  /** By `store` or `close`, which have taken it out of its slot already. */
  resolve(meta: ResultMeta): void {
    this.stop();
    this.onResolve(meta);
  }

  /** By its timeout or signal, or by `close`: it leaves its slot, and a slot left empty goes. */
  reject(error: unknown): void {
    this.stop();
    const entry = this.results.get(this.taskId);
    if (entry !== undefined && entry.waiting !== null) {
      if (entry.waiting === this) entry.waiting = null;
      else if (Array.isArray(entry.waiting)) {
        const i = entry.waiting.indexOf(this);
        if (i !== -1) entry.waiting.splice(i, 1);
        if (entry.waiting.length === 0) entry.waiting = null;
      }
      if (entry.waiting === null && entry.status === null) this.results.delete(this.taskId);
    }
    this.onReject(error);
  }

  private stop(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.onAbort) this.signal?.removeEventListener('abort', this.onAbort);
  }
}

export interface MemoryBackendOptions {
  /** Default seconds to keep results (Celery's `result_expires`, 1 day). null, 0 or less keeps them forever. */
  expires?: number | null;
  /** Epoch milliseconds for the expiry of results and of `compareAndSet` values (beat's lease). Default `Date.now`; tests pass a manual clock's. */
  now?: () => number;
}

export class MemoryBackend implements ResultBackend {
  readonly name = 'memory';
  readonly capabilities: BackendCapabilities = { chordCounter: true, nativeWait: true, persistent: false };

  private readonly results = new Map<string, Entry>();
  private readonly groups = new Map<string, Kept>();
  private readonly chords = new Map<string, { size: number | null; extra: number; parts: ChordPart[]; expiresAt: number | null }>();
  private readonly defaultExpires: number | null;
  private readonly values = new Map<string, { value: string; expiresAt: number | null }>();
  private readonly now: () => number;
  private sweepAt: number;

  constructor(options: MemoryBackendOptions = {}) {
    this.now = options.now ?? Date.now;
    this.defaultExpires = options.expires === undefined ? 86400 : options.expires;
    this.sweepAt = this.now() + SWEEP_INTERVAL_MS;
  }

  async connect(): Promise<void> {}

  private expiry(now: number, options?: StoreOptions): number | null {
    const seconds = options?.expires === undefined || options.expires === null ? this.defaultExpires : options.expires;
    return seconds === null || seconds <= 0 ? null : now + seconds * 1000;
  }

  /** A task's slot, with an expired result already dropped from it (one lookup). */
  private slot(taskId: string, now: number): Entry | undefined {
    const entry = this.results.get(taskId);
    if (entry !== undefined && entry.expiresAt !== null && entry.expiresAt <= now) return this.expire(taskId, entry);
    return entry;
  }

  /** The stored, unexpired result of a task, if any. */
  private result(taskId: string): Stored | undefined {
    const entry = this.slot(taskId, this.now());
    return entry?.status == null ? undefined : (entry as Stored);
  }

  /** Drops an expired result. A slot with waiters stays, emptied, and is returned. */
  private expire(taskId: string, entry: Entry): Entry | undefined {
    if (entry.waiting === null) {
      this.results.delete(taskId);
      return undefined;
    }
    clearResult(entry);
    return entry;
  }

  private live<T extends Kept>(map: Map<string, T>, key: string): T | undefined {
    const entry = map.get(key);
    if (entry && entry.expiresAt !== null && entry.expiresAt <= this.now()) {
      map.delete(key);
      return undefined;
    }
    return entry;
  }

  /**
   * Drops what has expired, so results nobody reads again do not stay for the life of the process.
   * A walk of every entry, once a minute at most: 12–23 ms for a million results on the
   * development machine. A walk that stopped at the first live entry would cost less, but an entry
   * re-stored in place (STARTED, then PROGRESS, then SUCCESS) or given a shorter `expires` than
   * those before it would keep the expired ones behind it.
   */
  private sweep(now: number): void {
    if (now < this.sweepAt) return;
    this.sweepAt = now + SWEEP_INTERVAL_MS;
    // Chords whose header never finished and compare-and-set values nobody reads again, too.
    for (const [taskId, entry] of this.results) if (entry.expiresAt !== null && entry.expiresAt <= now) this.expire(taskId, entry);
    for (const map of [this.groups, this.chords, this.values] as Map<string, { expiresAt: number | null }>[]) {
      for (const [key, entry] of map) if (entry.expiresAt !== null && entry.expiresAt <= now) map.delete(key);
    }
  }

  async store(meta: ResultMeta, options?: StoreOptions): Promise<void> {
    const taskId = meta.task_id;
    // One lookup: the slot, if any, is filled in place. A SUCCESS is final: a task that runs
    // again (redelivered after a lost ack) does not replace it.
    const now = this.now();
    const entry = this.slot(taskId, now);
    if (entry?.status === SUCCESS) return;
    this.sweep(now);
    const encoded = !isPrimitive(meta.result);
    // Both encodings can refuse the meta: done before the slot changes.
    const value = encoded ? encode(taskId, meta.result) : meta.result;
    const rest = restOf(meta);
    const traceback = meta.traceback ?? null;
    const dateDone = meta.date_done ?? null;
    const expiresAt = this.expiry(now, options);
    if (entry === undefined) {
      this.results.set(taskId, { status: meta.status, value, encoded, traceback, dateDone, rest, expiresAt, waiting: null });
      return;
    }
    fill(entry, meta.status, value, encoded, traceback, dateDone, rest, expiresAt);
    const waiting = entry.waiting;
    if (waiting === null || !isReady(meta.status)) return;
    entry.waiting = null;
    const stored = entry as Stored;
    if (Array.isArray(waiting)) for (const wait of waiting) wait.resolve(metaOf(taskId, stored));
    else waiting.resolve(metaOf(taskId, stored));
  }

  async get(taskId: string): Promise<ResultMeta | null> {
    const entry = this.result(taskId);
    return entry ? metaOf(taskId, entry) : null;
  }

  async getMany(taskIds: readonly string[]): Promise<Map<string, ResultMeta>> {
    const out = new Map<string, ResultMeta>();
    for (const id of taskIds) {
      const entry = this.result(id);
      if (entry) out.set(id, metaOf(id, entry));
    }
    return out;
  }

  waitFor(taskId: string, options: WaitOptions = {}): Promise<ResultMeta> {
    const entry = this.slot(taskId, this.now());
    if (entry?.status != null && isReady(entry.status)) return Promise.resolve(metaOf(taskId, entry as Stored));
    return new Promise<ResultMeta>((resolve, reject) => {
      const wait = new PendingWait(this.results, taskId, resolve, reject, options);
      if (entry === undefined) this.results.set(taskId, waitingSlot(wait));
      else if (entry.waiting === null) entry.waiting = wait;
      else if (Array.isArray(entry.waiting)) entry.waiting.push(wait);
      else entry.waiting = [entry.waiting, wait];
    });
  }

  async forget(taskId: string): Promise<void> {
    const entry = this.results.get(taskId);
    if (entry === undefined) return;
    if (entry.waiting === null) this.results.delete(taskId);
    else clearResult(entry);
  }

  async saveGroup(groupId: string, result: unknown, options?: StoreOptions): Promise<void> {
    this.groups.set(groupId, keep(groupId, result, this.expiry(this.now(), options)));
  }

  async restoreGroup(groupId: string): Promise<unknown | null> {
    const entry = this.live(this.groups, groupId);
    return entry ? valueOf(entry) : null;
  }

  async deleteGroup(groupId: string): Promise<void> {
    this.groups.delete(groupId);
  }

  /** A chord's count lives as long as a result from its last change, as Redis's chord keys do. */
  private chord(groupId: string) {
    const now = this.now();
    let chord = this.chords.get(groupId);
    if (!chord || (chord.expiresAt !== null && chord.expiresAt <= now)) {
      chord = { size: null, extra: 0, parts: [], expiresAt: null };
      this.chords.set(groupId, chord);
    }
    chord.expiresAt = this.expiry(now);
    return chord;
  }

  async setChordSize(groupId: string, size: number): Promise<void> {
    this.chord(groupId).size = size;
  }

  async addToChord(groupId: string, count: number): Promise<void> {
    this.chord(groupId).extra += count;
  }

  async chordPartReturn(groupId: string, part: ChordPart, size?: number): Promise<ChordPart[] | null> {
    const chord = this.chord(groupId);
    const stored = { ...part, result: valueOf(keep(part.taskId, part.result, null)) };
    // A header task that runs twice (redelivered after a lost ack) is counted once.
    const previous = chord.parts.findIndex((p) => p.taskId === part.taskId);
    if (previous === -1) chord.parts.push(stored);
    else chord.parts[previous] = stored;
    const total = (chord.size ?? size ?? Number.POSITIVE_INFINITY) + chord.extra;
    if (chord.parts.length < total) return null;
    this.chords.delete(groupId);
    return chord.parts.sort((a, b) => a.index - b.index);
  }

  private peekValue(key: string): string | null {
    const entry = this.values.get(key);
    if (entry && entry.expiresAt !== null && entry.expiresAt <= this.now()) {
      this.values.delete(key);
      return null;
    }
    return entry?.value ?? null;
  }

  async getValue(key: string): Promise<string | null> {
    return this.peekValue(key);
  }

  /** Atomic: the comparison and the write happen in one synchronous step. */
  async compareAndSet(key: string, expected: string | null, value: string | null, options: { ttl?: number } = {}): Promise<boolean> {
    if (this.peekValue(key) !== expected) return false;
    if (value === null) this.values.delete(key);
    else this.values.set(key, { value, expiresAt: options.ttl === undefined ? null : this.now() + options.ttl * 1000 });
    return true;
  }

  /** Number of results held (for tests and inspection). */
  size(): number {
    let n = 0;
    for (const entry of this.results.values()) if (entry.status !== null) n++;
    return n;
  }

  async close(): Promise<void> {
    const error = new BackendError('the memory result backend was closed while a result was awaited', { retryable: false });
    // Collected first: a rejected wait leaves its slot, and an empty slot leaves the map.
    const waits: PendingWait[] = [];
    for (const entry of this.results.values()) {
      if (Array.isArray(entry.waiting)) waits.push(...entry.waiting);
      else if (entry.waiting !== null) waits.push(entry.waiting);
    }
    for (const wait of waits) wait.reject(error);
  }
}
