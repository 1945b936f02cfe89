/**
 * Prometheus metrics under Flower's names and labels (flower/events.py), so dashboards and
 * alerts written for Flower keep working. Rendered in the text exposition format.
 */
import type { EventTask, EventWorker, ReceivedEvent } from '@tq/core';

/** prometheus_client's default buckets, which Flower uses unless told otherwise. */
export const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

const SEP = '\u0000';

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labels(names: readonly string[], key: string, extra = ''): string {
  const values = key.split(SEP);
  const parts = names.map((n, i) => `${n}="${escapeLabel(values[i] ?? '')}"`);
  if (extra) parts.push(extra);
  return `{${parts.join(',')}}`;
}

export class Metrics {
  private readonly events = new Map<string, number>();
  private readonly runtime = new Map<string, Histogram>();
  private readonly prefetchTime = new Map<string, number>();
  private readonly prefetched = new Map<string, number>();
  private readonly online = new Map<string, number>();
  private readonly executing = new Map<string, number>();

  constructor(private readonly buckets: readonly number[] = DEFAULT_BUCKETS) {}

  /** Count one event (after State applied it, so `task` has the name). */
  event(event: ReceivedEvent, task: EventTask | undefined, worker: EventWorker | undefined): void {
    const hostname = String(event.hostname ?? '');
    const type = String(event.type);
    if (type.startsWith('task-')) {
      const name = task?.name ?? '';
      const key = `${hostname}${SEP}${type}${SEP}${name}`;
      this.events.set(key, (this.events.get(key) ?? 0) + 1);
      const pair = `${hostname}${SEP}${name}`;
      if (type === 'task-received') this.prefetched.set(pair, (this.prefetched.get(pair) ?? 0) + 1);
      else if (type === 'task-started') {
        this.prefetched.set(pair, Math.max(0, (this.prefetched.get(pair) ?? 0) - 1));
        if (task?.received != null && task.started != null) this.prefetchTime.set(pair, Math.max(0, task.started - task.received));
      } else if (type === 'task-succeeded' && typeof event['runtime'] === 'number') this.observe(pair, event['runtime']);
    } else if (type.startsWith('worker-')) {
      const key = `${hostname}${SEP}${type}${SEP}`;
      this.events.set(key, (this.events.get(key) ?? 0) + 1);
      if (type === 'worker-offline') this.online.set(hostname, 0);
      else {
        this.online.set(hostname, 1);
        if (typeof worker?.active === 'number') this.executing.set(hostname, worker.active);
      }
    }
  }

  private observe(pair: string, value: number): void {
    let h = this.runtime.get(pair);
    if (!h) this.runtime.set(pair, (h = { counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) h.counts[i]!++;
    h.sum += value;
    h.count++;
  }

  /** The exposition text. Offline workers' series are dropped first, as Flower does. */
  render(workers: Iterable<EventWorker>): string {
    for (const w of workers) {
      this.online.set(w.hostname, w.alive ? 1 : 0);
      if (!w.alive) this.executing.delete(w.hostname);
    }
    const out: string[] = [];
    out.push('# HELP flower_events_total Number of events', '# TYPE flower_events_total counter');
    for (const [key, n] of this.events) out.push(`flower_events_total${labels(['worker', 'type', 'task'], key)} ${n}`);
    out.push('# HELP flower_task_runtime_seconds Task runtime', '# TYPE flower_task_runtime_seconds histogram');
    for (const [key, h] of this.runtime) {
      this.buckets.forEach((b, i) => out.push(`flower_task_runtime_seconds_bucket${labels(['worker', 'task'], key, `le="${b}"`)} ${h.counts[i]}`));
      out.push(`flower_task_runtime_seconds_bucket${labels(['worker', 'task'], key, 'le="+Inf"')} ${h.count}`);
      out.push(`flower_task_runtime_seconds_count${labels(['worker', 'task'], key)} ${h.count}`);
      out.push(`flower_task_runtime_seconds_sum${labels(['worker', 'task'], key)} ${h.sum}`);
    }
    out.push('# HELP flower_task_prefetch_time_seconds The time the task spent waiting at the worker to be executed', '# TYPE flower_task_prefetch_time_seconds gauge');
    for (const [key, v] of this.prefetchTime) out.push(`flower_task_prefetch_time_seconds${labels(['worker', 'task'], key)} ${v}`);
    out.push('# HELP flower_worker_prefetched_tasks Number of tasks of given type prefetched at a worker', '# TYPE flower_worker_prefetched_tasks gauge');
    for (const [key, v] of this.prefetched) out.push(`flower_worker_prefetched_tasks${labels(['worker', 'task'], key)} ${v}`);
    out.push('# HELP flower_worker_online Worker online status', '# TYPE flower_worker_online gauge');
    for (const [key, v] of this.online) out.push(`flower_worker_online${labels(['worker'], key)} ${v}`);
    out.push(
      '# HELP flower_worker_number_of_currently_executing_tasks Number of tasks currently executing at a worker',
      '# TYPE flower_worker_number_of_currently_executing_tasks gauge',
    );
    for (const [key, v] of this.executing) out.push(`flower_worker_number_of_currently_executing_tasks${labels(['worker'], key)} ${v}`);
    return `${out.join('\n')}\n`;
  }
}
