/**
 * The `memory://` broker: an in-process transport with no server, the embedded default and the
 * reference implementation of the Broker contract. It has every capability: priorities (highest
 * first), delayed delivery, direct/topic/fanout exchanges, dead-lettering, queue length, purge.
 *
 * Everything lives in this process: a worker and a client share it only when they share the
 * broker object (the same App, or `broker: sameBrokerInstance`). Nothing survives a restart.
 */
import type { RawMessage } from '@tq/protocol';
import type {
  Broker,
  BrokerCapabilities,
  ConsumeOptions,
  Consumer,
  Delivery,
  ExchangeType,
  PublishOptions,
  PublishTarget,
  QueueDeclaration,
  Subscription,
} from '../broker.js';
import { BrokerError } from '../errors.js';

interface Stored {
  message: RawMessage;
  priority: number;
  exchange: string;
  routingKey: string;
  redelivered: boolean;
}

/** A FIFO with O(1) push and shift, and unshift for requeued messages. */
class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }
  push(item: T): void {
    this.items.push(item);
  }
  unshift(item: T): void {
    if (this.head > 0) this.items[--this.head] = item;
    else this.items.unshift(item);
  }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
  clear(): number {
    const n = this.length;
    this.items = [];
    this.head = 0;
    return n;
  }
}

class MemoryQueue {
  /** Priority → FIFO; priorities kept sorted highest first. */
  private readonly levels = new Map<number, Fifo<Stored>>();
  private order: number[] = [];
  size = 0;
  readonly consumers: MemoryConsumer[] = [];
  private cursor = 0;

  constructor(public declaration: QueueDeclaration) {}

  push(stored: Stored, front = false): void {
    let level = this.levels.get(stored.priority);
    if (!level) {
      level = new Fifo<Stored>();
      this.levels.set(stored.priority, level);
      this.order = [...this.levels.keys()].sort((a, b) => b - a);
    }
    if (front) level.unshift(stored);
    else level.push(stored);
    this.size++;
  }

  shift(): Stored | undefined {
    for (const p of this.order) {
      const item = this.levels.get(p)!.shift();
      if (item) {
        this.size--;
        return item;
      }
    }
    return undefined;
  }

  purge(): number {
    let n = 0;
    for (const level of this.levels.values()) n += level.clear();
    this.size = 0;
    return n;
  }

  /** The next consumer with a free prefetch slot, round robin. */
  nextConsumer(): MemoryConsumer | undefined {
    const count = this.consumers.length;
    for (let i = 0; i < count; i++) {
      const consumer = this.consumers[(this.cursor + i) % count]!;
      if (consumer.hasCapacity()) {
        this.cursor = (this.cursor + i + 1) % count;
        return consumer;
      }
    }
    return undefined;
  }
}

interface Binding {
  queue: string;
  key: string;
}

interface Subscriber {
  key: string;
  onMessage: (message: RawMessage, routingKey: string) => void;
}

interface Exchange {
  type: ExchangeType;
  bindings: Binding[];
  subscribers: Subscriber[];
}

/** AMQP topic matching: words split on `.`, `*` one word, `#` zero or more. */
export function topicMatches(pattern: string, key: string): boolean {
  if (pattern === '#' || pattern === key) return true;
  const p = pattern.split('.');
  const k = key.split('.');
  const match = (i: number, j: number): boolean => {
    if (i === p.length) return j === k.length;
    if (p[i] === '#') {
      for (let n = j; n <= k.length; n++) if (match(i + 1, n)) return true;
      return false;
    }
    if (j === k.length) return false;
    return (p[i] === '*' || p[i] === k[j]) && match(i + 1, j + 1);
  };
  return match(0, 0);
}

class MemoryConsumer implements Consumer {
  inflight = 0;
  cancelled = false;
  readonly queueNames: string[];

  constructor(
    private readonly broker: MemoryBroker,
    queues: string[],
    readonly onMessage: (delivery: Delivery) => void,
    public prefetch: number,
  ) {
    this.queueNames = queues;
  }

  get queues(): readonly string[] {
    return this.queueNames;
  }

  hasCapacity(): boolean {
    return !this.cancelled && (this.prefetch === 0 || this.inflight < this.prefetch);
  }

  async setPrefetch(prefetch: number): Promise<void> {
    this.prefetch = prefetch;
    this.broker.scheduleDispatch();
  }

  async addQueue(queue: QueueDeclaration): Promise<void> {
    await this.broker.declareQueue(queue);
    if (this.queueNames.includes(queue.name)) return;
    this.queueNames.push(queue.name);
    this.broker.attach(this, queue.name);
  }

  async cancelQueue(name: string): Promise<void> {
    const i = this.queueNames.indexOf(name);
    if (i === -1) return;
    this.queueNames.splice(i, 1);
    this.broker.detach(this, name);
  }

  async cancel(): Promise<void> {
    if (this.cancelled) return;
    this.cancelled = true;
    for (const name of [...this.queueNames]) this.broker.detach(this, name);
  }
}

interface Delayed {
  at: number;
  message: RawMessage;
  target: PublishTarget;
}

class MemoryDelivery implements Delivery {
  readonly message: RawMessage;
  readonly deliveryTag: string;
  readonly info: Delivery['info'];

  constructor(
    private readonly broker: MemoryBroker,
    private readonly tag: number,
    readonly queue: string,
    stored: Stored,
  ) {
    this.message = stored.message;
    this.deliveryTag = String(tag);
    const priority = stored.message.properties.priority;
    this.info = { exchange: stored.exchange, routingKey: stored.routingKey, priority: typeof priority === 'number' ? priority : null, redelivered: stored.redelivered };
  }

  async ack(): Promise<void> {
    this.broker.settle(this.tag, 'ack');
  }

  async reject(requeue: boolean): Promise<void> {
    this.broker.settle(this.tag, requeue ? 'requeue' : 'drop');
  }
}

export interface MemoryBrokerOptions {
  /** Stop accepting publishes beyond this many waiting messages in one queue (0: unbounded). */
  maxQueueLength?: number;
}

export class MemoryBroker implements Broker {
  readonly name = 'memory';
  readonly capabilities: BrokerCapabilities = {
    priorities: 'higher-first',
    delayedDelivery: true,
    fanout: true,
    queueLength: true,
    purge: true,
    deadLetter: true,
    visibilityTimeout: false,
  };

  private readonly queues = new Map<string, MemoryQueue>();
  private readonly exchanges = new Map<string, Exchange>();
  private readonly unacked = new Map<number, { stored: Stored; queue: string; consumer: MemoryConsumer }>();
  private delayed: Delayed[] = [];
  private delayTimer: NodeJS.Timeout | null = null;
  private nextTag = 1;
  private dispatchScheduled = false;
  private closed = false;

  constructor(private readonly options: MemoryBrokerOptions = {}) {}

  async connect(): Promise<void> {
    if (!this.closed) return;
    this.closed = false;
    this.armDelayTimer();
  }

  async declareExchange(name: string, type: ExchangeType): Promise<void> {
    this.exchange(name, type);
  }

  private exchange(name: string, type: ExchangeType = 'direct'): Exchange {
    let exchange = this.exchanges.get(name);
    if (!exchange) {
      exchange = { type, bindings: [], subscribers: [] };
      this.exchanges.set(name, exchange);
    }
    return exchange;
  }

  async declareQueue(declaration: QueueDeclaration): Promise<void> {
    this.declare(declaration);
  }

  private declare(declaration: QueueDeclaration): void {
    this.queue(declaration.name, declaration);
    for (const binding of declaration.bindings ?? []) {
      if (binding.exchange === '') continue;
      const exchange = this.exchange(binding.exchange, binding.exchangeType);
      if (!exchange.bindings.some((b) => b.queue === declaration.name && b.key === binding.routingKey)) {
        exchange.bindings.push({ queue: declaration.name, key: binding.routingKey });
      }
    }
  }

  private queue(name: string, declaration?: QueueDeclaration): MemoryQueue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new MemoryQueue(declaration ?? { name });
      this.queues.set(name, queue);
    } else if (declaration && declaration !== queue.declaration) {
      queue.declaration = { ...queue.declaration, ...declaration };
    }
    return queue;
  }

  publish(message: RawMessage, target: PublishTarget, options?: PublishOptions): Promise<void> {
    // Not an async function: a publish with no options (every send after a queue's first) is a
    // synchronous enqueue, and an async function's promise and state cost more than the enqueue.
    try {
      if (this.closed) throw new BrokerError('the memory broker is closed', { retryable: false });
      if (options === undefined) {
        this.route(message, target);
        return Promise.resolve();
      }
      for (const declaration of options.declare ?? []) this.declare(declaration);
      if (options.deliverAt !== undefined && options.deliverAt > Date.now()) this.addDelayed({ at: options.deliverAt, message, target });
      else this.route(message, target);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private route(message: RawMessage, target: PublishTarget): void {
    const priority = typeof message.properties.priority === 'number' ? message.properties.priority : 0;
    if (target.exchange === '') {
      this.enqueue(target.routingKey, { message, priority, exchange: '', routingKey: target.routingKey, redelivered: false });
      return;
    }
    const exchange = this.exchanges.get(target.exchange) ?? this.exchange(target.exchange, target.exchangeType);
    for (const binding of exchange.bindings) {
      if (this.bindingMatches(exchange.type, binding.key, target.routingKey)) {
        this.enqueue(binding.queue, { message, priority, exchange: target.exchange, routingKey: target.routingKey, redelivered: false });
      }
    }
    for (const subscriber of exchange.subscribers) {
      if (this.bindingMatches(exchange.type, subscriber.key, target.routingKey)) {
        queueMicrotask(() => subscriber.onMessage(message, target.routingKey));
      }
    }
  }

  private bindingMatches(type: ExchangeType, key: string, routingKey: string): boolean {
    if (type === 'fanout') return true;
    if (type === 'topic') return topicMatches(key, routingKey);
    return key === routingKey;
  }

  private enqueue(name: string, stored: Stored, front = false): void {
    const queue = this.queue(name);
    const max = this.options.maxQueueLength ?? 0;
    if (max > 0 && queue.size >= max && !front) {
      throw new BrokerError(`memory queue ${name} is full (${max} messages)`, { retryable: true });
    }
    const maxPriority = queue.declaration.maxPriority;
    if (maxPriority !== undefined) stored.priority = Math.min(Math.max(stored.priority, 0), maxPriority);
    queue.push(stored, front);
    if (queue.consumers.length > 0) this.scheduleDispatch();
  }

  private addDelayed(entry: Delayed): void {
    // Kept sorted by time; inserts are binary-searched.
    let lo = 0;
    let hi = this.delayed.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.delayed[mid]!.at <= entry.at) lo = mid + 1;
      else hi = mid;
    }
    this.delayed.splice(lo, 0, entry);
    if (lo === 0) this.armDelayTimer();
  }

  private armDelayTimer(): void {
    if (this.delayTimer) clearTimeout(this.delayTimer);
    this.delayTimer = null;
    const first = this.delayed[0];
    if (!first || this.closed) return;
    this.delayTimer = setTimeout(() => this.releaseDue(), Math.max(0, first.at - Date.now()));
  }

  private releaseDue(): void {
    this.delayTimer = null;
    const now = Date.now();
    let n = 0;
    while (n < this.delayed.length && this.delayed[n]!.at <= now) n++;
    const due = this.delayed.splice(0, n);
    for (const entry of due) this.route(entry.message, entry.target);
    this.armDelayTimer();
  }

  scheduleDispatch(): void {
    if (this.dispatchScheduled) return;
    this.dispatchScheduled = true;
    queueMicrotask(() => {
      this.dispatchScheduled = false;
      this.dispatch();
    });
  }

  private dispatch(): void {
    for (const [name, queue] of this.queues) {
      while (queue.size > 0) {
        const consumer = queue.nextConsumer();
        if (!consumer) break;
        const stored = queue.shift()!;
        this.deliver(name, stored, consumer);
      }
    }
  }

  private deliver(queueName: string, stored: Stored, consumer: MemoryConsumer): void {
    const tag = this.nextTag++;
    consumer.inflight++;
    this.unacked.set(tag, { stored, queue: queueName, consumer });
    consumer.onMessage(new MemoryDelivery(this, tag, queueName, stored));
  }

  /** Settle a delivery: ack, requeue at the front, or dead-letter. No-op if already settled. */
  settle(tag: number, how: 'ack' | 'requeue' | 'drop'): void {
    const entry = this.unacked.get(tag);
    if (!entry) return;
    this.unacked.delete(tag);
    entry.consumer.inflight--;
    if (how === 'requeue') this.enqueue(entry.queue, { ...entry.stored, redelivered: true }, true);
    else if (how === 'drop') this.deadLetter(entry.queue, entry.stored);
    if (!entry.consumer.cancelled) this.scheduleDispatch();
  }

  private deadLetter(queueName: string, stored: Stored): void {
    const declaration = this.queues.get(queueName)?.declaration;
    if (!declaration?.deadLetterExchange && declaration?.deadLetterRoutingKey === undefined) return;
    const exchange = declaration.deadLetterExchange ?? '';
    const routingKey = declaration.deadLetterRoutingKey ?? stored.routingKey;
    const headers = { ...stored.message.headers, 'x-first-death-queue': queueName, 'x-first-death-reason': 'rejected' };
    this.route({ ...stored.message, headers }, { exchange, routingKey });
  }

  attach(consumer: MemoryConsumer, name: string): void {
    this.queue(name).consumers.push(consumer);
    this.scheduleDispatch();
  }

  detach(consumer: MemoryConsumer, name: string): void {
    const consumers = this.queues.get(name)?.consumers;
    if (!consumers) return;
    const i = consumers.indexOf(consumer);
    if (i !== -1) consumers.splice(i, 1);
  }

  async consume(queues: QueueDeclaration[], onMessage: (delivery: Delivery) => void, options: ConsumeOptions): Promise<Consumer> {
    if (this.closed) throw new BrokerError('the memory broker is closed', { retryable: false });
    for (const declaration of queues) await this.declareQueue(declaration);
    const consumer = new MemoryConsumer(this, [], onMessage, options.prefetch);
    for (const declaration of queues) {
      consumer.queueNames.push(declaration.name);
      this.attach(consumer, declaration.name);
    }
    return consumer;
  }

  async subscribe(
    exchangeName: string,
    bindingKey: string,
    onMessage: (message: RawMessage, routingKey: string) => void,
    options: { exchangeType?: ExchangeType } = {},
  ): Promise<Subscription> {
    const exchange = this.exchange(exchangeName, options.exchangeType ?? 'fanout');
    const subscriber: Subscriber = { key: bindingKey, onMessage };
    exchange.subscribers.push(subscriber);
    return {
      close: async () => {
        const i = exchange.subscribers.indexOf(subscriber);
        if (i !== -1) exchange.subscribers.splice(i, 1);
      },
    };
  }

  async queueLength(name: string): Promise<number> {
    return this.queues.get(name)?.size ?? 0;
  }

  async purge(name: string): Promise<number> {
    return this.queues.get(name)?.purge() ?? 0;
  }

  /** Messages handed out and not yet settled (for tests and inspection). */
  unackedCount(): number {
    return this.unacked.size;
  }

  /** Messages waiting for their delivery time. */
  delayedCount(): number {
    return this.delayed.length;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.delayTimer) clearTimeout(this.delayTimer);
    this.delayTimer = null;
    // Unsettled deliveries go back to the front of their queues, as a broker does for a lost connection.
    const entries = [...this.unacked.entries()].reverse();
    this.unacked.clear();
    for (const [, entry] of entries) {
      entry.consumer.inflight--;
      this.queue(entry.queue).push({ ...entry.stored, redelivered: true }, true);
    }
    for (const queue of this.queues.values()) {
      for (const consumer of [...queue.consumers]) await consumer.cancel();
    }
  }
}
