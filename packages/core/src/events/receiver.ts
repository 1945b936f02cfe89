/**
 * Receiving Celery events (Celery's `EventReceiver`): subscribe to the `celeryev` exchange with
 * a binding key (`#`: everything), unpack batches (`task.multi` lists), and hand each event to
 * the handler for its type or to `'*'`. Python workers' events and tq's arrive the same way.
 *
 * As Celery's receiver does, each event gets `local_received` (this machine's time), the app's
 * Lamport clock is merged with the event's (a client's task-sent clock is replaced, since
 * clients never sync), and `timestamp` is shifted by the difference between the sender's
 * `utcoffset` and ours. On connect, workers are asked for a heartbeat so they show up at once.
 */
import { decodeEventMessage, utcoffset, type CeleryEvent, type EventType, type RawMessage } from '@tq/protocol';
import type { App } from '../app.js';
import type { Subscription } from '../broker.js';
import { ConfigurationError } from '../errors.js';
import { uuid } from '../ids.js';
import { EVENT_EXCHANGE } from './dispatcher.js';

/** An event as a receiver hands it over: the sender's fields plus `local_received`. */
export interface ReceivedEvent extends CeleryEvent {
  /** Epoch seconds when this process received it. */
  local_received: number;
}

export type EventHandler = (event: ReceivedEvent) => void;

/** Handlers by event type; `'*'` receives every event without a handler of its own. */
export type EventHandlers = Partial<Record<EventType | '*', EventHandler>>;

export interface ReceiverOptions {
  /** Topic binding key (default `#`, everything; `task.#` for task events only). */
  routingKey?: string;
  /** Shift `timestamp` by the sender's utcoffset, as Celery does (default true). */
  localize?: boolean;
  /** Ask every worker for a heartbeat once subscribed (Celery's `wakeup`, default true). */
  wakeup?: boolean;
  /** Queue name prefix where the broker has queues (Celery's `event_queue_prefix`, `celeryev`). */
  queuePrefix?: string;
  /** Seconds an event may wait in this receiver's queue (Celery's `event_queue_ttl`, 5). */
  queueTtl?: number;
  /** Seconds after which an unused receiver queue is deleted (Celery's `event_queue_expires`, 60). */
  queueExpires?: number;
  /** Epoch milliseconds for `local_received` (default `Date.now`). */
  now?: () => number;
  /** Called with messages that are not events (default: logged as a warning). */
  onError?: (error: unknown) => void;
}

/** Celery's `CLIENT_CLOCK_SKEW`. */
const CLIENT_CLOCK_SKEW = -1;

export class EventReceiver {
  /** This receiver's id (the suffix of its queue name). */
  readonly nodeId = uuid();
  private subscription: Subscription | null = null;
  private closed = false;
  private readonly localize: boolean;
  private readonly now: () => number;

  constructor(
    private readonly app: App,
    private readonly handlers: EventHandlers,
    private readonly options: ReceiverOptions = {},
  ) {
    this.localize = options.localize ?? true;
    this.now = options.now ?? Date.now;
  }

  /** The queue name used on brokers with queues: `celeryev.<nodeId>`. */
  get queueName(): string {
    return `${this.options.queuePrefix ?? 'celeryev'}.${this.nodeId}`;
  }

  /** Subscribe; resolves once events flow. Throws a ConfigurationError when the broker has no fanout. */
  async start(): Promise<this> {
    const broker = await this.app.getBroker();
    if (!broker.capabilities.fanout || !broker.subscribe) {
      throw new ConfigurationError(
        `events need a broker with fanout exchanges; the ${broker.name} broker has none, so events are unavailable (use Redis or RabbitMQ to monitor workers)`,
      );
    }
    await broker.declareExchange(EVENT_EXCHANGE, 'topic', { durable: true });
    this.subscription = await broker.subscribe(EVENT_EXCHANGE, this.options.routingKey ?? '#', (message) => this.receive(message), {
      exchangeType: 'topic',
      queueName: this.queueName,
      messageTtl: (this.options.queueTtl ?? 5) * 1000,
      expires: (this.options.queueExpires ?? 60) * 1000,
    });
    if (this.closed) {
      await this.subscription.close();
      this.subscription = null;
      return this;
    }
    if (this.options.wakeup ?? true) {
      await this.app.control.broadcast('heartbeat', {}).catch((err: unknown) => this.app.logger.debug(`could not wake workers: ${(err as Error).message}`));
    }
    return this;
  }

  private receive(message: RawMessage): void {
    let events: CeleryEvent[];
    try {
      events = decodeEventMessage(message);
    } catch (err) {
      if (this.options.onError) this.options.onError(err);
      else this.app.logger.warn(`ignored a malformed event message: ${(err as Error).message}`);
      return;
    }
    for (const event of events) {
      if (this.closed) return;
      this.process(this.prepare(event));
    }
  }

  /** Celery's `event_from_message`: clock merge, timestamp localisation, `local_received`. */
  prepare(event: CeleryEvent): ReceivedEvent {
    const body = event as ReceivedEvent;
    const clock = this.app.clock;
    if (body.type === 'task-sent') {
      // Clients never sync their clocks, so their value means nothing here.
      body.clock = (clock.current || 1) + CLIENT_CLOCK_SKEW;
      clock.adjust(body.clock);
    } else if (typeof body.clock === 'number') {
      clock.adjust(body.clock);
    } else {
      body.clock = clock.forward();
    }
    if (this.localize && typeof body.utcoffset === 'number' && typeof body.timestamp === 'number') {
      body.timestamp = body.timestamp - (body.utcoffset - utcoffset()) * 3600;
    }
    body.local_received = this.now() / 1000;
    return body;
  }

  private process(event: ReceivedEvent): void {
    const handler = this.handlers[event.type] ?? this.handlers['*'];
    if (!handler) return;
    try {
      handler(event);
    } catch (err) {
      this.app.logger.error(`an event handler for ${event.type} failed: ${(err as Error).message}`);
    }
  }

  /** Stop receiving. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    const subscription = this.subscription;
    this.subscription = null;
    await subscription?.close();
  }
}
