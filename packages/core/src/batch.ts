/**
 * Batch tasks (tq's own): a task declared with `batch: { size, wait }` runs its body once for
 * up to `size` calls, or for what arrived within `wait` seconds of the first. Each call is still
 * its own message with its own id, events, acknowledgement and result: every call waits in the
 * process running it (holding its pool slot) until its batch runs, then gets its own value.
 *
 *   const send = batchTask(app, { name: 'mail.send', batch: { size: 50, wait: 0.5 } },
 *     async (calls: BatchCall<[string]>[]) => smtp.sendMany(calls.map((c) => c.args[0])));
 *   await (await send.delay('a@example.com')).get();   // that call's own value
 *
 * The body returns one value per call, in order; an Error in a slot fails that call only, and a
 * thrown error fails the whole batch. A call whose run ends while it waits (revoked with
 * terminate, a time limit, a cold shutdown) leaves its batch: the body never sees it. A batch
 * never grows past the slots a worker has, so set the worker's concurrency to at least `size`.
 */
import type { App } from './app.js';
import type { TaskContext } from './context.js';
import { ConfigurationError } from './errors.js';
import type { AnyTask, Task, TaskOptions } from './task.js';

/** One call handed to a batch body. */
export interface BatchCall<A extends unknown[] = unknown[]> {
  id: string;
  args: A;
  kwargs: Record<string, unknown>;
  /** The call's running request (retries, delivery info, …). */
  request: TaskContext;
}

interface Pending {
  call: BatchCall;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  /** The run's signal, and what takes the call out of its batch if the run ends (revoke, time limit, shutdown) before the batch runs. */
  signal: AbortSignal;
  leave: () => void;
}

class Batcher {
  private pending: Pending[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly task: AnyTask,
    private readonly size: number,
    private readonly wait: number,
  ) {}

  join(call: BatchCall, body: (calls: BatchCall[]) => unknown, signal: AbortSignal): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      // A call whose run ended while it waited is not handed to the body (its outcome is recorded already).
      const pending: Pending = { call, resolve, reject, signal, leave: () => undefined };
      pending.leave = () => {
        const i = this.pending.indexOf(pending);
        if (i === -1) return;
        this.pending.splice(i, 1);
        if (this.pending.length === 0 && this.timer) {
          clearTimeout(this.timer);
          this.timer = null;
        }
        reject(signal.reason);
      };
      signal.addEventListener('abort', pending.leave, { once: true });
      this.pending.push(pending);
      if (this.pending.length >= this.size) this.flush(body);
      else this.timer ??= setTimeout(() => this.flush(body), this.wait * 1000);
    });
  }

  private flush(body: (calls: BatchCall[]) => unknown): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.pending.splice(0, this.size);
    for (const p of batch) p.signal.removeEventListener('abort', p.leave);
    if (this.pending.length > 0) this.timer = setTimeout(() => this.flush(body), this.wait * 1000);
    void (async () => {
      try {
        const results = await body(batch.map((p) => p.call));
        if (!Array.isArray(results) || results.length !== batch.length) {
          throw new ConfigurationError(`batch task ${this.task.name} must return one value per call (${batch.length}), got ${Array.isArray(results) ? `${results.length} values` : typeof results}`);
        }
        batch.forEach((p, i) => (results[i] instanceof Error ? p.reject(results[i]) : p.resolve(results[i])));
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    })();
  }
}

const batchers = new WeakMap<AnyTask, Batcher>();

/** Called by Task.invoke for a batch task: resolves with this call's value once its batch ran. */
export function joinBatch(task: AnyTask, context: TaskContext, args: readonly unknown[], kwargs: Readonly<Record<string, unknown>>, body: (calls: BatchCall[]) => unknown): Promise<unknown> {
  const spec = task.options.flow!.batch!;
  let batcher = batchers.get(task);
  if (!batcher) batchers.set(task, (batcher = new Batcher(task, spec.size, spec.wait)));
  return batcher.join({ id: context.id, args: [...args], kwargs: { ...kwargs }, request: context }, body, context.signal);
}

/** Declare a batch task with its call types: callers use `delay(...args)`, the body gets `BatchCall<A>[]`. */
export function batchTask<A extends unknown[], R>(
  app: App,
  options: TaskOptions & { name: string; batch: NonNullable<TaskOptions['batch']> },
  fn: (this: TaskContext, calls: BatchCall<A>[]) => ReadonlyArray<R | Error> | Promise<ReadonlyArray<R | Error>>,
): Task<A, R> {
  return app.task(options, fn as never) as unknown as Task<A, R>;
}
