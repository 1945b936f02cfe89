/**
 * Filtering, sorting and paging the tasks held in memory, shared by Flower's `/api/tasks` and
 * the UI's `/api/ui/tasks`. One pass filters; sorting happens only when asked (the State's own
 * order is last-updated, which is what "newest first" means without a sort).
 */
import type { EventTask, State } from '@tq/core';
import { parseSearch } from './search.js';

export const SORT_FIELDS = ['received', 'started', 'succeeded', 'runtime', 'name', 'state', 'timestamp'] as const;
export type SortField = (typeof SORT_FIELDS)[number];

export interface TaskFilter {
  state?: string | null;
  name?: string | null;
  worker?: string | null;
  /** Epoch seconds: received (or, when never received, last update) at or after. */
  from?: number | null;
  to?: number | null;
  search?: string | null;
  sort?: SortField | null;
  dir?: 'asc' | 'desc';
  offset?: number;
  limit?: number | null;
}

export function isSortField(value: string): value is SortField {
  return (SORT_FIELDS as readonly string[]).includes(value);
}

function when(task: EventTask): number {
  return task.received ?? task.timestamp ?? task.lastUpdate;
}

/** Matching tasks (one page) and how many matched in all. */
export function queryTasks(state: State, filter: TaskFilter): { total: number; tasks: EventTask[] } {
  const predicate = parseSearch(filter.search);
  const states = filter.state ? new Set(filter.state.split(',').map((s) => s.trim().toUpperCase())) : null;
  const matched: EventTask[] = [];
  for (const task of state.tasks.values()) {
    if (states && !states.has(task.state)) continue;
    if (filter.name && task.name !== filter.name) continue;
    if (filter.worker && task.worker !== filter.worker) continue;
    if (filter.from != null && when(task) < filter.from) continue;
    if (filter.to != null && when(task) > filter.to) continue;
    if (predicate && !predicate(task)) continue;
    matched.push(task);
  }
  const desc = (filter.dir ?? 'desc') === 'desc';
  if (filter.sort) {
    const field = filter.sort;
    const key = (t: EventTask): string | number | null => (field === 'name' ? t.name : field === 'state' ? t.state : t[field]);
    matched.sort((a, b) => {
      const x = key(a);
      const y = key(b);
      // Missing values sort last in either direction.
      if (x === null || x === undefined) return y === null || y === undefined ? 0 : 1;
      if (y === null || y === undefined) return -1;
      const c = x < y ? -1 : x > y ? 1 : 0;
      return desc ? -c : c;
    });
  } else if (desc) matched.reverse();
  const offset = Math.max(0, filter.offset ?? 0);
  const end = filter.limit == null ? undefined : offset + Math.max(0, filter.limit);
  return { total: matched.length, tasks: matched.slice(offset, end) };
}
