/**
 * The monitor's model, independent of HTTP: the events State (bounded by retention), per-worker
 * counters, inspect replies, metrics, graph series, the history store written behind, queue
 * depth samples and the live stream. `ingest` is the one way an event gets in.
 */
import { type App, type Broker, type EventReceiver, type EventTask, type Logger, type ReceivedEvent, State, isTqError, redactUrl } from '@tq/core';
import { openHistory, resolveRetention, type HistoryStore, type ResolvedRetention, type StoredTask } from './history/history-store.js';
import { Inspector } from './inspector.js';
import { Metrics } from './metrics.js';
import { Stats } from './stats.js';
import { StreamHub } from './stream.js';
import { canvasExtra, restoreTask, taskBytes, taskJson } from './task-json.js';
import type { MonitorOptions, TaskJson, Totals, WorkerJson } from './types.js';
import { emptyCounters, workerJson, type WorkerCounters } from './worker-json.js';

export interface QueueJson {
  name: string;
  messages: number | null;
  broker: string;
}

const FLUSH_MS = 1000;
const TRIM_MS = 60_000;

export class MonitorEngine {
  readonly state: State;
  readonly retention: ResolvedRetention;
  readonly metrics = new Metrics();
  readonly stats = new Stats();
  readonly inspector: Inspector;
  readonly hub: StreamHub;
  readonly counters = new Map<string, WorkerCounters>();
  /** Task names seen, including those restored from history. */
  readonly taskNames = new Set<string>();
  history: HistoryStore | null = null;
  /** Last queue lengths sampled, by queue name. */
  queues: QueueJson[] = [];
  private readonly logger: Logger;
  private readonly dirty = new Set<string>();
  private receiver: EventReceiver | null = null;
  private timers: NodeJS.Timeout[] = [];
  private flushing: Promise<void> = Promise.resolve();
  private totalsCache: { at: number; totals: Totals } | null = null;
  private started = false;
  private closed = false;

  constructor(
    readonly app: App,
    readonly options: MonitorOptions,
  ) {
    this.logger = app.logger;
    this.retention = resolveRetention(options.history);
    this.state = new State({ maxTasks: this.retention.maxTasks, maxWorkers: 5000 });
    this.inspector = new Inspector(app, {
      interval: options.inspectInterval ?? 10,
      timeout: options.inspectTimeout ?? 1,
      enableEvents: options.enableEvents ?? true,
      onUpdate: (hostname) => this.hub.workerChanged(hostname),
    });
    this.hub = new StreamHub(
      { task: (id) => this.taskJson(id), worker: (h) => this.workerJson(h), totals: () => this.totals() },
      options.streamInterval ?? 250,
    );
    this.state.on('task', (task, event) => this.onTask(task, event));
    this.state.on('worker', (worker, event) => {
      this.metrics.event(event, undefined, worker);
      this.hub.workerChanged(worker.hostname);
    });
    this.state.on('workerOffline', (worker) => this.hub.workerChanged(worker.hostname));
  }

  /** Fold one event in (what the receiver calls; the benchmark calls it directly). */
  readonly ingest = (event: ReceivedEvent): void => {
    this.state.event(event);
  };

  private counter(hostname: string): WorkerCounters {
    let c = this.counters.get(hostname);
    if (!c) this.counters.set(hostname, (c = emptyCounters()));
    return c;
  }

  private onTask(task: EventTask, event: ReceivedEvent): void {
    const type = event.type;
    const hostname = typeof event.hostname === 'string' ? event.hostname : null;
    if (task.name) this.taskNames.add(task.name);
    this.metrics.event(event, task, hostname ? this.state.worker(hostname) : undefined);
    if (hostname && type !== 'task-sent') {
      const c = this.counter(hostname);
      const ts = typeof event.timestamp === 'number' ? event.timestamp : event.local_received;
      switch (type) {
        case 'task-received':
          c.received++;
          break;
        case 'task-started':
          c.running++;
          this.stats.started(ts, task.received !== null && task.started !== null ? task.started - task.received : null);
          break;
        case 'task-succeeded':
          c.succeeded++;
          c.running = Math.max(0, c.running - 1);
          this.stats.succeeded(ts, typeof event['runtime'] === 'number' ? event['runtime'] : null);
          break;
        case 'task-failed':
          c.failed++;
          c.running = Math.max(0, c.running - 1);
          this.stats.failed(ts);
          break;
        case 'task-retried':
          c.retried++;
          c.running = Math.max(0, c.running - 1);
          break;
        case 'task-revoked':
          c.revoked++;
          break;
      }
    }
    this.totalsCache = null;
    if (this.history && this.history.kind !== 'memory') this.dirty.add(task.uuid);
    this.hub.taskChanged(task.uuid);
    if (hostname) this.hub.workerChanged(hostname);
  }

  /** Open the history (loading what it holds), subscribe to events, start polling and sampling. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.history = await openHistory(this.options.history, () => this.state.tasks.size);
    if (this.history.kind !== 'memory') {
      await this.history.trim(this.retention, Date.now() / 1000);
      this.restore(await this.history.load(this.retention.maxTasks));
    }
    try {
      this.receiver = await this.app.events.receiver({ '*': this.ingest });
    } catch (err) {
      // A broker without fanout has no events: queues and the API still work, workers stay unseen.
      if (!isTqError(err, 'CONFIGURATION_ERROR')) throw err;
      this.logger.warn(`[flower] ${redactUrl((err as Error).message.replace(/^\[tq\] /, ''))}`);
    }
    this.inspector.start();
    this.every(1000, () => this.state.sweep());
    if (this.history.kind !== 'memory') {
      this.every(FLUSH_MS, () => void this.flush());
      this.every(TRIM_MS, () => void this.history?.trim(this.retention, Date.now() / 1000).catch((err: unknown) => this.logger.warn((err as Error).message)));
    }
    const sample = this.options.queueSampleInterval ?? 10;
    void this.sampleQueues();
    if (sample > 0) this.every(sample * 1000, () => void this.sampleQueues());
  }

  private every(ms: number, fn: () => void): void {
    const timer = setInterval(fn, ms);
    timer.unref();
    this.timers.push(timer);
  }

  /** Put stored records back into the State, oldest first, so the newest stay when it is full. */
  restore(records: StoredTask[]): void {
    for (const { task, updated, canvas } of records) {
      if (this.state.tasks.has(task.uuid)) continue;
      const restored = restoreTask(task, updated, canvas);
      this.state.tasks.set(task.uuid, restored);
      if (task.name) this.taskNames.add(task.name);
    }
    while (this.state.tasks.size > this.retention.maxTasks) this.state.tasks.delete(this.state.tasks.keys().next().value!);
    this.totalsCache = null;
  }

  /** Write changed tasks to the history store. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      const history = this.history;
      if (!history || this.dirty.size === 0) return;
      const records: StoredTask[] = [];
      for (const id of this.dirty) {
        const task = this.state.task(id);
        if (!task) continue;
        const canvas = canvasExtra(task);
        records.push({ task: taskJson(task), updated: task.lastUpdate, ...(canvas ? { canvas } : {}) });
      }
      this.dirty.clear();
      try {
        await history.save(records);
      } catch (err) {
        // Keep them for the next flush: the store may be back by then.
        for (const r of records) this.dirty.add(r.task.uuid);
        this.logger.warn((err as Error).message);
      }
    });
    return this.flushing;
  }

  taskJson(id: string): TaskJson | null {
    const task = this.state.task(id);
    return task ? taskJson(task) : null;
  }

  /** Workers to show: every worker seen by events or inspect, minus long-offline ones when purging. */
  workerNames(): string[] {
    const names = new Set<string>([...this.state.workers.keys(), ...this.inspector.workers.keys()]);
    const purge = this.options.purgeOfflineWorkers;
    if (purge != null) {
      const now = Date.now() / 1000;
      for (const name of names) {
        const w = this.state.worker(name);
        if (w && !w.alive && (w.lastHeartbeat ?? w.timestamp ?? 0) < now - purge) names.delete(name);
      }
    }
    return [...names].sort();
  }

  workerJson(hostname: string): WorkerJson | null {
    const worker = this.state.worker(hostname);
    const info = this.inspector.workers.get(hostname);
    if (!worker && !info) return null;
    return workerJson(hostname, worker, info, this.counters.get(hostname));
  }

  workers(): WorkerJson[] {
    return this.workerNames().map((n) => this.workerJson(n)!);
  }

  totals(): Totals {
    const now = Date.now();
    if (this.totalsCache && now - this.totalsCache.at < 200) return this.totalsCache.totals;
    const totals: Totals = { active: 0, processed: 0, succeeded: 0, failed: 0, retried: 0, revoked: 0 };
    for (const task of this.state.tasks.values()) {
      if (task.state === 'STARTED') totals.active++;
      else if (task.state === 'SUCCESS') totals.succeeded++;
      else if (task.state === 'FAILURE') totals.failed++;
      else if (task.state === 'RETRY') totals.retried++;
      else if (task.state === 'REVOKED') totals.revoked++;
    }
    totals.processed = totals.succeeded + totals.failed + totals.retried + totals.revoked;
    this.totalsCache = { at: now, totals };
    return totals;
  }

  /** Approximate bytes the held task records use. */
  memoryBytes(): number {
    let bytes = 0;
    for (const task of this.state.tasks.values()) bytes += taskBytes(task);
    return bytes;
  }

  /** Queue names worth measuring: what workers consume, else the app's default and declared queues. */
  queueNames(): string[] {
    const names = new Set<string>();
    for (const info of this.inspector.workers.values()) for (const q of info.active_queues ?? []) if (typeof q['name'] === 'string') names.add(q['name']);
    names.add(this.app.conf.taskDefaultQueue);
    for (const q of this.app.conf.taskQueues) names.add(q.name);
    return [...names].sort();
  }

  /** Lengths of the known queues now (null where the broker cannot say). */
  async queueLengths(): Promise<QueueJson[]> {
    const broker: Broker = await this.app.getBroker();
    const names = this.queueNames();
    const can = broker.capabilities.queueLength && typeof broker.queueLength === 'function';
    return Promise.all(
      names.map(async (name) => ({ name, messages: can ? await broker.queueLength!(name).catch(() => null) : null, broker: broker.name })),
    );
  }

  private async sampleQueues(): Promise<void> {
    try {
      const queues = await this.queueLengths();
      if (this.closed) return;
      this.queues = queues;
      const t = Date.now() / 1000;
      for (const q of queues) if (q.messages !== null) this.stats.queueDepth(t, q.name, q.messages);
    } catch (err) {
      this.logger.debug(`queue sampling failed: ${redactUrl((err as Error).message)}`);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.inspector.close();
    this.hub.close();
    await this.receiver?.close();
    this.receiver = null;
    await this.flush();
    await this.history?.close();
  }
}
