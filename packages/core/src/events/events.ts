/**
 * `app.events` (Celery's `app.events`): receivers, dispatchers and cluster State for this app,
 * and the client's `task-sent` events when `taskSendSentEvent` is on.
 *
 *   const state = app.events.state();
 *   const receiver = await app.events.receiver({ '*': state.event });
 *   …
 *   await receiver.close();
 */
import type { App } from '../app.js';
import type { EventType } from '@tq/protocol';
import type { SentTask } from '../producer.js';
import { EventDispatcher, type EventDispatcherOptions } from './dispatcher.js';
import { EventReceiver, type EventHandlers, type ReceiverOptions } from './receiver.js';
import { State, type StateOptions } from './state.js';

/** The fields of Celery's task-sent event, in its order. */
export function taskSentFields(sent: SentTask): Record<string, unknown> {
  return {
    uuid: sent.id,
    root_id: sent.rootId,
    parent_id: sent.parentId,
    name: sent.name,
    args: sent.argsrepr,
    kwargs: sent.kwargsrepr,
    retries: sent.retries,
    eta: sent.eta,
    expires: sent.expires,
    queue: sent.queue,
    exchange: sent.exchange,
    routing_key: sent.routingKey,
  };
}

export class Events {
  private clientDispatcher: EventDispatcher | null = null;
  /** One unbuffered dispatcher per worker node name, for events tasks send themselves. */
  private readonly taskDispatchers = new Map<string, EventDispatcher>();
  private readonly receivers = new Set<EventReceiver>();

  constructor(private readonly app: App) {
    if (app.conf.taskSendSentEvent) {
      app.signals.on('taskSent', (sent) => void this.sentDispatcher().publish('task-sent', taskSentFields(sent)));
    }
  }

  /** The dispatcher for this client's own events (task-sent), created on first use. */
  private sentDispatcher(): EventDispatcher {
    this.clientDispatcher ??= new EventDispatcher(this.app);
    return this.clientDispatcher;
  }

  /**
   * Publish an event a running task sends (`TaskContext.sendEvent`, Celery's `Task.send_event`),
   * from the worker's node name, at once and whether or not task events are enabled.
   */
  sendTaskEvent(hostname: string, type: EventType, fields: Record<string, unknown>): Promise<void> {
    let dispatcher = this.taskDispatchers.get(hostname);
    if (!dispatcher) {
      dispatcher = new EventDispatcher(this.app, { hostname });
      this.taskDispatchers.set(hostname, dispatcher);
    }
    return dispatcher.publish(type, fields);
  }

  /** A new dispatcher; close it when done. Workers make theirs with `{ hostname, bufferGroups: ['task'] }`. */
  dispatcher(options: EventDispatcherOptions = {}): EventDispatcher {
    return new EventDispatcher(this.app, options);
  }

  /**
   * Subscribe to events: handlers by type (`'task-succeeded'`) or `'*'` for the rest. Resolves
   * once subscribed; rejects with a ConfigurationError when the broker has no fanout.
   */
  async receiver(handlers: EventHandlers, options: ReceiverOptions = {}): Promise<EventReceiver> {
    const receiver = new EventReceiver(this.app, handlers, options);
    this.receivers.add(receiver);
    try {
      return await receiver.start();
    } catch (err) {
      this.receivers.delete(receiver);
      throw err;
    }
  }

  /** A new, empty cluster State; feed it events with `receiver({ '*': state.event })`. */
  state(options: StateOptions = {}): State {
    return new State(options);
  }

  /** Close receivers opened here and publish pending task-sent events. */
  async close(): Promise<void> {
    await Promise.all([...this.receivers].map((r) => r.close()));
    this.receivers.clear();
    await this.clientDispatcher?.close();
    this.clientDispatcher = null;
    await Promise.all([...this.taskDispatchers.values()].map((d) => d.close()));
    this.taskDispatchers.clear();
  }
}
