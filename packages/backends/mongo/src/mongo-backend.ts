/**
 * The MongoDB result backend, Celery's MongoBackend layout (see documents.ts): database `celery`,
 * `celery_taskmeta` and `celery_groupmeta`, one document per task written with a replace-upsert.
 *
 * - A stored SUCCESS is never replaced: the replace only matches a document whose status is not
 *   SUCCESS, so against a SUCCESS the upsert's insert fails on the unique `_id` and nothing changes.
 * - Stores made in the same event-loop turn go in one unordered bulk write.
 * - Waiting polls with backoff (result-waiter.ts). Change streams would push results, but they
 *   need a replica set and FerretDB v1 has none; tq polls everywhere, as Celery does.
 * - Chords use Celery's `celery.chord_unlock` task unless `chordCounter` is on (chord-counter.ts).
 * - Expiry: a result is gone for readers once `date_done` + `expires` has passed; documents are
 *   deleted by `cleanup()` (Celery's `backend_cleanup`) or by the server with `ttlIndex`.
 * - Beat's lease and run records live in `tq_kv` (docs/beat.md).
 */
import { BackendError, silentLogger, type BackendCapabilities, type ChordPart, type Logger, type ResultBackend, type StoreOptions, type WaitOptions } from '@tq/core';
import type { ResultMeta } from '@tq/protocol';
import { MongoClient, type Collection, type Db, type MongoBulkWriteError } from 'mongodb';
import { ChordCounter } from './chord-counter.js';
import { expiryOf, fromGroupDocument, isNestedArrayError, fromTaskDocument, toGroupDocument, toTaskDocument, type GroupDocument, type TaskDocument } from './documents.js';
import { backendError, isDuplicateKey, isTransientWriteError } from './errors.js';
import { ensureIndexes } from './indexes.js';
import { KeyValueStore } from './key-value.js';
import { resolveMongoOptions, type MongoBackendOptions, type ResolvedMongoOptions } from './options.js';
import { ResultWaiter } from './result-waiter.js';
import { parseMongoUrl, type MongoEndpoint } from './url.js';

export interface MongoBackendConfig extends MongoBackendOptions {
  logger?: Logger;
}

const READY = ['SUCCESS', 'FAILURE', 'REVOKED'];
const CHUNK = 1000;

interface PendingStore {
  meta: ResultMeta;
  expiresAt: Date | null;
  doc: TaskDocument;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class MongoBackend implements ResultBackend {
  readonly name = 'mongodb';
  readonly capabilities: BackendCapabilities;
  readonly endpoint: MongoEndpoint;
  readonly options: ResolvedMongoOptions;
  readonly logger: Logger;

  private client: MongoClient | null = null;
  private connecting: Promise<Db> | null = null;
  private database: Db | null = null;
  private tasks!: Collection<TaskDocument>;
  private groups!: Collection<GroupDocument>;
  private readonly waiter: ResultWaiter;
  private kv: KeyValueStore | null = null;
  private chords: ChordCounter | null = null;
  private pending: PendingStore[] = [];
  private flushScheduled = false;
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;
  /** The server refuses arrays in arrays (FerretDB v1): such fields go as JSON text (documents.ts). */
  private nestedAsText = false;

  constructor(url: string, config: MongoBackendConfig = {}) {
    const { logger, ...rest } = config;
    this.endpoint = parseMongoUrl(url);
    this.options = resolveMongoOptions(rest as Record<string, unknown>, this.endpoint.database, 86400);
    this.logger = logger ?? silentLogger;
    this.capabilities = { chordCounter: this.options.chordCounter, nativeWait: false, persistent: true };
    this.waiter = new ResultWaiter((ids) => this.readReady(ids), this.logger, this.options.pollBackoffStart * 1000);
    if (this.options.chordCounter) this.enableChordCounter();
  }

  // -- connection --------------------------------------------------------------------------

  async connect(): Promise<void> {
    await this.db();
  }

  private db(): Promise<Db> {
    if (this.database) return Promise.resolve(this.database);
    if (this.closed) return Promise.reject(new BackendError('[tq] [backend-mongo] the result backend is closed', { retryable: false }));
    this.connecting ??= this.open().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async open(): Promise<Db> {
    let client: MongoClient;
    try {
      client = new MongoClient(this.endpoint.url, { serverSelectionTimeoutMS: 10_000, appName: 'tq-backend', ...this.options.clientOptions });
      await client.connect();
    } catch (err) {
      throw backendError('result backend cannot connect to', this.endpoint.display, err);
    }
    if (this.closed) {
      await client.close().catch(() => undefined);
      throw new BackendError('[tq] [backend-mongo] the result backend was closed while connecting', { retryable: false });
    }
    const db = client.db(this.options.database);
    this.client = client;
    this.tasks = db.collection<TaskDocument>(this.options.taskmetaCollection);
    this.groups = db.collection<GroupDocument>(this.options.groupmetaCollection);
    this.kv = new KeyValueStore(db.collection(this.options.kvCollection), (what, err) => this.error(what, err));
    if (this.options.chordCounter) this.chords = new ChordCounter(db.collection(this.options.groupmetaCollection), (what, err) => this.error(what, err));
    await ensureIndexes({ tasks: db.collection(this.options.taskmetaCollection), groups: db.collection(this.options.groupmetaCollection), kv: db.collection(this.options.kvCollection) }, this.options, this.logger);
    this.database = db;
    return db;
  }

  private error(what: string, err: unknown): Error {
    return backendError(what, this.endpoint.display, err);
  }

  // -- storing and reading -----------------------------------------------------------------

  /** Seconds a result is kept when the caller asks for something other than the default. */
  private ownExpiry(options?: StoreOptions): Date | null {
    const seconds = options?.expires;
    if (seconds === undefined || seconds === null || seconds <= 0 || seconds === this.options.expires) return null;
    return new Date(Date.now() + seconds * 1000);
  }

  private expired(doc: { date_done?: unknown; tq_expires?: unknown }, now = Date.now()): boolean {
    const at = expiryOf(doc, this.options.expires);
    return at !== null && at <= now;
  }

  store(meta: ResultMeta, options?: StoreOptions): Promise<void> {
    const expiresAt = this.ownExpiry(options);
    let doc: TaskDocument;
    try {
      doc = toTaskDocument(meta, expiresAt, this.nestedAsText);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ meta, expiresAt, doc, resolve, reject });
      if (this.flushScheduled) return;
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        const batch = this.pending;
        this.pending = [];
        const flushing = this.flushStores(batch);
        this.inFlight.add(flushing);
        void flushing.finally(() => this.inFlight.delete(flushing));
      });
    });
  }

  private async flushStores(batch: PendingStore[]): Promise<void> {
    let failed = new Map<number, unknown>();
    try {
      await this.db();
      for (let start = 0; start < batch.length; start += CHUNK) {
        const chunk = batch.slice(start, start + CHUNK);
        let outcomes = await this.retrying(() => this.writeTasks(chunk));
        const refused = [...outcomes].filter(([, outcome]) => outcome === 'nested').map(([i]) => i);
        if (refused.length > 0) {
          this.switchToNestedAsText();
          for (const i of refused) chunk[i]!.doc = toTaskDocument(chunk[i]!.meta, chunk[i]!.expiresAt, true);
          const again = await this.retrying(() => this.writeTasks(refused.map((i) => chunk[i]!)));
          outcomes = new Map([...outcomes].filter(([, outcome]) => outcome !== 'nested'));
          for (const [j, outcome] of again) outcomes.set(refused[j]!, outcome);
        }
        for (const [i, outcome] of outcomes) {
          failed.set(start + i, outcome === 'kept' ? outcome : this.error(`could not store the result of task ${chunk[i]?.doc._id} on`, outcome));
        }
      }
    } catch (err) {
      const error = this.error(`could not store ${batch.length} result(s) on`, err);
      failed = new Map(batch.map((_, i) => [i, error]));
    }
    batch.forEach(({ doc, resolve, reject }, i) => {
      const outcome = failed.get(i);
      if (outcome === 'kept') {
        // A SUCCESS was there already and stays: waiters read that one.
        this.waiter.drop(doc._id);
        this.waiter.poke(doc._id);
        resolve();
      } else if (outcome !== undefined) {
        reject(outcome);
      } else {
        if (READY.includes(doc.status)) this.waiter.notify(doc._id, () => fromTaskDocument(doc));
        else this.waiter.drop(doc._id);
        resolve();
      }
    });
  }

  /**
   * Write each document; the ones that were not written, by index: 'kept' (a SUCCESS is stored),
   * 'nested' (the server refuses nested arrays), or the write error.
   *
   * Most results are stored once, so documents are first inserted, in one unordered batch; only
   * those whose id exists already get Celery's replace, conditional on the stored status not
   * being SUCCESS (atomic on MongoDB). Upserts would do both in one step, but FerretDB v1 runs
   * each update as a scan, about a hundred times slower than an insert. It also stops an
   * unordered batch at its first error, reporting only that one, so the documents after it are
   * sent again (on MongoDB they were inserted and come back as duplicates, which is harmless).
   */
  private async writeTasks(items: PendingStore[]): Promise<Map<number, unknown>> {
    const outcomes = new Map<number, unknown>();
    const existing: number[] = [];
    let remaining = items.map((_, i) => i);
    while (remaining.length > 0) {
      try {
        await this.tasks.insertMany(
          remaining.map((i) => items[i]!.doc),
          { ordered: false },
        );
        break;
      } catch (err) {
        const writeErrors = (err as MongoBulkWriteError).writeErrors;
        const reported = writeErrors && typeof writeErrors === 'object' ? Object.values(writeErrors) : [];
        if (reported.length === 0) throw err;
        let first = Infinity;
        for (const e of reported) {
          const i = remaining[e.index]!;
          first = Math.min(first, e.index);
          if (isDuplicateKey(e)) existing.push(i);
          else outcomes.set(i, isNestedArrayError(e) ? 'nested' : e);
        }
        const handled = new Set([...existing, ...outcomes.keys()]);
        remaining = remaining.filter((i, position) => position > first && !handled.has(i));
      }
    }
    await Promise.all(
      existing.map(async (i) => {
        const doc = items[i]!.doc;
        try {
          const replaced = await this.tasks.replaceOne({ _id: doc._id, status: { $ne: 'SUCCESS' } }, doc);
          if (replaced.matchedCount === 0) outcomes.set(i, 'kept');
        } catch (err) {
          if (isTransientWriteError(err)) throw err;
          outcomes.set(i, isNestedArrayError(err) ? 'nested' : err);
        }
      }),
    );
    return outcomes;
  }

  /**
   * Run a write again while it fails only because the connection went away (a server stopping
   * or restarting under it), for as long as the driver would wait for a server. Without this, a
   * worker's result in flight at that moment was lost: the store failed, and the task's message
   * was acknowledged with no result anywhere (found by the chaos run). Writing again is safe: a
   * document the lost attempt did insert is found as a duplicate and kept or replaced.
   */
  private async retrying<T>(write: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + (this.options.clientOptions.serverSelectionTimeoutMS ?? 10_000);
    for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
      try {
        return await write();
      } catch (err) {
        if (this.closed || !isTransientWriteError(err) || Date.now() + delay > deadline) throw err;
        this.logger.warn(`[backend-mongo] a result store to ${this.endpoint.display} was cut off (${(err as Error).message}); writing it again`);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  private switchToNestedAsText(): void {
    if (this.nestedAsText) return;
    this.nestedAsText = true;
    this.logger.info(`[backend-mongo] ${this.endpoint.display} does not store arrays inside arrays (FerretDB v1): children and group tuples are stored as JSON text there`);
  }

  async get(taskId: string): Promise<ResultMeta | null> {
    const found = await this.getMany([taskId]);
    return found.get(taskId) ?? null;
  }

  async getMany(taskIds: readonly string[]): Promise<Map<string, ResultMeta>> {
    const out = new Map<string, ResultMeta>();
    if (taskIds.length === 0) return out;
    for (const [id, decode] of await this.find(taskIds, false)) out.set(id, decode());
    return out;
  }

  /** The stored results among `ids` (only ready ones with `readyOnly`), each decoded on demand. */
  private async find(ids: readonly string[], readyOnly: boolean): Promise<Map<string, () => ResultMeta>> {
    await this.db();
    const out = new Map<string, () => ResultMeta>();
    const now = Date.now();
    for (let start = 0; start < ids.length; start += CHUNK) {
      const chunk = ids.slice(start, start + CHUNK);
      const filter = chunk.length === 1 ? { _id: chunk[0]! } : { _id: { $in: chunk } };
      let docs: TaskDocument[];
      try {
        docs = await this.tasks.find(readyOnly ? { ...filter, status: { $in: READY } } : filter).toArray();
      } catch (err) {
        throw this.error(`could not read ${chunk.length === 1 ? `the result of task ${chunk[0]}` : `${chunk.length} results`} from`, err);
      }
      for (const doc of docs) if (!this.expired(doc, now)) out.set(String(doc._id), () => fromTaskDocument(doc));
    }
    return out;
  }

  private readReady(ids: string[]): Promise<Map<string, () => ResultMeta>> {
    return this.find(ids, true);
  }

  waitFor(taskId: string, options: WaitOptions = {}): Promise<ResultMeta> {
    return this.waiter.wait(taskId, options);
  }

  async forget(taskId: string): Promise<void> {
    this.waiter.drop(taskId);
    await this.db();
    try {
      await this.tasks.deleteOne({ _id: taskId });
    } catch (err) {
      throw this.error(`could not forget the result of task ${taskId} on`, err);
    }
  }

  // -- groups ------------------------------------------------------------------------------

  async saveGroup(groupId: string, result: unknown, options?: StoreOptions): Promise<void> {
    const expiresAt = this.ownExpiry(options);
    let doc = toGroupDocument(groupId, result, expiresAt, this.nestedAsText);
    await this.db();
    try {
      try {
        await this.groups.replaceOne({ _id: groupId }, doc, { upsert: true });
      } catch (err) {
        if (!isNestedArrayError(err)) throw err;
        this.switchToNestedAsText();
        doc = toGroupDocument(groupId, result, expiresAt, true);
        await this.groups.replaceOne({ _id: groupId }, doc, { upsert: true });
      }
    } catch (err) {
      throw this.error(`could not store the result of group ${groupId} on`, err);
    }
  }

  async restoreGroup(groupId: string): Promise<unknown | null> {
    await this.db();
    let doc: GroupDocument | null;
    try {
      doc = await this.groups.findOne({ _id: groupId });
    } catch (err) {
      throw this.error(`could not read group ${groupId} from`, err);
    }
    return doc === null || this.expired(doc) ? null : fromGroupDocument(doc);
  }

  async deleteGroup(groupId: string): Promise<void> {
    await this.db();
    try {
      await this.groups.deleteOne({ _id: groupId });
    } catch (err) {
      throw this.error(`could not delete group ${groupId} on`, err);
    }
  }

  // -- chords (opt-in, see chord-counter.ts) ------------------------------------------------

  setChordSize?: (groupId: string, size: number) => Promise<void>;
  chordPartReturn?: (groupId: string, part: ChordPart, size?: number) => Promise<ChordPart[] | null>;
  addToChord?: (groupId: string, count: number) => Promise<void>;

  /** With `chordCounter`: the three counter methods (without them core uses celery.chord_unlock). */
  private enableChordCounter(): void {
    const counter = async (): Promise<ChordCounter> => {
      await this.db();
      return this.chords!;
    };
    this.setChordSize = async (groupId, size) => (await counter()).setSize(groupId, size);
    this.chordPartReturn = async (groupId, part, size) => (await counter()).partReturn(groupId, part, size);
    this.addToChord = async (groupId, count) => (await counter()).add(groupId, count);
  }

  // -- beat's lease and records ------------------------------------------------------------

  async getValue(key: string): Promise<string | null> {
    await this.db();
    return this.kv!.get(key);
  }

  async compareAndSet(key: string, expected: string | null, value: string | null, options: { ttl?: number } = {}): Promise<boolean> {
    await this.db();
    return this.kv!.compareAndSet(key, expected, value, options.ttl);
  }

  // -- maintenance -------------------------------------------------------------------------

  /**
   * Delete expired results and groups (Celery's `backend_cleanup`: `date_done` older than
   * `expires`), plus results whose own expiry has passed. Resolves with how many were deleted.
   */
  async cleanup(): Promise<number> {
    await this.db();
    const now = new Date();
    const filter =
      this.options.expires === null
        ? { tq_expires: { $lte: now } }
        : { $or: [{ tq_expires: { $lte: now } }, { tq_expires: { $exists: false }, date_done: { $lt: new Date(now.getTime() - this.options.expires * 1000) } }] };
    try {
      const [tasks, groups] = await Promise.all([this.tasks.deleteMany(filter), this.groups.deleteMany(filter)]);
      return tasks.deletedCount + groups.deletedCount;
    } catch (err) {
      throw this.error('could not delete expired results on', err);
    }
  }

  /** Results being waited for (for tests and inspection). */
  waitingCount(): number {
    return this.waiter.size;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Stores already accepted are written before the connection goes.
    while (this.pending.length > 0 || this.flushScheduled || this.inFlight.size > 0) {
      if (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
      else await new Promise((resolve) => setImmediate(resolve));
    }
    this.waiter.close();
    await this.connecting?.catch(() => undefined);
    const client = this.client;
    this.client = null;
    this.database = null;
    await client?.close().catch(() => undefined);
  }
}
