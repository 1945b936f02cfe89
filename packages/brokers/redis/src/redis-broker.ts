/**
 * The Redis broker: kombu's Redis transport layout, so Python Celery clients and workers share
 * the same queues with tq.
 *
 * - Queues are lists, one per priority step (`q`, `q\x06\x163`, …); publish = LPUSH, consume =
 *   pop from the right in kombu's key order (lowest step first, queues round robin).
 * - Acknowledgements are emulated as kombu does: a delivered message sits in the `unacked` hash
 *   and the `unacked_index` sorted set (score = delivery time) until it is acked; a sweep puts
 *   back messages older than the visibility timeout. `Delivery.touch()` refreshes the score, so
 *   a message a worker holds (an ETA task, a long acksLate task) is never restored and run twice.
 * - Fanout exchanges (remote control, events) are PUBLISH on `/<db>.<exchange>[/<rk>]`.
 *
 * Pops are batched and atomic with their registration (a Lua script), publishes and acks are
 * coalesced per event-loop turn, and every command goes through ioredis' auto-pipelining.
 */
import {
  BrokerError,
  BrokerListeners,
  EncodeError,
  silentLogger,
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
  uuid,
} from '@tq/core';
import { pyJsonDumps, type RawMessage } from '@tq/protocol';
import { Command, type Redis } from 'ioredis';
import { Batcher } from './batcher.js';
import { brokerError, connectOnce, createConnection, LazyConnection, watchOutages, type ConnectionRole } from './connection.js';
import { decodeEnvelope, encodeEnvelope, envelopePriority, markObjectRedelivered, markRedelivered, type DecodedEnvelope } from './envelope.js';
import { globEscape, Layout, topicPattern } from './layout.js';
import { resolveBrokerOptions, type RedisBrokerOptions, type ResolvedBrokerOptions } from './options.js';
import { defineScripts, type ScriptedRedis } from './scripts.js';
import { parseRedisUrl, type RedisEndpoint } from './url.js';

export interface RedisBrokerConfig extends RedisBrokerOptions {
  logger?: Logger;
}

interface Binding {
  routingKey: string;
  pattern: string;
  queue: string;
  regex?: RegExp | null;
}

interface SubscriptionHandler {
  base: string;
  onMessage: (message: RawMessage, routingKey: string) => void;
}

const RESOLVED: Promise<void> = Promise.resolve();

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Seconds since the epoch, as kombu's `time()` scores `unacked_index`. */
function nowSeconds(): number {
  return Date.now() / 1000;
}

export class RedisBroker implements Broker {
  readonly name = 'redis';
  readonly capabilities: BrokerCapabilities = {
    priorities: 'lower-first',
    delayedDelivery: false,
    fanout: true,
    queueLength: true,
    purge: true,
    deadLetter: false,
    visibilityTimeout: true,
  };
  readonly visibilityTimeout: number;
  readonly endpoint: RedisEndpoint;
  readonly options: ResolvedBrokerOptions;
  readonly layout: Layout;
  readonly logger: Logger;

  /** The commands connection (auto-pipelined), and the one consumers pop with. */
  private readonly commandsConnection = new LazyConnection(
    () => defineScripts(this.connection('commands', 'tq-broker', true)),
    (err) => brokerError('cannot connect to', this.endpoint.display, err),
  );
  /** Pops, acks and touches are batched here already: no auto-pipelining (see consuming()). */
  private readonly consumerConnection = new LazyConnection(
    () => defineScripts(this.connection('commands', 'tq-broker-consume', false, false)),
    (err) => brokerError('cannot connect to', this.endpoint.display, err),
  );
  private subscriber: Redis | null = null;
  private closed = false;
  private everConnected = false;
  private readonly listeners = new BrokerListeners((event, err) => this.logger.error(`a ${event} listener of the Redis broker threw: ${err.message}`));

  private readonly exchangeTypes = new Map<string, ExchangeType>();
  private readonly queueExpires = new Map<string, number>();
  /** Binding-set members this broker added, re-added after a server restart lost them. */
  private readonly declaredBindings = new Map<string, { key: string; member: string }>();
  private readonly bindingCache = new Map<string, { at: number; bindings: Binding[] }>();
  private readonly patternHandlers = new Map<string, Set<SubscriptionHandler>>();

  readonly consumers = new Set<RedisConsumer>();
  /** Deliveries handed out and not settled, by tag (the current holder of each tag). */
  readonly unsettled = new Map<string, RedisDelivery>();

  private readonly pushes: Batcher<string>;
  private readonly acks: Batcher<string>;
  private readonly touches: Batcher<string>;
  private restoreTimer: NodeJS.Timeout | null = null;
  private restoring: Promise<number> | null = null;
  private warnedUnroutable = new Set<string>();

  constructor(url: string, config: RedisBrokerConfig = {}) {
    const { logger, ...rest } = config;
    this.options = resolveBrokerOptions(rest as Record<string, unknown>);
    this.endpoint = parseRedisUrl(url, { masterName: this.options.masterName, sentinelPassword: this.options.sentinelPassword });
    this.visibilityTimeout = this.options.visibilityTimeout;
    this.layout = new Layout({ prefix: this.options.globalKeyprefix, sep: this.options.sep, steps: this.options.prioritySteps, db: this.endpoint.db });
    this.logger = logger ?? silentLogger;
    this.pushes = new Batcher<string>((key, values) => this.flushPush(key, values));
    this.acks = new Batcher<string>((_key, tags) =>
      this.consuming()
        .tqAck(this.layout.unacked, this.layout.unackedIndex, ...tags)
        .catch((err: unknown) => {
          throw this.ackError(tags.length, err);
        }),
    );
    this.touches = new Batcher<string>((_key, tags) => {
      const score = String(nowSeconds());
      const args: string[] = [];
      for (const tag of tags) args.push(score, tag);
      return this.consuming()
        .zadd(this.layout.unackedIndex, 'XX', ...args)
        .catch((err: unknown) => {
          throw brokerError(`could not extend the visibility of ${tags.length} message(s) on`, this.endpoint.display, err);
        });
    });
  }

  private ackError(count: number, err: unknown): Error {
    return brokerError(`could not acknowledge ${count} message(s) on`, this.endpoint.display, err);
  }

  // -- connections -------------------------------------------------------------------------

  on(event: BrokerEvent, listener: (detail?: unknown) => void): void {
    this.listeners.add(event, listener);
  }

  /**
   * The connection consumers pop, register and acknowledge on: their own, so that their round
   * trips do not queue behind publishes (ioredis sends one auto-pipeline at a time per connection),
   * and without auto-pipelining: its commands are batches already, and each is written at once
   * instead of waiting for the previous one's reply.
   */
  private consuming(): ScriptedRedis {
    return this.consumerConnection.client ?? this.commands();
  }

  /** A new connection of a role, with logging of outages (one line per outage, not per retry). */
  connection(role: ConnectionRole, name: string, primary = false, autoPipelining = true): Redis {
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
      lost: (err) => brokerError('lost the connection to', this.endpoint.display, err),
      restored: `[broker-redis] reconnected to ${this.endpoint.display} (${name})`,
      isClosed: () => this.closed,
      onDown: (err) => {
        if (primary) this.listeners.emit('error', err);
      },
      onReady: () => {
        if (!primary) return;
        if (this.everConnected) void this.redeclare();
        this.everConnected = true;
        this.listeners.emit('connected');
      },
    });
    client.on('close', () => {
      if (this.closed || !primary) return;
      this.listeners.emit('disconnected');
    });
    return client;
  }

  /** The commands connection; throws when the broker was never connected. */
  private commands(): ScriptedRedis {
    if (!this.client) throw new BrokerError('the Redis broker is not connected', { retryable: true });
    return this.client;
  }

  async connect(): Promise<void> {
    await this.ready();
  }

  /** The commands connection; null until connected. */
  private get client(): ScriptedRedis | null {
    return this.commandsConnection.client;
  }

  private ready(): Promise<ScriptedRedis> {
    if (this.client) return Promise.resolve(this.client);
    this.closed = false;
    return this.commandsConnection.ready();
  }

  /** After a server restart (no persistence) the binding sets are gone: add ours again. */
  private async redeclare(): Promise<void> {
    const client = this.client;
    if (!client || this.declaredBindings.size === 0) return;
    try {
      await Promise.all([...this.declaredBindings.values()].map(({ key, member }) => client.sadd(key, member)));
    } catch (err) {
      this.logger.warn(`[broker-redis] could not declare bindings again after reconnecting: ${(err as Error).message}`);
    }
  }

  // -- declarations ------------------------------------------------------------------------

  async declareExchange(name: string, type: ExchangeType): Promise<void> {
    // Exchanges live in the process, as in kombu's virtual transport; only bindings are stored.
    this.exchangeTypes.set(name, type);
  }

  private exchangeType(exchange: string, given?: ExchangeType): ExchangeType {
    return given ?? this.exchangeTypes.get(exchange) ?? 'direct';
  }

  /** Queues (with their bindings) already declared by this broker, so publishes can skip it. */
  private readonly declaredQueues = new Set<string>();

  private static declarationKey(queue: QueueDeclaration): string {
    let key = `${queue.name}\u0000${queue.expires ?? ''}`;
    if (queue.bindings) for (const b of queue.bindings) key += `\u0000${b.exchange}\u0001${b.routingKey}\u0001${b.exchangeType ?? ''}`;
    else key += '\u0000default';
    return key;
  }

  private allDeclared(queues: QueueDeclaration[]): boolean {
    for (const queue of queues) if (!this.declaredQueues.has(RedisBroker.declarationKey(queue))) return false;
    return true;
  }

  /** Declarations in flight: many publishes racing to declare one queue share one SADD. */
  private readonly declaring = new Map<string, Promise<void>>();

  declareQueue(queue: QueueDeclaration): Promise<void> {
    const declarationKey = RedisBroker.declarationKey(queue);
    if (this.declaredQueues.has(declarationKey)) return RESOLVED;
    let pending = this.declaring.get(declarationKey);
    if (!pending) {
      pending = this.declare(queue, declarationKey).finally(() => this.declaring.delete(declarationKey));
      this.declaring.set(declarationKey, pending);
    }
    return pending;
  }

  private async declare(queue: QueueDeclaration, declarationKey: string): Promise<void> {
    const client = this.client ?? (await this.ready());
    if (queue.expires !== undefined && queue.expires > 0) this.queueExpires.set(queue.name, Math.trunc(queue.expires));
    const bindings = queue.bindings ?? [{ exchange: queue.name, routingKey: queue.name, exchangeType: 'direct' as const }];
    const adds: Promise<unknown>[] = [];
    for (const binding of bindings) {
      if (binding.exchange === '') continue;
      const type = this.exchangeType(binding.exchange, binding.exchangeType);
      if (binding.exchangeType && !this.exchangeTypes.has(binding.exchange)) this.exchangeTypes.set(binding.exchange, binding.exchangeType);
      const pattern = type === 'topic' ? topicPattern(binding.routingKey) : '';
      const key = this.layout.bindingKey(binding.exchange);
      const member = this.layout.bindingMember(binding.routingKey, pattern, queue.name);
      const id = `${key}\u0000${member}`;
      if (this.declaredBindings.has(id)) continue;
      this.bindingCache.delete(binding.exchange);
      adds.push(
        client.sadd(key, member).then(() => {
          this.declaredBindings.set(id, { key, member });
        }),
      );
    }
    try {
      await Promise.all(adds);
    } catch (err) {
      throw brokerError(`could not declare queue ${queue.name} on`, this.endpoint.display, err);
    }
    if (this.declaredQueues.size > 10_000) this.declaredQueues.clear();
    this.declaredQueues.add(declarationKey);
  }

  /** The binding set of an exchange, cached for a second (a lookup that finds no queue re-reads it). */
  private async bindings(exchange: string, fresh = false): Promise<Binding[]> {
    const cached = this.bindingCache.get(exchange);
    const now = Date.now();
    if (cached && !fresh && now - cached.at < 1000) return cached.bindings;
    const members = await this.commands().smembers(this.layout.bindingKey(exchange));
    const bindings: Binding[] = [];
    for (const member of members) {
      const parsed = this.layout.parseBindingMember(member);
      if (parsed) bindings.push(parsed);
    }
    this.bindingCache.set(exchange, { at: now, bindings });
    return bindings;
  }

  /** kombu's `_lookup`: the queues a message for (exchange, routing key) goes to. */
  private async lookup(exchange: string, routingKey: string, type: ExchangeType): Promise<string[]> {
    if (exchange === '') return [routingKey];
    const match = (bindings: Binding[]): string[] => {
      const queues = new Set<string>();
      for (const b of bindings) {
        if (type === 'topic') {
          // Bindings without a pattern are kombu's fanout bindings (event receivers): not for lists.
          if (!b.pattern) continue;
          if (b.regex === undefined) {
            try {
              b.regex = new RegExp(b.pattern);
            } catch {
              b.regex = null;
            }
          }
          if (b.regex?.test(routingKey)) queues.add(b.queue);
        } else if (b.routingKey === routingKey) {
          queues.add(b.queue);
        }
      }
      return [...queues];
    };
    const cached = this.bindingCache.has(exchange);
    let queues = match(await this.bindings(exchange));
    // No negative caching: a binding another process just added is seen on the next publish.
    if (queues.length === 0 && type === 'direct' && cached) queues = match(await this.bindings(exchange, true));
    return queues;
  }

  // -- publishing --------------------------------------------------------------------------

  publish(message: RawMessage, target: PublishTarget, options: PublishOptions = {}): Promise<void> {
    // The hot path (a task to a queue through the default exchange) costs no promise of its own.
    if (this.client && !this.closed && target.exchange === '' && (!options.declare || this.allDeclared(options.declare))) {
      let envelope: string;
      try {
        envelope = encodeEnvelope(message, '', target.routingKey, uuid());
      } catch (err) {
        return Promise.reject(envelopeError(err));
      }
      return this.push(target.routingKey, message.properties.priority, envelope);
    }
    return this.publishRouted(message, target, options);
  }

  private async publishRouted(message: RawMessage, target: PublishTarget, options: PublishOptions): Promise<void> {
    if (this.closed) throw new BrokerError('the Redis broker is closed', { retryable: false });
    const client = this.client ?? (await this.ready());
    if (options.declare) for (const queue of options.declare) await this.declareQueue(queue);
    const { exchange, routingKey } = target;
    let envelope: string;
    try {
      envelope = encodeEnvelope(message, exchange, routingKey, uuid());
    } catch (err) {
      throw envelopeError(err);
    }
    try {
      if (exchange === '') {
        await this.push(routingKey, message.properties.priority, envelope);
        return;
      }
      const type = this.exchangeType(exchange, target.exchangeType);
      if (type === 'fanout') {
        await client.publish(this.layout.channel(exchange, routingKey), envelope);
        return;
      }
      const queues = await this.lookup(exchange, routingKey, type);
      const sends: Promise<unknown>[] = queues.map((queue) => this.push(queue, message.properties.priority, envelope));
      // Topic exchanges also broadcast, for `subscribe` (events use a topic exchange on AMQP).
      if (type === 'topic') sends.push(client.publish(this.layout.channel(exchange, routingKey), envelope));
      else if (queues.length === 0) this.unroutable(exchange, routingKey);
      await Promise.all(sends);
    } catch (err) {
      throw brokerError(`could not publish to exchange ${JSON.stringify(exchange)} (routing key ${JSON.stringify(routingKey)}) on`, this.endpoint.display, err);
    }
  }

  private unroutable(exchange: string, routingKey: string): void {
    const id = `${exchange}\u0000${routingKey}`;
    if (this.warnedUnroutable.has(id)) return;
    if (this.warnedUnroutable.size > 1000) this.warnedUnroutable.clear();
    this.warnedUnroutable.add(id);
    this.logger.warn(`[broker-redis] a message to exchange ${JSON.stringify(exchange)} with routing key ${JSON.stringify(routingKey)} matched no queue and was dropped (no binding in ${this.layout.bindingKey(exchange)})`);
  }

  private push(queue: string, priority: unknown, envelope: string): Promise<void> {
    const key = this.layout.listKey(queue, envelopePriority({ priority }));
    const pushed = this.pushes.add(key, envelope);
    const expires = this.queueExpires.get(queue);
    if (expires === undefined) return pushed;
    return pushed.then(async () => {
      await Promise.all(this.layout.queueKeys(queue).map((k) => this.commands().pexpire(k, expires)));
    });
  }

  /**
   * One LPUSH per batch, written at once (not through the auto-pipeline: that would copy a batch
   * of many messages into a pipeline's buffer first, and hold it while an earlier one is answered).
   */
  private flushPush(key: string, values: string[]): Promise<unknown> {
    const command = new Command('lpush', [key, ...values]);
    void this.commands().sendCommand(command);
    return command.promise.catch((err: unknown) => {
      throw brokerError(`could not publish ${values.length} message(s) to ${JSON.stringify(key)} on`, this.endpoint.display, err);
    });
  }

  // -- consuming ---------------------------------------------------------------------------

  async consume(queues: QueueDeclaration[], onMessage: (delivery: Delivery) => void, options: ConsumeOptions): Promise<Consumer> {
    if (this.closed) throw new BrokerError('the Redis broker is closed', { retryable: false });
    await this.ready();
    await this.consumerConnection.ready();
    for (const queue of queues) await this.declareQueue(queue);
    const consumer = new RedisConsumer(this, queues.map((q) => q.name), onMessage, options);
    this.consumers.add(consumer);
    this.startRestorer();
    consumer.start();
    return consumer;
  }

  /**
   * Pop up to `max` messages for a consumer, registered as unacknowledged, in one round trip that
   * also carries the acks waiting to be sent (they are applied first).
   */
  async pop(consumer: RedisConsumer, max: number): Promise<Array<{ queue: string; raw: string; tag: string }>> {
    const client = this.consuming();
    const names = [...consumer.queueNames];
    const version = consumer.version;
    const nq = names.length;
    const keys: string[] = [this.layout.unacked, this.layout.unackedIndex];
    for (let s = 0; s < this.layout.steps.length; s++) {
      for (const name of names) keys.push(this.layout.queueKeys(name)[s]!);
    }
    const order = consumer.order();
    const rotate = this.options.queueOrderStrategy === 'round_robin' ? '1' : '0';
    const acks = this.acks.take('');
    let reply: string[];
    try {
      reply = (await client.tqPop(keys.length, ...keys, max, String(nowSeconds()), nq, rotate, ...names, ...order, ...(acks ? acks.items : []))) as string[];
    } catch (err) {
      // The pop failed, not necessarily the acks: they go out again on their own (an ack applied
      // twice is harmless), so a failed pop never brings acknowledged messages back.
      if (acks) {
        Promise.all(acks.items.map((tag) => this.acks.add('', tag))).then(
          () => acks.done(),
          (ackErr: unknown) => acks.done(ackErr),
        );
      }
      throw err;
    }
    acks?.done();
    const out: Array<{ queue: string; raw: string; tag: string }> = [];
    for (let i = 0; i + 2 < reply.length; i += 3) {
      out.push({ queue: names[Number(reply[i]) - 1]!, raw: String(reply[i + 1]), tag: String(reply[i + 2]) });
    }
    const finalOrder = reply[reply.length - 1];
    if (typeof finalOrder === 'string' && finalOrder) consumer.setOrder(finalOrder.split(',').map(Number), version);
    return out;
  }

  /** Register a message a BRPOP returned (kombu's QoS.append); null when it is not an envelope. */
  async register(queue: string, raw: string): Promise<string | null> {
    const tag = await this.consuming().tqRegister(this.layout.unacked, this.layout.unackedIndex, raw, queue, String(nowSeconds()));
    return tag ? String(tag) : null;
  }

  /** Hand a popped message to its consumer, or drop it with a logged reason if it is not an envelope. */
  deliver(consumer: RedisConsumer, queue: string, raw: string, tag: string): void {
    if (!tag) {
      this.logger.error(`[broker-redis] dropped a message from queue ${queue}: not a kombu envelope (invalid JSON): ${preview(raw)}`);
      return;
    }
    let decoded: DecodedEnvelope;
    try {
      decoded = decodeEnvelope(raw, queue);
    } catch (err) {
      this.logger.error(`[broker-redis] dropped a message from queue ${queue}: ${(err as Error).message.replace(/^\[tq\] /, '')}: ${preview(raw)}`);
      void this.acks.add('', tag).catch(() => undefined);
      return;
    }
    const delivery = new RedisDelivery(this, consumer, queue, tag, raw, decoded);
    const previous = this.unsettled.get(tag);
    if (previous) previous.stale = true;
    this.unsettled.set(tag, delivery);
    consumer.inflight++;
    try {
      consumer.onMessage(delivery);
    } catch (err) {
      this.logger.error(`[broker-redis] the message handler of queue ${queue} threw: ${(err as Error).message}`);
    }
  }

  /** Put one popped message back at the head of its list (RPUSH), as it was. */
  pushBack(key: string, raw: string): Promise<unknown> {
    return this.commands().rpush(key, raw);
  }

  /** Put messages popped for a consumer that stopped back at the head of their lists, untouched. */
  async giveBack(items: Array<{ queue: string; raw: string; tag: string }>): Promise<void> {
    for (const item of [...items].reverse()) {
      if (!item.tag) continue;
      let priority = 0;
      try {
        priority = envelopePriority((JSON.parse(item.raw) as { properties?: unknown }).properties);
      } catch {
        // Malformed: it was not registered either; nothing to put back.
        continue;
      }
      const key = this.layout.listKey(item.queue, priority);
      await this.commands().tqRequeue(3, this.layout.unacked, this.layout.unackedIndex, key, item.tag, item.raw, 'R', '');
    }
  }

  /** Settle a delivery. Stale deliveries (restored and delivered again since) change only local state. */
  settle(delivery: RedisDelivery, how: 'ack' | 'requeue' | 'drop'): Promise<void> {
    if (delivery.settled) return RESOLVED;
    delivery.settled = true;
    delivery.consumer.release();
    const current = this.unsettled.get(delivery.deliveryTag) === delivery;
    if (current) this.unsettled.delete(delivery.deliveryTag);
    if (!current || delivery.stale || !this.client) return RESOLVED;
    if (how !== 'requeue') return this.acks.add('', delivery.deliveryTag);
    // kombu's reject(requeue=True): LPUSH to the tail, flagged as redelivered.
    return this.requeue(delivery, 'L').then(
      () => undefined,
      (err: unknown) => {
        throw brokerError(`could not requeue message ${delivery.deliveryTag} on`, this.endpoint.display, err);
      },
    );
  }

  private async requeue(delivery: RedisDelivery, side: 'L' | 'R'): Promise<number> {
    const key = this.layout.listKey(delivery.queue, envelopePriority({ priority: delivery.info.priority }));
    return this.commands().tqRequeue(3, this.layout.unacked, this.layout.unackedIndex, key, delivery.deliveryTag, markRedelivered(delivery.raw), side, '');
  }

  touch(delivery: RedisDelivery): Promise<void> {
    if (delivery.settled || delivery.stale || !this.client) return RESOLVED;
    return this.touches.add('', delivery.deliveryTag);
  }

  // -- visibility timeout ------------------------------------------------------------------

  private startRestorer(): void {
    if (this.restoreTimer || this.closed) return;
    const tick = () => {
      this.restoreTimer = setTimeout(tick, this.options.unackedRestoreInterval * 1000);
      this.restoreTimer.unref();
      void this.restoreVisible().catch((err: unknown) => this.logger.warn(`[broker-redis] the visibility-timeout sweep failed: ${(err as Error).message}`));
    };
    tick();
  }

  private stopRestorer(): void {
    if (this.restoreTimer) clearTimeout(this.restoreTimer);
    this.restoreTimer = null;
  }

  /**
   * kombu's `restore_visible`: under `unacked_mutex`, put back every message delivered more
   * than `visibilityTimeout` seconds ago (and not touched since), flagged as redelivered, at the
   * head of its queue. Resolves to how many were restored.
   */
  restoreVisible(): Promise<number> {
    this.restoring ??= this.sweep().finally(() => {
      this.restoring = null;
    });
    return this.restoring;
  }

  private async sweep(): Promise<number> {
    const client = this.client;
    if (!client || this.closed) return 0;
    const token = uuid();
    const locked = await client.set(this.layout.unackedMutex, token, 'PX', Math.round(this.options.unackedMutexExpire * 1000), 'NX');
    if (locked !== 'OK') return 0;
    let restored = 0;
    try {
      const ceiling = nowSeconds() - this.visibilityTimeout;
      const limit = this.options.unackedRestoreLimit;
      const due = limit
        ? await client.zrevrangebyscore(this.layout.unackedIndex, ceiling, 0, 'LIMIT', 0, limit)
        : await client.zrevrangebyscore(this.layout.unackedIndex, ceiling, 0);
      for (const tag of due) {
        const stored = await client.hget(this.layout.unacked, tag);
        let payload = '';
        let keys: string[] = [];
        if (stored !== null) {
          try {
            const [envelope, exchange, routingKey] = JSON.parse(stored) as [unknown, unknown, unknown];
            markObjectRedelivered(envelope);
            payload = pyJsonDumps(envelope);
            const queues = await this.lookup(typeof exchange === 'string' ? exchange : '', typeof routingKey === 'string' ? routingKey : '', this.exchangeType(String(exchange ?? '')));
            const priority = envelopePriority((envelope as { properties?: unknown }).properties);
            keys = queues.map((queue) => this.layout.listKey(queue, priority));
          } catch (err) {
            this.logger.error(`[broker-redis] could not restore message ${tag}: ${(err as Error).message}; it is dropped`);
          }
        }
        const n = await client.tqRequeue(2 + keys.length, this.layout.unacked, this.layout.unackedIndex, ...keys, tag, payload, 'R', String(ceiling));
        if (n && payload) restored++;
      }
    } finally {
      await client.tqRelease(this.layout.unackedMutex, token).catch(() => undefined);
    }
    if (restored > 0) this.logger.warn(`[broker-redis] restored ${restored} unacknowledged message(s) older than the visibility timeout (${this.visibilityTimeout}s)`);
    return restored;
  }

  // -- fanout ------------------------------------------------------------------------------

  async subscribe(
    exchange: string,
    bindingKey: string,
    onMessage: (message: RawMessage, routingKey: string) => void,
    options: { exchangeType?: ExchangeType; queueName?: string; messageTtl?: number; expires?: number } = {},
  ): Promise<Subscription> {
    if (this.closed) throw new BrokerError('the Redis broker is closed', { retryable: false });
    const client = this.client ?? (await this.ready());
    const type = options.exchangeType ?? this.exchangeTypes.get(exchange) ?? 'fanout';
    const base = this.layout.channel(exchange, '');
    const escaped = globEscape(base);
    const patterns =
      type === 'fanout' || bindingKey === '#'
        ? [escaped, `${escaped}/*`]
        : bindingKey === ''
          ? [escaped]
          : [`${escaped}/${bindingKey.replace(/#/g, '*')}`];
    const handler: SubscriptionHandler = { base, onMessage };
    const subscriber = await this.ensureSubscriber();
    const fresh: string[] = [];
    for (const pattern of patterns) {
      let set = this.patternHandlers.get(pattern);
      if (!set) {
        this.patternHandlers.set(pattern, (set = new Set()));
        fresh.push(pattern);
      }
      set.add(handler);
    }
    try {
      if (fresh.length > 0) await subscriber.psubscribe(...fresh);
    } catch (err) {
      for (const pattern of patterns) this.patternHandlers.get(pattern)?.delete(handler);
      throw brokerError(`could not subscribe to exchange ${JSON.stringify(exchange)} on`, this.endpoint.display, err);
    }
    // kombu records the fanout queue's binding too; it is removed again when the subscription ends.
    let member: { key: string; member: string } | null = null;
    if (options.queueName) {
      member = { key: this.layout.bindingKey(exchange), member: this.layout.bindingMember(bindingKey, '', options.queueName) };
      await client.sadd(member.key, member.member).catch(() => undefined);
    }
    let closed = false;
    return {
      close: async () => {
        if (closed) return;
        closed = true;
        const gone: string[] = [];
        for (const pattern of patterns) {
          const set = this.patternHandlers.get(pattern);
          if (!set) continue;
          set.delete(handler);
          if (set.size === 0) {
            this.patternHandlers.delete(pattern);
            gone.push(pattern);
          }
        }
        if (gone.length > 0 && this.subscriber && this.subscriber.status === 'ready') await this.subscriber.punsubscribe(...gone).catch(() => undefined);
        if (member && this.client?.status === 'ready') await this.client.srem(member.key, member.member).catch(() => undefined);
      },
    };
  }

  private async ensureSubscriber(): Promise<Redis> {
    if (this.subscriber) return this.subscriber;
    const subscriber = this.connection('subscriber', 'tq-broker-fanout');
    subscriber.on('pmessage', (pattern: string, channel: string, data: string) => this.onBroadcast(pattern, channel, data));
    this.subscriber = subscriber;
    await connectOnce(subscriber, (err) => brokerError('cannot connect to', this.endpoint.display, err)).catch((err: unknown) => {
      this.subscriber = null;
      throw err;
    });
    return subscriber;
  }

  private onBroadcast(pattern: string, channel: string, data: string): void {
    const handlers = this.patternHandlers.get(pattern);
    if (!handlers || handlers.size === 0) return;
    let decoded: DecodedEnvelope;
    try {
      decoded = decodeEnvelope(data);
    } catch (err) {
      this.logger.warn(`[broker-redis] ignored a broadcast on ${JSON.stringify(channel)}: ${(err as Error).message.replace(/^\[tq\] /, '')}`);
      return;
    }
    for (const handler of handlers) {
      const routingKey = channel.length > handler.base.length ? channel.slice(handler.base.length + 1) : '';
      try {
        handler.onMessage(decoded.message, routingKey);
      } catch (err) {
        this.logger.error(`[broker-redis] a subscriber of ${JSON.stringify(channel)} threw: ${(err as Error).message}`);
      }
    }
  }

  // -- inspection --------------------------------------------------------------------------

  async queueLength(queue: string): Promise<number> {
    const client = this.client ?? (await this.ready());
    try {
      const lengths = await Promise.all(this.layout.queueKeys(queue).map((key) => client.llen(key)));
      return lengths.reduce((a, b) => a + b, 0);
    } catch (err) {
      throw brokerError(`could not read the length of queue ${queue} on`, this.endpoint.display, err);
    }
  }

  async purge(queue: string): Promise<number> {
    const client = this.client ?? (await this.ready());
    const keys = this.layout.queueKeys(queue);
    try {
      return await client.tqPurge(keys.length, ...keys);
    } catch (err) {
      throw brokerError(`could not purge queue ${queue} on`, this.endpoint.display, err);
    }
  }

  /** The commands connection, for CLIENT UNBLOCK. */
  connectionForControl(): Redis | null {
    return this.client;
  }

  /** Deliveries handed out by this broker and not settled (for tests and inspection). */
  unackedCount(): number {
    return this.unsettled.size;
  }

  // -- shutdown ----------------------------------------------------------------------------

  /**
   * Stop consuming, put every unsettled delivery back at the head of its queue (RPUSH, flagged as
   * redelivered, as kombu does at shutdown) and close the connections.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopRestorer();
    await Promise.allSettled([...this.consumers].map((consumer) => consumer.stop()));
    this.consumers.clear();
    await Promise.allSettled([this.pushes.drain(), this.acks.drain(), this.touches.drain()]);
    await this.restoring?.catch(() => undefined);
    const held = [...this.unsettled.values()].reverse();
    this.unsettled.clear();
    for (const delivery of held) {
      delivery.settled = true;
      if (delivery.stale || !this.client) continue;
      try {
        await this.requeue(delivery, 'R');
      } catch (err) {
        this.logger.warn(`[broker-redis] could not return message ${delivery.deliveryTag} to queue ${delivery.queue} at shutdown (the visibility timeout will): ${(err as Error).message}`);
      }
    }
    this.patternHandlers.clear();
    const subscriber = this.subscriber;
    this.subscriber = null;
    await Promise.allSettled([quit(this.commandsConnection.take()), quit(subscriber), quit(this.consumerConnection.take())]);
  }
}

/** Close a connection politely, or at once if it is not connected. */
export async function quit(client: Redis | null): Promise<void> {
  if (!client) return;
  if (client.status === 'ready') {
    try {
      await Promise.race([client.quit(), sleep(2000)]);
    } catch {
      // Closing anyway.
    }
  }
  client.disconnect();
}

/** Headers or properties JSON cannot carry: not retryable, and it says which. */
function envelopeError(err: unknown): Error {
  return new EncodeError(`cannot encode the message's headers or properties as JSON: ${(err as Error).message}`, err);
}

function preview(raw: string): string {
  return JSON.stringify(raw.length > 200 ? `${raw.slice(0, 200)}…` : raw);
}

export class RedisDelivery implements Delivery {
  readonly message: RawMessage;
  readonly info: DeliveryInfo;
  settled = false;
  /** Restored and delivered again since: settling it must not touch the new registration. */
  stale = false;

  constructor(
    private readonly broker: RedisBroker,
    readonly consumer: RedisConsumer,
    readonly queue: string,
    readonly deliveryTag: string,
    /** The envelope as it was in the list (restores push it back with the redelivered flags). */
    readonly raw: string,
    decoded: DecodedEnvelope,
  ) {
    this.message = decoded.message;
    this.info = { exchange: decoded.exchange, routingKey: decoded.routingKey, priority: decoded.priority, redelivered: decoded.redelivered };
  }

  ack(): Promise<void> {
    return this.broker.settle(this, 'ack');
  }

  reject(requeue: boolean): Promise<void> {
    // Redis has no dead-letter exchange: a message rejected without requeue is dropped.
    return this.broker.settle(this, requeue ? 'requeue' : 'drop');
  }

  /** Refresh the message's `unacked_index` score so the visibility sweep leaves it alone. */
  touch(): Promise<void> {
    return this.broker.touch(this);
  }
}

/**
 * One consumer: a loop that pops batches (non-blocking, atomic with registration) while there is
 * prefetch room, and blocks in BRPOP on its own connection when the queues are empty. It never
 * stops on an error: it backs off and tries again, so it resumes by itself after a reconnect.
 */
export class RedisConsumer implements Consumer {
  inflight = 0;
  readonly queueNames: string[];
  /** Bumped whenever the queue list changes, so a reply computed for an older list is ignored. */
  version = 0;
  private cycle: number[];
  private prefetch: number;
  private stopped = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private blocking: Redis | null = null;
  private blockingId: number | null = null;
  private inBrpop = false;
  private failures = 0;

  constructor(
    private readonly broker: RedisBroker,
    queues: string[],
    readonly onMessage: (delivery: Delivery) => void,
    options: ConsumeOptions,
  ) {
    this.queueNames = [...new Set(queues)];
    this.cycle = this.initialOrder();
    this.prefetch = Math.max(0, Math.trunc(options.prefetch));
  }

  get queues(): readonly string[] {
    return this.queueNames;
  }

  private initialOrder(): number[] {
    const indices = this.queueNames.map((_, i) => i + 1);
    if (this.broker.options.queueOrderStrategy === 'sorted') {
      indices.sort((a, b) => (this.queueNames[a - 1]! < this.queueNames[b - 1]! ? -1 : 1));
    }
    return indices;
  }

  /** The queue cycle as 1-based indices into `queueNames`. */
  order(): number[] {
    return this.cycle;
  }

  setOrder(order: number[], version: number): void {
    if (version === this.version && order.length === this.queueNames.length) this.cycle = order;
  }

  start(): void {
    this.loop ??= this.run().catch((err: unknown) => {
      this.broker.logger.error(`[broker-redis] the consumer of ${this.queueNames.join(', ')} stopped: ${(err as Error).message}`);
    });
  }

  /** Room for more deliveries, in messages (the batch size when prefetch is unlimited). */
  private room(): number {
    const batch = this.broker.options.batchSize;
    if (this.prefetch === 0) return batch;
    return Math.min(batch, this.prefetch - this.inflight);
  }

  /** Pop when this much room is free: fewer, larger round trips when the worker is busy. */
  private lowWater(): number {
    if (this.prefetch === 0) return 1;
    return Math.max(1, Math.min(this.broker.options.batchSize, Math.floor(this.prefetch / 4)));
  }

  release(): void {
    this.inflight--;
    if (this.wake && this.room() >= this.lowWater()) this.signal();
  }

  private signal(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private waitForChange(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (this.queueNames.length === 0 || this.room() < this.lowWater()) {
          await this.waitForChange();
          continue;
        }
        const items = await this.broker.pop(this, this.room());
        if (this.stopped) {
          await this.broker.giveBack(items);
          break;
        }
        if (this.failures > 0) this.recovered();
        if (items.length > 0) {
          for (const item of items) this.broker.deliver(this, item.queue, item.raw, item.tag);
          continue;
        }
        await this.blockingPop();
      } catch (err) {
        if (this.stopped) break;
        this.failures++;
        const wait = Math.min(5000, 100 * 2 ** Math.min(this.failures - 1, 6));
        const log = this.failures === 1 ? this.broker.logger.warn : this.broker.logger.debug;
        log.call(this.broker.logger, `[broker-redis] consuming ${this.queueNames.join(', ')} failed (${(err as Error).message.replace(/^\[tq\] /, '')}); retrying in ${wait} ms`);
        await Promise.race([sleep(wait), this.waitForChange()]);
      }
    }
  }

  private recovered(): void {
    this.broker.logger.info(`[broker-redis] consuming ${this.queueNames.join(', ')} again`);
    this.failures = 0;
  }

  /** BRPOP over the queues' lists in kombu's order; a message it returns is registered at once. */
  private async blockingPop(): Promise<void> {
    const blocking = await this.blockingConnection();
    if (this.stopped) return;
    const names = [...this.queueNames];
    const version = this.version;
    const layout = this.broker.layout;
    const keys: string[] = [];
    const queueOfKey = new Map<string, number>();
    for (let s = 0; s < layout.steps.length; s++) {
      for (const q of this.cycle) {
        const key = layout.queueKeys(names[q - 1]!)[s]!;
        keys.push(key);
        queueOfKey.set(key, q);
      }
    }
    if (this.blockingId === null) this.blockingId = Number(await blocking.client('ID'));
    if (this.stopped) return;
    const timeout = this.broker.options.brpopTimeout;
    this.inBrpop = true;
    let reply: [string, string] | null;
    let watchdog: NodeJS.Timeout | undefined;
    let onClose: (() => void) | undefined;
    try {
      reply = await new Promise<[string, string] | null>((resolve, reject) => {
        // ioredis drops (never settles) a command in flight when its connection closes and
        // resending is off, which would leave this consumer idle for ever: fail it on 'close'.
        onClose = () => reject(new Error('the connection closed while waiting for messages'));
        blocking.once('close', onClose);
        // A half-open connection would leave BRPOP waiting for ever: drop it and reconnect.
        watchdog = setTimeout(() => blocking.disconnect(true), (timeout + 10) * 1000);
        blocking.brpop(...keys, timeout).then(resolve, reject);
      });
    } finally {
      clearTimeout(watchdog);
      if (onClose) blocking.off('close', onClose);
      this.inBrpop = false;
    }
    if (!reply) return;
    const [key, raw] = reply;
    const q = queueOfKey.get(key);
    const queue = q === undefined ? names[0]! : names[q - 1]!;
    let tag: string;
    try {
      tag = (await this.broker.register(queue, raw)) ?? '';
    } catch (err) {
      // Popped but not registered (the connection failed in between): put it back at the head.
      await this.broker.pushBack(key, raw).catch(() => undefined);
      throw err;
    }
    if (q !== undefined && this.broker.options.queueOrderStrategy === 'round_robin' && this.cycle.length > 1 && version === this.version) {
      this.cycle = [...this.cycle.filter((i) => i !== q), q];
    }
    if (this.stopped) {
      await this.broker.giveBack([{ queue, raw, tag }]);
      return;
    }
    this.broker.deliver(this, queue, raw, tag);
  }

  private async blockingConnection(): Promise<Redis> {
    if (this.blocking) return this.blocking;
    const blocking = this.broker.connection('blocking', 'tq-broker-consumer');
    blocking.on('ready', () => {
      this.blockingId = null;
    });
    this.blocking = blocking;
    await connectOnce(blocking, (err) => brokerError('cannot connect to', this.broker.endpoint.display, err)).catch((err: unknown) => {
      this.blocking = null;
      blocking.disconnect();
      throw err;
    });
    return blocking;
  }

  /** Make a BRPOP in flight return now (CLIENT UNBLOCK), so the loop sees a change at once. */
  private async interrupt(): Promise<void> {
    this.signal();
    for (let i = 0; i < 200 && this.inBrpop; i++) {
      const id = this.blockingId;
      const client = this.broker.connectionForControl();
      if (id !== null && client) await client.client('UNBLOCK', id).catch(() => undefined);
      if (!this.inBrpop) break;
      await sleep(10);
    }
  }

  async setPrefetch(prefetch: number): Promise<void> {
    this.prefetch = Math.max(0, Math.trunc(prefetch));
    if (this.room() >= this.lowWater()) this.signal();
  }

  async addQueue(queue: QueueDeclaration): Promise<void> {
    await this.broker.declareQueue(queue);
    if (this.queueNames.includes(queue.name)) return;
    this.queueNames.push(queue.name);
    this.cycle = [...this.cycle, this.queueNames.length];
    this.version++;
    await this.interrupt();
  }

  async cancelQueue(name: string): Promise<void> {
    const i = this.queueNames.indexOf(name);
    if (i === -1) return;
    // Rebuild rather than splice: the cycle holds indices into the list.
    const kept = this.cycle.map((q) => this.queueNames[q - 1]!).filter((n) => n !== name);
    this.queueNames.splice(i, 1);
    this.cycle = kept.map((n) => this.queueNames.indexOf(n) + 1);
    this.version++;
    await this.interrupt();
  }

  async cancel(): Promise<void> {
    await this.stop();
    this.broker.consumers.delete(this);
  }

  /** Stop the loop (returning anything popped meanwhile) and close the blocking connection. */
  async stop(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      await this.interrupt();
    }
    // The loop ends within a BRPOP timeout; past a few seconds (a server that is gone) stop waiting.
    await Promise.race([this.loop, sleep(5000)]);
    const blocking = this.blocking;
    this.blocking = null;
    if (blocking) blocking.disconnect();
  }
}
