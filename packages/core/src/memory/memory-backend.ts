/**
 * The `memory://` result backend: results in a Map, waiters woken directly (no polling), and
 * an atomic chord counter. Every result goes through kombu's JSON on the way in, exactly as on a
 * networked backend, so a value that could not cross the wire fails here too instead of only in
 * production.
 */
import { pyJsonDumps, pyJsonLoads, type ResultMeta } from '@tq/protocol';
import { BackendError, EncodeError, TimeoutError } from '../errors.js';
import type { BackendCapabilities, ChordPart, ResultBackend, StoreOptions, WaitOptions } from '../result-backend.js';
import { SUCCESS, isReady } from '../states.js';

interface Entry {
  /** The meta without its result, which is kept encoded beside it. */
  meta: ResultMeta;
  result: Stored;
  status: string;
  expiresAt: number | null;
}

function metaOf(entry: Entry): ResultMeta {
  return { ...entry.meta, result: decodeResult(entry.result) };
}

type Waiters = Map<string, PendingWait | PendingWait[]>;

/** One `waitFor` call: settled by `store`, by its timeout, by its AbortSignal or by `close`. */
class PendingWait {
  private timer: NodeJS.Timeout | undefined;
  private readonly signal: AbortSignal | undefined;

  constructor(
    private readonly waiters: Waiters,
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
      this.signal.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  /** Made only for a wait with a signal (most have none). */
  private readonly onAbort: (() => void) | undefined;

  resolve(meta: ResultMeta): void {
    this.cleanup();
    this.onResolve(meta);
  }

  reject(error: unknown): void {
    this.cleanup();
    this.onReject(error);
  }

  private cleanup(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.onAbort) this.signal?.removeEventListener('abort', this.onAbort);
    const current = this.waiters.get(this.taskId);
    if (current === this) this.waiters.delete(this.taskId);
    else if (Array.isArray(current)) {
      const i = current.indexOf(this);
      if (i !== -1) current.splice(i, 1);
      if (current.length === 0) this.waiters.delete(this.taskId);
    }
  }
}

/**
 * Results are kept as kombu JSON text, as a networked backend keeps them, so that a result which
 * could not be stored in Redis fails here too and callers never share objects with the store.
 * Primitives are their own JSON round trip and are kept as they are.
 */
type Stored = { value: unknown } | { json: string };

function isPrimitive(value: unknown): boolean {
  return value === null || typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));
}

function encodeResult(taskId: string, value: unknown): Stored {
  if (isPrimitive(value)) return { value };
  try {
    return { json: pyJsonDumps(value) };
  } catch (err) {
    throw new EncodeError(`the result of task ${taskId} cannot be stored as JSON: ${(err as Error).message}`, err);
  }
}

function decodeResult(stored: Stored): unknown {
  return 'json' in stored ? pyJsonLoads(stored.json) : stored.value;
}

export interface MemoryBackendOptions {
  /** Default seconds to keep results (Celery's `result_expires`, 1 day). null keeps them forever. */
  expires?: number | null;
  /** Epoch milliseconds for the expiry of `compareAndSet` values (beat's lease). Default `Date.now`; tests pass a manual clock's. */
  now?: () => number;
}

export class MemoryBackend implements ResultBackend {
  readonly name = 'memory';
  readonly capabilities: BackendCapabilities = { chordCounter: true, nativeWait: true, persistent: false };

  private readonly results = new Map<string, Entry>();
  private readonly groups = new Map<string, Entry>();
  private readonly waiters: Waiters = new Map();
  private readonly chords = new Map<string, { size: number | null; extra: number; parts: ChordPart[] }>();
  private readonly defaultExpires: number | null;
  private readonly values = new Map<string, { value: string; expiresAt: number | null }>();
  private readonly now: () => number;

  constructor(options: MemoryBackendOptions = {}) {
    this.now = options.now ?? Date.now;
    this.defaultExpires = options.expires === undefined ? 86400 : options.expires;
  }

  async connect(): Promise<void> {}

  private expiry(options?: StoreOptions): number | null {
    const seconds = options?.expires === undefined || options.expires === null ? this.defaultExpires : options.expires;
    return seconds === null || seconds <= 0 ? null : Date.now() + seconds * 1000;
  }

  private live(map: Map<string, Entry>, key: string): Entry | undefined {
    const entry = map.get(key);
    if (entry && entry.expiresAt !== null && entry.expiresAt <= Date.now()) {
      map.delete(key);
      return undefined;
    }
    return entry;
  }

  async store(meta: ResultMeta, options?: StoreOptions): Promise<void> {
    const current = this.live(this.results, meta.task_id);
    if (current?.status === SUCCESS) return;
    const entry: Entry = { meta, result: encodeResult(meta.task_id, meta.result), status: meta.status, expiresAt: this.expiry(options) };
    this.results.set(meta.task_id, entry);
    if (isReady(meta.status)) {
      const waiters = this.waiters.get(meta.task_id);
      if (waiters) {
        this.waiters.delete(meta.task_id);
        if (Array.isArray(waiters)) for (const waiter of waiters) waiter.resolve(metaOf(entry));
        else waiters.resolve(metaOf(entry));
      }
    }
  }

  async get(taskId: string): Promise<ResultMeta | null> {
    const entry = this.live(this.results, taskId);
    return entry ? metaOf(entry) : null;
  }

  async getMany(taskIds: readonly string[]): Promise<Map<string, ResultMeta>> {
    const out = new Map<string, ResultMeta>();
    for (const id of taskIds) {
      const entry = this.live(this.results, id);
      if (entry) out.set(id, metaOf(entry));
    }
    return out;
  }

  waitFor(taskId: string, options: WaitOptions = {}): Promise<ResultMeta> {
    const entry = this.live(this.results, taskId);
    if (entry && isReady(entry.status)) return Promise.resolve(metaOf(entry));
    return new Promise<ResultMeta>((resolve, reject) => {
      const wait = new PendingWait(this.waiters, taskId, resolve, reject, options);
      const current = this.waiters.get(taskId);
      if (current === undefined) this.waiters.set(taskId, wait);
      else if (Array.isArray(current)) current.push(wait);
      else this.waiters.set(taskId, [current, wait]);
    });
  }

  async forget(taskId: string): Promise<void> {
    this.results.delete(taskId);
  }

  async saveGroup(groupId: string, result: unknown, options?: StoreOptions): Promise<void> {
    const meta: ResultMeta = { status: SUCCESS, result: null, traceback: null, children: [], date_done: null, task_id: groupId };
    this.groups.set(groupId, { meta, result: encodeResult(groupId, result), status: SUCCESS, expiresAt: this.expiry(options) });
  }

  async restoreGroup(groupId: string): Promise<unknown | null> {
    const entry = this.live(this.groups, groupId);
    return entry ? decodeResult(entry.result) : null;
  }

  async deleteGroup(groupId: string): Promise<void> {
    this.groups.delete(groupId);
  }

  private chord(groupId: string) {
    let chord = this.chords.get(groupId);
    if (!chord) {
      chord = { size: null, extra: 0, parts: [] };
      this.chords.set(groupId, chord);
    }
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
    const stored = { ...part, result: decodeResult(encodeResult(part.taskId, part.result)) };
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
    return this.results.size;
  }

  async close(): Promise<void> {
    const error = new BackendError('the memory result backend was closed while a result was awaited', { retryable: false });
    for (const waiters of [...this.waiters.values()]) {
      for (const waiter of Array.isArray(waiters) ? [...waiters] : [waiters]) waiter.reject(error);
    }
  }
}
