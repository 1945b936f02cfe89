/**
 * Remote control, client side (Celery's `app.control`): broadcast a command to workers over the
 * `celery.pidbox` fanout exchange and collect their replies from this client's reply queue
 * `<oid>.reply.celery.pidbox`. Python workers and tq workers answer the same way.
 */
import { createControlRequest, decodeControlReply, encodeControlRequest, PIDBOX_EXCHANGE, PIDBOX_REPLY_EXCHANGE } from '@tq/protocol';
import type { App } from './app.js';
import { requireCapability, type Consumer, type QueueDeclaration } from './broker.js';
import { uuid } from './ids.js';

export interface BroadcastOptions {
  /** Node names that should act (default: every worker). */
  destination?: string | string[] | null;
  /** Select workers by a pattern of their node names instead. */
  pattern?: string | null;
  matcher?: 'glob' | 'pcre' | null;
  /** Collect replies (default false). */
  reply?: boolean;
  /** Seconds to collect replies (default 1). Also the request's expiry. */
  timeout?: number;
  /** Stop after this many replies (default: the number of destinations, if given). */
  limit?: number | null;
}

/** One reply per worker: `{ 'celery@host': result }`. */
export type ControlReply = Record<string, unknown>;

interface Collector {
  replies: ControlReply[];
  limit: number | null;
  done: () => void;
}

export class Control {
  private replyConsumer: Promise<Consumer> | null = null;
  private readonly collectors = new Map<string, Collector>();

  constructor(private readonly app: App) {}

  /** The reply queue of this client, as kombu declares it. */
  replyQueue(): QueueDeclaration {
    return {
      name: `${this.app.oid}.reply.celery.pidbox`,
      bindings: [{ exchange: PIDBOX_REPLY_EXCHANGE, routingKey: this.app.oid, exchangeType: 'direct' }],
      durable: false,
      autoDelete: true,
      expires: 10_000,
      messageTtl: 300_000,
    };
  }

  private ensureReplyConsumer(): Promise<Consumer> {
    this.replyConsumer ??= (async () => {
      const broker = await this.app.getBroker();
      await broker.declareExchange(PIDBOX_REPLY_EXCHANGE, 'direct', { durable: false });
      return broker.consume(
        [this.replyQueue()],
        (delivery) => {
          void delivery.ack();
          try {
            const { ticket, replies } = decodeControlReply(delivery.message);
            const clock = delivery.message.headers['clock'];
            if (typeof clock === 'number') this.app.clock.adjust(clock);
            const collector = ticket ? this.collectors.get(ticket) : undefined;
            if (!collector) return;
            collector.replies.push(replies);
            if (collector.limit !== null && collector.replies.length >= collector.limit) collector.done();
          } catch (err) {
            this.app.logger.warn(`ignored a malformed remote-control reply: ${(err as Error).message}`);
          }
        },
        { prefetch: 0, tag: 'pidbox-reply' },
      );
    })();
    return this.replyConsumer;
  }

  /**
   * Send a command to workers. With `reply`, resolves to the replies collected within `timeout`
   * (one `{node: result}` per worker); otherwise resolves once the request is published.
   */
  async broadcast(method: string, args: Record<string, unknown> = {}, options: BroadcastOptions = {}): Promise<ControlReply[]> {
    const broker = await this.app.getBroker();
    requireCapability(broker, 'fanout', `remote control (${method})`);
    const timeout = options.timeout ?? 1;
    const destination = options.destination === undefined || options.destination === null ? null : Array.isArray(options.destination) ? options.destination : [options.destination];
    const ticket = options.reply ? uuid() : null;
    const request = createControlRequest({
      method,
      arguments: args,
      destination,
      pattern: options.pattern ?? null,
      matcher: options.matcher ?? null,
      ticket,
      replyTo: ticket ? this.app.oid : null,
    });
    let collected: Promise<ControlReply[]> | null = null;
    if (ticket) {
      await this.ensureReplyConsumer();
      const limit = options.limit ?? (destination ? destination.length : null);
      collected = new Promise<ControlReply[]>((resolve) => {
        const collector: Collector = {
          replies: [],
          limit,
          done: () => {
            clearTimeout(timer);
            this.collectors.delete(ticket);
            resolve(collector.replies);
          },
        };
        const timer = setTimeout(collector.done, timeout * 1000);
        this.collectors.set(ticket, collector);
      });
    }
    await broker.declareExchange(PIDBOX_EXCHANGE, 'fanout', { durable: false });
    const expires = options.reply ? Date.now() / 1000 + timeout : 0;
    await broker.publish(encodeControlRequest(request, this.app.clock.forward(), expires), { exchange: PIDBOX_EXCHANGE, routingKey: '', exchangeType: 'fanout' });
    return collected ? collected : [];
  }

  /** Revoke tasks by id: workers will not run them; with `terminate`, a running one is stopped. */
  async revoke(taskId: string | string[], options: { terminate?: boolean; signal?: string } & Pick<BroadcastOptions, 'destination' | 'reply' | 'timeout'> = {}): Promise<ControlReply[]> {
    const { terminate = false, signal = 'SIGTERM', ...broadcast } = options;
    return this.broadcast('revoke', { task_id: taskId, terminate, signal }, broadcast);
  }

  /** Stop collecting replies and release the reply queue. */
  async close(): Promise<void> {
    for (const collector of this.collectors.values()) collector.done();
    const consumer = this.replyConsumer;
    this.replyConsumer = null;
    if (consumer) await (await consumer.catch(() => null))?.cancel();
  }
}
