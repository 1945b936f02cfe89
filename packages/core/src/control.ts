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
  /** Called with each reply as it arrives (Celery's `callback`). */
  onReply?: (reply: ControlReply) => void;
}

/** One reply per worker: `{ 'celery@host': result }`. */
export type ControlReply = Record<string, unknown>;

/** Where a control command goes and whether to wait for replies (the helpers' common options). */
export type ControlOptions = Pick<BroadcastOptions, 'destination' | 'pattern' | 'matcher' | 'reply' | 'timeout' | 'limit'>;

export interface InspectOptions {
  /** Node names to ask (default: every worker). */
  destination?: string | string[] | null;
  pattern?: string | null;
  matcher?: 'glob' | 'pcre' | null;
  /** Seconds to wait for replies (default 1). */
  timeout?: number;
  /** Stop after this many replies (default: the number of destinations, if given). */
  limit?: number | null;
}

/** `{ ok: … }` or `{ error: … }`, as Celery's control commands reply. */
export type OkReply = { ok: string } | { error: string };

/** A task request as workers report it (`active`, `reserved`, `query_task`). */
export interface RequestDict {
  id: string;
  name: string;
  args: unknown;
  kwargs: unknown;
  type: string;
  hostname: string;
  time_start: number | null;
  acknowledged: boolean;
  delivery_info: { exchange: string; routing_key: string; priority: number | null; redelivered: boolean };
  worker_pid: number | null;
  [field: string]: unknown;
}

/** An ETA task a worker holds (`scheduled`). */
export interface ScheduledDict {
  eta: string | null;
  priority: number | null;
  request: RequestDict;
}

/** A worker's `stats` reply (Celery's shape). */
export interface WorkerStats {
  total: Record<string, number>;
  pid: number;
  clock: string;
  uptime: number;
  pool: Record<string, unknown>;
  broker: Record<string, unknown>;
  prefetch_count: number | 'N/A';
  rusage: Record<string, number> | 'N/A';
  autoscaler?: { max: number; min: number; current: number; qty: number };
  [field: string]: unknown;
}

/** Replies merged by node name, or null when nobody answered. */
export type NodeReplies<T> = Record<string, T> | null;

interface Collector {
  replies: ControlReply[];
  limit: number | null;
  onReply: ((reply: ControlReply) => void) | undefined;
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
            if (collector.onReply) {
              try {
                collector.onReply(replies);
              } catch (err) {
                this.app.logger.warn(`a remote-control reply callback failed: ${(err as Error).message}`);
              }
            }
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
          onReply: options.onReply,
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

  /**
   * Ask workers about themselves (Celery's `app.control.inspect()`): each method broadcasts one
   * inspect command and resolves to the replies merged by node name (`{ 'w1@host': result }`),
   * or `null` when no worker answered within `timeout` (default 1 s).
   */
  inspect(options: InspectOptions = {}): Inspect {
    return new Inspect(this, options);
  }

  /** Ping workers; resolves to one `{ node: { ok: 'pong' } }` per worker that answered in time. */
  ping(options: ControlOptions = {}): Promise<ControlReply[]> {
    return this.broadcast('ping', {}, { timeout: 1, ...options, reply: true });
  }

  /** Revoke tasks by id: workers will not run them; with `terminate`, a running one is stopped. */
  async revoke(taskId: string | string[], options: { terminate?: boolean; signal?: string } & ControlOptions = {}): Promise<ControlReply[]> {
    const { terminate = false, signal = 'SIGTERM', ...broadcast } = options;
    return this.broadcast('revoke', { task_id: taskId, terminate, signal }, broadcast);
  }

  /** Revoke and stop running tasks: the process running one is killed with `signal` (default SIGTERM). */
  terminate(taskId: string | string[], options: { signal?: string } & ControlOptions = {}): Promise<ControlReply[]> {
    return this.revoke(taskId, { ...options, terminate: true });
  }

  /** Set a task type's rate limit on workers (`'10/s'`, `'100/m'`, a number per second; `null` or 0 removes it). */
  rateLimit(taskName: string, rateLimit: string | number | null, options: ControlOptions = {}): Promise<ControlReply[]> {
    return this.broadcast('rate_limit', { task_name: taskName, rate_limit: rateLimit }, options);
  }

  /** Set a task type's time limits on workers, in seconds (`null` removes one). */
  timeLimit(taskName: string, limits: { soft?: number | null; hard?: number | null }, options: ControlOptions = {}): Promise<ControlReply[]> {
    return this.broadcast('time_limit', { task_name: taskName, hard: limits.hard ?? null, soft: limits.soft ?? null }, options);
  }

  /** Add `n` slots (processes, threads) to workers' pools. */
  poolGrow(n = 1, options: ControlOptions = {}): Promise<ControlReply[]> {
    return this.broadcast('pool_grow', { n }, options);
  }

  /** Remove `n` slots from workers' pools (running tasks finish first). */
  poolShrink(n = 1, options: ControlOptions = {}): Promise<ControlReply[]> {
    return this.broadcast('pool_shrink', { n }, options);
  }

  /** Change autoscaling bounds of workers started with `autoscale`. */
  autoscale(max: number, min: number, options: ControlOptions = {}): Promise<ControlReply[]> {
    return this.broadcast('autoscale', { max, min }, options);
  }

  /** Make workers consume from another queue (declared as a direct queue unless told otherwise). */
  addConsumer(
    queue: string,
    queueOptions: { exchange?: string | null; exchangeType?: string; routingKey?: string | null; options?: Record<string, unknown> } = {},
    options: ControlOptions = {},
  ): Promise<ControlReply[]> {
    return this.broadcast(
      'add_consumer',
      {
        queue,
        exchange: queueOptions.exchange ?? null,
        exchange_type: queueOptions.exchangeType ?? 'direct',
        routing_key: queueOptions.routingKey ?? null,
        ...(queueOptions.options ?? {}),
      },
      options,
    );
  }

  /** Make workers stop consuming from a queue. */
  cancelConsumer(queue: string, options: ControlOptions = {}): Promise<ControlReply[]> {
    return this.broadcast('cancel_consumer', { queue }, options);
  }

  /** Restart workers' pools with freshly loaded code (workers need `poolRestarts`; child pools only). */
  poolRestart(restartOptions: { modules?: string[] | null; reload?: boolean } = {}, options: ControlOptions = {}): Promise<ControlReply[]> {
    return this.broadcast('pool_restart', { modules: restartOptions.modules ?? null, reload: restartOptions.reload ?? false, reloader: null }, options);
  }

  /** Shut workers down (warm: running tasks finish). */
  shutdown(options: ControlOptions = {}): Promise<ControlReply[]> {
    return this.broadcast('shutdown', {}, options);
  }

  /** @internal Celery warns when two workers answer with one node name. */
  warnDuplicate(node: string): void {
    this.app.logger.warn(`received several replies from node ${node}: give each worker a unique name with -n`);
  }

  /** Stop collecting replies and release the reply queue. */
  async close(): Promise<void> {
    for (const collector of this.collectors.values()) collector.done();
    const consumer = this.replyConsumer;
    this.replyConsumer = null;
    if (consumer) await (await consumer.catch(() => null))?.cancel();
  }
}

/**
 * Inspect commands (Celery's `Inspect`): every method broadcasts with `reply` and merges the
 * replies by node name. Replies come back as the workers wrote them (Celery's shapes, snake_case).
 */
export class Inspect {
  constructor(
    private readonly control: Control,
    readonly options: InspectOptions = {},
  ) {}

  /** Broadcast any inspect command and merge the replies (Celery's `Inspect._request`). */
  async request<T = unknown>(command: string, args: Record<string, unknown> = {}): Promise<NodeReplies<T>> {
    const { destination = null, pattern = null, matcher = null, timeout = 1, limit = null } = this.options;
    const replies = await this.control.broadcast(command, args, { destination, pattern, matcher, timeout, limit, reply: true });
    if (replies.length === 0) return null;
    const merged: Record<string, T> = {};
    for (const reply of replies) {
      for (const [node, value] of Object.entries(reply)) {
        if (node in merged) this.control.warnDuplicate(node);
        merged[node] = value as T;
      }
    }
    return merged;
  }

  ping(): Promise<NodeReplies<OkReply>> {
    return this.request('ping');
  }
  /** Running tasks; with `safe`, args and kwargs are their repr strings. */
  active(options: { safe?: boolean } = {}): Promise<NodeReplies<RequestDict[]>> {
    return this.request('active', { safe: options.safe ?? null });
  }
  /** ETA/countdown tasks held until due. */
  scheduled(): Promise<NodeReplies<ScheduledDict[]>> {
    return this.request('scheduled');
  }
  /** Tasks received and waiting for a slot. */
  reserved(): Promise<NodeReplies<RequestDict[]>> {
    return this.request('reserved');
  }
  /** Ids the workers remember as revoked. */
  revoked(): Promise<NodeReplies<string[]>> {
    return this.request('revoked');
  }
  /** Registered task names, with the given attributes (default `exchange`, `routing_key`, `rate_limit`), Celery style. */
  registered(...taskinfoitems: string[]): Promise<NodeReplies<string[]>> {
    return this.request('registered', { taskinfoitems });
  }
  stats(): Promise<NodeReplies<WorkerStats>> {
    return this.request('stats');
  }
  /** The queues each worker consumes, as kombu's `Queue.as_dict()`. */
  activeQueues(): Promise<NodeReplies<Array<Record<string, unknown>>>> {
    return this.request('active_queues');
  }
  /** Where tasks are on each worker: `{ id: ['active' | 'reserved' | 'scheduled', request] }`. */
  queryTask(...ids: Array<string | string[]>): Promise<NodeReplies<Record<string, [string, RequestDict]>>> {
    return this.request('query_task', { ids: ids.flat() });
  }
  /** The workers' configuration (only settings that differ from the defaults unless `withDefaults`). */
  conf(withDefaults = false): Promise<NodeReplies<Record<string, unknown>>> {
    return this.request('conf', { with_defaults: withDefaults });
  }
  /** A bug-report text (software, platform, settings). */
  report(): Promise<NodeReplies<OkReply>> {
    return this.request('report');
  }
  /** Each worker's Lamport clock. */
  clock(): Promise<NodeReplies<{ clock: number }>> {
    return this.request('clock');
  }
  /** Celery's mingle handshake: send our revokes, receive theirs and their clock. */
  hello(fromNode: string, revoked: Record<string, unknown> | null = null): Promise<NodeReplies<{ revoked: Record<string, unknown>; clock: number } | null>> {
    return this.request('hello', { from_node: fromNode, revoked });
  }
}
