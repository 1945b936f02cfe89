/**
 * Celery's built-in canvas tasks, registered in every app that has the canvas, with Celery's
 * names and arguments, so that workflows sent by Python run on tq workers and the other way
 * round: `celery.chord_unlock` (the chord join on backends without a counter), `celery.map`,
 * `celery.starmap`, `celery.chunks`, `celery.group`, `celery.chord`, `celery.chain` (never a
 * real task, as in Celery) and `celery.accumulate`.
 */
import { ChordError, Task, chordError, fromWireOptions, type App, type TaskContext, type TaskOptions } from '@tq/core';
import type { SignatureDict } from '@tq/protocol';
import { Chord, chordRetryInterval } from './chord.js';
import { GroupResult } from './group-result.js';
import { Chunks } from './map.js';
import type { AsyncResult } from '@tq/core';

type Handler = (context: TaskContext, args: readonly unknown[], kwargs: Readonly<Record<string, unknown>>) => unknown;

/** Register a task whose body reads its positional and keyword arguments itself (Python's `*args, **kwargs`). */
function define(app: App, name: string, options: TaskOptions, handler: Handler): void {
  if (app.tasks.has(name)) return;
  class Builtin extends Task<unknown[], unknown> {
    static override taskName = name;
    static override options = options;
    override invoke(context: TaskContext, args: readonly unknown[], kwargs: Readonly<Record<string, unknown>>): unknown {
      return handler(context, args, kwargs);
    }
  }
  app.register(Builtin);
}

/** Argument `index`, given positionally or by keyword. */
function arg(args: readonly unknown[], kwargs: Readonly<Record<string, unknown>>, index: number, name: string): unknown {
  return index < args.length ? args[index] : kwargs[name];
}

/** An error for a chord error message, as @tq/core writes it: `ValueError("bad value 7")`. */
export function errorRepr(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const e = error as Error & { excType?: string };
  return `${e.excType ?? e.name}(${JSON.stringify(e.message)})`;
}

/** The mapped task of `celery.map`/`celery.starmap`, from its signature dict or name. */
function mappedTask(app: App, task: unknown) {
  const name = typeof task === 'string' ? task : (task as SignatureDict | null)?.task;
  if (typeof name !== 'string') throw new TypeError(`celery.map expects a task signature, got ${JSON.stringify(task)}`);
  return app.requireTask(name);
}

/** The first member whose stored state is FAILURE or REVOKED (Celery's `_failed_join_report`). */
async function culprit(result: GroupResult): Promise<string | null> {
  for (const member of result.results) {
    if (member instanceof GroupResult) {
      const inner = await culprit(member);
      if (inner) return inner;
    } else {
      const state = await member.state();
      if (state === 'FAILURE' || state === 'REVOKED') return member.id;
    }
  }
  return null;
}

export function registerBuiltins(app: App): void {
  define(app, 'celery.chord_unlock', { maxRetries: null, ignoreResult: true, defaultRetryDelay: chordRetryInterval(app) }, async (context, args, kwargs) => {
    const groupId = arg(args, kwargs, 0, 'group_id') as string;
    const callback = arg(args, kwargs, 1, 'callback') as SignatureDict;
    const interval = (arg(args, kwargs, 2, 'interval') as number | null | undefined) ?? chordRetryInterval(app);
    const maxRetries = (arg(args, kwargs, 3, 'max_retries') as number | null | undefined) ?? null;
    const tuples = (arg(args, kwargs, 4, 'result') as unknown[] | null | undefined) ?? [];
    const deps = new GroupResult(groupId, app, tuples.map((t) => app.resultFromTuple(t)).filter((r): r is AsyncResult => r !== null));
    let ready: boolean;
    try {
      ready = await deps.ready();
    } catch (exc) {
      return context.retry({ exc, countdown: interval, maxRetries });
    }
    if (!ready) return context.retry({ countdown: interval, maxRetries });
    let values: unknown[];
    try {
      const timeout = app.config['resultChordJoinTimeout'];
      values = await deps.join({ timeout: typeof timeout === 'number' ? timeout : 3, propagate: true });
    } catch (exc) {
      const id = await culprit(deps);
      const reason = id ? `Dependency ${id} raised ${errorRepr(exc)}` : errorRepr(exc);
      await chordError(app, callback, new ChordError(reason));
      return null;
    }
    try {
      await app.signature(callback).applyAsync([values]);
    } catch (exc) {
      await chordError(app, callback, new ChordError(`Callback error: ${errorRepr(exc)}`));
    }
    return null;
  });

  define(app, 'celery.map', {}, async (context, args, kwargs) => {
    const task = mappedTask(app, arg(args, kwargs, 0, 'task'));
    const items = (arg(args, kwargs, 1, 'it') as unknown[]) ?? [];
    const out: unknown[] = [];
    for (const item of items) out.push(await task.invoke(context, [item], {}));
    return out;
  });

  define(app, 'celery.starmap', {}, async (context, args, kwargs) => {
    const task = mappedTask(app, arg(args, kwargs, 0, 'task'));
    const items = (arg(args, kwargs, 1, 'it') as unknown[][]) ?? [];
    const out: unknown[] = [];
    for (const item of items) out.push(await task.invoke(context, Array.isArray(item) ? item : [item], {}));
    return out;
  });

  define(app, 'celery.chunks', {}, async (_context, args, kwargs) => {
    const task = arg(args, kwargs, 0, 'task') as SignatureDict;
    const it = (arg(args, kwargs, 1, 'it') as unknown[]) ?? [];
    const n = arg(args, kwargs, 2, 'n') as number;
    const result = await new Chunks(app, { task: 'celery.chunks', args: [], kwargs: { task, it, n }, options: {}, subtask_type: 'chunks', immutable: true }).applyAsync();
    return result.asTuple();
  });

  // No longer used by Celery's own canvas, kept (as in Celery) for messages from older clients.
  define(app, 'celery.group', {}, async (context, args, kwargs) => {
    const tasks = (arg(args, kwargs, 0, 'tasks') as SignatureDict[]) ?? [];
    const result = app.resultFromTuple(arg(args, kwargs, 1, 'result'));
    const groupId = arg(args, kwargs, 2, 'group_id') as string;
    const partialArgs = (arg(args, kwargs, 3, 'partial_args') as unknown[] | null | undefined) ?? [];
    const addToParent = arg(args, kwargs, 4, 'add_to_parent') ?? true;
    for (const task of tasks) await app.signature(task).clone(partialArgs).applyAsync([], { groupId, addToParent: false });
    if (addToParent !== false && result) context.children.push({ id: result.id, tuple: result.asTuple() });
    return result ? result.asTuple() : null;
  });

  define(app, 'celery.chain', {}, () => {
    const error = new Error('chain is not a real task');
    error.name = 'NotImplementedError';
    throw error;
  });

  define(app, 'celery.chord', {}, async (_context, args, kwargs) => {
    const header = arg(args, kwargs, 0, 'header') as SignatureDict | SignatureDict[];
    const body = arg(args, kwargs, 1, 'body') as SignatureDict;
    const partialArgs = (arg(args, kwargs, 2, 'partial_args') as unknown[] | null | undefined) ?? [];
    const { header: _h, body: _b, partial_args: _p, interval: _i, countdown: _c, max_retries: _m, eager: _e, ...options } = kwargs as Record<string, unknown>;
    const result = await Chord.of(app, header, body).applyAsync(partialArgs, fromWireOptions(options));
    return result.asTuple();
  });

  define(app, 'celery.accumulate', {}, (_context, args, kwargs) => {
    const index = kwargs['index'];
    return typeof index === 'number' ? args[index] : [...args];
  });
}
