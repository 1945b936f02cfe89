/**
 * The worker's side of remote control (Celery's pidbox): receive broadcast commands on the
 * `celery.pidbox` fanout exchange, act on the ones addressed to this node, and reply to the
 * sender's reply queue. Commands are a table of handlers; the worker registers its own.
 */
import type { App, Broker, Logger, Subscription } from '@tq/core';
import {
  decodeControlRequest,
  encodeControlReply,
  pyRepr,
  PIDBOX_EXCHANGE,
  PIDBOX_REPLY_EXCHANGE,
  type ControlRequest,
  type RawMessage,
} from '@tq/protocol';

/** A command handler: returns the reply body (`{ ok: … }` or `{ error: … }`, or any value for inspect). */
export type ControlHandler = (args: Record<string, unknown>, request: ControlRequest) => unknown | Promise<unknown>;

/** Does this node match a request's destination, pattern and matcher? */
export function isAddressedTo(request: ControlRequest, nodename: string): boolean {
  if (request.destination && request.destination.length > 0) {
    return request.destination.includes(nodename);
  }
  if (request.pattern) {
    if (request.matcher === 'pcre') {
      try {
        return new RegExp(request.pattern).test(nodename);
      } catch {
        return false;
      }
    }
    const re = new RegExp(`^${request.pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
    return re.test(nodename);
  }
  return true;
}

export class Pidbox {
  private subscription: Subscription | null = null;
  readonly handlers = new Map<string, ControlHandler>();
  /** Commands accepted from the network (`controlAllow`); null: every registered one. */
  allow: ReadonlySet<string> | null = null;
  private readonly logger: Logger;

  constructor(
    private readonly app: App,
    private readonly nodename: string,
    logger?: Logger,
  ) {
    this.logger = logger ?? app.logger;
  }

  /** Add (or replace) a command. A handler that throws replies `{error: "Name('message')"}`, as kombu does. */
  register(method: string, handler: ControlHandler): void {
    this.handlers.set(method, handler);
  }

  async start(broker: Broker): Promise<void> {
    if (!broker.capabilities.fanout || !broker.subscribe) {
      this.logger.warn(`the ${broker.name} broker has no fanout: remote control (revoke, inspect) is unavailable on this worker`);
      return;
    }
    await broker.declareExchange(PIDBOX_EXCHANGE, 'fanout', { durable: false });
    this.subscription = await broker.subscribe(PIDBOX_EXCHANGE, '', (message) => void this.receive(broker, message), {
      exchangeType: 'fanout',
      queueName: `${this.nodename}.celery.pidbox`,
      messageTtl: 300_000,
      expires: 10_000,
    });
  }

  private async receive(broker: Broker, message: RawMessage): Promise<void> {
    let request: ControlRequest;
    let clock: number | null;
    let expires: number;
    try {
      ({ request, clock, expires } = decodeControlRequest(message));
    } catch (err) {
      this.logger.warn(`ignored a malformed remote-control message: ${(err as Error).message}`);
      return;
    }
    if (clock !== null) this.app.clock.adjust(clock);
    if (!isAddressedTo(request, this.nodename)) return;
    if (expires && expires < Date.now() / 1000) {
      this.logger.debug(`ignored expired remote-control request ${request.method}`);
      return;
    }
    const handler = this.handlers.get(request.method);
    let reply: unknown;
    if (this.allow && !this.allow.has(request.method)) {
      this.logger.warn(`refused remote-control command ${JSON.stringify(request.method)}: not in this worker's control allow list (${[...this.allow].join(', ')})`);
      reply = { error: `command ${request.method} is not allowed on this worker (controlAllow)` };
    } else if (!handler) {
      // Neither Celery's nor registered here: nothing runs; the sender learns why.
      this.logger.warn(`ignored unknown remote-control command ${JSON.stringify(request.method.slice(0, 100))}`);
      reply = { error: `No such control command: ${request.method}` };
    } else {
      try {
        reply = await handler(request.arguments, request);
      } catch (err) {
        this.logger.error(`remote-control command ${request.method} failed: ${(err as Error).message}`);
        const error = err as Error;
        reply = { error: `${error.name || 'Error'}(${pyRepr(error.message.replace(/^\[tq\] /, ''))})` };
      }
    }
    if (!request.ticket || !request.reply_to) return;
    try {
      await broker.publish(encodeControlReply(this.nodename, reply ?? null, request.ticket, this.app.clock.forward()), {
        exchange: request.reply_to.exchange || PIDBOX_REPLY_EXCHANGE,
        routingKey: request.reply_to.routing_key,
        exchangeType: 'direct',
      });
    } catch (err) {
      this.logger.warn(`could not reply to ${request.method}: ${(err as Error).message}`);
    }
  }

  async stop(): Promise<void> {
    const subscription = this.subscription;
    this.subscription = null;
    await subscription?.close();
  }
}
