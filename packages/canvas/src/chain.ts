/**
 * chain: signatures run one after the other, each getting the previous one's result prepended
 * to its arguments (Celery's `chain` and `|`). Every task id is fixed up front, so the chain's
 * result is known at once: it is the last step's, and `.parent` walks back through the steps.
 * The first message carries the remaining steps, reversed, in its embed `chain` (the worker pops
 * the next step off the end); a group followed by a step becomes a chord.
 */
import {
  ConfigurationError,
  Signature,
  fromWireOptions,
  mergeWireOptions,
  toWireOptions,
  type App,
  type ApplyOptions,
  type AsyncResult,
  type FreezeOptions,
  type LinkTarget,
  type PipeCheck,
  type ResultOf,
  type ArgsOf,
} from '@tq/core';
import type { SignatureDict } from '@tq/protocol';
import { Chord } from './chord.js';
import { Group } from './group.js';
import { installCanvas } from './install.js';
import type { AnySignature, Last, ValidChain } from './types.js';
import { appOf, dictOf, isKind, str, toSignature, without, type Wire } from './util.js';

interface PrepareOptions {
  args: readonly unknown[];
  kwargs: Record<string, unknown> | undefined;
  rootId: string | null;
  linkError: SignatureDict[] | null;
  taskId: string | undefined;
  groupId: string | null;
  chord: SignatureDict | null;
  groupIndex: number | null;
  clone: boolean;
}

export class Chain<A extends unknown[] = unknown[], R = unknown> extends Signature<A, R> {
  constructor(app: App, dict: SignatureDict) {
    super(app, { ...dict, task: dict.task || 'celery.chain', subtask_type: 'chain' });
    const tasks = (dict.kwargs?.['tasks'] as Array<Signature | SignatureDict> | undefined) ?? [];
    this.kwargs = { ...this.kwargs, tasks: Array.from(tasks, (t) => toSignature(app, t)) };
  }

  /** A chain of `tasks` on `app` (no reduction: the steps are kept as given). */
  static of<A extends unknown[] = unknown[], R = unknown>(app: App, tasks: Array<AnySignature | SignatureDict>, options: Wire = {}): Chain<A, R> {
    return new Chain<A, R>(app, { task: 'celery.chain', args: [], kwargs: { tasks }, options, subtask_type: 'chain', immutable: false });
  }

  /** The steps, in order. */
  get tasks(): AnySignature[] {
    return this.kwargs['tasks'] as AnySignature[];
  }

  set tasks(tasks: AnySignature[]) {
    this.kwargs['tasks'] = tasks;
  }

  override toDict(): SignatureDict {
    const dict = super.toDict();
    return { ...dict, kwargs: { ...dict.kwargs, tasks: this.tasks.map((t) => t.toDict()) } };
  }

  override clone(args: readonly unknown[] = [], options: ApplyOptions = {}): this {
    const merged = this.merge([], options);
    return new Chain<A, R>(this.app, {
      ...super.toDict(),
      args: this.immutable ? [...this.args] : [...args, ...this.args],
      kwargs: { ...merged.kwargs, tasks: this.tasks.map((t) => t.clone()) },
      options: structuredClone(merged.options),
    }) as this;
  }

  /** Celery's `unchain_tasks`: copies of the steps, each with the chain's errbacks. */
  unchainTasks(): AnySignature[] {
    const tasks = this.tasks.map((t) => t.clone());
    const errbacks = (this.options['link_error'] as SignatureDict[] | undefined) ?? [];
    for (const errback of errbacks) for (const task of tasks) task.linkError(errback);
    return tasks;
  }

  /**
   * Celery's `chain | x`: a group or chain is appended (a chain's steps spliced in); a task after
   * a final group turns that group into a chord; a task after a final chord joins its body.
   */
  override pipe<S extends Signature<unknown[], unknown>>(next: S & PipeCheck<R, S>): Chain<A, ResultOf<S>> {
    const out = pipeInto(this, next as AnySignature);
    return (out instanceof Chain ? out : Chain.of(this.app, [out])) as Chain<A, ResultOf<S>>;
  }

  /** Fix every step's id now; the result is the last step's, its parents the earlier steps'. */
  override freeze(taskId?: string, options: FreezeOptions = {}): AsyncResult<R> {
    const [tasks, results] = this.prepareSteps(this.tasks, {
      args: this.args,
      kwargs: undefined,
      rootId: options.rootId ?? null,
      linkError: null,
      taskId,
      groupId: options.groupId ?? null,
      chord: options.chord ? dictOf(options.chord) : null,
      groupIndex: options.groupIndex ?? null,
      clone: false,
    });
    if (results.length === 0) throw new ConfigurationError('an empty chain has no result to freeze');
    // Keep the prepared steps (nested chains spliced, group + step made chords), so that a later
    // apply uses exactly the frozen ids.
    this.tasks = tasks.reverse();
    return results[0] as AsyncResult<R>;
  }

  override delay(...args: A): Promise<AsyncResult<R>> {
    return this.applyAsync(args);
  }

  /**
   * Send the first step with the rest in its embed `chain`. Call-time `args` go to the first
   * step; `taskId`, `groupId`, `groupIndex` and a `chord` apply to the last step; `link` to the
   * last step, `linkError` to every step; other options to the first step, as in Celery.
   */
  override async applyAsync(args: A | readonly unknown[] = [], options: ApplyOptions = {}): Promise<AsyncResult<R>> {
    const app = this.app;
    const { kwargs, ...rest } = options;
    const callArgs = args.length > 0 && !this.immutable ? [...args, ...this.args] : [...this.args];
    if (app.conf.taskAlwaysEager) return this.applyEagerly(callArgs, kwargs, rest);
    const merged: Wire = mergeWireOptions(this.options, toWireOptions(rest));
    const link = merged['link'] as SignatureDict[] | undefined;
    const [tasks, results] = this.prepareSteps(this.tasks, {
      args: callArgs,
      kwargs,
      rootId: str(merged['root_id']) ?? null,
      linkError: (merged['link_error'] as SignatureDict[] | undefined) ?? null,
      taskId: str(merged['task_id']),
      groupId: str(merged['group_id']) ?? null,
      chord: (merged['chord'] as SignatureDict | null | undefined) ?? null,
      groupIndex: typeof merged['group_index'] === 'number' ? merged['group_index'] : null,
      clone: true,
    });
    if (results.length === 0) throw new ConfigurationError('cannot apply an empty chain');
    if (link?.length) {
      const last = tasks[0]!;
      last.options['link'] = [...((last.options['link'] as SignatureDict[] | undefined) ?? []), ...link];
    }
    const first = tasks.pop()!;
    const existing = merged['chain'] as SignatureDict[] | null | undefined;
    const rest2 = without(merged, 'group_id', 'chord', 'task_id', 'link', 'link_error', 'root_id', 'group_index');
    const parentId = str(rest2['parent_id']);
    delete rest2['parent_id'];
    // The steps after the first, reversed (the worker pops the next one off the end), after any
    // chain this one continues.
    const chain = [...(existing ?? []), ...tasks.map((t) => t.toDict())];
    const firstResult = await first.applyAsync([], {
      ...fromWireOptions(rest2),
      chain: chain.length > 0 ? chain : null,
      ...(parentId ? { parentId } : {}),
    });
    return tasks.length === 0 ? (firstResult as AsyncResult<R>) : (results[0] as AsyncResult<R>);
  }

  /**
   * Celery's `prepare_steps`, last step first: copy each step (the first gets the call's
   * arguments), splice nested chains, turn a group followed by a step into a chord, fix ids
   * (the last step takes the chain's id, group and chord), and link each result to its parent.
   * Returns the steps and results in reverse order.
   */
  private prepareSteps(input: readonly AnySignature[], o: PrepareOptions): [AnySignature[], AsyncResult[]] {
    const app = this.app;
    const steps = [...input];
    const tasks: AnySignature[] = [];
    const results: AsyncResult[] = [];
    let prevTask: AnySignature | null = null;
    let prevRes: AsyncResult | null = null;
    let i = 0;
    while (steps.length > 0) {
      let task = toSignature(app, steps.pop()!);
      const isFirst = steps.length === 0;
      const isLast = i === 0;
      if (o.clone) task = isFirst ? task.clone(o.args, o.kwargs ? { kwargs: o.kwargs } : {}) : task.clone();
      if (isKind(task, 'chain')) {
        steps.push(...(task as Chain).tasks);
        continue;
      }
      if (isKind(task, 'group') && prevTask && prevRes) {
        tasks.pop();
        results.pop();
        task = Chord.of(app, task as unknown as Group, prevTask);
        task.options['task_id'] = prevRes.id;
        if (o.rootId) task.options['root_id'] = o.rootId;
      }
      const res = isLast
        ? task.freeze(o.taskId, { rootId: o.rootId, groupId: o.groupId, chord: o.chord, groupIndex: o.groupIndex })
        : task.freeze(undefined, { rootId: o.rootId });
      i++;
      if (prevRes && !prevRes.parent) prevRes.parent = res;
      if (o.linkError) for (const errback of o.linkError) task.linkError(errback);
      tasks.push(task);
      results.push(res);
      prevTask = task;
      prevRes = res;
      if (isKind(task, 'chord')) {
        // The chord's result is its body's; the step before it is the parent of its header.
        let node: AsyncResult = res;
        while (node.parent) node = node.parent;
        prevRes = node;
      }
    }
    return [tasks, results];
  }

  /** Eager mode: run each step here with the previous one's result. */
  private async applyEagerly(args: unknown[], kwargs: Record<string, unknown> | undefined, options: ApplyOptions): Promise<AsyncResult<R>> {
    const { chain: _chain, chord: _chord, groupId: _g, groupIndex: _i, taskId, ...rest } = options;
    let last: AsyncResult | null = null;
    const steps = this.tasks;
    for (let i = 0; i < steps.length; i++) {
      const step = i === 0 ? steps[i]!.clone(args, kwargs ? { kwargs } : {}) : steps[i]!.clone();
      const isLast = i === steps.length - 1;
      const result: AsyncResult = await step.applyAsync(last ? [await last.get()] : [], { ...rest, ...(isLast && taskId ? { taskId } : {}) });
      result.parent = last;
      last = result;
    }
    if (!last) throw new ConfigurationError('cannot apply an empty chain');
    return last as AsyncResult<R>;
  }
}

/** `left | right` with Celery's rules for chains, groups and chords on either side. */
export function pipeInto(left: AnySignature, right: AnySignature): AnySignature {
  const app = left.app;
  if (left instanceof Chain) {
    if (isKind(right, 'group')) {
      const tasks = left.unchainTasks();
      return tasks.length === 0 ? right : Chain.of(app, [...tasks, right]);
    }
    if (right instanceof Chain) return Chain.of(app, [...left.unchainTasks(), ...right.unchainTasks()]);
    const tasks = left.tasks;
    const lastStep = tasks[tasks.length - 1];
    if (lastStep && isKind(lastStep, 'group')) {
      const copy = left.clone();
      copy.tasks[copy.tasks.length - 1] = Chord.of(app, copy.tasks[copy.tasks.length - 1] as unknown as Group, right);
      return copy;
    }
    if (lastStep && isKind(lastStep, 'chord')) {
      const copy = left.clone();
      const chordStep = copy.tasks[copy.tasks.length - 1] as Chord;
      chordStep.body = pipeInto(chordStep.body!, right);
      return copy;
    }
    return Chain.of(app, [...left.unchainTasks(), right]);
  }
  if (left instanceof Group) return Chord.of(app, left, right);
  if (left instanceof Chord && !isKind(right, 'group') && !isKind(right, 'chain')) {
    const copy = left.clone();
    copy.body = pipeInto(copy.body!, right);
    return copy;
  }
  if (right instanceof Chain) return Chain.of(app, [left, ...right.unchainTasks()]);
  return Chain.of(app, [left, right]);
}

type ChainOf<S extends readonly AnySignature[]> = Chain<ArgsOf<S[0]>, ResultOf<Last<S>>>;

/**
 * A chain: each step runs after the previous one, with its result prepended to its arguments.
 *
 *   const r = await chain(add.s(1, 2), add.s(3), add.s(4)).applyAsync();
 *   await r.get(); // 10
 *
 * Built as Celery's `a | b | c`: nested chains are spliced in, and a group followed by a step
 * becomes a chord. In the variadic form each step must accept the previous step's result as its
 * first call-time argument, or be immutable (`si()`): otherwise it is a compile error. The
 * iterable form (`chain(list)`, for steps built at run time) is typed `Chain<unknown[], unknown>`.
 */
export function chain<const S extends readonly [AnySignature, ...AnySignature[]]>(...tasks: S & ValidChain<S>): ChainOf<S>;
/** Celery's `chain(list)` / `chain(generator)`: for lists built at run time; not type-checked. */
export function chain(tasks: Iterable<AnySignature | SignatureDict>, options?: { app?: App }): Chain;
export function chain(...input: unknown[]): Chain {
  let items: Array<AnySignature | SignatureDict>;
  let app: App | undefined;
  if (input[0] instanceof Signature) items = input as AnySignature[];
  else {
    const [iterable, options] = input as [Iterable<AnySignature | SignatureDict>, { app?: App } | undefined];
    items = Array.from(iterable ?? []);
    app = options?.app;
  }
  const owner = appOf(items, app, 'an empty chain');
  installCanvas(owner);
  const sigs = items.map((item) => toSignature(owner, item));
  if (sigs.length === 1) return Chain.of(owner, sigs);
  // Celery's `reduce(operator.or_, tasks, chain())`.
  let acc: AnySignature = Chain.of(owner, []);
  for (const sig of sigs) acc = pipeInto(acc, sig);
  // A leading group followed by a step reduces to a bare chord in Celery; tq keeps the Chain
  // type by wrapping it (the same workflow, one level deeper in the dict).
  return acc instanceof Chain ? acc : Chain.of(owner, [acc]);
}
