/**
 * Celery's `rpc://` result backend: results travel as messages, not stored anywhere.
 *
 * - A worker sends each state of a task (the result meta plus `task_id`, JSON) through the
 *   default exchange to the queue named by the task message's `reply_to`, with
 *   `correlation_id` = the task id and delivery_mode 1 (Celery's `result_persistent` off).
 * - A client consumes its own reply queue, named after its oid (the `reply_to` tq and Celery
 *   put on every task message), declared as celery/backends/rpc.py declares it (main):
 *   durable, auto-delete, `x-expires` = result_expires. It is declared before the first task
 *   is published, so a fast worker's reply cannot be dropped.
 * - Replies are kept in this process: `get`/`waitFor` serve them from memory. Nothing can be
 *   read for a task this process did not send (another client's queue is not ours to drain),
 *   and nothing survives a restart (`persistent: false`). Chords are not supported, as in
 *   Celery (no counter, and `celery.chord_unlock` cannot see other clients' results).
 *
 * Where the worker sends a result: core's `ResultBackend.store(meta)` does not carry the
 * request's `reply_to` (see the package README, "Contract gaps"); this backend takes it from
 * `options.replyTo` when core provides it, else from the AMQP broker, which remembers the
 * `reply_to` of every task message it delivered.
 */
import {
  BackendError,
  ConfigurationError,
  TimeoutError,
  isReady,
  SUCCESS,
  type BackendCapabilities,
  type Broker,
  type Logger,
  type QueueDeclaration,
  type ResultBackend,
  type StoreOptions,
  type WaitOptions,
} from '@tq/core';
import { deserialize, pyJsonDumps, validateResultMeta, type RawMessage, type ResultMeta } from '@tq/protocol';
import type { ConsumeMessage } from 'amqplib';
import { isAmqpBroker, type AmqpBroker, type QueueSubscription, type RpcHooks } from './amqp-broker.js';
import { BoundedMap } from './bounded-map.js';

export interface RpcBackendOptions {
  /** The broker to ride on (an `amqp://` broker); usually the app's. */
  broker: Broker | (() => Promise<Broker>);
  logger?: Logger;
  /**
   * Seconds an unused reply queue lives (`x-expires`), Celery's `result_expires` (default one
   * day); null: no expiry.
   */
  expires?: number | null;
  /** How many results to keep in memory for `get` (default 100 000; the oldest go first). */
  cacheSize?: number;
  /** Send results as persistent messages (Celery's `result_persistent`, default false). */
  persistent?: boolean;
}

/** What core may pass to `store` once the contract carries the request's reply-to. */
type StoreOptionsWithReply = StoreOptions & { replyTo?: string | null; correlationId?: string | null };

interface Waiter {
  resolve: (meta: ResultMeta) => void;
  reject: (error: unknown) => void;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

export class RpcBackend implements ResultBackend, RpcHooks {
  readonly name = 'rpc';
  readonly capabilities: BackendCapabilities = { chordCounter: false, nativeWait: true, persistent: false };

  private readonly source: Broker | (() => Promise<Broker>);
  private readonly logger: Logger | undefined;
  private readonly expiresMs: number | null;
  private readonly deliveryMode: 1 | 2;
  private broker: AmqpBroker | null = null;
  private connecting: Promise<void> | null = null;
  private closed = false;

  /** Task ids about to be sent (onTaskCall), waiting to see their message's reply_to. */
  private readonly calling = new BoundedMap<string, true>(100_000);
  /** The reply queue of each task sent here. */
  private readonly replyQueues = new BoundedMap<string, string>(100_000);
  /** Reply queues consumed here (ready: the consumer is running). */
  private readonly ready = new Set<string>();
  private readonly consuming = new Map<string, Promise<QueueSubscription | null>>();
  private readonly results: BoundedMap<string, ResultMeta>;
  private readonly waiters = new Map<string, Waiter[]>();
  private readonly groups = new BoundedMap<string, unknown>(10_000);

  constructor(options: RpcBackendOptions) {
    this.source = options.broker;
    this.logger = options.logger;
    const expires = options.expires === undefined ? 86_400 : options.expires;
    this.expiresMs = expires === null || expires <= 0 ? null : Math.round(expires * 1000);
    this.deliveryMode = options.persistent ? 2 : 1;
    this.results = new BoundedMap(options.cacheSize ?? 100_000);
  }

  async connect(): Promise<void> {
    if (this.broker) return;
    if (this.closed) throw new BackendError('[broker-amqp] the rpc:// result backend is closed', { retryable: false });
    this.connecting ??= (async () => {
      const broker = typeof this.source === 'function' ? await this.source() : this.source;
      if (!isAmqpBroker(broker)) {
        throw new ConfigurationError(`[broker-amqp] the rpc:// result backend sends results through RabbitMQ and needs an amqp:// broker, but the app's broker is ${broker.name}; use a result backend such as redis:// with it`);
      }
      await broker.connect();
      this.broker = broker;
      broker.rpcHooks = this;
    })().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async amqp(): Promise<AmqpBroker> {
    if (!this.broker) await this.connect();
    return this.broker!;
  }

  /** The reply queue, as Celery's rpc backend declares it (celery main: durable, auto-delete, x-expires). */
  replyQueue(name: string): QueueDeclaration {
    return { name, durable: true, autoDelete: true, ...(this.expiresMs === null ? {} : { expires: this.expiresMs }) };
  }

  onTaskCall(taskId: string): void {
    this.calling.set(taskId, true);
  }

  /**
   * Called by the broker before a message with `reply_to` is published. For a task this
   * process calls as a client, consume its reply queue (declaring it) before the message goes,
   * so that no reply can arrive before the queue exists. A task published by a task running
   * here (a worker sending a retry, a callback or a chain step, possibly for another client's
   * queue) declares nothing, as in Celery, where a worker never declares reply queues.
   */
  beforePublish(message: RawMessage): Promise<void> | null {
    const id = message.properties.correlation_id;
    if (typeof id !== 'string' || !this.calling.has(id)) return null;
    this.calling.delete(id);
    const broker = this.broker;
    const queue = message.properties.reply_to;
    if (!broker || typeof queue !== 'string' || !queue || broker.wasDelivered(id)) return null;
    this.replyQueues.set(id, queue);
    if (broker.inDelivery() || this.ready.has(queue)) return null;
    return this.consume(queue).then(() => undefined);
  }

  /** Consume a reply queue of ours (declaring it); replies are kept for get/waitFor. */
  private consume(queue: string): Promise<QueueSubscription | null> {
    let consuming = this.consuming.get(queue);
    if (!consuming) {
      consuming = (async () => {
        const broker = await this.amqp();
        if (this.closed) return null;
        const subscription = await broker.consumeNoAck(this.replyQueue(queue), (raw) => this.onReply(raw));
        this.ready.add(queue);
        return subscription;
      })();
      consuming.catch(() => this.consuming.delete(queue));
      this.consuming.set(queue, consuming);
    }
    return consuming;
  }

  private onReply(raw: ConsumeMessage): void {
    const correlationId = raw.properties.correlationId;
    let meta: ResultMeta;
    try {
      const payload = deserialize(raw.content, raw.properties.contentType, typeof correlationId === 'string' ? correlationId : null);
      const taskId = typeof correlationId === 'string' && correlationId ? correlationId : (payload as { task_id?: unknown } | null)?.task_id;
      if (typeof taskId !== 'string') throw new Error('the reply has neither a correlation_id nor a task_id');
      meta = validateResultMeta(payload, taskId);
      if (meta.task_id !== taskId) meta = { ...meta, task_id: taskId };
    } catch (err) {
      this.logger?.warn(`[broker-amqp] ignored a malformed rpc:// reply: ${(err as Error).message}`);
      return;
    }
    this.accept(meta);
  }

  /** Keep a reply: the first SUCCESS wins; a ready state wakes the waiters. */
  protected accept(meta: ResultMeta): void {
    const id = meta.task_id;
    const current = this.results.get(id);
    if (current?.status === SUCCESS && meta.status !== SUCCESS) return;
    this.results.set(id, meta);
    if (!isReady(meta.status)) return;
    this.replyQueues.delete(id);
    const waiters = this.waiters.get(id);
    if (!waiters) return;
    this.waiters.delete(id);
    for (const waiter of waiters) {
      this.cleanup(waiter);
      waiter.resolve(meta);
    }
  }

  async store(meta: ResultMeta, options?: StoreOptions): Promise<void> {
    const broker = this.broker ?? (await this.amqp());
    const extra = options as StoreOptionsWithReply | undefined;
    const id = meta.task_id;
    const replyTo = extra?.replyTo || broker.deliveredReplyTo(id) || this.replyQueues.get(id);
    if (!replyTo) {
      // As Celery: a task sent without reply_to (or by nobody we know of) has no one to tell.
      this.logger?.debug(`[broker-amqp] rpc:// has nowhere to send the ${meta.status} of task ${id}: its request had no reply_to`);
      return;
    }
    const message: RawMessage = {
      body: Buffer.from(pyJsonDumps(meta), 'utf8'),
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      headers: {},
      properties: { correlation_id: extra?.correlationId || id, delivery_mode: this.deliveryMode },
    };
    await broker.publish(message, { exchange: '', routingKey: replyTo });
    if (isReady(meta.status)) broker.forgetDelivered(id);
  }

  /** Make sure the reply queue of a task sent here is consumed, so its replies come in. */
  private async follow(taskId: string): Promise<void> {
    const queue = this.replyQueues.get(taskId);
    if (queue && !this.consuming.has(queue)) await this.consume(queue);
  }

  async get(taskId: string): Promise<ResultMeta | null> {
    await this.follow(taskId);
    return this.results.get(taskId) ?? null;
  }

  async getMany(taskIds: readonly string[]): Promise<Map<string, ResultMeta>> {
    const out = new Map<string, ResultMeta>();
    for (const id of taskIds) {
      await this.follow(id);
      const meta = this.results.get(id);
      if (meta) out.set(id, meta);
    }
    return out;
  }

  waitFor(taskId: string, options: WaitOptions = {}): Promise<ResultMeta> {
    const cached = this.results.get(taskId);
    if (cached && isReady(cached.status)) return Promise.resolve(cached);
    return new Promise<ResultMeta>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, timer: undefined, signal: options.signal, onAbort: undefined };
      const list = this.waiters.get(taskId);
      if (list) list.push(waiter);
      else this.waiters.set(taskId, [waiter]);
      const fail = (error: unknown) => {
        this.remove(taskId, waiter);
        this.cleanup(waiter);
        reject(error);
      };
      if (options.timeout !== undefined && options.timeout !== null) {
        const seconds = options.timeout;
        waiter.timer = setTimeout(() => fail(new TimeoutError(`the result of task ${taskId} was not ready within ${seconds}s`)), seconds * 1000);
      }
      if (options.signal) {
        if (options.signal.aborted) return fail(options.signal.reason ?? new Error('aborted'));
        waiter.onAbort = () => fail(options.signal?.reason ?? new Error('aborted'));
        options.signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.follow(taskId).catch(fail);
    });
  }

  private remove(taskId: string, waiter: Waiter): void {
    const list = this.waiters.get(taskId);
    if (!list) return;
    const i = list.indexOf(waiter);
    if (i !== -1) list.splice(i, 1);
    if (list.length === 0) this.waiters.delete(taskId);
  }

  private cleanup(waiter: Waiter): void {
    if (waiter.timer) clearTimeout(waiter.timer);
    if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort);
  }

  /** Results are messages: forgetting drops what this process holds (nothing is stored server-side). */
  async forget(taskId: string): Promise<void> {
    this.results.delete(taskId);
  }

  /**
   * Celery's rpc backend cannot save groups (it raises). tq keeps them in this process, so a
   * group's result can be restored where it was made.
   */
  async saveGroup(groupId: string, result: unknown): Promise<void> {
    this.groups.set(groupId, result);
  }

  async restoreGroup(groupId: string): Promise<unknown | null> {
    return this.groups.get(groupId) ?? null;
  }

  async deleteGroup(groupId: string): Promise<void> {
    this.groups.delete(groupId);
  }

  /**
   * Consume a reply queue (declaring it as Celery does): results sent to it are kept here. The
   * backend does this by itself for the `reply_to` of the tasks this process sends; call it to
   * listen on a queue you name, e.g. before sending with `replyTo` set by hand.
   */
  async listen(queue: string): Promise<void> {
    await this.consume(queue);
  }

  /** Reply queues consumed by this backend (its client identities). */
  ownQueues(): string[] {
    return [...this.consuming.keys()];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const error = new BackendError('[broker-amqp] the rpc:// result backend was closed while a result was awaited', { retryable: false });
    for (const [id, waiters] of [...this.waiters]) {
      this.waiters.delete(id);
      for (const waiter of waiters) {
        this.cleanup(waiter);
        waiter.reject(error);
      }
    }
    if (this.broker?.rpcHooks === this) this.broker.rpcHooks = null;
    const subscriptions = await Promise.all([...this.consuming.values()].map((p) => p.catch(() => null)));
    this.consuming.clear();
    await Promise.all(subscriptions.map((s) => s?.close()));
  }
}
