/**
 * Which task is running "here": how a task sent from inside another gets its `parent_id` and
 * `root_id` and is recorded among its children, and how class tasks read `this.request`.
 *
 * Async code needs AsyncLocalStorage to carry that across awaits, and on Node 20 the first use of
 * AsyncLocalStorage turns on promise hooks for the whole process: every promise then costs more
 * (a no-op task's end-to-end rate drops by about a quarter). A synchronous body needs none of it,
 * so a sync task runs with a plain "current" slot and only async bodies (and workflows, whose
 * sends cross awaits) use AsyncLocalStorage. JavaScript runs one synchronous stack at a time, so
 * the slot is only set while that stack runs and can never leak into another task's continuation.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { TaskContext } from './context.js';

export class CurrentRequest {
  private storage: AsyncLocalStorage<TaskContext> | null = null;
  private sync: TaskContext | undefined;

  get(): TaskContext | undefined {
    return this.sync ?? this.storage?.getStore();
  }

  /**
   * Run `fn` with `context` current. With `acrossAwaits`, code after an await inside `fn` still
   * sees it (AsyncLocalStorage); without, only `fn`'s synchronous part does.
   */
  run<T>(context: TaskContext, fn: () => T, acrossAwaits: boolean): T {
    const previous = this.sync;
    if (acrossAwaits) {
      this.storage ??= new AsyncLocalStorage<TaskContext>();
      this.sync = undefined;
      try {
        return this.storage.run(context, fn);
      } finally {
        this.sync = previous;
      }
    }
    this.sync = context;
    try {
      return fn();
    } finally {
      this.sync = previous;
    }
  }
}
