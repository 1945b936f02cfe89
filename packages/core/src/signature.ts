/**
 * Signatures: a task call described but not made (Celery's `task.s()`), the unit that links,
 * chains and chords are built from. A signature is Celery's dict — `{task, args, kwargs,
 * options, subtask_type, immutable}` — with methods; it serializes to exactly that dict and is
 * rebuilt from one, so workflows cross between Python and tq.
 *
 * Partial semantics are Celery's: arguments given when the signature is called are **prepended**
 * to the ones it holds (`add.s(10)` called with 5 runs `add(5, 10)`), keyword arguments are
 * merged, options are merged. An immutable signature (`si`) ignores call-time arguments.
 */
import { signatureDict, type SignatureDict } from '@tq/protocol';
import { fromWireOptions, mergeWireOptions, toWireOptions, type ApplyOptions, type LinkTarget } from './apply-options.js';
import type { App } from './app.js';
import type { AsyncResult } from './async-result.js';
import { uuid } from './ids.js';

/** Tuples that are a suffix of A: what `s()` may bind (call-time arguments come first). */
export type Suffixes<A extends readonly unknown[], Depth extends unknown[] = []> = Depth['length'] extends 24
  ? A
  : number extends A['length']
    ? A
    : A extends readonly []
      ? []
      : A extends readonly [unknown?, ...infer Rest]
        ? A | Suffixes<Rest, [...Depth, unknown]>
        : A;

type DropLast<A extends readonly unknown[], N extends number, Dropped extends unknown[] = []> = Dropped['length'] extends N
  ? A
  : A extends readonly [...infer Pre, unknown?]
    ? DropLast<Pre, N, [...Dropped, unknown]>
    : A;

/** The arguments still expected once a suffix P of A is bound: A without its last P['length'] elements. */
export type Remaining<A extends readonly unknown[], P extends readonly unknown[]> = number extends A['length'] ? A : DropLast<A, P['length']>;

/** Where a frozen task belongs: its group, chord body, root and parent (Celery's `freeze` arguments). */
export interface FreezeOptions {
  groupId?: string | null;
  /** The chord body this task reports to when it ends. */
  chord?: LinkTarget | null;
  rootId?: string | null;
  parentId?: string | null;
  groupIndex?: number | null;
}

/** The call-time arguments of a signature type. */
export type ArgsOf<S> = S extends Signature<infer A, unknown> ? A : never;
/** The result type of a signature type. */
export type ResultOf<S> = S extends Signature<unknown[], infer R> ? R : never;

/**
 * Whether a signature taking call-time arguments `A` can be called with one argument of type `P`
 * (the previous step's result): always for immutable (`unknown[]`) signatures and for untyped
 * previous results, else when `[P]` fits `A`.
 */
export type AcceptsResult<A, P> = unknown extends P ? true : unknown[] extends A ? true : [P] extends A ? true : false;

/** Shown in the compile error when a step cannot take the previous step's result. */
export interface StepMismatch<P> {
  readonly 'tq: this step cannot take the previous result as its first call-time argument': P;
}

/** No constraint (`unknown`) when `S` accepts a previous result of type `P`; otherwise a type no signature satisfies. */
export type PipeCheck<P, S> = AcceptsResult<ArgsOf<S>, P> extends true ? unknown : StepMismatch<P>;

/**
 * `Signature<A, R>`: calling it supplies arguments of type `A` (prepended to the bound ones) and
 * its task returns `R`. An immutable signature has `A = unknown[]`: it accepts and ignores any.
 */
export class Signature<A extends unknown[] = unknown[], R = unknown> {
  readonly app: App;
  task: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  /** Options in their wire (snake_case) form. */
  options: Record<string, unknown>;
  subtaskType: string | null;
  immutable: boolean;
  /** Keys of the dict beyond Celery's six (e.g. `chord_size`), kept as they came. */
  protected extra: Record<string, unknown>;

  constructor(app: App, dict: SignatureDict) {
    const { task, args, kwargs, options, subtask_type, immutable, ...extra } = dict;
    this.app = app;
    this.task = task;
    this.args = [...(args ?? [])];
    this.kwargs = { ...(kwargs ?? {}) };
    this.options = { ...(options ?? {}) };
    this.subtaskType = subtask_type ?? null;
    this.immutable = immutable ?? false;
    this.extra = extra;
  }

  /** The task id this signature will use when applied (set by `freeze` or `set({ taskId })`). */
  get id(): string | undefined {
    return typeof this.options['task_id'] === 'string' ? this.options['task_id'] : undefined;
  }

  /** Celery's dict, key for key. */
  toDict(): SignatureDict {
    return {
      task: this.task,
      args: this.args,
      kwargs: this.kwargs,
      options: this.options,
      subtask_type: this.subtaskType,
      immutable: this.immutable,
      ...this.extra,
    };
  }

  toJSON(): SignatureDict {
    return this.toDict();
  }

  /** A copy, with arguments prepended, kwargs merged and options merged as in a call. */
  clone(args: readonly unknown[] = [], options: ApplyOptions = {}): this {
    const merged = this.merge(args, options);
    return this.app.signature({ ...this.toDict(), args: merged.args, kwargs: merged.kwargs, options: structuredClone(merged.options) }) as this;
  }

  /** Set call options on this signature (mutates and returns it, as Celery's `set`). */
  set(options: ApplyOptions): this {
    const { kwargs, ...rest } = options;
    if (kwargs) this.kwargs = { ...this.kwargs, ...kwargs };
    this.options = mergeWireOptions(this.options, toWireOptions(rest));
    if (rest.link !== undefined) this.options['link'] = toWireOptions({ link: rest.link })['link'];
    if (rest.linkError !== undefined) this.options['link_error'] = toWireOptions({ linkError: rest.linkError })['link_error'];
    return this;
  }

  /** Make this signature immutable (call-time arguments are ignored). */
  setImmutable(immutable = true): this {
    this.immutable = immutable;
    return this;
  }

  /** Call `callback` with this task's result when it succeeds. Returns the callback. */
  link<S extends LinkTarget>(callback: S): S {
    const list = (this.options['link'] as SignatureDict[] | undefined) ?? [];
    list.push(toDict(callback));
    this.options['link'] = list;
    return callback;
  }

  /** Call `errback` with this task's id when it fails. Returns the errback. */
  linkError<S extends LinkTarget>(errback: S): S {
    const list = (this.options['link_error'] as SignatureDict[] | undefined) ?? [];
    list.push(toDict(errback));
    this.options['link_error'] = list;
    return errback;
  }

  /**
   * Fix the task id now, so the result can be known before the task is sent (Celery's `freeze`).
   * The canvas also records here the group, chord and root the task belongs to; like Celery, a
   * frozen signature keeps its id and group, and carries this client's `reply_to`.
   */
  freeze(taskId?: string, options: FreezeOptions = {}): AsyncResult<R> {
    const o = this.options;
    if (!this.id) o['task_id'] = taskId ?? uuid();
    if (options.rootId) o['root_id'] = options.rootId;
    if (options.parentId) o['parent_id'] = options.parentId;
    if (!('reply_to' in o)) o['reply_to'] = this.app.oid;
    if (options.groupId && !('group_id' in o)) o['group_id'] = options.groupId;
    if (options.chord) o['chord'] = toDict(options.chord);
    if (options.groupIndex !== undefined && options.groupIndex !== null) o['group_index'] = options.groupIndex;
    return this.app.asyncResult<R>(this.id!);
  }

  /**
   * Chain: this, then `next` with this one's result (Celery's `|`; a chain given as `next` is
   * spliced in). Needs @tq/canvas for local composition. `next` must accept this signature's
   * result as its first call-time argument (or be immutable): otherwise it is a compile error.
   */
  pipe<S extends Signature<unknown[], unknown>>(next: S & PipeCheck<R, S>): Signature<A, ResultOf<S>> {
    const dict = next.toDict();
    const tail = dict.subtask_type === 'chain' && Array.isArray(dict.kwargs['tasks']) ? (dict.kwargs['tasks'] as SignatureDict[]) : [dict];
    return this.app.signature({
      task: 'celery.chain',
      args: [],
      kwargs: { tasks: [this.toDict(), ...tail] },
      options: {},
      subtask_type: 'chain',
      immutable: false,
    }) as unknown as Signature<A, ResultOf<S>>;
  }

  /** Apply with call-time arguments. */
  delay(...args: A): Promise<AsyncResult<R>> {
    return this.applyAsync(args);
  }

  /**
   * Send the task: call-time `args` are prepended to the bound ones (unless immutable),
   * `options.kwargs` merged, other options merged over the signature's.
   */
  applyAsync(args?: A | readonly unknown[], options: ApplyOptions = {}): Promise<AsyncResult<R>> {
    const { args: finalArgs, kwargs, options: wire } = this.merge(args ?? [], options);
    return this.app.sendTask<R>(this.task, finalArgs, { ...fromWireOptions(wire), kwargs });
  }

  /** Celery's `_merge`: the args, kwargs and wire options a call with these values would use. */
  merge(args: readonly unknown[], options: ApplyOptions = {}): { args: unknown[]; kwargs: Record<string, unknown>; options: Record<string, unknown> } {
    const { kwargs = {}, ...rest } = options;
    const wire = mergeWireOptions(this.options, toWireOptions(rest));
    if (this.immutable) return { args: [...this.args], kwargs: { ...this.kwargs }, options: wire };
    return { args: [...args, ...this.args], kwargs: { ...this.kwargs, ...kwargs }, options: wire };
  }
}

function toDict(target: LinkTarget): SignatureDict {
  return typeof (target as { toDict?: unknown }).toDict === 'function' ? (target as { toDict(): SignatureDict }).toDict() : (target as SignatureDict);
}

/** Build a plain signature dict for a task name (no app needed). */
export function signatureOf(task: string, args: unknown[] = [], kwargs: Record<string, unknown> = {}, options: ApplyOptions = {}, immutable = false): SignatureDict {
  return signatureDict(task, args, kwargs, toWireOptions(options), null, immutable);
}
