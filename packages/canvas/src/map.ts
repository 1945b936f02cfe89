/**
 * map, starmap and chunks (Celery's `xmap`, `xstarmap`, `chunks`): one task applied to many
 * argument lists. map and starmap are a single `celery.map` / `celery.starmap` message whose
 * worker calls the task for each item in turn; chunks splits the items into groups of `n` and
 * runs one `celery.starmap` per chunk, in parallel, as a group.
 *
 * Their dicts are Celery's: immutable, `kwargs` `{task, it[, n]}`, and `subtask_type` null (as
 * Celery writes them, so a dict read back is a plain signature of the built-in task).
 */
import { Signature, Task, fromWireOptions, mergeWireOptions, toWireOptions, type App, type ApplyOptions, type AsyncResult } from '@tq/core';
import { signatureDict, type SignatureDict } from '@tq/protocol';
import { Group } from './group.js';
import type { GroupResult } from './group-result.js';
import { installCanvas } from './install.js';
import { dictOf } from './util.js';

type Kind = 'xmap' | 'xstarmap' | 'chunks';
const TASK_OF: Record<Kind, string> = { xmap: 'celery.map', xstarmap: 'celery.starmap', chunks: 'celery.chunks' };

/** Celery's `route_name`: route the built-in task as the mapped task would be routed. */
function routeLike(app: App, mapped: string, options: ApplyOptions): ApplyOptions {
  if (options.queue !== undefined || options.exchange !== undefined || options.routingKey !== undefined) return {};
  const task = app.tasks.get(mapped);
  const route = app.router.route(mapped, [], {}, task?.options.queue ? { queue: task.options.queue } : {});
  return { queue: route.queue.name };
}

abstract class MapSignature<R> extends Signature<unknown[], R> {
  protected abstract readonly kind: Kind;

  constructor(app: App, dict: SignatureDict) {
    super(app, { ...dict, immutable: true });
  }

  /** The mapped task's signature dict (`kwargs.task`). */
  get mapped(): SignatureDict {
    return this.kwargs['task'] as SignatureDict;
  }

  /** The items (`kwargs.it`). */
  get items(): unknown[] {
    return this.kwargs['it'] as unknown[];
  }

  override toDict(): SignatureDict {
    return { ...super.toDict(), subtask_type: null };
  }

  override clone(_args: readonly unknown[] = [], options: ApplyOptions = {}): this {
    const merged = this.merge([], options);
    const Kind = this.constructor as new (app: App, dict: SignatureDict) => this;
    return new Kind(this.app, { ...this.toDict(), subtask_type: this.kind, kwargs: structuredClone(merged.kwargs), options: structuredClone(merged.options) });
  }

  protected callOptions(options: ApplyOptions): ApplyOptions {
    const { kwargs: _kwargs, ...rest } = options;
    const wire = mergeWireOptions(this.options, toWireOptions(rest));
    return { ...fromWireOptions(wire), ...routeLike(this.app, this.mapped.task, rest) };
  }
}

/** `task.map(items)`: one `celery.map` task calling `task(item)` for each item; the result is the list. */
export class XMap<R = unknown> extends MapSignature<R[]> {
  protected readonly kind = 'xmap';

  override applyAsync(_args: readonly unknown[] = [], options: ApplyOptions = {}): Promise<AsyncResult<R[]>> {
    return this.app.sendTask<R[]>(this.task, [], { ...this.callOptions(options), kwargs: { task: this.mapped, it: [...this.items] } });
  }
}

/** `task.starmap(items)`: one `celery.starmap` task calling `task(...item)` for each item. */
export class XStarmap<R = unknown> extends MapSignature<R[]> {
  protected readonly kind = 'xstarmap';

  override applyAsync(_args: readonly unknown[] = [], options: ApplyOptions = {}): Promise<AsyncResult<R[]>> {
    return this.app.sendTask<R[]>(this.task, [], { ...this.callOptions(options), kwargs: { task: this.mapped, it: [...this.items] } });
  }
}

/** `task.chunks(items, n)`: the items in chunks of `n`, one `celery.starmap` per chunk, as a group. */
export class Chunks<R = unknown> extends MapSignature<R[][]> {
  protected readonly kind = 'chunks';

  /** The chunk size (`kwargs.n`). */
  get size(): number {
    return this.kwargs['n'] as number;
  }

  /** The group of `celery.starmap` signatures, one per chunk of `n` items. */
  group(): Group<unknown[], R[][]> {
    installCanvas(this.app);
    const items = this.items;
    const tasks: XStarmap<R>[] = [];
    for (let i = 0; i < items.length; i += this.size) {
      tasks.push(new XStarmap<R>(this.app, mapDict('xstarmap', this.mapped, items.slice(i, i + this.size))));
    }
    return new Group<unknown[], R[][]>(this.app, { task: 'celery.group', args: [], kwargs: { tasks }, options: {}, subtask_type: 'group', immutable: false });
  }

  /** Apply the chunks' group (Celery's `chunks.apply_async`); the result's `get()` is a list of lists. */
  override applyAsync(args: readonly unknown[] = [], options: ApplyOptions = {}): Promise<GroupResult<R[][]>> {
    return this.group().applyAsync(args, this.callOptions(options));
  }
}

function mapDict(kind: Kind, task: SignatureDict, items: unknown[], n?: number): SignatureDict {
  return {
    task: TASK_OF[kind],
    args: [],
    kwargs: n === undefined ? { task, it: items } : { task, it: items, n },
    options: {},
    subtask_type: kind,
    immutable: true,
  };
}

type Mappable<A extends unknown[], R> = Task<A, R> | Signature<A, R>;

function mappedDict(task: Mappable<unknown[], unknown>): SignatureDict {
  return task instanceof Task ? signatureDict(task.name) : dictOf(task);
}

function appOfTask(task: Mappable<unknown[], unknown>): App {
  installCanvas(task.app);
  return task.app;
}

/** `xmap(task, items)` = `task.map(items)`, also for a signature. */
export function xmap<A extends unknown[], R>(task: Mappable<A, R>, items: Iterable<A[0]>): XMap<R> {
  const t = task as unknown as Mappable<unknown[], unknown>;
  return new XMap<R>(appOfTask(t), mapDict('xmap', mappedDict(t), [...items]));
}

/** `xstarmap(task, items)` = `task.starmap(items)`, also for a signature. */
export function xstarmap<A extends unknown[], R>(task: Mappable<A, R>, items: Iterable<A>): XStarmap<R> {
  const t = task as unknown as Mappable<unknown[], unknown>;
  return new XStarmap<R>(appOfTask(t), mapDict('xstarmap', mappedDict(t), [...items]));
}

/** `chunks(task, items, n)` = `task.chunks(items, n)`, typed as Chunks (with `.group()`). */
export function chunks<A extends unknown[], R>(task: Mappable<A, R>, items: Iterable<A>, n: number): Chunks<R> {
  if (!Number.isInteger(n) || n < 1) throw new TypeError(`[tq] [canvas] chunks size must be a positive integer, got ${n}`);
  const t = task as unknown as Mappable<unknown[], unknown>;
  return new Chunks<R>(appOfTask(t), mapDict('chunks', mappedDict(t), [...items], n));
}
