/**
 * Where beat keeps its state: per entry, the last run and run count (and a run being sent), and,
 * when several beat processes share the store, the lease that elects the one that sends.
 *
 * A store is a tiny key-value register with compare-and-set. Three are provided:
 * - `backendStore(backend)`: the app's result backend, when it implements the optional
 *   `getValue`/`compareAndSet` (memory does; Redis and Mongo adapters should). Shared: several
 *   beat processes on one backend elect a leader.
 * - `FileStore(path)`: a JSON file (Celery's `celerybeat-schedule`, `--schedule`), for a single
 *   beat process. Not shared: two processes on one file would both send.
 * - `MemoryStore`: in-process, for tests.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigurationError, type ResultBackend } from '@tq/core';

export interface BeatStore {
  /** For logs: `the redis result backend`, `file /srv/celerybeat-schedule`. */
  readonly description: string;
  /** Several beat processes can use it at once (a lease elects the sender). */
  readonly shared: boolean;
  /** The value under `key`, or null (absent or expired). */
  get(key: string): Promise<string | null>;
  /**
   * Atomically replace the value under `key` with `value` (null deletes) if it equals `expected`
   * (null: absent or expired); resolve whether it did. `ttl` in seconds makes the value expire.
   */
  compareAndSet(key: string, expected: string | null, value: string | null, ttl?: number): Promise<boolean>;
  close(): Promise<void>;
}

/** Whether a result backend can hold beat's state and lease. */
export function supportsBeatStore(backend: ResultBackend | null | undefined): backend is ResultBackend & Required<Pick<ResultBackend, 'getValue' | 'compareAndSet'>> {
  return !!backend && typeof backend.getValue === 'function' && typeof backend.compareAndSet === 'function';
}

/** Beat's state and lease in a result backend (shared by every beat process using it). */
export function backendStore(backend: ResultBackend): BeatStore {
  if (!supportsBeatStore(backend)) {
    throw new ConfigurationError(
      `the ${backend.name} result backend cannot hold beat's schedule state and lease: it does not implement getValue/compareAndSet (use --schedule FILE for a single beat, or a backend that does)`,
    );
  }
  return {
    description: `the ${backend.name} result backend`,
    shared: true,
    get: (key) => backend.getValue(key),
    compareAndSet: (key, expected, value, ttl) => backend.compareAndSet(key, expected, value, ttl === undefined ? {} : { ttl }),
    // The backend belongs to the app, which closes it.
    close: async () => undefined,
  };
}

/** In-process store (tests, embedded use). `now` drives expiry (pass a ManualClock's). */
export class MemoryStore implements BeatStore {
  readonly description = 'memory';
  readonly shared: boolean;
  private readonly values = new Map<string, { value: string; expiresAt: number | null }>();
  private readonly now: () => number;

  constructor(options: { shared?: boolean; now?: () => number } = {}) {
    this.shared = options.shared ?? true;
    this.now = options.now ?? Date.now;
  }

  private peek(key: string): string | null {
    const entry = this.values.get(key);
    if (entry && entry.expiresAt !== null && entry.expiresAt <= this.now()) {
      this.values.delete(key);
      return null;
    }
    return entry?.value ?? null;
  }

  async get(key: string): Promise<string | null> {
    return this.peek(key);
  }

  async compareAndSet(key: string, expected: string | null, value: string | null, ttl?: number): Promise<boolean> {
    if (this.peek(key) !== expected) return false;
    if (value === null) this.values.delete(key);
    else this.values.set(key, { value, expiresAt: ttl === undefined ? null : this.now() + ttl * 1000 });
    return true;
  }

  async close(): Promise<void> {}
}

const FILE_FORMAT = 'tq-beat-schedule';

interface ScheduleFile {
  format: typeof FILE_FORMAT;
  version: 1;
  entries: Record<string, string>;
}

/**
 * Beat's state in a JSON file, rewritten atomically (a temporary file renamed over it) after
 * every change, so a crash leaves either the old or the new state, never half of one.
 */
export class FileStore implements BeatStore {
  readonly shared = false;
  readonly path: string;
  private data: Map<string, string> | null = null;
  private loading: Promise<Map<string, string>> | null = null;
  private writing: Promise<void> = Promise.resolve();

  constructor(path: string) {
    this.path = resolve(path);
  }

  get description(): string {
    return `file ${this.path}`;
  }

  private load(): Promise<Map<string, string>> {
    if (this.data) return Promise.resolve(this.data);
    this.loading ??= (async () => {
      let text: string;
      try {
        text = await readFile(this.path, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return (this.data = new Map());
        throw new ConfigurationError(`cannot read the beat schedule file ${this.path}: ${(err as Error).message}`, { cause: err });
      }
      let parsed: ScheduleFile | null = null;
      try {
        parsed = JSON.parse(text) as ScheduleFile;
      } catch {
        parsed = null;
      }
      if (!parsed || parsed.format !== FILE_FORMAT || typeof parsed.entries !== 'object' || parsed.entries === null) {
        throw new ConfigurationError(
          `${this.path} is not a tq beat schedule file (it may be Python Celery's shelve of the same name); pass another path with --schedule, or delete it to start afresh`,
        );
      }
      return (this.data = new Map(Object.entries(parsed.entries).filter((e): e is [string, string] => typeof e[1] === 'string')));
    })();
    return this.loading;
  }

  async get(key: string): Promise<string | null> {
    return (await this.load()).get(key) ?? null;
  }

  async compareAndSet(key: string, expected: string | null, value: string | null): Promise<boolean> {
    const data = await this.load();
    if ((data.get(key) ?? null) !== expected) return false;
    if (value === null) data.delete(key);
    else data.set(key, value);
    await this.persist();
    return true;
  }

  private persist(): Promise<void> {
    const snapshot: ScheduleFile = { format: FILE_FORMAT, version: 1, entries: Object.fromEntries(this.data ?? []) };
    const text = `${JSON.stringify(snapshot, null, 2)}\n`;
    const write = this.writing.then(async () => {
      const tmp = `${this.path}.${process.pid}.tmp`;
      await mkdir(dirname(this.path), { recursive: true });
      await writeFile(tmp, text);
      await rename(tmp, this.path);
    });
    // Writes stay in order; one that failed does not stop the next.
    this.writing = write.catch(() => undefined);
    return write;
  }

  async close(): Promise<void> {
    await this.writing;
  }
}
