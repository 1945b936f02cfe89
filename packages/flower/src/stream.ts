/**
 * The live stream's fan-out: changes are marked as they happen and sent to every subscriber
 * once per interval, newest state only (a task that changed ten times in the interval is sent
 * once), with at most `maxTasks` task updates per flush, so a busy cluster does not flood the
 * browser.
 */
import type { TaskJson, Totals, WorkerJson } from './types.js';

export type StreamMessage = { event: 'task'; data: TaskJson } | { event: 'worker'; data: WorkerJson } | { event: 'stats'; data: { totals: Totals } };

export type Subscriber = (messages: StreamMessage[]) => void;

export interface StreamSources {
  task(id: string): TaskJson | null;
  worker(hostname: string): WorkerJson | null;
  totals(): Totals;
}

export class StreamHub {
  private readonly subscribers = new Set<Subscriber>();
  private tasks = new Set<string>();
  private workers = new Set<string>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly sources: StreamSources,
    private readonly interval = 250,
    private readonly maxTasks = 200,
  ) {}

  get size(): number {
    return this.subscribers.size;
  }

  taskChanged(id: string): void {
    if (this.subscribers.size === 0) return;
    this.tasks.delete(id);
    this.tasks.add(id);
    this.schedule();
  }

  workerChanged(hostname: string): void {
    if (this.subscribers.size === 0) return;
    this.workers.add(hostname);
    this.schedule();
  }

  subscribe(subscriber: Subscriber): () => void {
    this.subscribers.add(subscriber);
    return () => this.subscribers.delete(subscriber);
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => this.flush(), this.interval);
    this.timer.unref?.();
  }

  /** Send what changed since the last flush. */
  flush(): void {
    this.timer = null;
    const messages: StreamMessage[] = [];
    for (const hostname of this.workers) {
      const data = this.sources.worker(hostname);
      if (data) messages.push({ event: 'worker', data });
    }
    // The most recently changed tasks, if more changed than one flush carries.
    const ids = [...this.tasks].slice(-this.maxTasks);
    for (const id of ids) {
      const data = this.sources.task(id);
      if (data) messages.push({ event: 'task', data });
    }
    this.tasks = new Set();
    this.workers = new Set();
    if (messages.length === 0) return;
    messages.push({ event: 'stats', data: { totals: this.sources.totals() } });
    for (const subscriber of this.subscribers) {
      try {
        subscriber(messages);
      } catch {
        // One broken connection must not stop the others.
      }
    }
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.subscribers.clear();
  }
}
