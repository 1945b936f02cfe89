/**
 * The cluster as seen through events (Celery's `celery.events.state.State`): fold every event
 * into workers (online, heartbeats, load, processed counts) and tasks (state, timestamps,
 * arguments, result, exception, parent/root/children), bounded in memory. Monitors build on
 * this: listen for changes, query tasks by state, worker or name, and read counts.
 *
 * Celery's rules are kept:
 * - A task's state follows Celery's mapping (task-sent → PENDING … task-rejected → REJECTED).
 *   An event that logically happened before the current state (task-received arriving after
 *   task-succeeded) does not move the state back; from task-received only name, args, kwargs,
 *   parent_id, root_id, retries, eta and expires are taken.
 * - A worker is alive while `now < last heartbeat + freq × 2` (`local_received` times; every
 *   task event from a worker counts as a heartbeat). worker-offline makes it offline at once.
 * - At most `maxTasks` tasks and `maxWorkers` workers are kept; the least recently updated go.
 */
import type { CeleryEvent } from '@tq/protocol';
import { FAILURE, PENDING, READY_STATES, RECEIVED, REJECTED, RETRY, REVOKED, STARTED, SUCCESS, precedence } from '../states.js';
import type { ReceivedEvent } from './receiver.js';

/** Celery's `TASK_EVENT_TO_STATE`. */
export const TASK_EVENT_TO_STATE: Readonly<Record<string, string>> = {
  sent: PENDING,
  received: RECEIVED,
  started: STARTED,
  failed: FAILURE,
  retried: RETRY,
  succeeded: SUCCESS,
  revoked: REVOKED,
  rejected: REJECTED,
};

/** Fields kept from an out-of-order event of that state (Celery's `merge_rules`). */
const MERGE_RULES: Readonly<Record<string, readonly string[]>> = {
  [RECEIVED]: ['name', 'args', 'kwargs', 'parent_id', 'root_id', 'retries', 'eta', 'expires'],
};

/** Heartbeats older than `freq × HEARTBEAT_EXPIRE_WINDOW / 100` mean the worker is gone (Celery: 200). */
export const HEARTBEAT_EXPIRE_WINDOW = 200;

/** A worker as the events describe it. */
export class EventWorker {
  pid: number | null = null;
  /** Seconds between heartbeats (60 until the worker says). */
  freq = 60;
  /** `local_received` of the last heartbeats (at most four), oldest first. */
  heartbeats: number[] = [];
  clock = 0;
  /** Tasks running on it, as of its last heartbeat. */
  active: number | null = null;
  /** Tasks it has finished, as of its last heartbeat. */
  processed: number | null = null;
  loadavg: number[] | null = null;
  swIdent: string | null = null;
  swVer: string | null = null;
  swSys: string | null = null;
  utcoffset: number | null = null;
  /** Sender timestamp of the last worker event, in seconds. */
  timestamp: number | null = null;
  /** Every field of the last worker event (including ones tq does not know). */
  fields: Record<string, unknown> = {};

  constructor(
    readonly hostname: string,
    private readonly now: () => number,
  ) {}

  /** `hostname.pid`, Celery's worker id. */
  get id(): string {
    return `${this.hostname}.${this.pid}`;
  }

  /** Epoch seconds of the last heartbeat received, or null. */
  get lastHeartbeat(): number | null {
    return this.heartbeats.length ? this.heartbeats[this.heartbeats.length - 1]! : null;
  }

  /** Epoch seconds after which, without another heartbeat, the worker counts as offline. */
  get heartbeatExpires(): number | null {
    const last = this.lastHeartbeat;
    return last === null ? null : last + this.freq * (HEARTBEAT_EXPIRE_WINDOW / 100);
  }

  get alive(): boolean {
    const expires = this.heartbeatExpires;
    return expires !== null && this.now() / 1000 < expires;
  }

  get status(): 'ONLINE' | 'OFFLINE' {
    return this.alive ? 'ONLINE' : 'OFFLINE';
  }

  /** Record a heartbeat at `localReceived` (epoch seconds), keeping the last four in order. */
  heartbeat(localReceived: number): void {
    const hb = this.heartbeats;
    if (hb.length > 3) hb.shift();
    if (hb.length === 0 || localReceived > hb[hb.length - 1]!) hb.push(localReceived);
    else {
      let i = hb.length;
      while (i > 0 && hb[i - 1]! > localReceived) i--;
      hb.splice(i, 0, localReceived);
    }
  }

  /** Apply a worker event (`online`, `heartbeat`, `offline`). */
  apply(subject: string, event: ReceivedEvent): void {
    this.fields = { ...event };
    if (typeof event.pid === 'number') this.pid = event.pid;
    if (typeof event['freq'] === 'number') this.freq = event['freq'];
    if (typeof event.clock === 'number') this.clock = event.clock;
    if (typeof event['active'] === 'number') this.active = event['active'];
    if (typeof event['processed'] === 'number') this.processed = event['processed'];
    if (Array.isArray(event['loadavg'])) this.loadavg = event['loadavg'] as number[];
    if (typeof event['sw_ident'] === 'string') this.swIdent = event['sw_ident'];
    if (typeof event['sw_ver'] === 'string') this.swVer = event['sw_ver'];
    if (typeof event['sw_sys'] === 'string') this.swSys = event['sw_sys'];
    if (typeof event.utcoffset === 'number') this.utcoffset = event.utcoffset;
    if (typeof event.timestamp === 'number') this.timestamp = event.timestamp;
    if (subject === 'offline') this.heartbeats = [];
    else if (event.local_received && event.timestamp) this.heartbeat(event.local_received);
  }

  /** Celery's field names (`sw_ident`, …), for JSON APIs shaped like Flower's. */
  asDict(): Record<string, unknown> {
    return {
      hostname: this.hostname,
      pid: this.pid,
      freq: this.freq,
      heartbeats: [...this.heartbeats],
      clock: this.clock,
      active: this.active,
      processed: this.processed,
      loadavg: this.loadavg,
      sw_ident: this.swIdent,
      sw_ver: this.swVer,
      sw_sys: this.swSys,
      alive: this.alive,
      status: this.status,
    };
  }
}

const TASK_FIELDS: Readonly<Record<string, string>> = {
  name: 'name',
  args: 'args',
  kwargs: 'kwargs',
  retries: 'retries',
  eta: 'eta',
  expires: 'expires',
  result: 'result',
  exception: 'exception',
  traceback: 'traceback',
  runtime: 'runtime',
  exchange: 'exchange',
  routing_key: 'routingKey',
  queue: 'queue',
  root_id: 'rootId',
  parent_id: 'parentId',
  clock: 'clock',
};

const SKIPPED = new Set(['uuid', 'hostname', 'type', 'timestamp', 'utcoffset', 'pid', 'local_received']);

/** A task as the events describe it. Timestamps are epoch seconds (the senders'). */
export class EventTask {
  name: string | null = null;
  state: string = PENDING;
  sent: number | null = null;
  received: number | null = null;
  started: number | null = null;
  succeeded: number | null = null;
  failed: number | null = null;
  retried: number | null = null;
  revoked: number | null = null;
  rejected: number | null = null;
  /** Arguments as the Python-style text the events carry (`(2, 3)`). */
  args: string | null = null;
  kwargs: string | null = null;
  eta: string | null = null;
  expires: string | null = null;
  retries: number | null = null;
  /** The worker that handled it (hostname). */
  worker: string | null = null;
  /** The client that sent it (from task-sent). */
  client: string | null = null;
  /** The result's text (`'5'`) from task-succeeded. */
  result: string | null = null;
  /** The exception's text (`"ValueError('bad value 7')"`) from task-failed or task-retried. */
  exception: string | null = null;
  traceback: string | null = null;
  /** Seconds the task ran, from task-succeeded. */
  runtime: number | null = null;
  /** Timestamp of the event that set the current state. */
  timestamp: number | null = null;
  clock = 0;
  exchange: string | null = null;
  routingKey: string | null = null;
  queue: string | null = null;
  rootId: string | null = null;
  parentId: string | null = null;
  /** Ids of tasks whose parent_id is this task. */
  readonly children = new Set<string>();
  /** Other event fields (task-rejected's `requeue`, task-revoked's `terminated`, `signum`, `expired`, custom ones). */
  extra: Record<string, unknown> = {};
  /** `local_received` of the last event about it: what the memory bound and `tasksByTime` order on. */
  lastUpdate = 0;

  constructor(readonly uuid: string) {}

  get id(): string {
    return this.uuid;
  }

  get ready(): boolean {
    return READY_STATES.has(this.state);
  }

  /** Apply a task event (`sent`, `received`, … or a custom subject), with Celery's merge rules. */
  apply(subject: string, event: ReceivedEvent): void {
    const timestamp = typeof event.timestamp === 'number' ? event.timestamp : null;
    let state = TASK_EVENT_TO_STATE[subject];
    if (state !== undefined) (this as unknown as Record<string, number | null>)[subject] = timestamp;
    else state = subject.toUpperCase();
    let keys = Object.keys(event);
    let moves = true;
    if (state !== RETRY && this.state !== RETRY && precedence(state) < precedence(this.state)) {
      // This event logically happened before the current state: merge, do not move back.
      moves = false;
      const keep = MERGE_RULES[state];
      if (keep) keys = keys.filter((k) => keep.includes(k));
    }
    for (const key of keys) {
      if (SKIPPED.has(key)) continue;
      const prop = TASK_FIELDS[key];
      if (prop) (this as unknown as Record<string, unknown>)[prop] = event[key];
      else this.extra[key] = event[key];
    }
    if (moves) {
      this.state = state;
      this.timestamp = timestamp;
    }
  }

  /** Celery's `Task.as_dict()` field names, for JSON APIs shaped like Flower's. */
  asDict(): Record<string, unknown> {
    return {
      uuid: this.uuid,
      name: this.name,
      state: this.state,
      received: this.received,
      sent: this.sent,
      started: this.started,
      rejected: this.rejected,
      succeeded: this.succeeded,
      failed: this.failed,
      retried: this.retried,
      revoked: this.revoked,
      args: this.args,
      kwargs: this.kwargs,
      eta: this.eta,
      expires: this.expires,
      retries: this.retries,
      worker: this.worker,
      result: this.result,
      exception: this.exception,
      timestamp: this.timestamp,
      runtime: this.runtime,
      traceback: this.traceback,
      exchange: this.exchange,
      routing_key: this.routingKey,
      clock: this.clock,
      client: this.client,
      root_id: this.rootId,
      parent_id: this.parentId,
      children: [...this.children],
      ...this.extra,
    };
  }
}

export interface StateOptions {
  /** Tasks kept (Celery's `max_tasks_in_memory`, 10 000). */
  maxTasks?: number;
  /** Workers kept (Celery's `max_workers_in_memory`, 5 000). */
  maxWorkers?: number;
  /** Epoch milliseconds, for liveness and events without `local_received` (default `Date.now`). */
  now?: () => number;
}

export interface StateListeners {
  /** Every event, after it was applied. */
  event: [event: ReceivedEvent];
  /** A task changed (`created`: first seen). */
  task: [task: EventTask, event: ReceivedEvent, created: boolean];
  /** A worker event was applied (`created`: first seen). */
  worker: [worker: EventWorker, event: ReceivedEvent, created: boolean];
  /** A worker came online (worker-online, or its first event). Celery's `on_node_join`. */
  workerOnline: [worker: EventWorker];
  /**
   * A worker left: it sent worker-offline, or `sweep()` found its heartbeats stopped.
   * Celery's `on_node_leave`.
   */
  workerOffline: [worker: EventWorker, reason: 'offline' | 'heartbeat-expired'];
}

export type StateEventName = keyof StateListeners;

export interface TaskQuery {
  state?: string | readonly string[];
  /** Worker hostname. */
  worker?: string;
  /** Task name. */
  name?: string;
  /** Only tasks updated at or after this epoch-seconds time. */
  since?: number;
  /** Newest first (default) or oldest first. */
  reverse?: boolean;
  offset?: number;
  limit?: number;
}

export interface StateCounts {
  events: number;
  /** Tasks held now. */
  tasks: number;
  /** task-received events seen (Celery's `task_count`). */
  received: number;
  workers: number;
  aliveWorkers: number;
  /** Tasks held, by state. */
  byState: Record<string, number>;
}

export class State {
  readonly maxTasks: number;
  readonly maxWorkers: number;
  /** Tasks by id, least recently updated first. */
  readonly tasks = new Map<string, EventTask>();
  /** Workers by hostname, least recently updated first. */
  readonly workers = new Map<string, EventWorker>();
  eventCount = 0;
  /** task-received events seen. */
  taskCount = 0;
  private readonly now: () => number;
  private readonly seenNames = new Set<string>();
  /** Children seen before their parent: parent id → child ids. */
  private readonly orphans = new Map<string, Set<string>>();
  // Listeners of different signatures share one map.
  private readonly listeners = new Map<StateEventName, Set<(...args: any[]) => void>>();
  /** Workers already reported gone by `sweep()`, until they beat again. */
  private readonly lost = new Set<string>();

  constructor(options: StateOptions = {}) {
    this.maxTasks = options.maxTasks ?? 10_000;
    this.maxWorkers = options.maxWorkers ?? 5_000;
    this.now = options.now ?? Date.now;
  }

  /** Listen for changes; returns a function that stops listening. */
  on<K extends StateEventName>(name: K, listener: (...args: StateListeners[K]) => void): () => void {
    let set = this.listeners.get(name);
    if (!set) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(listener);
    return () => set.delete(listener);
  }

  private emit<K extends StateEventName>(name: K, ...args: StateListeners[K]): void {
    const set = this.listeners.get(name);
    if (!set) return;
    for (const listener of set) {
      try {
        listener(...args);
      } catch {
        // A monitor's listener must not break the fold.
      }
    }
  }

  /** Fold one event in (usable directly as a receiver handler: `{ '*': state.event }`). */
  readonly event = (raw: CeleryEvent): void => {
    const event = raw as ReceivedEvent;
    if (typeof event.local_received !== 'number') event.local_received = this.now() / 1000;
    this.eventCount++;
    const type = String(event.type);
    const dash = type.indexOf('-');
    const group = dash === -1 ? type : type.slice(0, dash);
    const subject = dash === -1 ? '' : type.slice(dash + 1);
    if (group === 'worker') this.workerEvent(subject, event);
    else if (group === 'task' && typeof event['uuid'] === 'string') this.taskEvent(subject, event);
    this.emit('event', event);
  };

  private workerEvent(subject: string, event: ReceivedEvent): void {
    const hostname = event.hostname;
    if (typeof hostname !== 'string') return;
    let worker = this.workers.get(hostname);
    let created = false;
    if (!worker) {
      // Celery does not start tracking a worker from its offline event.
      if (subject === 'offline') return;
      worker = new EventWorker(hostname, this.now);
      created = true;
    }
    this.touchWorker(worker);
    const wasAlive = !created && worker.alive;
    worker.apply(subject, event);
    this.lost.delete(hostname);
    this.emit('worker', worker, event, created);
    if (subject === 'offline') this.emit('workerOffline', worker, 'offline');
    else if (created || subject === 'online' || !wasAlive) this.emit('workerOnline', worker);
  }

  private touchWorker(worker: EventWorker): void {
    this.workers.delete(worker.hostname);
    this.workers.set(worker.hostname, worker);
    while (this.workers.size > this.maxWorkers) this.workers.delete(this.workers.keys().next().value!);
  }

  private taskEvent(subject: string, event: ReceivedEvent): void {
    const id = event['uuid'] as string;
    let task = this.tasks.get(id);
    const created = !task;
    if (!task) task = new EventTask(id);
    const hostname = typeof event.hostname === 'string' ? event.hostname : null;
    if (subject === 'sent') task.client = hostname;
    else if (hostname) {
      task.worker = hostname;
      let worker = this.workers.get(hostname);
      if (!worker) {
        worker = new EventWorker(hostname, this.now);
        this.emit('workerOnline', worker);
      }
      this.touchWorker(worker);
      // A task event is a sign of life too.
      worker.heartbeat(event.local_received);
      this.lost.delete(hostname);
    }
    if (subject === 'received') this.taskCount++;
    task.apply(subject, event);
    task.lastUpdate = event.local_received;
    this.tasks.delete(id);
    this.tasks.set(id, task);
    if (task.name) this.seenNames.add(task.name);
    if (task.parentId) {
      const parent = this.tasks.get(task.parentId);
      if (parent) parent.children.add(id);
      else {
        let waiting = this.orphans.get(task.parentId);
        if (!waiting) {
          waiting = new Set();
          this.orphans.set(task.parentId, waiting);
        }
        waiting.add(id);
      }
    }
    const waiting = this.orphans.get(id);
    if (waiting) {
      for (const child of waiting) task.children.add(child);
      this.orphans.delete(id);
    }
    while (this.tasks.size > this.maxTasks) this.evict(this.tasks.keys().next().value!);
    this.emit('task', task, event, created);
  }

  private evict(id: string): void {
    this.tasks.delete(id);
    this.orphans.delete(id);
    if (this.orphans.size > this.maxTasks) this.orphans.delete(this.orphans.keys().next().value!);
  }

  task(id: string): EventTask | undefined {
    return this.tasks.get(id);
  }

  worker(hostname: string): EventWorker | undefined {
    return this.workers.get(hostname);
  }

  /** Workers whose heartbeats are current. */
  aliveWorkers(): EventWorker[] {
    return [...this.workers.values()].filter((w) => w.alive);
  }

  /**
   * Report workers whose heartbeats stopped without a worker-offline (killed, network lost):
   * emits `workerOffline` with `heartbeat-expired` once per silence, and returns them. Call it
   * on a timer (every `freq` seconds) to notice dead workers.
   */
  sweep(): EventWorker[] {
    const gone: EventWorker[] = [];
    for (const worker of this.workers.values()) {
      if (worker.heartbeats.length > 0 && !worker.alive && !this.lost.has(worker.hostname)) {
        this.lost.add(worker.hostname);
        gone.push(worker);
        this.emit('workerOffline', worker, 'heartbeat-expired');
      }
    }
    return gone;
  }

  /** Tasks matching a query, newest (last updated) first unless `reverse: false`. */
  queryTasks(query: TaskQuery = {}): EventTask[] {
    const states = query.state === undefined ? null : new Set(typeof query.state === 'string' ? [query.state] : query.state);
    const all = [...this.tasks.values()];
    if (query.reverse ?? true) all.reverse();
    const out: EventTask[] = [];
    let skip = query.offset ?? 0;
    const limit = query.limit ?? Number.POSITIVE_INFINITY;
    for (const task of all) {
      if (out.length >= limit) break;
      if (states && !states.has(task.state)) continue;
      if (query.worker !== undefined && task.worker !== query.worker) continue;
      if (query.name !== undefined && task.name !== query.name) continue;
      if (query.since !== undefined && task.lastUpdate < query.since) continue;
      if (skip > 0) {
        skip--;
        continue;
      }
      out.push(task);
    }
    return out;
  }

  /** Tasks in a state (`SUCCESS`, `STARTED`, …), newest first. */
  tasksByState(state: string, limit?: number): EventTask[] {
    return this.queryTasks({ state, ...(limit === undefined ? {} : { limit }) });
  }

  /** Tasks handled by a worker, newest first. */
  tasksByWorker(hostname: string, limit?: number): EventTask[] {
    return this.queryTasks({ worker: hostname, ...(limit === undefined ? {} : { limit }) });
  }

  /** Tasks of one name, newest first. */
  tasksByName(name: string, limit?: number): EventTask[] {
    return this.queryTasks({ name, ...(limit === undefined ? {} : { limit }) });
  }

  /** Every task, newest first (Celery's `tasks_by_time`). */
  tasksByTime(limit?: number): EventTask[] {
    return this.queryTasks(limit === undefined ? {} : { limit });
  }

  /** Task names seen, sorted (Celery's `task_types`). */
  taskNames(): string[] {
    return [...this.seenNames].sort();
  }

  counts(): StateCounts {
    const byState: Record<string, number> = {};
    for (const task of this.tasks.values()) byState[task.state] = (byState[task.state] ?? 0) + 1;
    let alive = 0;
    for (const worker of this.workers.values()) if (worker.alive) alive++;
    return { events: this.eventCount, tasks: this.tasks.size, received: this.taskCount, workers: this.workers.size, aliveWorkers: alive, byState };
  }

  /** Forget tasks (only finished ones with `ready: true`, the default) and, unless `ready`, workers and counters too. */
  clear(ready = true): void {
    for (const [id, task] of [...this.tasks]) if (!ready || task.ready) this.tasks.delete(id);
    if (!ready) {
      this.workers.clear();
      this.orphans.clear();
      this.lost.clear();
      this.eventCount = 0;
      this.taskCount = 0;
    }
  }
}
