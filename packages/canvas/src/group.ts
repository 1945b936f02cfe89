/**
 * group: signatures applied in parallel (Celery's `group`). Every member's message carries the
 * headers `group` = the group id and `group_index` = its position; nested groups are flattened.
 * The result is a GroupResult of the members' results in order. `group | task` is a chord.
 */
import {
  ConfigurationError,
  Signature,
  fromWireOptions,
  mergeWireOptions,
  toWireOptions,
  uuid,
  type App,
  type ApplyOptions,
  type ArgsOf,
  type AsyncResult,
  type FreezeOptions,
  type LinkTarget,
  type PipeCheck,
  type ResultOf,
} from '@tq/core';
import type { SignatureDict } from '@tq/protocol';
import { Chord } from './chord.js';
import { GroupResult } from './group-result.js';
import { installCanvas } from './install.js';
import type { AnySignature, CommonArgs, ResultsOf } from './types.js';
import { appOf, dictOf, isKind, str, toSignature, without, type Wire } from './util.js';

/** What a prepared member is: its signature (a frozen clone) and its result. */
interface Prepared {
  sig: AnySignature;
  result: AsyncResult;
}

export class Group<A extends unknown[] = unknown[], R extends unknown[] = unknown[]> extends Signature<A, R> {
  /** The group id `freezeGroupTasks` last prepared the members for (they are already private copies). */
  private preparedFor: string | null = null;

  constructor(app: App, dict: SignatureDict) {
    super(app, { ...dict, task: dict.task || 'celery.group', subtask_type: 'group' });
    const tasks = (dict.kwargs?.['tasks'] as Array<Signature | SignatureDict> | undefined) ?? [];
    this.kwargs = { ...this.kwargs, tasks: Array.from(tasks, (t) => toSignature(app, t)) };
  }

  /** The members, in order. */
  get tasks(): AnySignature[] {
    return this.kwargs['tasks'] as AnySignature[];
  }

  set tasks(tasks: AnySignature[]) {
    this.kwargs['tasks'] = tasks;
  }

  get length(): number {
    return this.tasks.length;
  }

  override toDict(): SignatureDict {
    const dict = super.toDict();
    return { ...dict, kwargs: { ...dict.kwargs, tasks: this.tasks.map((t) => t.toDict()) } };
  }

  override clone(args: readonly unknown[] = [], options: ApplyOptions = {}): this {
    const merged = this.merge([], options);
    const copy = new Group<A, R>(this.app, {
      ...super.toDict(),
      args: [...args, ...this.args],
      kwargs: { ...merged.kwargs, tasks: this.tasks.map((t) => t.clone()) },
      options: structuredClone(merged.options),
    });
    return copy as this;
  }

  /** Celery's `group.link`: the callback is linked (immutable) to the first member only. */
  override link<S extends LinkTarget>(callback: S): S {
    const first = this.tasks[0];
    if (first) first.link(toSignature(this.app, dictOf(callback)).clone().setImmutable(true));
    return callback;
  }

  /** Every member gets the errback (so it may run once per failed member). */
  override linkError<S extends LinkTarget>(errback: S): S {
    for (const task of this.tasks) task.linkError(errback);
    return errback;
  }

  /** Makes the members immutable (or mutable). */
  override setImmutable(immutable = true): this {
    for (const task of this.tasks) task.setImmutable(immutable);
    return this;
  }

  /** `group | body`: a chord. */
  override pipe<S extends Signature<unknown[], unknown>>(next: S & PipeCheck<R, S>): Chord<A, ResultOf<S>> {
    return Chord.of<A, ResultOf<S>>(this.app, this, next);
  }

  override freeze(taskId?: string, options: FreezeOptions = {}): GroupResult<R> {
    const [id, results] = this.freezeGroupTasks(taskId, options);
    return new GroupResult<R>(id, this.app, results);
  }

  /**
   * Celery's `_freeze_group_tasks`: fix the group id and every member's id, group, chord,
   * root and index (nested groups are flattened into this one).
   */
  freezeGroupTasks(taskId: string | undefined, options: FreezeOptions): [string, AsyncResult[]] {
    const o = this.options;
    if (typeof o['task_id'] !== 'string') o['task_id'] = options.groupId ?? taskId ?? uuid();
    const id = o['task_id'] as string;
    if (options.groupId) o['group_id'] = options.groupId;
    // One dict of the chord body, shared by every member's options.
    const chord = options.chord ? dictOf(options.chord) : null;
    if (chord) o['chord'] = chord;
    if (options.groupIndex !== undefined && options.groupIndex !== null) o['group_index'] = options.groupIndex;
    if (!('root_id' in o)) o['root_id'] = options.rootId ?? null;
    if (!('parent_id' in o)) o['parent_id'] = options.parentId ?? null;
    const rootId = str(o['root_id']) ?? null;
    const parentId = str(o['parent_id']) ?? null;
    const members: AnySignature[] = [];
    const results: AsyncResult[] = [];
    for (const sig of this.unrolled()) {
      const clone = sig.clone();
      results.push(clone.freeze(undefined, { groupId: options.groupId ?? null, chord, rootId, parentId, groupIndex: members.length }));
      members.push(clone);
    }
    this.tasks = members;
    this.preparedFor = id;
    return [id, results];
  }

  /** The members with nested groups flattened, in order. */
  private unrolled(out: AnySignature[] = []): AnySignature[] {
    for (const task of this.tasks) {
      if (isKind(task, 'group')) (task as unknown as Group).unrolled(out);
      else out.push(task);
    }
    return out;
  }

  /** Apply every member with call-time arguments (prepended to each mutable member's). */
  override delay(...args: A): Promise<GroupResult<R>> {
    return this.applyAsync(args);
  }

  /**
   * Send every member. Call-time `args` are prepended to each mutable member's arguments and
   * options apply to every member; `taskId` is the group id.
   */
  override async applyAsync(args: A | readonly unknown[] = [], options: ApplyOptions = {}): Promise<GroupResult<R>> {
    if (options.link !== undefined) throw new ConfigurationError('a group cannot have a link callback: use a chord (group(...).pipe(task) or chord(header, body))');
    if (options.linkError !== undefined) throw new ConfigurationError('add errbacks to a group with group.linkError(errback), which links them to every member');
    const app = this.app;
    if (app.conf.taskAlwaysEager) return this.applyEagerly(args, options);
    const { kwargs, addToParent, ...rest } = options;
    const merged: Wire = mergeWireOptions(this.options, toWireOptions(rest));
    const chainRest = merged['chain'] as SignatureDict[] | null | undefined;
    if (chainRest && chainRest.length > 0) {
      // A chain step after a group: Celery builds such chains as a chord of the group and the
      // next step; a message that still carries both is run the same way.
      const body = chainRest[chainRest.length - 1]!;
      const chord = Chord.of(app, this, toSignature(app, body));
      return (await chord.applyAsync(args, { ...options, chain: chainRest.slice(0, -1) })) as unknown as GroupResult<R>;
    }
    if (this.tasks.length === 0) {
      const id = str(merged['task_id']) ?? uuid();
      return new GroupResult<R>(id, app, []);
    }
    const groupId = str(merged['task_id']) ?? uuid();
    without(merged, 'task_id', 'chain', 'group_index');
    merged['group_id'] = groupId;
    const rootId = str(merged['root_id']) ?? null;
    const prepared = this.prepared(groupId, rootId);
    const memberOptions: ApplyOptions = { ...fromWireOptions(merged), ...(kwargs ? { kwargs } : {}), addToParent: false };
    const callArgs = this.args.length > 0 ? [...args, ...this.args] : args;
    for (const { sig } of prepared) await sig.applyAsync(callArgs, memberOptions);
    let result: GroupResult<R> = new GroupResult<R>(groupId, app, prepared.map((p) => p.result));
    // Celery's special case: a group of one member whose result is itself a group.
    if (result.results.length === 1 && result.results[0] instanceof GroupResult) result = result.results[0] as GroupResult<R>;
    this.addToParent(result, addToParent);
    return result;
  }

  /**
   * Celery's `_prepared`: clone and freeze every member (nested groups flattened). Members that
   * `freezeGroupTasks` just copied for this group id (a chord's header) are used as they are.
   */
  private prepared(groupId: string, rootId: string | null): Prepared[] {
    const reuse = this.preparedFor === groupId;
    const out: Prepared[] = [];
    for (const task of this.unrolled()) {
      const sig = reuse ? task : task.clone();
      out.push({ sig, result: sig.freeze(undefined, { groupId, rootId, groupIndex: out.length }) });
    }
    return out;
  }

  /** Record the group as a child of the running task (as one group tuple, as Celery does). */
  private addToParent(result: GroupResult, addToParent: boolean | undefined): void {
    if (addToParent === false) return;
    const parent = this.app.currentRequest();
    if (parent && !parent.isEager) parent.children.push({ id: result.id, tuple: result.asTuple() });
  }

  /** Eager mode: run every member here, in order. */
  private async applyEagerly(args: readonly unknown[], options: ApplyOptions): Promise<GroupResult<R>> {
    const { taskId, chain: _chain, chord: _chord, ...rest } = options;
    const groupId = taskId ?? str(this.options['task_id']) ?? uuid();
    const results: AsyncResult[] = [];
    for (const task of this.unrolled()) results.push(await task.clone().applyAsync(args, { ...rest, groupId }));
    return new GroupResult<R>(groupId, this.app, results);
  }
}

type GroupOf<S extends readonly AnySignature[]> = Group<CommonArgs<S>, ResultsOf<S>>;

export interface GroupOptions {
  /** The app, for an empty group (otherwise the members' app is used). */
  app?: App;
}

/**
 * A group of signatures applied in parallel:
 *
 *   const r = await group([add.s(1, 1), add.s(2, 2)]).applyAsync();
 *   await r.get(); // [2, 4]
 *
 * Accepts the signatures as arguments, as an array, or as any iterable (a generator).
 */
export function group<const S extends readonly AnySignature[]>(tasks: S, options?: GroupOptions): GroupOf<S>;
export function group<S extends AnySignature>(tasks: Iterable<S>, options?: GroupOptions): Group<ArgsOf<S>, ResultOf<S>[]>;
export function group<const S extends readonly [AnySignature, ...AnySignature[]]>(...tasks: S): GroupOf<S>;
export function group(...input: unknown[]): Group {
  let items: Array<AnySignature | SignatureDict>;
  let app: App | undefined;
  if (input[0] instanceof Signature) {
    items = input as AnySignature[];
  } else {
    const [iterable, options] = input as [Iterable<AnySignature | SignatureDict> | undefined, GroupOptions | undefined];
    items = iterable ? Array.from(iterable) : [];
    app = options?.app;
  }
  const owner = appOf(items, app, 'an empty group');
  installCanvas(owner);
  // A single group given whole is that group's members (Celery's `group(group)`).
  if (items.length === 1 && items[0] instanceof Group) items = [...items[0].tasks];
  return new Group(owner, { task: 'celery.group', args: [], kwargs: { tasks: items }, options: {}, subtask_type: 'group', immutable: false });
}
