/**
 * Beat: sends the entries of `beatSchedule` when they are due (Celery's `celery beat`), keeping
 * per-entry state (last run, run count) in a store so that a restart neither skips a due run
 * nor repeats one, and — unlike Celery — letting several beat processes run for availability
 * while exactly one of them sends each run. The reasoning is in docs/beat.md; in short:
 *
 * - Leader: with a shared store, the process holding the lease `tq-beat:<name>:lease` sends.
 *   It renews the lease every third of `leaseTtl`; the others try to take it every tenth. When
 *   the leader dies its lease expires and another takes over within `leaseTtl` (+ one try).
 * - Each run is claimed before it is sent: the entry's record moves from "last run at T" to
 *   "last run at now, run N+1, pending task id X" by compare-and-set, and only the process whose
 *   compare-and-set succeeds publishes. Two processes can never claim the same run, lease or
 *   not; a deposed leader's claim fails because the record changed.
 * - The task id of a run is derived from the entry and the run, and the record is marked done
 *   after the publish. A run left pending (the sender died between claim and done, or the
 *   broker refused it) is re-sent with the same id by whoever holds the lease next: no run is
 *   lost, and the only possible duplicate — a death between publish and done — carries the
 *   same task id.
 */
import { createHash } from 'node:crypto';
import {
  ConfigurationError,
  hostname,
  isTqError,
  systemClock,
  uuid,
  type App,
  type Clock,
  type Logger,
  type BeatSchedule,
} from '@tq/core';
import { prepareEntries, type BeatEntry } from './entries.js';
import { FileStore, backendStore, supportsBeatStore, type BeatStore } from './store.js';

export interface BeatOptions {
  /** Entries to send (default: the app's `beatSchedule`). */
  schedule?: BeatSchedule;
  /**
   * Where state (and the lease) live: a BeatStore, `'backend'` (the app's result backend, shared
   * by every beat on it), `'file'` (`scheduleFile`), or `'auto'` (default): the result backend
   * when it is persistent and supports compare-and-set, else the file.
   */
  store?: BeatStore | 'auto' | 'backend' | 'file';
  /** The schedule file (Celery's `--schedule`, default `celerybeat-schedule` in the working directory). */
  scheduleFile?: string;
  /** Names this schedule in a shared store; beats with the same name elect one sender (default: the app's `main`). */
  name?: string;
  /** Longest sleep between checks, in seconds (Celery's `beat_max_loop_interval`, 300). */
  maxInterval?: number;
  /** Seconds a leader's lease lasts without renewal (default 15): the longest a failover takes. */
  leaseTtl?: number;
  /** Time zone of crontab entries (default: the app's `timezone`). */
  timezone?: string;
  /** Time source (tests pass a ManualClock). */
  clock?: Clock;
  logger?: Logger;
  /** This process's id in the lease (default `<host>:<pid>:<random>`). */
  owner?: string;
}

/** A run that was sent. */
export interface BeatSent {
  entry: string;
  task: string;
  taskId: string;
  /** When the run was due (epoch ms). */
  due: number;
  /** Whether this completes a run a previous sender claimed but may not have sent. */
  resent: boolean;
}

export interface BeatEntryStatus {
  name: string;
  task: string;
  schedule: string;
  lastRunAt: Date | null;
  totalRunCount: number;
  nextRunAt: Date | null;
}

type BeatListeners = {
  sent: [sent: BeatSent];
  leader: [];
  follower: [];
  error: [error: unknown];
};

/** What beat stores per entry. */
interface EntryRecord {
  lastRunAt: number;
  totalRunCount: number;
  schedule: string;
  pending: { taskId: string; due: number } | null;
}

function encodeRecord(record: EntryRecord): string {
  return JSON.stringify({
    lastRunAt: new Date(record.lastRunAt).toISOString(),
    totalRunCount: record.totalRunCount,
    schedule: record.schedule,
    pending: record.pending ? { taskId: record.pending.taskId, due: new Date(record.pending.due).toISOString() } : null,
  });
}

function decodeRecord(text: string): EntryRecord | null {
  try {
    const raw = JSON.parse(text) as { lastRunAt: string; totalRunCount: number; schedule: string; pending: { taskId: string; due: string } | null };
    const lastRunAt = Date.parse(raw.lastRunAt);
    if (!Number.isFinite(lastRunAt) || typeof raw.totalRunCount !== 'number' || typeof raw.schedule !== 'string') return null;
    const pending = raw.pending && typeof raw.pending.taskId === 'string' ? { taskId: raw.pending.taskId, due: Date.parse(raw.pending.due) } : null;
    return { lastRunAt, totalRunCount: raw.totalRunCount, schedule: raw.schedule, pending };
  } catch {
    return null;
  }
}

/** A UUID (version-5 layout) derived from the run, so that every sender names a run the same. */
export function runTaskId(...parts: Array<string | number>): string {
  const hex = createHash('sha1').update(parts.join('\u0000')).digest('hex');
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** After a failed publish, the run is tried again this much later (same task id). */
const PUBLISH_RETRY_MS = 5000;
/** After another beat changed a record under us, look again this much later (re-reading it). */
const CHANGED_RETRY_MS = 100;

export class Beat {
  readonly app: App;
  readonly name: string;
  readonly owner: string;
  readonly timezone: string;
  readonly maxInterval: number;
  readonly leaseTtl: number;
  readonly logger: Logger;
  readonly clock: Clock;
  /** The store in use (after `start`). */
  store: BeatStore | null = null;
  private entryList: BeatEntry[] = [];
  private readonly records = new Map<string, { text: string; record: EntryRecord }>();
  private readonly listeners = new Map<keyof BeatListeners, Set<(...args: never[]) => void>>();
  private leader = false;
  private leaderUntil = 0;
  private renewAt = 0;
  private acquireAt = 0;
  private stopping = false;
  private abort = new AbortController();
  private loop: Promise<void> | null = null;
  private started = false;
  private ownsStore = false;
  private standingBy = false;

  constructor(
    app: App,
    private readonly options: BeatOptions = {},
  ) {
    this.app = app;
    this.name = options.name ?? app.conf.main;
    this.owner = options.owner ?? `${hostname()}:${process.pid}:${uuid().slice(0, 8)}`;
    this.timezone = options.timezone ?? app.conf.timezone;
    this.maxInterval = options.maxInterval ?? 300;
    this.leaseTtl = options.leaseTtl ?? 15;
    if (!(this.leaseTtl > 0)) throw new ConfigurationError(`leaseTtl must be more than 0 seconds, got ${this.leaseTtl}`);
    if (!(this.maxInterval > 0)) throw new ConfigurationError(`maxInterval must be more than 0 seconds, got ${this.maxInterval}`);
    this.logger = options.logger ?? app.logger;
    this.clock = options.clock ?? systemClock;
  }

  /** The entries being sent (after `start`). */
  get entries(): readonly BeatEntry[] {
    return this.entryList;
  }

  /** Whether this process sends (always true with an unshared store, once started). */
  get isLeader(): boolean {
    return this.leader;
  }

  on<K extends keyof BeatListeners>(event: K, listener: (...args: BeatListeners[K]) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener as (...args: never[]) => void);
    return () => set.delete(listener as (...args: never[]) => void);
  }

  private emit<K extends keyof BeatListeners>(event: K, ...args: BeatListeners[K]): void {
    for (const listener of this.listeners.get(event) ?? []) {
      try {
        (listener as (...a: BeatListeners[K]) => void)(...args);
      } catch (err) {
        this.logger.error(`a beat ${event} listener failed: ${(err as Error).message}`);
      }
    }
  }

  private key(suffix: string): string {
    return `tq-beat:${this.name}:${suffix}`;
  }

  /**
   * Check the schedule (throwing a ConfigurationError that names every bad entry), open the
   * store, run the first check and keep checking until `stop()`.
   */
  async start(): Promise<void> {
    if (this.started) throw new Error('[tq] this beat was already started');
    this.started = true;
    const prepared = prepareEntries(this.app, this.options.schedule ?? this.app.conf.beatSchedule, this.timezone, this.clock.now());
    if (prepared.errors.length > 0) {
      throw new ConfigurationError(`beat: invalid beatSchedule entries:\n${prepared.errors.map((e) => `  - ${e}`).join('\n')}`);
    }
    for (const warning of prepared.warnings) this.logger.warn(`beat: ${warning}`);
    this.entryList = prepared.entries;
    if (this.entryList.length === 0) this.logger.warn('beat: beatSchedule has no entries; nothing will be sent');
    this.store = await this.openStore();
    this.logger.info(`beat: ${this.entryList.length} entr${this.entryList.length === 1 ? 'y' : 'ies'}, state in ${this.store.description}${this.store.shared ? ` (shared: lease ${this.key('lease')}, ttl ${this.leaseTtl}s)` : ''}`);
    if (!this.store.shared) this.becomeLeader(this.clock.now(), false);
    let first: number;
    try {
      first = await this.tick();
    } catch (err) {
      // A store beat cannot use is a start-up error; anything else (a broker down) is retried.
      if (isTqError(err, 'CONFIGURATION_ERROR')) throw err;
      first = await this.failed(err);
    }
    this.loop = this.run(first);
  }

  private async openStore(): Promise<BeatStore> {
    const choice = this.options.store ?? 'auto';
    if (typeof choice === 'object') return choice;
    const file = () => {
      this.ownsStore = true;
      return new FileStore(this.options.scheduleFile ?? 'celerybeat-schedule');
    };
    if (choice === 'file' || (choice === 'auto' && this.options.scheduleFile)) return file();
    if (choice === 'backend') return backendStore(await this.app.requireBackend('beat with store: backend'));
    const backend = await this.app.getBackend().catch(() => null);
    if (supportsBeatStore(backend) && backend.capabilities.persistent) return backendStore(backend);
    return file();
  }

  private async run(delay: number): Promise<void> {
    while (!this.stopping) {
      await this.clock.sleep(delay, this.abort.signal);
      if (this.stopping) return;
      delay = await this.safeTick();
    }
  }

  private async safeTick(): Promise<number> {
    try {
      return await this.tick();
    } catch (err) {
      return this.failed(err);
    }
  }

  private async failed(err: unknown): Promise<number> {
    this.logger.error(`beat: ${(err as Error).message}`);
    this.emit('error', err);
    this.records.clear();
    return Math.min(PUBLISH_RETRY_MS, this.maxInterval * 1000);
  }

  /** One check: keep or seek the lease, send what is due. Resolves to the ms until the next check. */
  async tick(): Promise<number> {
    const store = this.store;
    if (!store) throw new Error('[tq] beat is not started');
    const now = this.clock.now();
    let wake = this.maxInterval * 1000;
    if (store.shared) {
      wake = Math.min(wake, await this.keepLease(store, now));
      if (!this.leader) return wake;
    }
    for (const entry of this.entryList) {
      if (this.stopping) break;
      const next = await this.runEntry(store, entry, now);
      if (next !== null) wake = Math.min(wake, Math.max(0, next - now));
    }
    return wake;
  }

  private becomeLeader(now: number, shared: boolean): void {
    this.leader = true;
    this.leaderUntil = shared ? now + this.leaseTtl * 1000 * 0.9 : Number.POSITIVE_INFINITY;
    this.renewAt = now + (this.leaseTtl * 1000) / 3;
    // Another process may have sent while we were not leading: read every record afresh.
    this.records.clear();
  }

  private async keepLease(store: BeatStore, now: number): Promise<number> {
    const lease = this.key('lease');
    const poll = (this.leaseTtl * 1000) / 10;
    if (this.leader) {
      if (now < this.renewAt) return this.renewAt - now;
      if (await store.compareAndSet(lease, this.owner, this.owner, this.leaseTtl)) {
        this.leaderUntil = now + this.leaseTtl * 1000 * 0.9;
        this.renewAt = now + (this.leaseTtl * 1000) / 3;
        return this.renewAt - now;
      }
      this.leader = false;
      this.acquireAt = now;
      this.standingBy = true;
      this.logger.warn(`beat: lost the lease ${lease} (another beat holds it now); standing by`);
      this.emit('follower');
    }
    if (now < this.acquireAt) return this.acquireAt - now;
    if (await store.compareAndSet(lease, null, this.owner, this.leaseTtl)) {
      this.becomeLeader(now, true);
      this.standingBy = false;
      this.logger.info(`beat: acquired the lease ${lease}; this beat (${this.owner}) sends the schedule`);
      this.emit('leader');
      return (this.leaseTtl * 1000) / 3;
    }
    this.acquireAt = now + poll;
    if (!this.standingBy) {
      this.standingBy = true;
      this.logger.info(`beat: another beat holds the lease ${lease}; standing by (trying every ${poll / 1000}s)`);
    }
    return poll;
  }

  private async record(store: BeatStore, entry: BeatEntry): Promise<{ text: string | null; record: EntryRecord | null }> {
    const cached = this.records.get(entry.name);
    if (cached) return cached;
    const text = await store.get(this.key(`entry:${entry.name}`));
    const record = text === null ? null : decodeRecord(text);
    if (text !== null && record === null) this.logger.warn(`beat: the stored state of ${JSON.stringify(entry.name)} is unreadable; starting it afresh`);
    return { text, record };
  }

  /** Replace an entry's record if it is still `expected`; false when another beat changed it. */
  private async swap(store: BeatStore, entry: BeatEntry, expected: string | null, next: EntryRecord): Promise<string | null> {
    const text = encodeRecord(next);
    if (await store.compareAndSet(this.key(`entry:${entry.name}`), expected, text)) {
      this.records.set(entry.name, { text, record: next });
      return text;
    }
    this.records.delete(entry.name);
    return null;
  }

  /** Bring one entry up to date; resolves to when it is next due (epoch ms), or null. */
  private async runEntry(store: BeatStore, entry: BeatEntry, now: number): Promise<number | null> {
    let { text, record } = await this.record(store, entry);
    if (!record || record.schedule !== entry.hash) {
      if (record?.pending) {
        // A claimed run of the old definition is still owed.
        const done = await this.finishPending(store, entry, text!, record);
        if (done === null) return now + PUBLISH_RETRY_MS;
        ({ text, record } = done);
      }
      if (record) this.logger.info(`beat: the schedule of ${JSON.stringify(entry.name)} changed to ${String(entry.schedule)}; it starts over from now`);
      const fresh: EntryRecord = { lastRunAt: now, totalRunCount: record?.totalRunCount ?? 0, schedule: entry.hash, pending: null };
      const swapped = await this.swap(store, entry, text, fresh);
      if (swapped === null) return now + CHANGED_RETRY_MS;
      text = swapped;
      record = fresh;
    }
    if (record.pending) {
      const done = await this.finishPending(store, entry, text!, record);
      if (done === null) return now + PUBLISH_RETRY_MS;
      ({ text, record } = done);
    }
    const due = entry.schedule.next(record.lastRunAt, this.timezone);
    if (due === null || due > now) return due;
    const count = record.totalRunCount + 1;
    const claimed: EntryRecord = { lastRunAt: now, totalRunCount: count, schedule: entry.hash, pending: { taskId: runTaskId(this.name, entry.name, due, count), due } };
    const claimedText = await this.swap(store, entry, text!, claimed);
    if (claimedText === null) return now + CHANGED_RETRY_MS; // another beat moved it: look again
    const done = await this.finishPending(store, entry, claimedText, claimed, false);
    if (done === null) return now + PUBLISH_RETRY_MS;
    return entry.schedule.next(now, this.timezone);
  }

  /**
   * Send a claimed run and mark it done. Resolves to the new record, or null when it must be
   * tried again later (no longer leader, broker refused it, or another beat changed the record).
   */
  private async finishPending(store: BeatStore, entry: BeatEntry, text: string, record: EntryRecord, resent = true): Promise<{ text: string; record: EntryRecord } | null> {
    const pending = record.pending!;
    if (this.store?.shared && this.clock.now() >= this.leaderUntil) {
      this.logger.warn(`beat: not sending ${JSON.stringify(entry.name)}: the lease may have expired; the next leader will`);
      return null;
    }
    let drop = false;
    try {
      if (resent) this.logger.info(`beat: sending ${JSON.stringify(entry.name)} again with task id ${pending.taskId} (it was claimed but maybe not sent: its sender died, or the broker refused it)`);
      this.logger.info(`Scheduler: Sending due task ${entry.name} (${entry.task})`);
      await this.app.sendTask(entry.task, entry.args, { ...entry.options, kwargs: entry.kwargs, taskId: pending.taskId });
      this.logger.debug(`${entry.task} sent. id->${pending.taskId}`);
      this.emit('sent', { entry: entry.name, task: entry.task, taskId: pending.taskId, due: pending.due, resent });
    } catch (err) {
      const permanent = isTqError(err) && !(err as { retryable?: boolean }).retryable && !isTqError(err, 'BROKER_ERROR');
      this.logger.error(`beat: could not send ${JSON.stringify(entry.name)} (${entry.task}): ${(err as Error).message}${permanent ? '; this run is dropped' : '; will retry'}`);
      this.emit('error', err);
      if (!permanent) return null;
      drop = true;
    }
    const done: EntryRecord = { ...record, pending: null };
    const doneText = await this.swap(store, entry, text, done);
    if (doneText === null) return null;
    if (drop) this.logger.warn(`beat: run ${record.totalRunCount} of ${JSON.stringify(entry.name)} was not sent`);
    return { text: doneText, record: done };
  }

  /** Each entry's state as this beat last saw it. */
  async status(): Promise<BeatEntryStatus[]> {
    const out: BeatEntryStatus[] = [];
    for (const entry of this.entryList) {
      const { record } = this.store ? await this.record(this.store, entry) : { record: null };
      const last = record && record.schedule === entry.hash ? record.lastRunAt : null;
      const next = entry.schedule.next(last ?? this.clock.now(), this.timezone);
      out.push({
        name: entry.name,
        task: entry.task,
        schedule: String(entry.schedule),
        lastRunAt: last === null ? null : new Date(last),
        totalRunCount: record?.totalRunCount ?? 0,
        nextRunAt: next === null ? null : new Date(next),
      });
    }
    return out;
  }

  /**
   * Stop checking, wait for a send in progress, and give up the lease so another beat takes over
   * at once. `{ releaseLease: false }` leaves the lease to expire, as a crash would.
   */
  async stop(options: { releaseLease?: boolean } = {}): Promise<void> {
    if (this.stopping) return this.loop ?? undefined;
    this.stopping = true;
    this.abort.abort();
    await this.loop;
    const store = this.store;
    if (store?.shared && this.leader && (options.releaseLease ?? true)) {
      await store.compareAndSet(this.key('lease'), this.owner, null).catch((err: unknown) => this.logger.warn(`beat: could not release the lease: ${(err as Error).message}`));
    }
    this.leader = false;
    if (this.ownsStore) await store?.close();
  }
}
