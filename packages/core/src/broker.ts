/**
 * The Broker contract: everything core and the worker ask of a message transport, and nothing
 * more. Each method states the rule an adapter must keep; `@tq/testing`'s
 * `runBrokerConformance` checks them. Optional abilities are capability flags: core emulates
 * what it can (ETA tasks are held by the worker when there is no delayed delivery) and refuses
 * the rest with a clear error.
 *
 * The model is AMQP's, narrowed: named exchanges (direct, topic, fanout) route to queues by
 * routing key; the exchange `""` delivers straight to the queue named by the routing key.
 */
import type { RawMessage } from '@tq/protocol';
import { ConfigurationError } from './errors.js';

export type ExchangeType = 'direct' | 'topic' | 'fanout';

export interface BrokerCapabilities {
  /**
   * Whether the `priority` property orders delivery, and which way: AMQP and memory deliver the
   * highest number first; kombu's Redis layout serves the lowest first (Celery's documented
   * inversion, kept so that Python workers agree). `false`: priorities are ignored.
   */
  priorities: 'higher-first' | 'lower-first' | false;
  /** `publish` honours `deliverAt`: the message is not delivered before that time. */
  delayedDelivery: boolean;
  /** Fanout/topic exchanges and `subscribe` work, so events and remote control are available. */
  fanout: boolean;
  /** `queueLength` is implemented. */
  queueLength: boolean;
  /** `purge` is implemented. */
  purge: boolean;
  /** `reject(false)` routes the message to a dead-letter queue when one is configured. */
  deadLetter: boolean;
  /**
   * Unacknowledged messages come back after a visibility timeout (Redis, SQS). A consumer that
   * holds a message longer must call `Delivery.touch()` to keep it.
   */
  visibilityTimeout: boolean;
}

export interface QueueBinding {
  exchange: string;
  routingKey: string;
  exchangeType?: ExchangeType;
}

export interface QueueDeclaration {
  name: string;
  /** Bindings; a task queue is by default bound to the exchange of its own name with its name as key. */
  bindings?: QueueBinding[];
  durable?: boolean;
  autoDelete?: boolean;
  exclusive?: boolean;
  /** AMQP `x-max-priority`. */
  maxPriority?: number;
  /** Per-queue message TTL in ms (`x-message-ttl`). */
  messageTtl?: number;
  /** Delete the queue after this many ms unused (`x-expires`). */
  expires?: number;
  deadLetterExchange?: string;
  deadLetterRoutingKey?: string;
  /** RabbitMQ queue type. */
  queueType?: 'classic' | 'quorum';
  /** Extra broker-specific arguments. */
  arguments?: Record<string, unknown>;
}

export interface PublishTarget {
  /** `""` delivers to the queue named by `routingKey`. */
  exchange: string;
  routingKey: string;
  exchangeType?: ExchangeType;
}

export interface PublishOptions {
  /** Epoch milliseconds before which the message must not be delivered (needs `delayedDelivery`). */
  deliverAt?: number;
  /** Declare these queues (idempotently) before publishing, as kombu's `declare=`. */
  declare?: QueueDeclaration[];
}

export interface DeliveryInfo {
  exchange: string;
  routingKey: string;
  priority: number | null;
  redelivered: boolean;
}

/** A message handed to a consumer. Exactly one of `ack` or `reject` settles it. */
export interface Delivery {
  readonly message: RawMessage;
  /** The queue it came from. */
  readonly queue: string;
  /** Unique per delivery; a redelivered message gets a new tag on some brokers. */
  readonly deliveryTag: string;
  readonly info: DeliveryInfo;
  /** Remove the message for good. MUST be idempotent; settling twice is a no-op. */
  ack(): Promise<void>;
  /**
   * Give the message back (`requeue: true`, it will be delivered again) or drop it
   * (`requeue: false`, dead-lettered where the broker has one). MUST be idempotent.
   */
  reject(requeue: boolean): Promise<void>;
  /**
   * Keep an unacknowledged message from coming back after the visibility timeout while it is
   * held (an ETA task waiting in the worker, or a long task with acksLate). Present only on
   * brokers with `visibilityTimeout`.
   */
  touch?(): Promise<void>;
}

export interface ConsumeOptions {
  /**
   * At most this many unacknowledged deliveries at once; 0 means no limit. The broker MUST NOT
   * hand out more until some are settled.
   */
  prefetch: number;
  /** Name for logs and remote-control replies. */
  tag?: string;
}

export interface Consumer {
  /** The queues being consumed. */
  readonly queues: readonly string[];
  /** Change the prefetch limit; takes effect for the next deliveries. */
  setPrefetch(prefetch: number): Promise<void>;
  /** Start consuming another queue (declaring it). */
  addQueue(queue: QueueDeclaration): Promise<void>;
  /** Stop consuming a queue; deliveries already handed out stay valid. */
  cancelQueue(name: string): Promise<void>;
  /**
   * Stop receiving new deliveries. Deliveries already handed out stay valid and MUST still
   * be settled (ack or reject) by the caller.
   */
  cancel(): Promise<void>;
}

/** A broadcast subscription (events, remote control): no acknowledgements, nothing stored. */
export interface Subscription {
  close(): Promise<void>;
}

export type BrokerEvent = 'connected' | 'disconnected' | 'error';

export interface Broker {
  /** Short name for logs: `memory`, `redis`, `amqp`, `sqs`. */
  readonly name: string;
  readonly capabilities: BrokerCapabilities;
  /**
   * With `visibilityTimeout`: seconds after which an unacknowledged delivery comes back. The
   * worker calls `Delivery.touch()` well within it for every message it holds.
   */
  readonly visibilityTimeout?: number;
  /** Connect; calling it again is a no-op. Every other method may be called before it (and then connects). */
  connect(): Promise<void>;
  /** Declare a queue and its bindings. MUST be idempotent. */
  declareQueue(queue: QueueDeclaration): Promise<void>;
  /** Declare an exchange. MUST be idempotent. */
  declareExchange(name: string, type: ExchangeType, options?: { durable?: boolean }): Promise<void>;
  /**
   * Publish a message. Resolves only once the broker has accepted it (publisher confirms where
   * the broker has them); rejects with a retryable BrokerError when it could not.
   */
  publish(message: RawMessage, target: PublishTarget, options?: PublishOptions): Promise<void>;
  /**
   * Deliver messages from the queues to `onMessage`, at most `prefetch` unsettled at a time.
   * Within a queue and priority, messages arrive in publish order.
   */
  consume(queues: QueueDeclaration[], onMessage: (delivery: Delivery) => void, options: ConsumeOptions): Promise<Consumer>;
  /**
   * Receive broadcasts sent to an exchange whose routing key matches `bindingKey` (topic
   * patterns `*` and `#`; fanout ignores the key). Needs `fanout`.
   */
  subscribe?(
    exchange: string,
    bindingKey: string,
    onMessage: (message: RawMessage, routingKey: string) => void,
    options?: { exchangeType?: ExchangeType; queueName?: string; messageTtl?: number; expires?: number },
  ): Promise<Subscription>;
  /** Messages waiting in a queue (all priorities), not counting unacknowledged ones. Needs `queueLength`. */
  queueLength?(queue: string): Promise<number>;
  /** Remove every waiting message from a queue; resolves to how many. Needs `purge`. */
  purge?(queue: string): Promise<number>;
  /** Listen for connection changes, for logs and health. */
  on?(event: BrokerEvent, listener: (detail?: unknown) => void): void;
  /** Close connections. Unsettled deliveries go back to their queues. */
  close(): Promise<void>;
}

/** Throw a clear error when the broker lacks what an operation needs. */
export function requireCapability(broker: Broker, capability: keyof BrokerCapabilities, what: string): void {
  if (!broker.capabilities[capability]) {
    throw new ConfigurationError(`${what} needs a broker with ${capability}; the ${broker.name} broker does not have it`);
  }
}

/** The listeners an adapter keeps for `Broker.on`; a listener that throws is reported, not propagated. */
export class BrokerListeners {
  private readonly listeners = new Map<BrokerEvent, Set<(detail?: unknown) => void>>();

  constructor(private readonly onListenerError: (event: BrokerEvent, err: Error) => void) {}

  add(event: BrokerEvent, listener: (detail?: unknown) => void): void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener);
  }

  emit(event: BrokerEvent, detail?: unknown): void {
    for (const listener of this.listeners.get(event) ?? []) {
      try {
        listener(detail);
      } catch (err) {
        this.onListenerError(event, err as Error);
      }
    }
  }
}
