/**
 * Bootsteps: the worker is built from named components that start in dependency order and stop
 * in reverse, as Celery's are. Users add their own (a metrics server, a cache warmer) with
 * `new Worker(app, { steps: [...] })`; a missing dependency or a cycle is a clear error at start.
 */
import { ConfigurationError } from '@tq/core';

export interface Bootstep<W = unknown> {
  /** Unique name; other steps name it in `requires`. */
  readonly name: string;
  /** Steps that must have started first (built-in: `pool`, `pidbox`, `consumer`). */
  readonly requires?: readonly string[];
  start(worker: W): void | Promise<void>;
  stop?(worker: W): void | Promise<void>;
}

/** Order steps so that each comes after everything it requires. */
export function orderSteps<W>(steps: readonly Bootstep<W>[]): Bootstep<W>[] {
  const byName = new Map<string, Bootstep<W>>();
  for (const step of steps) {
    if (byName.has(step.name)) throw new ConfigurationError(`two worker bootsteps are named ${JSON.stringify(step.name)}`);
    byName.set(step.name, step);
  }
  const ordered: Bootstep<W>[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (step: Bootstep<W>, path: string[]): void => {
    const mark = state.get(step.name);
    if (mark === 'done') return;
    if (mark === 'visiting') {
      throw new ConfigurationError(`worker bootsteps form a cycle: ${[...path, step.name].join(' → ')}`);
    }
    state.set(step.name, 'visiting');
    for (const dependency of step.requires ?? []) {
      const required = byName.get(dependency);
      if (!required) {
        throw new ConfigurationError(`worker bootstep ${JSON.stringify(step.name)} requires ${JSON.stringify(dependency)}, which does not exist (steps: ${[...byName.keys()].join(', ')})`);
      }
      visit(required, [...path, step.name]);
    }
    state.set(step.name, 'done');
    ordered.push(step);
  };
  for (const step of steps) visit(step, []);
  return ordered;
}
