/**
 * The Redis result backend, Celery's RedisBackend layout:
 *
 * - `celery-task-meta-<id>` = the meta JSON, written with SETEX and PUBLISHed on a channel of the
 *   same name in one step (a Lua script that also refuses to replace a stored SUCCESS);
 * - waiting is pushed, never polled: a client SUBSCRIBEs to a task's channel before the task is
 *   sent (`onTaskCall`), then GETs once to close the race with a result stored in between;
 * - `celery-taskset-meta-<gid>` = `{"result": <group tuple>}`;
 * - the chord counter `celery-taskset-meta-<gid>.j` (sorted set of `[1, tid, state, result]`),
 *   `.t` (parts added later) and `.s` (the size), joined atomically.
 *
 * SUBSCRIBE/UNSUBSCRIBE and GET are coalesced per event-loop turn, so thousands of waiting
 * results cost a handful of commands.
 */
import {
  BackendError,
  EncodeError,
  TimeoutError,
  silentLogger,
  type BackendCapabilities,
  type ChordPart,
  type Logger,
  type ResultBackend,
  type StoreOptions,
  type WaitOptions,
} from '@tq/core';
import { pyJsonLoads, validateResultMeta, type ResultMeta } from '@tq/protocol';
import { pyJson } from './json.js';
import type { Redis } from 'ioredis';
import { Batcher } from './batcher.js';
import { backendError, connectOnce, createConnection, LazyConnection, watchOutages, type ConnectionRole } from './connection.js';
import { resolveBackendOptions, type RedisBackendOptions, type ResolvedBackendOptions } from './options.js';
import { globEscape } from './layout.js';
import { quit } from './redis-broker.js';
import { defineScripts, type ScriptedRedis } from './scripts.js';
import { parseRedisUrl, type RedisEndpoint } from './url.js';

export interface RedisBackendConfig extends RedisBackendOptions {
  logger?: Logger;
}

const READY = new Set(['SUCCESS', 'FAILURE', 'REVOKED']);
const TASK_PREFIX = 'celery-task-meta-';
const GROUP_PREFIX = 'celery-taskset-meta-';
/** How long a result pushed before anyone waited for it is kept for a later `waitFor`. */
const EARLY_TTL = 60_000;
const EARLY_MAX = 20_000;
/** How long a subscription made by `onTaskCall` lives without a waiter. */
const IDLE_INTEREST_TTL = 60_000;
const CHUNK = 1000;

class PendingWait {
  private timer: NodeJS.Timeout | undefined;
  private readonly signal: AbortSignal | undefined;
  done = false;

  constructor(
    readonly taskId: string,
    private readonly onResolve: (meta: ResultMeta) => void,
    private readonly onReject: (error: unknown) => void,
    private readonly onSettle: (wait: PendingWait) => void,
    options: WaitOptions,
  ) {
    if (options.timeout !== undefined && options.timeout !== null) {
      const seconds = options.timeout;
      this.timer = setTimeout(() => this.reject(new TimeoutError(`the result of task ${taskId} was not ready within ${seconds}s`)), Math.max(0, seconds * 1000));
    }
    this.signal = options.signal;
    if (this.signal) {
      // Made only for a wait that has a signal: most have none, and thousands may be pending.
      this.onAbort = () => this.reject(this.signal?.reason ?? new Error('aborted'));
      if (this.signal.aborted) queueMicrotask(this.onAbort);
      else this.signal.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  private readonly onAbort: (() => void) | undefined;

  resolve(meta: ResultMeta): void {
    if (this.cleanup()) this.onResolve(meta);
  }

  reject(error: unknown): void {
    if (this.cleanup()) this.onReject(error);
  }

  private cleanup(): boolean {
    if (this.done) return false;
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.onAbort) this.signal?.removeEventListener('abort', this.onAbort);
    this.onSettle(this);
    return true;
  }
}

/** A task whose result is awaited here (its channel is `taskKey(id)`, made only when subscribed to on its own). */
interface Interest {
  waiters: PendingWait[];
  /** The SUBSCRIBE covering it was confirmed: a GET now closes the race with an earlier store. */
  subscribed: boolean;
  /** A waiter came before the confirmation: GET once it arrives. */
  needsGet: boolean;
  /** It has a SUBSCRIBE of its own (not only the bulk pattern). */
  individual: boolean;
  since: number;
}

export class RedisBackend implements ResultBackend {
  readonly name = 'redis';
  readonly capabilities: BackendCapabilities = { chordCounter: true, nativeWait: true, persistent: true };
  readonly endpoint: RedisEndpoint;
  readonly options: ResolvedBackendOptions;
  readonly logger: Logger;
  readonly taskKeyprefix: string;
  readonly groupKeyprefix: string;

  private readonly commands = new LazyConnection(
    () => defineScripts(this.connection('commands', 'tq-backend')),
    (err) => backendError('result backend cannot connect to', this.endpoint.display, err),
  );
  /**
   * Result stores, batched per turn already, go on a connection of their own without
   * auto-pipelining: each batch is written at once rather than after the previous batch's reply,
   * and never queues behind the reads and chord joins of the commands connection.
   */
  private readonly storing = new LazyConnection(
    () => defineScripts(this.connection('commands', 'tq-backend-store', false)),
    (err) => backendError('result backend cannot connect to', this.endpoint.display, err),
  );
  private subscriber: Redis | null = null;
  private subscriberReady: Promise<Redis> | null = null;
  private closed = false;

  private readonly interests = new Map<string, Interest>();
  private readonly early = new Map<string, { json: string; at: number }>();
  private pendingSubscribe = new Set<string>();
  private pendingUnsubscribe = new Set<string>();
  private pendingGets = new Set<string>();
  private flushScheduled = false;
  private sweepTimer: NodeJS.Timeout | null = null;
  /** Coarse time (ms), refreshed by the sweep: stamping every interest with Date.now() is not free. */
  private clock = Date.now();
  /** Per-task SUBSCRIBEs, or one PSUBSCRIBE while many results are awaited (see enterBulk). */
  private bulk: 'off' | 'subscribing' | 'on' = 'off';
  private readonly bulkThreshold: number;
  private readonly bulkPattern: string;
  private readonly stores = new Batcher<[string, string]>((expiry, items) => this.flushStores(expiry, items), 500);

  constructor(url: string, config: RedisBackendConfig = {}) {
    const { logger, expires, ...rest } = config;
    this.options = resolveBackendOptions({ ...rest, ...(expires === undefined ? {} : { expires }) }, 86400);
    this.endpoint = parseRedisUrl(url, { masterName: this.options.masterName, sentinelPassword: this.options.sentinelPassword });
    this.logger = logger ?? silentLogger;
    this.taskKeyprefix = this.options.keyprefix + TASK_PREFIX;
    this.groupKeyprefix = this.options.keyprefix + GROUP_PREFIX;
    this.bulkThreshold = this.options.bulkSubscribeThreshold;
    this.bulkPattern = `${globEscape(this.taskKeyprefix)}*`;
  }

  taskKey(taskId: string): string {
    return this.taskKeyprefix + taskId;
  }

  groupKey(groupId: string, suffix = ''): string {
    return this.groupKeyprefix + groupId + suffix;
  }

  // -- connections -------------------------------------------------------------------------

  private connection(role: ConnectionRole, name: string, autoPipelining = true): Redis {
    const client = createConnection({
      endpoint: this.endpoint,
      role,
      maxRetriesPerRequest: this.options.maxRetriesPerRequest,
      redisOptions: this.options.redisOptions,
      name,
      autoPipelining,
    });
    watchOutages(client, {
      logger: this.logger,
      lost: (err) => backendError('result backend lost the connection to', this.endpoint.display, err),
      restored: `[broker-redis] result backend reconnected to ${this.endpoint.display} (${name})`,
      isClosed: () => this.closed,
      onReady: (reconnected) => {
        if (reconnected && role === 'subscriber') void this.resync();
      },
    });
    return client;
  }

  async connect(): Promise<void> {
    // Both connections a worker uses, so that its start-up wait for the backend covers the stores too.
    await Promise.all([this.ready(), this.storing.ready()]);
  }

  /** The commands connection; null until connected. */
  private get client(): ScriptedRedis | null {
    return this.commands.client;
  }

  private ready(): Promise<ScriptedRedis> {
    if (this.client) return Promise.resolve(this.client);
    this.closed = false;
    return this.commands.ready();
  }

  private ensureSubscriber(): Promise<Redis> {
    this.subscriberReady ??= (async () => {
      const subscriber = this.connection('subscriber', 'tq-backend-results');
      subscriber.on('message', (channel: string, json: string) => this.onMessage(channel, json));
      subscriber.on('pmessage', (_pattern: string, channel: string, json: string) => this.onMessage(channel, json));
      this.subscriber = subscriber;
      try {
        await connectOnce(subscriber, (err) => backendError('result backend cannot connect to', this.endpoint.display, err));
      } catch (err) {
        this.subscriber = null;
        this.subscriberReady = null;
        throw err;
      }
      return subscriber;
    })();
    return this.subscriberReady;
  }

  // -- storing and reading -----------------------------------------------------------------

  private expiry(options?: StoreOptions): number | null {
    const seconds = options?.expires === undefined || options.expires === null ? this.options.expires : options.expires;
    return seconds === null || seconds <= 0 ? null : seconds;
  }

  private static expiryArgs(seconds: number | null): [string, string] {
    if (seconds === null) return ['', ''];
    if (Number.isInteger(seconds)) return ['EX', String(seconds)];
    return ['PX', String(Math.max(1, Math.round(seconds * 1000)))];
  }

  private encode(what: string, value: unknown): string {
    try {
      return pyJson(value);
    } catch (err) {
      throw new EncodeError(`${what} cannot be stored as JSON: ${(err as Error).message}`, err);
    }
  }

  store(meta: ResultMeta, options?: StoreOptions): Promise<void> {
    if (!this.storing.client) {
      this.closed = false;
      return this.storing.ready().then(() => this.store(meta, options));
    }
    let json: string;
    try {
      json = this.encode(`the result of task ${meta.task_id}`, meta);
    } catch (err) {
      return Promise.reject(err);
    }
    const [mode, amount] = RedisBackend.expiryArgs(this.expiry(options));
    // Results stored in the same turn go in one script call (same expiry, kept in order).
    return this.stores.add(`${mode} ${amount}`, [this.taskKey(meta.task_id), json]);
  }

  private flushStores(expiry: string, items: Array<[string, string]>): Promise<unknown> {
    const [mode = '', amount = ''] = expiry.split(' ');
    const client = this.storing.client;
    if (!client) return Promise.reject(new BackendError('the Redis result backend is closed', { retryable: false }));
    const keys: string[] = [];
    const values: string[] = [];
    for (const [key, json] of items) {
      keys.push(key);
      values.push(json);
    }
    return client.tqStoreMany(keys.length, ...keys, mode, amount, ...values).catch((err: unknown) => {
      throw backendError(`could not store ${keys.length} result(s) on`, this.endpoint.display, err);
    });
  }

  private decode(json: string, taskId: string): ResultMeta {
    return validateResultMeta(pyJsonLoads(json), taskId);
  }

  async get(taskId: string): Promise<ResultMeta | null> {
    const client = this.client ?? (await this.ready());
    let json: string | null;
    try {
      json = await client.get(this.taskKey(taskId));
    } catch (err) {
      throw backendError(`could not read the result of task ${taskId} from`, this.endpoint.display, err);
    }
    return json === null ? null : this.decode(json, taskId);
  }

  async getMany(taskIds: readonly string[]): Promise<Map<string, ResultMeta>> {
    const out = new Map<string, ResultMeta>();
    if (taskIds.length === 0) return out;
    const client = this.client ?? (await this.ready());
    for (let start = 0; start < taskIds.length; start += CHUNK) {
      const ids = taskIds.slice(start, start + CHUNK);
      let values: (string | null)[];
      try {
        values = await client.mget(ids.map((id) => this.taskKey(id)));
      } catch (err) {
        throw backendError(`could not read ${ids.length} results from`, this.endpoint.display, err);
      }
      ids.forEach((id, i) => {
        const json = values[i];
        if (json !== null && json !== undefined) out.set(id, this.decode(json, id));
      });
    }
    return out;
  }

  async forget(taskId: string): Promise<void> {
    this.early.delete(taskId);
    const client = this.client ?? (await this.ready());
    try {
      await client.del(this.taskKey(taskId));
    } catch (err) {
      throw backendError(`could not forget the result of task ${taskId} on`, this.endpoint.display, err);
    }
  }

  /** Beat's lease and run records: a plain string under the backend's key prefix. */
  async getValue(key: string): Promise<string | null> {
    const client = this.client ?? (await this.ready());
    try {
      return await client.get(this.options.keyprefix + key);
    } catch (err) {
      throw backendError(`could not read ${key} on`, this.endpoint.display, err);
    }
  }

  /** Atomic compare-and-set in one Lua script (GET, compare, SET … PX / DEL). */
  async compareAndSet(key: string, expected: string | null, value: string | null, options: { ttl?: number } = {}): Promise<boolean> {
    const client = this.client ?? (await this.ready());
    const ttl = options.ttl === undefined ? '' : String(Math.max(1, Math.round(options.ttl * 1000)));
    try {
      const changed = await client.tqCas(this.options.keyprefix + key, expected === null ? '1' : '0', expected ?? '', value === null ? '1' : '0', value ?? '', ttl);
      return changed === 1;
    } catch (err) {
      throw backendError(`could not update ${key} on`, this.endpoint.display, err);
    }
  }

  /** Celery's `set`: SET (with expiry) and PUBLISH on the key's channel, in one transaction. */
  private async setAndPublish(key: string, value: string, expires: number | null, what: string): Promise<void> {
    const client = this.client ?? (await this.ready());
    const [mode, amount] = RedisBackend.expiryArgs(expires);
    try {
      const tx = client.multi();
      if (mode === 'EX') tx.set(key, value, 'EX', Number(amount));
      else if (mode === 'PX') tx.set(key, value, 'PX', Number(amount));
      else tx.set(key, value);
      tx.publish(key, value);
      const results = await tx.exec();
      const failed = results?.find(([err]) => err);
      if (failed) throw failed[0];
    } catch (err) {
      throw backendError(`could not store ${what} on`, this.endpoint.display, err);
    }
  }

  async saveGroup(groupId: string, result: unknown, options?: StoreOptions): Promise<void> {
    const json = this.encode(`the result of group ${groupId}`, { result });
    await this.setAndPublish(this.groupKey(groupId), json, this.expiry(options), `the result of group ${groupId}`);
  }

  async restoreGroup(groupId: string): Promise<unknown | null> {
    const client = this.client ?? (await this.ready());
    let json: string | null;
    try {
      json = await client.get(this.groupKey(groupId));
    } catch (err) {
      throw backendError(`could not read group ${groupId} from`, this.endpoint.display, err);
    }
    if (json === null) return null;
    const value = pyJsonLoads(json);
    return value && typeof value === 'object' && 'result' in value ? (value as { result: unknown }).result : null;
  }

  async deleteGroup(groupId: string): Promise<void> {
    const client = this.client ?? (await this.ready());
    try {
      await client.del(this.groupKey(groupId));
    } catch (err) {
      throw backendError(`could not delete group ${groupId} on`, this.endpoint.display, err);
    }
  }

  // -- chords ------------------------------------------------------------------------------

  async setChordSize(groupId: string, size: number): Promise<void> {
    await this.setAndPublish(this.groupKey(groupId, '.s'), String(size), this.options.expires, `the size of chord ${groupId}`);
  }

  async addToChord(groupId: string, count: number): Promise<void> {
    const client = this.client ?? (await this.ready());
    try {
      await client.incrby(this.groupKey(groupId, '.t'), count);
    } catch (err) {
      throw backendError(`could not extend chord ${groupId} on`, this.endpoint.display, err);
    }
  }

  async chordPartReturn(groupId: string, part: ChordPart, size?: number): Promise<ChordPart[] | null> {
    const member = this.encode(`the result of chord part ${part.taskId}`, [1, part.taskId, part.state, part.result]);
    const score = Number.isFinite(part.index) && part.index < Number.MAX_SAFE_INTEGER ? String(part.index) : '+inf';
    const expires = this.options.expires === null ? '' : String(Math.ceil(this.options.expires));
    const client = this.client ?? (await this.ready());
    let reply: string[] | null;
    try {
      reply = await client.tqChord(this.groupKey(groupId, '.j'), this.groupKey(groupId, '.t'), this.groupKey(groupId, '.s'), member, score, expires, size === undefined ? '' : String(size));
    } catch (err) {
      throw backendError(`could not record a part of chord ${groupId} on`, this.endpoint.display, err);
    }
    if (!reply) return null;
    const parts: ChordPart[] = [];
    for (let i = 0; i + 1 < reply.length; i += 2) {
      const [, taskId, state, result] = pyJsonLoads(String(reply[i])) as [unknown, string, string, unknown];
      const index = Number(reply[i + 1]);
      parts.push({ index: Number.isFinite(index) ? index : Number.MAX_SAFE_INTEGER, taskId, state, result });
    }
    return parts;
  }

  // -- waiting -----------------------------------------------------------------------------

  onTaskCall(taskId: string): void {
    if (this.closed) return;
    this.interest(taskId);
  }

  waitFor(taskId: string, options: WaitOptions = {}): Promise<ResultMeta> {
    if (this.closed) return Promise.reject(new BackendError('the Redis result backend is closed', { retryable: false }));
    const early = this.early.get(taskId);
    if (early) {
      this.early.delete(taskId);
      try {
        return Promise.resolve(this.decode(early.json, taskId));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return new Promise<ResultMeta>((resolve, reject) => {
      const interest = this.interest(taskId);
      const wait = new PendingWait(taskId, resolve, reject, this.dropWait, options);
      interest.waiters.push(wait);
      // Subscribed first, then one GET: a result stored before the subscription is not missed.
      if (interest.subscribed) this.queueGet(taskId);
      else interest.needsGet = true;
    });
  }

  private interest(taskId: string): Interest {
    let interest = this.interests.get(taskId);
    if (interest) return interest;
    interest = { waiters: [], subscribed: this.bulk === 'on', needsGet: false, individual: false, since: this.clock };
    this.interests.set(taskId, interest);
    if (this.bulk === 'off') {
      if (this.interests.size >= this.bulkThreshold) {
        this.enterBulk();
      } else {
        const channel = this.taskKey(taskId);
        interest.individual = true;
        this.pendingUnsubscribe.delete(channel);
        this.pendingSubscribe.add(channel);
        this.scheduleFlush();
      }
    }
    this.armSweep();
    return interest;
  }

  /**
   * Many results awaited at once: one PSUBSCRIBE to every result channel replaces a SUBSCRIBE and
   * an UNSUBSCRIBE per task, until nothing is awaited any more. (Results of other clients' tasks
   * then arrive too, and are ignored.)
   */
  private enterBulk(): void {
    this.bulk = 'subscribing';
    const pattern = this.bulkPattern;
    void this.ensureSubscriber()
      .then((subscriber) => subscriber.psubscribe(pattern))
      .then(
        () => {
          if (this.bulk !== 'subscribing') return;
          this.bulk = 'on';
          for (const [taskId, interest] of this.interests) {
            if (interest.subscribed) continue;
            interest.subscribed = true;
            if (interest.needsGet) {
              interest.needsGet = false;
              this.pendingGets.add(taskId);
            }
          }
          if (this.pendingGets.size > 0) this.scheduleFlush();
          if (this.interests.size === 0) this.leaveBulk();
        },
        (err: unknown) => {
          // Individual subscriptions for whatever is waiting; the reconnection re-reads them too.
          this.logger.warn(`[broker-redis] could not subscribe to results in bulk: ${(err as Error).message}`);
          this.bulk = 'off';
          for (const [taskId, interest] of this.interests) {
            if (interest.individual) continue;
            interest.individual = true;
            this.pendingSubscribe.add(this.taskKey(taskId));
          }
          this.scheduleFlush();
        },
      );
  }

  private leaveBulk(): void {
    if (this.bulk !== 'on') return;
    this.bulk = 'off';
    this.subscriber?.punsubscribe(this.bulkPattern).catch(() => undefined);
  }

  /** One function for every wait (not a closure each). */
  private readonly dropWait = (wait: PendingWait): void => this.dropWaiter(wait);

  private dropWaiter(wait: PendingWait): void {
    const interest = this.interests.get(wait.taskId);
    if (!interest) return;
    const i = interest.waiters.indexOf(wait);
    if (i !== -1) interest.waiters.splice(i, 1);
    if (interest.waiters.length === 0) this.release(wait.taskId, interest);
  }

  private release(taskId: string, interest: Interest): void {
    if (this.interests.get(taskId) !== interest) return;
    this.interests.delete(taskId);
    const channel = interest.individual ? this.taskKey(taskId) : '';
    if (interest.individual && !this.pendingSubscribe.delete(channel)) {
      this.pendingUnsubscribe.add(channel);
      this.scheduleFlush();
    }
    if (this.interests.size === 0) this.leaveBulk();
  }

  private onMessage(channel: string, json: string): void {
    if (!channel.startsWith(this.taskKeyprefix)) return;
    const taskId = channel.slice(this.taskKeyprefix.length);
    if (!this.interests.has(taskId)) return;
    this.onResult(taskId, json);
  }

  /** A meta for a task someone is interested in: wake its waiters if it is ready. */
  private onResult(taskId: string, json: string): void {
    const interest = this.interests.get(taskId);
    if (!interest) return;
    const status = statusOf(json);
    if (status !== null && !READY.has(status)) return;
    let meta: ResultMeta;
    try {
      meta = this.decode(json, taskId);
    } catch (err) {
      this.logger.error(`[broker-redis] the stored result of task ${taskId} cannot be read: ${(err as Error).message}`);
      return;
    }
    if (!READY.has(meta.status)) return;
    const waiters = interest.waiters.splice(0);
    this.release(taskId, interest);
    if (waiters.length === 0) {
      this.keepEarly(taskId, json);
      return;
    }
    for (const waiter of waiters) {
      // Each waiter gets its own copy: callers never share objects.
      waiter.resolve(waiter === waiters[0] ? meta : this.decode(json, taskId));
    }
  }

  private keepEarly(taskId: string, json: string): void {
    if (this.early.size >= EARLY_MAX) {
      const oldest = this.early.keys().next().value;
      if (oldest !== undefined) this.early.delete(oldest);
    }
    this.early.set(taskId, { json, at: Date.now() });
    this.armSweep();
  }

  private queueGet(taskId: string): void {
    this.pendingGets.add(taskId);
    this.scheduleFlush();
  }

  /** A SUBSCRIBE was confirmed for these channels: waiters that came early can now GET. */
  private onSubscribed(channels: string[]): void {
    for (const channel of channels) {
      const taskId = channel.slice(this.taskKeyprefix.length);
      const interest = this.interests.get(taskId);
      if (!interest || this.taskKey(taskId) !== channel) continue;
      interest.subscribed = true;
      if (interest.needsGet) {
        interest.needsGet = false;
        this.pendingGets.add(taskId);
      }
    }
    if (this.pendingGets.size > 0) this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flush();
    });
  }

  /** Send the SUBSCRIBEs, UNSUBSCRIBEs and GETs gathered during this turn, a few commands each. */
  private async flush(): Promise<void> {
    const subscribes = this.pendingSubscribe;
    const unsubscribes = this.pendingUnsubscribe;
    const gets = this.pendingGets;
    this.pendingSubscribe = new Set();
    this.pendingUnsubscribe = new Set();
    this.pendingGets = new Set();
    if (subscribes.size > 0 || unsubscribes.size > 0) {
      let subscriber: Redis | null = null;
      try {
        subscriber = await this.ensureSubscriber();
      } catch (err) {
        // Waiters stay registered: the reconnection re-subscribes and re-reads them.
        this.logger.warn(`[broker-redis] could not subscribe to results: ${(err as Error).message}`);
      }
      if (subscriber) {
        const channels = [...subscribes];
        for (let i = 0; i < channels.length; i += CHUNK) {
          const chunk = channels.slice(i, i + CHUNK);
          subscriber.subscribe(...chunk).then(
            () => this.onSubscribed(chunk),
            (err: unknown) => this.logger.debug(`[broker-redis] SUBSCRIBE failed (${(err as Error).message}); retried after reconnecting`),
          );
        }
        const gone = [...unsubscribes];
        for (let i = 0; i < gone.length; i += CHUNK) {
          subscriber.unsubscribe(...gone.slice(i, i + CHUNK)).catch(() => undefined);
        }
      }
    }
    if (gets.size > 0) {
      const client = this.client ?? (await this.ready().catch(() => null));
      if (!client) return;
      const ids = [...gets];
      for (let i = 0; i < ids.length; i += CHUNK) {
        const chunk = ids.slice(i, i + CHUNK);
        client.mget(chunk.map((id) => this.taskKey(id))).then(
          (values) => {
            chunk.forEach((id, j) => {
              const json = values[j];
              if (json) this.onResult(id, json);
            });
          },
          (err: unknown) => this.logger.debug(`[broker-redis] reading awaited results failed (${(err as Error).message}); re-read after reconnecting`),
        );
      }
    }
  }

  /**
   * After the subscriber reconnected: subscribe again to every channel still wanted (ioredis does
   * too; this waits for it), then read every awaited result once — it may have been published
   * while the connection was down.
   */
  private async resync(): Promise<void> {
    const subscriber = this.subscriber;
    if (!subscriber || this.closed) return;
    const ids = [...this.interests.keys()];
    try {
      if (this.bulk !== 'off') {
        await subscriber.psubscribe(this.bulkPattern);
        for (const interest of this.interests.values()) if (!interest.individual) interest.subscribed = true;
      }
      const individual = ids.filter((id) => this.interests.get(id)?.individual);
      for (let i = 0; i < individual.length; i += CHUNK) {
        const channels = individual.slice(i, i + CHUNK).map((id) => this.taskKey(id));
        await subscriber.subscribe(...channels);
        this.onSubscribed(channels);
      }
      const client = this.client;
      if (!client) return;
      for (let i = 0; i < ids.length; i += CHUNK) {
        const chunk = ids.slice(i, i + CHUNK);
        const values = await client.mget(chunk.map((id) => this.taskKey(id)));
        chunk.forEach((id, j) => {
          const json = values[j];
          if (json) this.onResult(id, json);
        });
      }
    } catch (err) {
      this.logger.warn(`[broker-redis] could not re-check awaited results after reconnecting: ${(err as Error).message}`);
    }
  }

  private armSweep(): void {
    if (this.sweepTimer || this.closed) return;
    this.sweepTimer = setInterval(() => this.sweep(), 10_000);
    this.sweepTimer.unref();
  }

  /** Forget results nobody came for and subscriptions `onTaskCall` made that nobody waited on. */
  private sweep(): void {
    const now = Date.now();
    this.clock = now;
    for (const [id, entry] of this.early) {
      if (now - entry.at < EARLY_TTL) break;
      this.early.delete(id);
    }
    for (const [id, interest] of this.interests) {
      if (interest.waiters.length === 0 && now - interest.since > IDLE_INTEREST_TTL) this.release(id, interest);
    }
    if (this.early.size === 0 && this.interests.size === 0 && this.sweepTimer) {
      clearInterval(this.sweepTimer);
      this.sweepTimer = null;
    }
  }

  /** How results are being listened for: per-task channels, or one pattern while many are awaited. */
  subscriptionMode(): 'channels' | 'pattern' {
    return this.bulk === 'off' ? 'channels' : 'pattern';
  }

  /** Results being waited for (for tests and inspection). */
  waitingCount(): number {
    let n = 0;
    for (const interest of this.interests.values()) n += interest.waiters.length;
    return n;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.stores.drain();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    const error = new BackendError('the Redis result backend was closed while a result was awaited', { retryable: false });
    for (const interest of [...this.interests.values()]) for (const waiter of [...interest.waiters]) waiter.reject(error);
    this.interests.clear();
    this.early.clear();
    this.pendingSubscribe.clear();
    this.pendingUnsubscribe.clear();
    this.pendingGets.clear();
    const subscriber = this.subscriber;
    this.subscriber = null;
    this.subscriberReady = null;
    await Promise.allSettled([quit(this.commands.take()), quit(this.storing.take()), quit(subscriber)]);
  }
}

/** The status of Celery meta without parsing it all (`{"status": "SUCCESS", …` comes first); null if unsure. */
function statusOf(json: string): string | null {
  if (!json.startsWith('{"status": "')) return null;
  const end = json.indexOf('"', 12);
  return end === -1 ? null : json.slice(12, end);
}
