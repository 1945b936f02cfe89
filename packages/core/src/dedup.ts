/**
 * Deduplication of calls (tq's own): a task with `dedupKey` is sent only when no call with the
 * same key holds a claim in the app's flow store; a duplicate resolves with the first call's
 * AsyncResult and publishes nothing. With `dedup: 'active'` the claim lasts until a worker
 * finishes the task (bounded by `flowDedupMaxAge`), with `{ ttl }` for that many seconds.
 */
import type { ApplyOptions } from './apply-options.js';
import type { App } from './app.js';
import { AsyncResult } from './async-result.js';
import { dedupMaxAge, flowKey, getFlowStore } from './flow.js';
import { uuid } from './ids.js';
import { READY_STATES } from './states.js';
import type { AnyTask } from './task.js';

/** The store key of a call, or null when the call cannot be deduplicated (by taskId, without one). */
export function dedupKeyOf(task: AnyTask, args: readonly unknown[], kwargs: Readonly<Record<string, unknown>>, taskId: string | undefined): string | null {
  const dedup = task.options.flow?.dedup;
  if (!dedup) return null;
  const key = dedup.key ? flowKey(dedup.key, args, kwargs, `${task.name} dedupKey`) : taskId;
  return key === undefined ? null : `dedup:${task.name}:${key}`;
}

/** Send a call of a dedup task: publishes only when it claims its key. */
export async function sendDeduplicated<R>(app: App, task: AnyTask, args: readonly unknown[], options: ApplyOptions): Promise<AsyncResult<R>> {
  const key = dedupKeyOf(task, args, options.kwargs ?? {}, options.taskId);
  if (key === null) return new AsyncResult<R>(await app.producer.send(task.name, args, options, task), app);
  const id = options.taskId ?? uuid();
  const store = await getFlowStore(app);
  const ttl = task.options.flow!.dedup!.ttl ?? dedupMaxAge(app);
  let { claimed, holder } = await store.claim(key, id, ttl, task.name);
  // A retry re-sends the call under its own id, which holds the claim: it goes out.
  const retryOfHolder = holder === id && (options.retries ?? 0) > 0;
  if (!claimed && holder !== id && task.options.flow!.dedup!.ttl === null) {
    // 'active': a holder that already finished (its worker has not freed the claim yet) is no
    // reason to drop this call; take the claim over from it.
    if (READY_STATES.has(await app.asyncResult(holder).state())) claimed = await store.reclaim(key, holder, id, ttl, task.name);
    if (claimed) holder = id;
  }
  if (!claimed && !retryOfHolder) return new AsyncResult<R>(holder, app);
  try {
    await app.producer.send(task.name, args, { ...options, taskId: id }, task);
  } catch (err) {
    if (claimed) await store.unclaim(key, id).catch(() => undefined);
    throw err;
  }
  return new AsyncResult<R>(id, app);
}

/**
 * A worker finished a call for good (not a retry): an `'active'` claim is freed so that the
 * next call with that key runs. A `{ ttl }` claim stays until it expires.
 */
export async function releaseDedup(app: App, task: AnyTask, id: string, args: readonly unknown[], kwargs: Readonly<Record<string, unknown>>): Promise<void> {
  const dedup = task.options.flow?.dedup;
  if (!dedup || dedup.ttl !== null) return;
  const key = dedupKeyOf(task, args, kwargs, id);
  if (key !== null) await (await getFlowStore(app)).unclaim(key, id);
}
