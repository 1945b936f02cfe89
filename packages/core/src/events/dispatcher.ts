/**
 * Sending Celery events (Celery's `EventDispatcher`): each event is built in Celery's field
 * order with this app's Lamport clock and published to the `celeryev` topic exchange under the
 * routing key of its type (`task-succeeded` → `task.succeeded`), headers `{hostname}`,
 * delivery_mode 1.
 *
 * Events of a buffered group (workers buffer `task`) are collected and published together as
 * one list under `<group>.multi` (`task.multi`), as Celery's workers do: on the next turn of the
 * event loop, or as soon as `bufferLimit` (24) are waiting. Publishes happen in order, one at a
 * time. A publish that fails is kept (up to `maxOutbound` events) and retried with the next one,
 * as Celery's `buffer_while_offline`.
 */
import { createEvent, encodeEventMessage, eventGroup, eventRoutingKey, type CeleryEvent, type EventType } from '@tq/protocol';
import type { App } from '../app.js';
import type { Broker } from '../broker.js';
import { anonNodename } from '../ids.js';
import type { Logger } from '../logger.js';

/** Celery's `event_exchange`. */
export const EVENT_EXCHANGE = 'celeryev';

export interface EventDispatcherOptions {
  /** Sender name (`hostname` field and header). Default: this client's `gen<pid>@<host>`. */
  hostname?: string;
  /** Start enabled (default true). A disabled dispatcher drops everything. */
  enabled?: boolean;
  /** Send only these groups (`task`, `worker`, …); null or omitted: every group. */
  groups?: Iterable<string> | null;
  /** Groups whose events are batched under `<group>.multi` (workers: `['task']`). */
  bufferGroups?: Iterable<string>;
  /** Publish a batch once this many events wait (Celery: 24). */
  bufferLimit?: number;
  /** Events kept for retry while the broker refuses publishes (default 1000; older ones are dropped). */
  maxOutbound?: number;
  /** The `pid` field (default: this process). */
  pid?: number;
  /** Epoch milliseconds for the `timestamp` field (default `Date.now`; tests inject a clock). */
  now?: () => number;
  logger?: Logger;
}

interface Pending {
  payload: CeleryEvent | CeleryEvent[];
  routingKey: string;
}

export class EventDispatcher {
  readonly hostname: string;
  readonly pid: number;
  /** Groups sent (Celery's `groups`); null means every group not disabled with `disableGroup`. */
  groups: Set<string> | null;
  private enabledFlag: boolean;
  private readonly bufferGroups: Set<string>;
  private readonly bufferLimit: number;
  private readonly maxOutbound: number;
  private readonly now: () => number;
  private readonly logger: Logger;
  private readonly buffers = new Map<string, CeleryEvent[]>();
  private readonly denied = new Set<string>();
  private outbound: Pending[] = [];
  private flushScheduled: NodeJS.Immediate | null = null;
  private tail: Promise<void> = Promise.resolve();
  private declared = false;
  private unavailable: string | null = null;
  private closed = false;

  constructor(
    private readonly app: App,
    options: EventDispatcherOptions = {},
  ) {
    this.hostname = options.hostname ?? anonNodename();
    this.pid = options.pid ?? process.pid;
    this.enabledFlag = options.enabled ?? true;
    this.groups = options.groups ? new Set(options.groups) : null;
    this.bufferGroups = new Set(options.bufferGroups ?? []);
    this.bufferLimit = options.bufferLimit ?? 24;
    this.maxOutbound = options.maxOutbound ?? 1000;
    this.now = options.now ?? Date.now;
    this.logger = options.logger ?? app.logger;
  }

  get enabled(): boolean {
    return this.enabledFlag && !this.closed;
  }

  enable(): void {
    this.enabledFlag = true;
  }

  /** Stop sending; buffered events are dropped. */
  disable(): void {
    this.enabledFlag = false;
    this.buffers.clear();
  }

  /** Whether events of `group` would be sent now. */
  sends(group: string): boolean {
    return this.enabled && !this.denied.has(group) && (this.groups === null || this.groups.size === 0 || this.groups.has(group));
  }

  /** Send events of `group` from now on. Returns false if they were already sent. */
  enableGroup(group: string): boolean {
    const before = this.sends(group);
    this.denied.delete(group);
    if (this.groups !== null && this.groups.size > 0) this.groups.add(group);
    return !before && this.sends(group);
  }

  /** Stop sending events of `group` (buffered ones are dropped). Returns false if they were not sent. */
  disableGroup(group: string): boolean {
    const before = this.sends(group);
    this.denied.add(group);
    this.buffers.delete(group);
    return before;
  }

  /** Build an event now (ticking the Lamport clock), in Celery's field order. */
  event(type: EventType, fields: Record<string, unknown> = {}): CeleryEvent {
    return createEvent(type, { hostname: this.hostname, pid: this.pid, clock: this.app.clock.forward() }, fields, this.now() / 1000);
  }

  /**
   * Send an event if its group is enabled: buffered groups are batched, others are published
   * now. Resolves once it is published (or buffered); never rejects.
   */
  send(type: EventType, fields: Record<string, unknown> = {}): Promise<void> {
    const group = eventGroup(type);
    if (!this.sends(group)) return Promise.resolve();
    if (this.bufferGroups.has(group)) {
      let buffer = this.buffers.get(group);
      if (!buffer) {
        buffer = [];
        this.buffers.set(group, buffer);
      }
      buffer.push(this.event(type, fields));
      if (buffer.length >= this.bufferLimit) return this.flush();
      this.flushScheduled ??= setImmediate(() => {
        this.flushScheduled = null;
        void this.flush();
      });
      return Promise.resolve();
    }
    return this.publish(type, fields);
  }

  /** Publish one event at once, bypassing group buffers (Celery's `publish`; used for task-sent). */
  publish(type: EventType, fields: Record<string, unknown> = {}): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    return this.enqueue({ payload: this.event(type, fields), routingKey: eventRoutingKey(type) });
  }

  /** Publish every buffered batch now, then wait for all publishes so far. */
  flush(): Promise<void> {
    if (this.flushScheduled) {
      clearImmediate(this.flushScheduled);
      this.flushScheduled = null;
    }
    for (const [group, events] of this.buffers) {
      if (events.length === 0) continue;
      this.buffers.set(group, []);
      void this.enqueue({ payload: events, routingKey: `${group}.multi` });
    }
    return this.tail;
  }

  private enqueue(item: Pending): Promise<void> {
    this.tail = this.tail.then(() => this.deliver(item));
    return this.tail;
  }

  private async deliver(item: Pending): Promise<void> {
    if (this.unavailable) return;
    let broker: Broker;
    try {
      broker = this.app.brokerIfReady() ?? (await this.app.getBroker());
    } catch (err) {
      this.keep(item, err);
      return;
    }
    if (!broker.capabilities.fanout) {
      this.unavailable = `the ${broker.name} broker has no fanout exchanges, so events are unavailable`;
      this.logger.warn(`${this.unavailable} (nothing is sent; monitors will not see ${this.hostname})`);
      return;
    }
    const batch = [...this.outbound.splice(0), item];
    for (let i = 0; i < batch.length; i++) {
      const pending = batch[i]!;
      try {
        if (!this.declared) {
          await broker.declareExchange(EVENT_EXCHANGE, 'topic', { durable: true });
          this.declared = true;
        }
        await broker.publish(encodeEventMessage(pending.payload, this.hostname), { exchange: EVENT_EXCHANGE, routingKey: pending.routingKey, exchangeType: 'topic' });
      } catch (err) {
        for (const rest of batch.slice(i)) this.keep(rest, err);
        return;
      }
    }
  }

  private keep(item: Pending, err: unknown): void {
    if (this.outbound.length === 0) this.logger.warn(`could not publish events (kept for retry): ${(err as Error).message}`);
    this.outbound.push(item);
    while (this.outbound.length > this.maxOutbound) this.outbound.shift();
  }

  /** Why events cannot be sent on this broker, once a send found out (null otherwise). */
  get unavailableReason(): string | null {
    return this.unavailable;
  }

  /** Publish what is buffered, wait for it, and stop. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return this.tail;
    await this.flush();
    this.closed = true;
    await this.tail;
  }
}
