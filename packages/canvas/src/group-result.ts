/**
 * GroupResult: the result of a group (Celery's `GroupResult`), an `AsyncResult` of the list of
 * its members' results, in order. It reads members' states in one `getMany` round trip where it
 * can, waits only for those not yet ready, and is stored and restored as Celery's taskset tuple
 * (`celery-taskset-meta-<gid>` = `{"result": [[gid, null], [member tuples…]]}`).
 */
import { AsyncResult, FAILURE, PENDING, READY_STATES, SUCCESS, toSecondsOrNull, type App, type GetOptions, type ResultBackend, type RevokeOptions } from '@tq/core';
import type { ResultMeta } from '@tq/protocol';

type Tuple = [[string, unknown], unknown];

/** A member whose state can be read from the backend by id (not a group, not an eager result). */
function isPlain(result: AsyncResult): boolean {
  return result.constructor === AsyncResult;
}

export class GroupResult<R extends unknown[] = unknown[]> extends AsyncResult<R> {
  /** The members' results, in the group's order. */
  readonly results: AsyncResult[];

  constructor(id: string, app: App, results: AsyncResult[], options: { parent?: AsyncResult | null } = {}) {
    super(id, app, options);
    this.results = results;
  }

  get length(): number {
    return this.results.length;
  }

  [Symbol.iterator](): Iterator<AsyncResult> {
    return this.results[Symbol.iterator]();
  }

  /** Rebuild a saved group result (`save()`), or null when none is stored under this id. */
  static async restore<R extends unknown[] = unknown[]>(app: App, id: string): Promise<GroupResult<R> | null> {
    const backend = await app.requireBackend('restoring a group result');
    const tuple = await backend.restoreGroup(id);
    if (tuple === null || tuple === undefined) return null;
    const result = app.resultFromTuple(tuple);
    return result instanceof GroupResult ? (result as GroupResult<R>) : null;
  }

  /** Store this group's tuple so that `GroupResult.restore(app, id)` finds it later. */
  async save(): Promise<void> {
    const backend = await this.app.requireBackend('saving a group result');
    await backend.saveGroup(this.id, this.asTuple());
  }

  /** Remove the saved tuple (the members' results stay). */
  async delete(): Promise<void> {
    const backend = await this.app.requireBackend('deleting a group result');
    await backend.deleteGroup(this.id);
  }

  /** The members' results (Celery's `GroupResult.children`). */
  override async children(): Promise<AsyncResult[]> {
    return this.results;
  }

  /** Wait for every member; see `join`. */
  override get(options: GetOptions = {}): Promise<R> {
    return this.join(options);
  }

  /**
   * The members' results in order. With `propagate` (default) the first member in order that
   * failed rethrows its error, once the members before it have finished (Celery's `join`).
   * `timeout` bounds the whole wait.
   */
  async join(options: GetOptions = {}): Promise<R> {
    const { results } = this;
    if (results.length === 0) return [] as unknown as R;
    const propagate = options.propagate ?? true;
    const backend = await this.backend();
    const plain = results.filter(isPlain);
    const metas = plain.length > 0 ? await backend.getMany(plain.map((r) => r.id)) : new Map<string, ResultMeta>();
    const timeout = toSecondsOrNull(options.timeout, 'timeout');
    const deadline = timeout === null ? null : performance.now() + timeout * 1000;
    const waitOptions = (): GetOptions => ({
      ...options,
      propagate,
      ...(deadline === null ? {} : { timeout: Math.max(0, (deadline - performance.now()) / 1000) }),
    });
    // Every wait starts now, so the members are awaited in parallel; they are read in order.
    const pending = results.map((result) => {
      const meta = isPlain(result) ? metas.get(result.id) : undefined;
      const value = meta && READY_STATES.has(meta.status) ? Promise.resolve().then(() => result.settle(meta, propagate)) : result.get(waitOptions());
      value.catch(() => undefined);
      return value;
    });
    const out: unknown[] = new Array(results.length);
    for (let i = 0; i < pending.length; i++) out[i] = await pending[i];
    return out as R;
  }

  /** Ready states of every member, flattened through nested groups. */
  private async states(): Promise<string[]> {
    const backend = await this.backend();
    const plain = this.results.filter(isPlain);
    const metas = plain.length > 0 ? await backend.getMany(plain.map((r) => r.id)) : new Map<string, ResultMeta>();
    const out: string[] = [];
    for (const result of this.results) {
      if (result instanceof GroupResult) out.push(...(await result.states()));
      else if (isPlain(result)) out.push(metas.get(result.id)?.status ?? PENDING);
      else out.push(await result.state());
    }
    return out;
  }

  /** How many members succeeded (Celery's `completed_count`); a nested group counts once all of it did. */
  async completedCount(): Promise<number> {
    const backend = await this.backend();
    const plain = this.results.filter(isPlain);
    const metas = plain.length > 0 ? await backend.getMany(plain.map((r) => r.id)) : new Map<string, ResultMeta>();
    let n = 0;
    for (const result of this.results) {
      if (isPlain(result)) n += metas.get(result.id)?.status === SUCCESS ? 1 : 0;
      else if (result instanceof GroupResult) n += (await result.successful()) ? 1 : 0;
      else n += (await result.state()) === SUCCESS ? 1 : 0;
    }
    return n;
  }

  /** Every member has finished (succeeded, failed or was revoked). */
  override async ready(): Promise<boolean> {
    return (await this.states()).every((s) => READY_STATES.has(s));
  }

  /** Every member succeeded. */
  override async successful(): Promise<boolean> {
    return (await this.states()).every((s) => s === SUCCESS);
  }

  /** Some member failed. */
  override async failed(): Promise<boolean> {
    return (await this.states()).some((s) => s === FAILURE);
  }

  /** Some member has not finished yet. */
  async waiting(): Promise<boolean> {
    return (await this.states()).some((s) => !READY_STATES.has(s));
  }

  /** The group's state: SUCCESS once every member succeeded, FAILURE if one failed, else PENDING. */
  override async state(): ReturnType<AsyncResult['state']> {
    const states = await this.states();
    if (states.some((s) => s === FAILURE)) return FAILURE;
    if (states.length > 0 && states.every((s) => s === SUCCESS)) return SUCCESS;
    return PENDING;
  }

  /** Ask every worker not to run the members (and to stop them with `terminate`). */
  override async revoke(options: RevokeOptions = {}): Promise<void> {
    const ids = this.leafIds();
    if (ids.length > 0) await this.app.control.revoke(ids, options);
  }

  /** Delete the members' stored results. */
  override async forget(): Promise<void> {
    for (const result of this.results) await result.forget();
  }

  /** Every task id under this group, through nested groups. */
  leafIds(): string[] {
    return this.results.flatMap((r) => (r instanceof GroupResult ? r.leafIds() : [r.id]));
  }

  /** Celery's tuple: `[[gid, parent tuple|null], [member tuples…]]`. */
  override asTuple(): Tuple {
    return [[this.id, this.parent ? this.parent.asTuple() : null], this.results.map((r) => r.asTuple())];
  }

  private async backend(): Promise<ResultBackend> {
    return this.app.backendIfReady() ?? (await this.app.requireBackend('reading a group result'));
  }
}
