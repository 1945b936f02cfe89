/**
 * The RabbitMQ broker (`amqp://`, `amqps://`, `pyamqp://`) on amqplib, laid out as Celery and
 * kombu lay it out, so Python workers and clients share queues with tq.
 *
 * Channels: one confirm channel for publishing (a publish resolves once RabbitMQ confirmed
 * it), one channel for declarations and queue inspection (a refused declaration closes only
 * that channel, which is reopened on the next use), one channel per consumer (its own
 * `basic.qos`), and one per broadcast subscription.
 *
 * Failures: after a lost connection the broker reconnects with backoff, declares again every
 * exchange and queue it knows, reopens the publish channel and every consumer with its
 * prefetch. Operations issued meanwhile wait for the connection (up to `operationTimeout`)
 * and otherwise fail with a retryable BrokerError; deliveries from a dead channel cannot be
 * settled any more (ack/reject become no-ops) because RabbitMQ has already requeued them.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import {
  BrokerError,
  BrokerListeners,
  ConfigurationError,
  isTqError,
  redactUrl,
  type Broker,
  type BrokerCapabilities,
  type BrokerEvent,
  type ConsumeOptions,
  type Consumer,
  type Delivery,
  type DeliveryInfo,
  type ExchangeType,
  type Logger,
  type PublishOptions,
  type PublishTarget,
  type QueueDeclaration,
  type Subscription,
} from '@tq/core';
import type { RawMessage } from '@tq/protocol';
import { connect as amqpConnect, type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';
import { AckBatcher } from './ack-batcher.js';
import { BoundedMap } from './bounded-map.js';
import {
  connectError,
  inequivalentError,
  isChannelGone,
  NOT_FOUND,
  operationError,
  PRECONDITION_FAILED,
  replyCode,
  serverText,
} from './errors.js';
import { assertQueueOptions, defaultExchange, fromAmqpMessage, publishOptions, toBuffer } from './mapping.js';
import { parseAmqpUrl, type AmqpUrl } from './url.js';

export const DEFAULT_AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672//';

export interface AmqpBrokerOptions {
  /** Default `amqp://guest:guest@127.0.0.1:5672//`. */
  url?: string;
  logger?: Logger;
  /** Heartbeat in seconds (also `?heartbeat=N` in the URL); default: the server's (60 s on RabbitMQ). */
  heartbeat?: number;
  /** Milliseconds to open a connection (also `?connection_timeout=ms`); default 10 000. */
  connectionTimeout?: number;
  /**
   * Milliseconds an operation (publish, declare, consume) waits for a lost connection to come
   * back before it fails with a retryable BrokerError; default 10 000.
   */
  operationTimeout?: number;
  /** First reconnect delay in ms (default 100); doubles up to `maxReconnectDelay` (default 3 000). */
  reconnectDelay?: number;
  maxReconnectDelay?: number;
  /** TLS options for `amqps://` (ca, cert, key, servername, rejectUnauthorized…). */
  tls?: TlsOptions;
  /** Shown in RabbitMQ's management UI (client property `connection_name`). */
  connectionName?: string;
}

/** What the rpc:// backend hooks into (see rpc-backend.ts). */
export interface RpcHooks {
  /** Called before a publish whose message has `reply_to`; may return a promise to wait for (declaring the reply queue). */
  beforePublish(message: RawMessage): Promise<void> | null;
}

type Status = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

const MAX_PREFETCH = 65_535;
const BRAND = Symbol.for('tq.broker-amqp');

function clampPrefetch(prefetch: number): number {
  if (!Number.isFinite(prefetch) || prefetch <= 0) return 0;
  return Math.min(Math.trunc(prefetch), MAX_PREFETCH);
}

/**
 * amqplib writes every frame to the socket on its own (one syscall each: three per message).
 * Corking the socket while its multiplexer drains the channels' buffers turns each pass into
 * one vectored write. Skipped if amqplib's internals ever change shape.
 */
function corkWrites(model: ChannelModel): void {
  const connection = (model as unknown as { connection?: { muxer?: { _readIncoming?: () => void }; stream?: { cork?: () => void; uncork?: () => void } } }).connection;
  const muxer = connection?.muxer;
  const stream = connection?.stream;
  if (!muxer || typeof muxer._readIncoming !== 'function' || typeof stream?.cork !== 'function' || typeof stream.uncork !== 'function') return;
  const read = muxer._readIncoming.bind(muxer);
  muxer._readIncoming = () => {
    stream.cork!();
    try {
      read();
    } finally {
      stream.uncork!();
    }
  };
}

/** True for an AmqpBroker, also across two copies of this package. */
export function isAmqpBroker(value: unknown): value is AmqpBroker {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
  timer: NodeJS.Timeout | undefined;
}

interface ChannelState {
  channel: Channel;
  closed: boolean;
  gen: number;
  acks: AckBatcher;
  /** The prefetch in force on this channel. */
  prefetch: number;
}

export class AmqpBroker implements Broker {
  readonly name = 'amqp';
  readonly capabilities: BrokerCapabilities = {
    priorities: 'higher-first',
    delayedDelivery: false,
    fanout: true,
    queueLength: true,
    purge: true,
    deadLetter: true,
    visibilityTimeout: false,
  };
  readonly [BRAND] = true;
  readonly url: string;
  /** The URL with its password hidden, for logs and errors. */
  readonly where: string;
  readonly logger: Logger | undefined;

  private readonly config: AmqpUrl;
  private readonly options: AmqpBrokerOptions;
  private readonly operationTimeout: number;
  private readonly connectionTimeout: number;

  private status: Status = 'idle';
  private model: ChannelModel | null = null;
  private connectPromise: Promise<void> | null = null;
  private closePromise: Promise<void> | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private reconnectAttempt = 0;
  private lastError = '';
  /** Inside open(): operations run on the connection being set up instead of waiting for it. */
  private opening = false;
  private waiters: Waiter[] = [];
  private readonly listeners = new BrokerListeners((event, err) => this.logger?.error(`[broker-amqp] a ${event} listener failed: ${err.message}`));

  private pub: ConfirmChannel | null = null;
  private pubOpening: Promise<ConfirmChannel> | null = null;
  private op: Channel | null = null;
  private opOpening: Promise<Channel> | null = null;

  /** Everything declared through this broker, declared again after a reconnect. */
  private readonly exchanges = new Map<string, { type: ExchangeType; durable: boolean }>();
  private readonly queues = new Map<string, QueueDeclaration>();
  /** Declared on the current connection. */
  private declaredQueues = new Set<string>();
  private declaredExchanges = new Set<string>();

  readonly consumers = new Set<AmqpConsumer>();
  readonly subscriptions = new Set<QueueSubscription>();

  /** `reply_to` of task messages delivered here, by task id (what the rpc backend replies to). */
  private readonly delivered = new BoundedMap<string, string>(50_000);
  private readonly deliveryScope = new AsyncLocalStorage<true>();
  rpcHooks: RpcHooks | null = null;

  constructor(options: AmqpBrokerOptions = {}) {
    this.url = options.url ?? DEFAULT_AMQP_URL;
    this.config = parseAmqpUrl(this.url);
    this.where = redactUrl(this.url);
    this.options = options;
    this.logger = options.logger;
    this.operationTimeout = options.operationTimeout ?? 10_000;
    this.connectionTimeout = options.connectionTimeout ?? this.config.connectionTimeout ?? 10_000;
  }

  // -- connection ------------------------------------------------------------------------

  get connected(): boolean {
    return this.status === 'open';
  }

  on(event: BrokerEvent, listener: (detail?: unknown) => void): void {
    this.listeners.add(event, listener);
  }

  async connect(): Promise<void> {
    if (this.status === 'open' || this.status === 'reconnecting') return;
    if (this.status === 'closed') throw this.closedError('connect');
    this.connectPromise ??= (async () => {
      this.status = 'connecting';
      try {
        await this.open();
      } catch (err) {
        if (this.status === 'connecting') this.status = 'idle';
        throw err;
      } finally {
        this.connectPromise = null;
      }
    })();
    return this.connectPromise;
  }

  /** Open a connection and everything on it: topology, publish channel, consumers. */
  private async open(): Promise<void> {
    const c = this.config;
    let model: ChannelModel;
    try {
      model = await amqpConnect(
        {
          protocol: c.protocol,
          hostname: c.hostname,
          port: c.port,
          username: c.username,
          password: c.password,
          vhost: c.vhost,
          ...(this.options.heartbeat ?? c.heartbeat) !== undefined ? { heartbeat: (this.options.heartbeat ?? c.heartbeat)! } : {},
          ...(c.frameMax !== undefined ? { frameMax: c.frameMax } : {}),
          ...(c.channelMax !== undefined ? { channelMax: c.channelMax } : {}),
        },
        {
          timeout: this.connectionTimeout,
          noDelay: true,
          clientProperties: { connection_name: this.options.connectionName ?? `tq ${process.pid}` },
          ...(c.protocol === 'amqps' ? (this.options.tls ?? {}) : {}),
        },
      );
    } catch (err) {
      throw connectError(err, this.where, this.connectionTimeout);
    }
    if (this.status === 'closed') {
      await model.close().catch(() => undefined);
      throw this.closedError('connect');
    }
    corkWrites(model);
    model.on('error', (err: Error) => {
      this.lastError = err.message;
      this.logger?.warn(`[broker-amqp] connection error on ${this.where}: ${err.message}`);
      this.listeners.emit('error', err);
    });
    model.on('close', (err?: Error) => this.onConnectionLost(model, err));
    model.on('blocked', (reason: string) => this.logger?.warn(`[broker-amqp] RabbitMQ blocked publishing on ${this.where}: ${reason} (a resource alarm; publishes wait until it clears)`));
    model.on('unblocked', () => this.logger?.info(`[broker-amqp] RabbitMQ unblocked publishing on ${this.where}`));
    this.model = model;
    this.declaredQueues = new Set();
    this.declaredExchanges = new Set();
    this.pub = null;
    this.op = null;
    this.opening = true;
    try {
      await this.redeclare();
      await this.publishChannel();
    } catch (err) {
      if (this.model === model) this.model = null;
      await model.close().catch(() => undefined);
      throw isTqError(err) ? err : operationError(`cannot set up the connection to ${this.where}`, err);
    } finally {
      this.opening = false;
    }
    if ((this.status as Status) === 'closed') return;
    const reconnected = this.status === 'reconnecting';
    this.status = 'open';
    this.reconnectAttempt = 0;
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.resolve();
    }
    if (reconnected) this.logger?.warn(`[broker-amqp] reconnected to ${this.where}`);
    this.listeners.emit('connected');
    if (reconnected) {
      await Promise.all([
        ...[...this.consumers].map((consumer) => consumer.restore()),
        ...[...this.subscriptions].map((subscription) => subscription.restore()),
      ]);
    }
  }

  /** Declare again what this broker declared before (after a reconnect; idempotent). */
  private async redeclare(): Promise<void> {
    const inUse = new Set<string>();
    for (const consumer of this.consumers) for (const name of consumer.queues) inUse.add(name);
    for (const subscription of this.subscriptions) inUse.add(subscription.declaration.name);
    for (const [name, exchange] of this.exchanges) await this.assertExchange(name, exchange.type, exchange.durable, false);
    for (const queue of this.queues.values()) {
      // A transient, unused reply or broadcast queue is left to vanish as it would have.
      if ((queue.autoDelete || queue.exclusive) && !inUse.has(queue.name)) continue;
      try {
        await this.declareQueue(queue);
      } catch (err) {
        this.logger?.error(`[broker-amqp] could not declare queue ${queue.name} again after reconnecting: ${(err as Error).message}`);
      }
    }
  }

  private onConnectionLost(model: ChannelModel, err?: Error): void {
    if (model !== this.model) return;
    this.model = null;
    this.pub = null;
    this.op = null;
    this.pubOpening = null;
    this.opOpening = null;
    if (this.status === 'closed') return;
    this.lastError = err ? serverText(err) : 'the connection was closed';
    this.status = 'reconnecting';
    this.logger?.warn(`[broker-amqp] lost the connection to ${this.where} (${this.lastError}); reconnecting`);
    this.listeners.emit('disconnected', err);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.status !== 'reconnecting' || this.reconnectTimer) return;
    const initial = this.options.reconnectDelay ?? 100;
    const max = this.options.maxReconnectDelay ?? 3_000;
    const base = Math.min(max, initial * 2 ** this.reconnectAttempt);
    const delay = Math.round(base * (0.8 + Math.random() * 0.2));
    this.reconnectAttempt++;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.status !== 'reconnecting') return;
      this.open().catch((error: unknown) => {
        this.lastError = (error as Error).message.replace(/^\[tq\] /, '');
        if (this.status !== 'reconnecting') return;
        this.logger?.debug(`[broker-amqp] reconnect attempt ${this.reconnectAttempt} failed: ${this.lastError}`);
        this.scheduleReconnect();
      });
    }, delay);
  }

  private closedError(what: string): BrokerError {
    return new BrokerError(`[broker-amqp] cannot ${what}: the broker for ${this.where} is closed`, { retryable: false });
  }

  /** Wait until connected: connect on first use, wait out a reconnect up to `operationTimeout`. */
  async ready(what: string): Promise<void> {
    switch (this.status) {
      case 'open':
        return;
      case 'idle':
      case 'connecting':
        return this.connect();
      case 'closed':
        throw this.closedError(what);
      default:
        break;
    }
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, timer: undefined };
      waiter.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(
          new BrokerError(
            `[broker-amqp] cannot ${what}: not connected to ${this.where} (${this.lastError}); still reconnecting after ${this.operationTimeout} ms. Is RabbitMQ running?`,
            { retryable: true },
          ),
        );
      }, this.operationTimeout);
      this.waiters.push(waiter);
    });
  }

  /** A new plain channel on the current connection (consumers and subscriptions own theirs). */
  async createChannel(what: string): Promise<Channel> {
    await this.ready(what);
    const model = this.model;
    if (!model) throw new BrokerError(`[broker-amqp] cannot ${what}: not connected to ${this.where}`, { retryable: true });
    try {
      const channel = await model.createChannel();
      channel.on('error', (err: Error) => this.logger?.debug(`[broker-amqp] channel error: ${err.message}`));
      return channel;
    } catch (err) {
      throw operationError(`cannot ${what}`, err);
    }
  }

  private async publishChannel(): Promise<ConfirmChannel> {
    if (this.pub) return this.pub;
    this.pubOpening ??= (async () => {
      const model = this.model;
      if (!model) throw new BrokerError(`[broker-amqp] cannot publish: not connected to ${this.where}`, { retryable: true });
      const channel = await model.createConfirmChannel();
      channel.on('error', (err: Error) => this.logger?.warn(`[broker-amqp] the publish channel was closed by RabbitMQ: ${err.message}`));
      channel.on('close', () => {
        if (this.pub === channel) this.pub = null;
      });
      this.pub = channel;
      return channel;
    })().finally(() => {
      this.pubOpening = null;
    });
    return this.pubOpening;
  }

  private async opChannel(): Promise<Channel> {
    if (this.op) return this.op;
    this.opOpening ??= (async () => {
      const model = this.model;
      if (!model) throw new BrokerError(`[broker-amqp] not connected to ${this.where}`, { retryable: true });
      const channel = await model.createChannel();
      // A refused declaration closes the channel; it is reopened on the next operation.
      channel.on('error', (err: Error) => this.logger?.debug(`[broker-amqp] declaration channel closed: ${err.message}`));
      channel.on('close', () => {
        if (this.op === channel) this.op = null;
      });
      this.op = channel;
      return channel;
    })().finally(() => {
      this.opOpening = null;
    });
    return this.opOpening;
  }

  /**
   * Run a one-RPC operation on the declaration channel. When the channel died under it for
   * another operation's fault (or the connection dropped), it is tried again on a fresh one.
   */
  private async withOp<T>(what: string, fn: (channel: Channel) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      if (!this.model) {
        if (this.opening) throw new BrokerError(`[broker-amqp] cannot ${what}: the connection to ${this.where} was lost while it was being set up`, { retryable: true });
        await this.ready(what);
      }
      let channel: Channel;
      try {
        channel = await this.opChannel();
      } catch (err) {
        if (attempt < 3) continue;
        throw operationError(`cannot ${what}`, err);
      }
      try {
        return await fn(channel);
      } catch (err) {
        if (replyCode(err) === undefined && isChannelGone(err) && attempt < 3) continue;
        throw err;
      }
    }
  }

  // -- declarations ----------------------------------------------------------------------

  private async assertExchange(name: string, type: ExchangeType, durable: boolean, strict: boolean): Promise<void> {
    if (name === '' || name.startsWith('amq.')) return;
    try {
      await this.withOp(`declare exchange ${name}`, (channel) => channel.assertExchange(name, type, { durable, autoDelete: false }));
    } catch (err) {
      if (replyCode(err) === PRECONDITION_FAILED) {
        if (strict) throw inequivalentError('exchange', name, err);
        // It exists with other settings, declared by someone else: use it as it is.
        this.logger?.debug(`[broker-amqp] exchange ${name} exists with other settings: ${serverText(err)}`);
      } else {
        throw operationError(`cannot declare exchange ${name}`, err);
      }
    }
    this.declaredExchanges.add(name);
  }

  async declareExchange(name: string, type: ExchangeType, options: { durable?: boolean } = {}): Promise<void> {
    if (name === '') return;
    const durable = options.durable ?? defaultExchange(name, type).durable;
    this.exchanges.set(name, { type, durable });
    await this.assertExchange(name, type, durable, true);
  }

  /** Declare an exchange this broker is about to use, unless already declared on this connection. */
  private async ensureExchange(name: string, type?: ExchangeType): Promise<void> {
    if (name === '' || this.declaredExchanges.has(name)) return;
    const known = this.exchanges.get(name);
    const exchange = known ?? defaultExchange(name, type);
    if (!known) this.exchanges.set(name, exchange);
    await this.assertExchange(name, exchange.type, exchange.durable, false);
  }

  async declareQueue(queue: QueueDeclaration): Promise<void> {
    for (const binding of queue.bindings ?? []) await this.ensureExchange(binding.exchange, binding.exchangeType);
    try {
      await this.withOp(`declare queue ${queue.name}`, (channel) => channel.assertQueue(queue.name, assertQueueOptions(queue)));
      for (const binding of queue.bindings ?? []) {
        if (binding.exchange === '') continue;
        await this.withOp(`bind queue ${queue.name}`, (channel) => channel.bindQueue(queue.name, binding.exchange, binding.routingKey));
      }
    } catch (err) {
      if (replyCode(err) === PRECONDITION_FAILED) throw inequivalentError('queue', queue.name, err);
      throw operationError(`cannot declare queue ${queue.name}`, err);
    }
    this.queues.set(queue.name, queue);
    this.declaredQueues.add(queue.name);
  }

  /** Forget a queue this broker declared (it is not declared again after a reconnect). */
  forgetQueue(name: string): void {
    this.queues.delete(name);
    this.declaredQueues.delete(name);
  }

  /** Delete a queue on the server (tests and tools; not part of the Broker contract). */
  async deleteQueue(name: string): Promise<number> {
    this.forgetQueue(name);
    try {
      return (await this.withOp(`delete queue ${name}`, (channel) => channel.deleteQueue(name))).messageCount;
    } catch (err) {
      if (replyCode(err) === NOT_FOUND) return 0;
      throw operationError(`cannot delete queue ${name}`, err);
    }
  }

  /** Delete an exchange on the server (tests and tools). */
  async deleteExchange(name: string): Promise<void> {
    this.exchanges.delete(name);
    this.declaredExchanges.delete(name);
    try {
      await this.withOp(`delete exchange ${name}`, (channel) => channel.deleteExchange(name));
    } catch (err) {
      if (replyCode(err) !== NOT_FOUND) throw operationError(`cannot delete exchange ${name}`, err);
    }
  }

  async queueLength(name: string): Promise<number> {
    try {
      return (await this.withOp(`read the length of queue ${name}`, (channel) => channel.checkQueue(name))).messageCount;
    } catch (err) {
      if (replyCode(err) === NOT_FOUND) return 0;
      throw operationError(`cannot read the length of queue ${name}`, err);
    }
  }

  async purge(name: string): Promise<number> {
    try {
      return (await this.withOp(`purge queue ${name}`, (channel) => channel.purgeQueue(name))).messageCount;
    } catch (err) {
      if (replyCode(err) === NOT_FOUND) return 0;
      throw operationError(`cannot purge queue ${name}`, err);
    }
  }

  // -- publishing ------------------------------------------------------------------------

  publish(message: RawMessage, target: PublishTarget, options?: PublishOptions): Promise<void> {
    // The hot path (connected, nothing to declare, no reply queue to set up) stays synchronous up to the write.
    if (
      this.status === 'open' &&
      options?.deliverAt === undefined &&
      (options?.declare === undefined || options.declare.every((queue) => this.declaredQueues.has(queue.name))) &&
      (target.exchange === '' || this.declaredExchanges.has(target.exchange)) &&
      !(this.rpcHooks && message.properties.reply_to)
    ) {
      return this.send(message, target);
    }
    return this.publishSlowly(message, target, options);
  }

  private async publishSlowly(message: RawMessage, target: PublishTarget, options?: PublishOptions): Promise<void> {
    if (options?.deliverAt !== undefined) {
      throw new ConfigurationError('[broker-amqp] delayed delivery (deliverAt) is not available on RabbitMQ; tq workers hold ETA tasks themselves');
    }
    if (this.status !== 'open') await this.ready('publish');
    if (options?.declare) {
      for (const queue of options.declare) if (!this.declaredQueues.has(queue.name)) await this.declareQueue(queue);
    }
    if (target.exchange !== '' && !this.declaredExchanges.has(target.exchange)) await this.ensureExchange(target.exchange, target.exchangeType);
    if (this.rpcHooks && message.properties.reply_to) {
      const wait = this.rpcHooks.beforePublish(message);
      if (wait) await wait;
    }
    return this.send(message, target);
  }

  private send(message: RawMessage, target: PublishTarget, retried = false): Promise<void> {
    const channel = this.pub;
    if (!channel) {
      return this.ready('publish')
        .then(() => this.publishChannel())
        .then(
          () => this.send(message, target, retried),
          (err: unknown) => Promise.reject(this.publishError(target, err)),
        );
    }
    return new Promise<void>((resolve, reject) => {
      try {
        channel.publish(target.exchange, target.routingKey, toBuffer(message.body), publishOptions(message), (err: unknown) => {
          if (err === null || err === undefined) resolve();
          else reject(this.publishError(target, err));
        });
      } catch (err) {
        if (!isChannelGone(err)) return reject(this.publishError(target, err));
        // The channel closed before the message left: once more on a fresh one.
        if (this.pub === channel) this.pub = null;
        if (retried) return reject(this.publishError(target, err));
        this.send(message, target, true).then(resolve, reject);
      }
    });
  }

  private publishError(target: PublishTarget, err: unknown): Error {
    if (isTqError(err)) return err;
    const to = target.exchange === '' ? `queue ${target.routingKey}` : `exchange ${target.exchange} (routing key ${target.routingKey})`;
    const message = (err as Error)?.message ?? String(err);
    if (/nacked/.test(message)) {
      return new BrokerError(`[broker-amqp] RabbitMQ refused a message for ${to} (basic.nack: an internal error or a full queue with overflow=reject-publish); it was not stored`, { cause: err, retryable: true });
    }
    if (isChannelGone(err)) {
      return new BrokerError(
        `[broker-amqp] the channel to ${this.where} closed before RabbitMQ confirmed a message for ${to} (${this.lastError || message}); it may not have been stored`,
        { cause: err, retryable: true },
      );
    }
    return operationError(`cannot publish to ${to}`, err);
  }

  // -- consuming -------------------------------------------------------------------------

  async consume(queues: QueueDeclaration[], onMessage: (delivery: Delivery) => void, options: ConsumeOptions): Promise<Consumer> {
    if (this.status !== 'open') await this.ready('consume');
    for (const queue of queues) await this.declareQueue(queue);
    const consumer = new AmqpConsumer(this, queues, onMessage, options);
    this.consumers.add(consumer);
    try {
      await consumer.start();
    } catch (err) {
      this.consumers.delete(consumer);
      await consumer.cancel().catch(() => undefined);
      throw isTqError(err) ? err : operationError(`cannot consume from ${queues.map((q) => q.name).join(', ')}`, err);
    }
    return consumer;
  }

  /** Hand a delivery to its consumer, marking the async work it starts as "inside a delivery". */
  dispatch(onMessage: (delivery: Delivery) => void, delivery: AmqpDelivery, raw: ConsumeMessage): void {
    const p = raw.properties;
    if (typeof p.replyTo === 'string' && p.replyTo) {
      const id = typeof p.correlationId === 'string' && p.correlationId ? p.correlationId : delivery.message.headers['id'];
      if (typeof id === 'string') this.delivered.set(id, p.replyTo);
    }
    this.deliveryScope.run(true, onMessage, delivery);
  }

  /** Whether the caller runs in work started by a delivery (a task running in a worker). */
  inDelivery(): boolean {
    return this.deliveryScope.getStore() === true;
  }

  /** The `reply_to` of a task message delivered here, by task id. */
  deliveredReplyTo(taskId: string): string | undefined {
    return this.delivered.get(taskId);
  }

  wasDelivered(taskId: string): boolean {
    return this.delivered.has(taskId);
  }

  forgetDelivered(taskId: string): void {
    this.delivered.delete(taskId);
  }

  /**
   * Receive broadcasts: declare a queue bound to the exchange and consume it without acks.
   * Events get Celery's receiver queue `celeryev.<uuid>` (auto-delete, 5 s message TTL, 60 s
   * expiry); remote control passes `<node>.celery.pidbox` with its own TTLs.
   */
  async subscribe(
    exchange: string,
    bindingKey: string,
    onMessage: (message: RawMessage, routingKey: string) => void,
    options: { exchangeType?: ExchangeType; queueName?: string; messageTtl?: number; expires?: number } = {},
  ): Promise<Subscription> {
    const events = exchange === 'celeryev';
    const messageTtl = options.messageTtl ?? (events ? 5_000 : undefined);
    const expires = options.expires ?? (events ? 60_000 : undefined);
    const declaration: QueueDeclaration = {
      name: options.queueName ?? `${exchange || 'tq'}.${randomUUID()}`,
      durable: false,
      autoDelete: true,
      exclusive: false,
      bindings: exchange === '' ? [] : [{ exchange, routingKey: bindingKey, ...(options.exchangeType ? { exchangeType: options.exchangeType } : {}) }],
      ...(messageTtl === undefined ? {} : { messageTtl }),
      ...(expires === undefined ? {} : { expires }),
    };
    return this.consumeNoAck(declaration, (raw) => onMessage(fromAmqpMessage(raw), raw.fields.routingKey));
  }

  /** Declare a queue and consume it without acknowledgements, again after every reconnect. */
  async consumeNoAck(declaration: QueueDeclaration, onMessage: (message: ConsumeMessage) => void): Promise<QueueSubscription> {
    if (this.status !== 'open') await this.ready('subscribe');
    const subscription = new QueueSubscription(this, declaration, onMessage);
    this.subscriptions.add(subscription);
    try {
      await subscription.start();
    } catch (err) {
      await subscription.close().catch(() => undefined);
      throw isTqError(err) ? err : operationError(`cannot consume from ${declaration.name}`, err);
    }
    return subscription;
  }

  // -- closing ---------------------------------------------------------------------------

  async close(): Promise<void> {
    this.closePromise ??= this.shutdown();
    return this.closePromise;
  }

  private async shutdown(): Promise<void> {
    const connecting = this.connectPromise;
    this.status = 'closed';
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(this.closedError('finish'));
    }
    await connecting?.catch(() => undefined);
    await Promise.all([...this.consumers].map((consumer) => consumer.shutdown()));
    await Promise.all([...this.subscriptions].map((subscription) => subscription.close()));
    const model = this.model;
    const pub = this.pub;
    if (pub) {
      // Let publishes in flight be confirmed before the channel goes.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([pub.waitForConfirms().catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, 5_000)))]);
      clearTimeout(timer);
    }
    this.model = null;
    this.pub = null;
    this.op = null;
    if (model) await model.close().catch(() => undefined);
  }

  /** Reopen a consumer's or subscription's channel after it was closed while connected. */
  retryLater(what: string, fn: () => Promise<void>, attempt = 0): void {
    if (this.status === 'closed') return;
    const delay = Math.min(5_000, 200 * 2 ** attempt);
    const timer = setTimeout(() => {
      if (this.status !== 'open') return; // the reconnect restores it
      fn().catch((err: unknown) => {
        this.logger?.warn(`[broker-amqp] could not restore ${what}: ${(err as Error).message}; trying again`);
        this.retryLater(what, fn, attempt + 1);
      });
    }, delay);
    timer.unref();
  }

  isOpen(): boolean {
    return this.status === 'open';
  }

  isClosed(): boolean {
    return this.status === 'closed';
  }
}

// ---------------------------------------------------------------------------------------------

export class AmqpDelivery implements Delivery {
  readonly message: RawMessage;
  readonly queue: string;
  readonly deliveryTag: string;
  readonly info: DeliveryInfo;
  private settled = false;

  constructor(
    private readonly consumer: AmqpConsumer,
    private readonly state: ChannelState,
    queue: string,
    private readonly raw: ConsumeMessage,
  ) {
    this.message = fromAmqpMessage(raw);
    this.queue = queue;
    const fields = raw.fields;
    this.deliveryTag = `${state.gen}.${fields.deliveryTag}`;
    const priority = raw.properties.priority;
    this.info = { exchange: fields.exchange, routingKey: fields.routingKey, priority: typeof priority === 'number' ? priority : null, redelivered: fields.redelivered };
  }

  ack(): Promise<void> {
    if (this.settled) return Promise.resolve();
    this.settled = true;
    // On a channel that died the message is back in its queue already: nothing to settle.
    if (!this.state.closed) this.state.acks.ack(this.raw.fields.deliveryTag);
    this.consumer.settled(this.state);
    return Promise.resolve();
  }

  reject(requeue: boolean): Promise<void> {
    if (this.settled) return Promise.resolve();
    this.settled = true;
    if (!this.state.closed) {
      try {
        this.state.acks.nack(this.raw.fields.deliveryTag, requeue);
      } catch {
        // The channel closed under us: same as above.
      }
    }
    this.consumer.settled(this.state);
    return Promise.resolve();
  }
}

/** One consumer: its own channel and `basic.qos`, one AMQP consumer per queue. */
export class AmqpConsumer implements Consumer {
  private state: ChannelState | null = null;
  private readonly tags = new Map<string, string>();
  private readonly declarations: QueueDeclaration[];
  private prefetch: number;
  private cancelled = false;
  private inflight = 0;
  private gen = 0;
  /** Channel-wide qos (Celery's choice on RabbitMQ) unless a quorum queue forbids it. */
  private globalQos: boolean;
  private starting: Promise<void> | null = null;
  private qos: Promise<void> = Promise.resolve();

  constructor(
    private readonly broker: AmqpBroker,
    queues: QueueDeclaration[],
    private readonly onMessage: (delivery: Delivery) => void,
    private readonly options: ConsumeOptions,
  ) {
    this.declarations = [...queues];
    this.prefetch = options.prefetch;
    this.globalQos = !queues.some((q) => q.queueType === 'quorum');
  }

  get queues(): readonly string[] {
    return this.declarations.map((q) => q.name);
  }

  async start(): Promise<void> {
    if (this.cancelled) return;
    this.starting ??= this.open().finally(() => {
      this.starting = null;
    });
    return this.starting;
  }

  private async open(): Promise<void> {
    const channel = await this.broker.createChannel(`consume from ${this.queues.join(', ')}`);
    const state: ChannelState = { channel, closed: false, gen: ++this.gen, acks: new AckBatcher(channel), prefetch: clampPrefetch(this.prefetch) };
    channel.on('close', () => this.onChannelClosed(state));
    if (this.cancelled || this.broker.isClosed()) {
      state.closed = true;
      await channel.close().catch(() => undefined);
      return;
    }
    this.state = state;
    this.inflight = 0;
    this.tags.clear();
    await channel.prefetch(state.prefetch, this.globalQos);
    for (const queue of this.declarations) await this.consumeQueue(state, queue.name);
  }

  private async consumeQueue(state: ChannelState, name: string): Promise<void> {
    const { consumerTag } = await state.channel.consume(
      name,
      (raw) => {
        if (raw === null) return this.onServerCancel(state, name);
        this.inflight++;
        state.acks.delivered(raw.fields.deliveryTag);
        this.broker.dispatch(this.onMessage, new AmqpDelivery(this, state, name, raw), raw);
      },
      { noAck: false, ...(this.options.tag ? { consumerTag: `${this.options.tag}.${name}.${randomUUID().slice(0, 8)}` } : {}) },
    );
    this.tags.set(name, consumerTag);
  }

  /** RabbitMQ cancelled a consumer (its queue was deleted): declare the queue again and resume. */
  private onServerCancel(state: ChannelState, name: string): void {
    this.tags.delete(name);
    if (this.cancelled || state !== this.state) return;
    this.broker.logger?.warn(`[broker-amqp] RabbitMQ cancelled the consumer of queue ${name} (was it deleted?); declaring it again`);
    const declaration = this.declarations.find((q) => q.name === name);
    if (!declaration) return;
    this.broker.retryLater(`the consumer of ${name}`, async () => {
      if (this.cancelled || state !== this.state || state.closed) return;
      await this.broker.declareQueue(declaration);
      await this.consumeQueue(state, name);
    });
  }

  private onChannelClosed(state: ChannelState): void {
    state.closed = true;
    if (state !== this.state) return;
    this.state = null;
    this.tags.clear();
    this.inflight = 0;
    if (this.cancelled || this.broker.isClosed()) return;
    // A channel error while the connection lives: reopen. A lost connection: the reconnect restores us.
    if (this.broker.isOpen()) {
      this.broker.logger?.warn(`[broker-amqp] the channel consuming ${this.queues.join(', ')} was closed; reopening it`);
      this.broker.retryLater(`the consumer of ${this.queues.join(', ')}`, () => this.restore());
    }
  }

  /** After a reconnect: declare the queues again and consume with the current prefetch. */
  async restore(): Promise<void> {
    if (this.cancelled || (this.state && !this.state.closed)) return;
    try {
      for (const queue of this.declarations) await this.broker.declareQueue(queue);
      await this.start();
    } catch (err) {
      this.broker.logger?.warn(`[broker-amqp] could not resume consuming ${this.queues.join(', ')}: ${(err as Error).message}; trying again`);
      this.broker.retryLater(`the consumer of ${this.queues.join(', ')}`, () => this.restore(), 1);
    }
  }

  settled(state: ChannelState): void {
    if (state !== this.state) return;
    this.inflight--;
    if (this.cancelled && this.inflight <= 0) void this.closeChannel();
  }

  /**
   * Change the prefetch. Calls in quick succession (the worker changes it for every ETA task it
   * holds or releases) are coalesced: each waits for the latest value to be applied, and a value
   * already in force costs no round trip.
   */
  setPrefetch(prefetch: number): Promise<void> {
    this.prefetch = prefetch;
    this.qos = this.qos.catch(() => undefined).then(() => this.applyPrefetch());
    return this.qos;
  }

  private async applyPrefetch(): Promise<void> {
    const state = this.state;
    const target = clampPrefetch(this.prefetch);
    if (!state || state.closed || this.cancelled || target === state.prefetch) return; // a reopened channel uses the new value
    try {
      if (this.globalQos) {
        // Channel-wide qos applies to the next deliveries at once.
        await state.channel.prefetch(target, true);
        state.prefetch = target;
        return;
      }
      // Per-consumer qos only applies to consumers started after it: start them again.
      await state.channel.prefetch(target, false);
      state.prefetch = target;
      for (const [name, tag] of [...this.tags]) {
        await state.channel.cancel(tag);
        this.tags.delete(name);
        await this.consumeQueue(state, name);
      }
    } catch (err) {
      if (!state.closed) throw operationError('cannot change the prefetch', err);
    }
  }

  async addQueue(queue: QueueDeclaration): Promise<void> {
    await this.broker.declareQueue(queue);
    if (this.declarations.some((q) => q.name === queue.name)) return;
    this.declarations.push(queue);
    const state = this.state;
    if (queue.queueType === 'quorum' && this.globalQos) {
      // Quorum queues refuse channel-wide qos: switch to per-consumer qos on a fresh channel.
      this.globalQos = false;
      if (state && !state.closed) await state.channel.close().catch(() => undefined);
      return;
    }
    if (state && !state.closed && !this.cancelled) await this.consumeQueue(state, queue.name);
  }

  async cancelQueue(name: string): Promise<void> {
    const i = this.declarations.findIndex((q) => q.name === name);
    if (i === -1) return;
    this.declarations.splice(i, 1);
    const tag = this.tags.get(name);
    this.tags.delete(name);
    const state = this.state;
    if (tag && state && !state.closed) await state.channel.cancel(tag).catch(() => undefined);
  }

  async cancel(): Promise<void> {
    if (this.cancelled) return;
    this.cancelled = true;
    this.broker.consumers.delete(this);
    await this.starting?.catch(() => undefined);
    const state = this.state;
    if (!state || state.closed) return;
    for (const tag of this.tags.values()) await state.channel.cancel(tag).catch(() => undefined);
    this.tags.clear();
    // Deliveries handed out stay valid: the channel closes once they are settled.
    if (this.inflight <= 0) await this.closeChannel();
  }

  /** Broker close: stop and close the channel; RabbitMQ requeues whatever is unsettled. */
  async shutdown(): Promise<void> {
    this.cancelled = true;
    this.broker.consumers.delete(this);
    await this.starting?.catch(() => undefined);
    await this.closeChannel();
  }

  private async closeChannel(): Promise<void> {
    const state = this.state;
    if (!state || state.closed) return;
    try {
      state.acks.flush();
    } catch {
      // Closed already.
    }
    state.closed = true;
    this.state = null;
    await state.channel.close().catch(() => undefined);
  }
}

/** A queue consumed without acks (broadcasts, rpc replies), declared again after reconnects. */
export class QueueSubscription implements Subscription {
  private channel: Channel | null = null;
  private closed = false;

  constructor(
    private readonly broker: AmqpBroker,
    readonly declaration: QueueDeclaration,
    private readonly onMessage: (message: ConsumeMessage) => void,
  ) {}

  async start(): Promise<void> {
    await this.broker.declareQueue(this.declaration);
    const channel = await this.broker.createChannel(`consume from ${this.declaration.name}`);
    if (this.closed) {
      await channel.close().catch(() => undefined);
      return;
    }
    this.channel = channel;
    channel.on('close', () => {
      if (this.channel !== channel) return;
      this.channel = null;
      if (!this.closed && this.broker.isOpen()) this.broker.retryLater(`the subscription ${this.declaration.name}`, () => this.restore());
    });
    await channel.consume(
      this.declaration.name,
      (raw) => {
        if (raw === null) {
          // The queue was deleted (an auto-delete queue expired): close; restore() declares it again.
          if (this.channel === channel) void channel.close().catch(() => undefined);
          return;
        }
        try {
          this.onMessage(raw);
        } catch (err) {
          this.broker.logger?.error(`[broker-amqp] a message handler for ${this.declaration.name} failed: ${(err as Error).message}`);
        }
      },
      { noAck: true },
    );
  }

  async restore(): Promise<void> {
    if (this.closed || this.channel) return;
    try {
      await this.start();
    } catch (err) {
      this.broker.logger?.warn(`[broker-amqp] could not resume ${this.declaration.name}: ${(err as Error).message}; trying again`);
      this.broker.retryLater(`the subscription ${this.declaration.name}`, () => this.restore(), 1);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.broker.subscriptions.delete(this);
    this.broker.forgetQueue(this.declaration.name);
    const channel = this.channel;
    this.channel = null;
    // Closing the channel cancels the consumer; an auto-delete queue then goes away.
    if (channel) await channel.close().catch(() => undefined);
  }
}

