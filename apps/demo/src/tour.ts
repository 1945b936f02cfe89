import { chain, chord, group } from '@tq/canvas';
import { createApp, Task, type TaskContext } from '@tq/core';
import { Worker } from '@tq/worker';

// An app: the broker and result backend are URLs (default: the in-process memory transport).
const app = createApp({ main: 'proj' }); // e.g. { broker: 'redis://127.0.0.1:6379/0', backend: 'redis://127.0.0.1:6379/1' }

// Tasks: a name and a function. Argument and result types flow into delay, s() and get().
export const add = app.task('tasks.add', (x: number, y: number) => x + y);

// Celery's task options, camelCased; the running request is `this` (or the first argument with bind).
export const fetchPage = app.task(
  { name: 'tasks.fetch', maxRetries: 5, retryBackoff: true, acksLate: true },
  async function (this: TaskContext, url: string) {
    const res = await fetch(url, { signal: this.signal }); // aborted on revoke-terminate or shutdown
    if (res.status >= 500) this.retry({ countdown: 10 }); // re-sent with retries + 1
    return res.status;
  },
);

// Class style, for tasks with hooks or shared state.
class MulTask extends Task<[number, number], number> {
  static override taskName = 'tasks.mul';
  override run(x: number, y: number) {
    return x * y;
  }
}
export const mul = app.register(MulTask);
export const xsum = app.task('tasks.xsum', (values: number[]) => values.reduce((a, b) => a + b, 0));

export async function tour(): Promise<void> {
  const worker = new Worker(app, { concurrency: 10 }); // or: tq worker -A ./src/app.ts
  await worker.start();

  const r = await add.delay(1, 2); // AsyncResult<number>
  console.log(await r.get({ timeout: 10 })); // 3 (rethrows the task's error on FAILURE)
  await add.applyAsync([1, 2], { countdown: 10, queue: 'math', priority: 5, expires: 60, link: add.s(10) });
  await app.sendTask('tasks.add', [1, 2]); // by name: a Python client's or worker's tasks too
  console.log(r.id, await r.state(), await mul.s(6).delay(7).then((m) => m.get()));

  // Workflows, wire-identical to Celery's canvas (a Python worker can run them, and vice versa).
  console.log(await (await group([add.s(1, 1), add.s(2, 2)]).applyAsync()).get()); // [2, 4]
  console.log(await (await chain(add.s(1, 2), add.s(3), add.s(4)).applyAsync()).get()); // 10
  console.log(await (await chord([add.s(1, 1), add.s(2, 2)], xsum.s()).applyAsync()).get()); // 6

  await worker.stop();
  await app.close();
}
