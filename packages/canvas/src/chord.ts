/**
 * chord: a group (the header) whose results, in order, are passed as one list to a body
 * signature once every header task has ended (Celery's `chord`). Header messages carry the
 * embed `chord` = the body signature and the headers `group`/`group_index`.
 *
 * The join: on a backend with an atomic counter (`capabilities.chordCounter`: memory, Redis)
 * the header size is recorded at apply and each header task reports its outcome as it ends
 * (see `chordPartReturn` in @tq/core); the last one fires the body. Elsewhere, Celery's
 * `celery.chord_unlock` task polls the header's results until they are all ready. Either way a
 * failed or revoked header task fails the body with ChordError and runs the body's errbacks.
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
  type AsyncResult,
  type FreezeOptions,
  type LinkTarget,
  type PipeCheck,
  type ResultOf,
} from '@tq/core';
import type { SignatureDict } from '@tq/protocol';
import { Group } from './group.js';
import { GroupResult } from './group-result.js';
import { installCanvas } from './install.js';
import type { AnySignature, CommonArgs, ResultsOf } from './types.js';
import { appOf, chordSize, isKind, membersOf, str, toSignature, without, type Wire } from './util.js';

type HeaderInput = Group | AnySignature | SignatureDict | Iterable<AnySignature | SignatureDict> | null | undefined;

/** Celery's `_maybe_group`: a header is a group's or chain's members, one signature, or a list. */
function toHeader(app: App, header: HeaderInput): Group {
  if (header instanceof Group) return header;
  let tasks: Array<AnySignature | SignatureDict>;
  if (header === null || header === undefined) tasks = [];
  else if (header instanceof Signature) tasks = isKind(header, 'chain') ? [...membersOf(header as AnySignature)] : [header as AnySignature];
  else if (Symbol.iterator in Object(header)) tasks = Array.from(header as Iterable<AnySignature | SignatureDict>);
  else {
    const sig = toSignature(app, header as SignatureDict);
    if (sig instanceof Group) return sig;
    tasks = isKind(sig, 'chain') ? [...membersOf(sig)] : [sig];
  }
  return new Group(app, { task: 'celery.group', args: [], kwargs: { tasks }, options: {}, subtask_type: 'group', immutable: false });
}

/** Make `header` the parent of the first result of `result`'s parent chain (a chain body's first step). */
function attachParent(result: AsyncResult, header: AsyncResult): void {
  const seen = new Set<string>();
  let node: AsyncResult = result;
  for (;;) {
    if (seen.has(node.id)) return;
    seen.add(node.id);
    if (!node.parent) {
      node.parent = header;
      return;
    }
    node = node.parent;
  }
}

/** The task a signature runs first: itself, or the first step or member of a chain, group or chord. */
function firstTask(sig: AnySignature): AnySignature {
  if (isKind(sig, 'chain') || isKind(sig, 'group')) {
    const first = membersOf(sig)[0];
    return first ? firstTask(first) : sig;
  }
  if (sig instanceof Chord) {
    const first = sig.header.tasks[0];
    return first ? firstTask(first) : (sig.body ?? sig);
  }
  return sig;
}

/** Seconds between `celery.chord_unlock` polls (Celery's `result_chord_retry_interval`, 1 s). */
export function chordRetryInterval(app: App): number {
  const value = app.config['resultChordRetryInterval'];
  return typeof value === 'number' && value >= 0 ? value : 1;
}

export class Chord<A extends unknown[] = unknown[], R = unknown> extends Signature<A, R> {
  constructor(app: App, dict: SignatureDict) {
    super(app, { ...dict, task: dict.task || 'celery.chord', subtask_type: 'chord' });
    const { header, body, ...rest } = (dict.kwargs ?? {}) as { header?: HeaderInput; body?: AnySignature | SignatureDict | null };
    this.kwargs = {
      ...(Object.keys(rest).length > 0 ? rest : { kwargs: {} }),
      header: toHeader(app, header),
      body: body ? toSignature(app, body) : null,
    };
  }

  /** A chord of `header` and `body` on `app`. */
  static of<A extends unknown[] = unknown[], R = unknown>(app: App, header: HeaderInput, body: AnySignature | SignatureDict | null): Chord<A, R> {
    return new Chord<A, R>(app, { task: 'celery.chord', args: [], kwargs: { kwargs: {}, header: toHeader(app, header), body }, options: {}, subtask_type: 'chord', immutable: false });
  }

  /** The header group. */
  get header(): Group {
    return this.kwargs['header'] as Group;
  }

  set header(header: Group) {
    this.kwargs['header'] = header;
  }

  /** The body, called with the header's results (null for `chord(header)` before it is called). */
  get body(): AnySignature | null {
    return (this.kwargs['body'] as AnySignature | null | undefined) ?? null;
  }

  set body(body: AnySignature | null) {
    this.kwargs['body'] = body;
  }

  /** Celery's dict; the header is a list of signatures until frozen, then a group signature, as in Celery. */
  override toDict(): SignatureDict {
    const dict = super.toDict();
    const kwargs: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(this.kwargs)) {
      if (key === 'header') {
        const header = value as Group;
        kwargs[key] = Object.keys(header.options).length > 0 ? header.toDict() : header.tasks.map((t) => t.toDict());
      } else if (key === 'body') kwargs[key] = value ? (value as AnySignature).toDict() : null;
      else kwargs[key] = value;
    }
    return { ...dict, kwargs };
  }

  override clone(args: readonly unknown[] = [], options: ApplyOptions = {}): this {
    const merged = this.merge([], options);
    const { header: _h, body: _b, ...rest } = merged.kwargs;
    return new Chord<A, R>(this.app, {
      ...super.toDict(),
      args: this.immutable ? [...this.args] : [...args, ...this.args],
      kwargs: { ...rest, header: this.header.clone(), body: this.body ? this.body.clone() : null },
      options: structuredClone(merged.options),
    }) as this;
  }

  /** Links the callback to the body. */
  override link<S extends LinkTarget>(callback: S): S {
    this.requireBody().link(callback);
    return callback;
  }

  /** Links the errback to the body: it runs if the body fails, or when a header task fails (ChordError). */
  override linkError<S extends LinkTarget>(errback: S): S {
    this.requireBody().linkError(errback);
    return errback;
  }

  /** Makes the header's members immutable (the body keeps its own setting), as Celery. */
  override setImmutable(immutable = true): this {
    this.header.setImmutable(immutable);
    return this;
  }

  /** `chord | task` adds the task to the body (the body becomes a chain); a group or chain follows the chord. */
  override pipe<S extends Signature<unknown[], unknown>>(next: S & PipeCheck<R, S>): Signature<A, ResultOf<S>> {
    if (!isKind(next, 'group') && !isKind(next, 'chain')) {
      const copy = this.clone();
      copy.body = copy.requireBody().pipe(next as Signature<unknown[], unknown>) as AnySignature;
      return copy as unknown as Signature<A, ResultOf<S>>;
    }
    return super.pipe(next);
  }

  private requireBody(): AnySignature {
    if (!this.body) throw new ConfigurationError('this chord has no body: build it with chord(header, body), or call chord(header)(body)');
    return this.body;
  }

  /** Fix the header's and the body's ids; the chord's result is the body's (its parent the header's). */
  override freeze(taskId?: string, options: FreezeOptions = {}): AsyncResult<R> {
    const body = this.requireBody();
    // The body first: the header's messages carry it, with its id.
    const bodyResult = body.freeze(taskId, { rootId: options.rootId ?? null, chord: options.chord ?? null, groupId: options.groupId ?? null, groupIndex: options.groupIndex ?? null });
    const headerResult = this.header.freeze(undefined, { parentId: options.parentId ?? null, rootId: options.rootId ?? null, chord: body });
    attachParent(bodyResult, headerResult);
    this.options['task_id'] = headerResult.id;
    return bodyResult as AsyncResult<R>;
  }

  override delay(...args: A): Promise<AsyncResult<R>> {
    return this.applyAsync(args);
  }

  /**
   * Send the header (call-time `args` prepended to each mutable member's arguments); the body
   * follows once every header task has ended. Options other than `taskId` (the body's id) go to
   * the body, as in Celery. The result is the body's, with the header's GroupResult as parent.
   */
  override applyAsync(args: A | readonly unknown[] = [], options: ApplyOptions = {}): Promise<AsyncResult<R>> {
    return this.applyWithBody(this.body, args, options);
  }

  /** Apply with another body (Celery's `chord(header)(body)`). */
  async applyWithBody(bodyInput: AnySignature | SignatureDict | null, args: readonly unknown[] = [], options: ApplyOptions = {}): Promise<AsyncResult<R>> {
    if (!bodyInput) return this.requireBody() as never;
    const app = this.app;
    const partialArgs = args.length > 0 && !this.immutable ? [...args, ...this.args] : [...this.args];
    const { taskId, kwargs: _kwargs, ...rest } = options;
    const body = toSignature(app, bodyInput).clone();
    const header = this.header.clone();
    if (app.conf.taskAlwaysEager) return this.applyEagerly(header, body, partialArgs, rest);
    const merged: Wire = mergeWireOptions(this.options, toWireOptions(rest));
    const optionTaskId = str(merged['task_id']);
    delete merged['task_id'];
    return this.run(header, body, partialArgs, taskId ?? optionTaskId, merged);
  }

  /** Celery's `chord.run`: freeze the body and the header, prepare the join, send the header. */
  private async run(header: Group, body: AnySignature, partialArgs: unknown[], taskId: string | undefined, options: Wire): Promise<AsyncResult<R>> {
    const app = this.app;
    const groupId = str(header.options['task_id']) ?? uuid();
    const rootId = str(options['root_id']) ?? str(body.options['root_id']) ?? null;
    body.options = mergeWireOptions(body.options, options);
    const bodyResult = body.freeze(taskId, { rootId });
    // The rest of a chain, the outer chord, links and group membership belong to the body only.
    const headerOptions = without({ ...options }, 'chain', 'chord', 'task_id', 'link', 'link_error', 'group_id', 'group_index');
    const [, members] = header.freezeGroupTasks(undefined, { groupId, chord: body, rootId });
    let headerResult: GroupResult;
    if (header.tasks.length > 0) {
      await this.prepareJoin(header, new GroupResult(groupId, app, members), body);
      headerResult = await header.applyAsync(partialArgs, { ...fromWireOptions(headerOptions), taskId: groupId });
    } else {
      // An empty header: nothing would ever fire the body, so it runs now with no results.
      await body.applyAsync([[]]);
      headerResult = new GroupResult(groupId, app, []);
    }
    attachParent(bodyResult, headerResult);
    return bodyResult as AsyncResult<R>;
  }

  /**
   * Celery's `backend.apply_chord`: with a counter, record how many header completions the body
   * waits for (and save a header whose members are groups, to rebuild its shape at the end);
   * without one, send `celery.chord_unlock` to poll the header.
   */
  private async prepareJoin(header: Group, headerResult: GroupResult, body: AnySignature): Promise<void> {
    const app = this.app;
    const backend = await app.requireBackend('a chord');
    if (backend.capabilities.chordCounter && backend.setChordSize && backend.chordPartReturn) {
      if (headerResult.results.some((r) => r instanceof GroupResult)) await backend.saveGroup(headerResult.id, headerResult.asTuple());
      let size = 0;
      for (const member of header.tasks) size += chordSize(app, member);
      await backend.setChordSize(headerResult.id, size);
      return;
    }
    const interval = chordRetryInterval(app);
    // Celery routes the unlock like the body, so that a worker serving the body polls for it.
    // For a chain, group or chord body that is the task that would run first (Celery routes by
    // the name `celery.chain`, which sends the unlock to the default queue).
    const first = firstTask(body);
    const firstTaskDef = app.tasks.get(first.task);
    const queue = str(body.options['queue']) ?? str(first.options['queue']) ?? firstTaskDef?.options.queue ?? app.router.route(first.task, [], {}).queue.name;
    const priority = typeof body.options['priority'] === 'number' ? body.options['priority'] : (firstTaskDef?.options.priority ?? undefined);
    await app.sendTask('celery.chord_unlock', [headerResult.id, body.toDict()], {
      kwargs: { interval: null, max_retries: null, result: headerResult.results.map((r) => r.asTuple()) },
      countdown: Math.min(1, interval),
      queue,
      ...(priority === undefined || priority === null ? {} : { priority }),
    });
  }

  /** Eager mode: run the header here, then the body with its results. */
  private async applyEagerly(header: Group, body: AnySignature, partialArgs: unknown[], options: ApplyOptions): Promise<AsyncResult<R>> {
    const { chain: _chain, chord: _chord, groupId: _g, groupIndex: _i, ...rest } = options;
    const headerResult = await header.applyAsync(partialArgs);
    const values = await headerResult.get();
    const result = await body.applyAsync([values], rest);
    attachParent(result, headerResult);
    return result as AsyncResult<R>;
  }
}

/** `chord(header)`: call it with the body to apply the chord (Celery's `chord(header)(body)`). */
export interface ChordCall<A extends unknown[], Rs> {
  <B extends AnySignature>(body: B & PipeCheck<Rs, B>, options?: ApplyOptions): Promise<AsyncResult<ResultOf<B>>>;
  /** The header group. */
  readonly header: Group<A, Rs extends unknown[] ? Rs : unknown[]>;
}

/**
 * A chord: the header runs in parallel, then `body` runs with the header's results in order.
 *
 *   const r = await chord([add.s(1, 1), add.s(2, 2)], xsum.s()).applyAsync();
 *   await r.get(); // 6
 *   await (await chord([add.s(1, 1), add.s(2, 2)])(xsum.s())).get(); // the callable form
 *
 * The body must accept the list of header results as its first call-time argument (a compile
 * error otherwise).
 */
export function chord<const H extends readonly AnySignature[], B extends AnySignature>(header: H, body: B & PipeCheck<ResultsOf<H>, B>): Chord<CommonArgs<H>, ResultOf<B>>;
export function chord<GA extends unknown[], GR extends unknown[], B extends AnySignature>(header: Group<GA, GR>, body: B & PipeCheck<GR, B>): Chord<GA, ResultOf<B>>;
export function chord<S extends AnySignature, B extends AnySignature>(header: Iterable<S>, body: B & PipeCheck<ResultOf<S>[], B>): Chord<unknown[], ResultOf<B>>;
export function chord<const H extends readonly AnySignature[]>(header: H): ChordCall<CommonArgs<H>, ResultsOf<H>>;
export function chord<GA extends unknown[], GR extends unknown[]>(header: Group<GA, GR>): ChordCall<GA, GR>;
export function chord<S extends AnySignature>(header: Iterable<S>): ChordCall<unknown[], ResultOf<S>[]>;
export function chord(header: Group | Iterable<AnySignature | SignatureDict>, body?: AnySignature): Chord | ChordCall<unknown[], unknown[]> {
  const members = header instanceof Group ? [header] : Array.from(header);
  const app = appOf([...members, ...(body ? [body] : [])], undefined, 'a chord');
  installCanvas(app);
  const built = Chord.of(app, header instanceof Group ? header : (members as Array<AnySignature | SignatureDict>), body ?? null);
  if (body) return built;
  const call = ((b: AnySignature, options?: ApplyOptions) => built.applyWithBody(b, [], options)) as ChordCall<unknown[], unknown[]>;
  Object.defineProperty(call, 'header', { value: built.header, enumerable: true });
  return call;
}
