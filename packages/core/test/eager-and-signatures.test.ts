import { describe, expect, it } from 'vitest';
import { Task, TaskContext, TimeoutError } from '../src/index.js';
import { newApp, runNext } from './helpers.js';


describe('eager mode (for your own unit tests)', () => {
  it('runs tasks in the caller and returns a finished result, without a worker or backend', async () => {
    const app = newApp({ taskAlwaysEager: true, broker: 'redis://127.0.0.1:1/0', backend: null });
    const add = app.task('tasks.add', (x: number, y: number) => x + y);
    const r = await add.delay(2, 3);
    expect(await r.get()).toBe(5);
    expect(await r.state()).toBe('SUCCESS');
  });

  it('returns failures as results, or throws them with taskEagerPropagates', async () => {
    const boomFn = () => {
      throw new TypeError('nope');
    };
    const lenient = newApp({ taskAlwaysEager: true });
    const r = await lenient.task('tasks.boom', boomFn).delay();
    expect(await r.state()).toBe('FAILURE');
    await expect(r.get()).rejects.toThrow('nope');
    const strict = newApp({ taskAlwaysEager: true, taskEagerPropagates: true });
    await expect(strict.task('tasks.boom', boomFn).delay()).rejects.toThrow(TypeError);
  });

  it('runs retries at once and links in the caller too', async () => {
    const app = newApp({ taskAlwaysEager: true });
    let calls = 0;
    const flaky = app.task({ name: 'tasks.flaky', maxRetries: 5 }, function (this: TaskContext) {
      calls++;
      if (calls < 3) this.retry({ countdown: 60 });
      return calls;
    });
    expect(await (await flaky.delay()).get()).toBe(3);
    const seen: number[] = [];
    const record = app.task('tasks.record', (v: number) => {
      seen.push(v);
      return v;
    });
    const add = app.task('tasks.add', (x: number, y: number) => x + y);
    await add.applyAsync([1, 2], { link: record.s() });
    expect(seen).toEqual([3]);
  });

  it('task.apply() runs one call locally even when not in eager mode', async () => {
    const app = newApp();
    const add = app.task('tasks.add', (x: number, y: number) => x + y);
    expect(await (await add.apply([4, 5])).get()).toBe(9);
  });
});

describe('signatures', () => {
  it('are Celery dicts, key for key', () => {
    const app = newApp();
    const add = app.task('tasks.add', (x: number, y: number) => x + y);
    expect(add.s(2).set({ countdown: 10, queue: 'math', taskId: 'id-1' }).toDict()).toEqual({
      task: 'tasks.add', args: [2], kwargs: {}, options: { countdown: 10, queue: 'math', task_id: 'id-1' }, subtask_type: null, immutable: false,
    });
    expect(add.si(1, 2).toDict().immutable).toBe(true);
  });

  it('prepend call-time args to bound ones; immutable ones ignore them', async () => {
    const app = newApp();
    const sub = app.task('tasks.sub', (x: number, y: number) => x - y);
    await sub.s(1).delay(10);
    expect((await runNext(app)).message.args).toEqual([10, 1]);
    await sub.si(5, 2).applyAsync([100]);
    expect((await runNext(app)).message.args).toEqual([5, 2]);
  });

  it('merge kwargs and options; clone leaves the original alone', () => {
    const app = newApp();
    const t = app.task('tasks.t', (a: number) => a);
    const base = t.s().set({ kwargs: { a: 1 }, priority: 3 });
    const copy = base.clone([], { kwargs: { b: 2 }, queue: 'q' });
    expect(copy.kwargs).toEqual({ a: 1, b: 2 });
    expect(copy.options).toEqual({ priority: 3, queue: 'q' });
    expect(base.options).toEqual({ priority: 3 });
  });

  it('link and linkError accumulate callbacks and return them', () => {
    const app = newApp();
    const t = app.task('tasks.t', (a: number) => a);
    const sig = t.s(1);
    const cb = t.s();
    expect(sig.link(cb)).toBe(cb);
    sig.link(t.si(2));
    sig.linkError(t.si(3));
    expect((sig.options['link'] as unknown[]).length).toBe(2);
    expect((sig.options['link_error'] as unknown[]).length).toBe(1);
  });

  it('rebuild from a Celery dict received on the wire', () => {
    const app = newApp();
    const dict = { task: 'proj.add', args: [100], kwargs: {}, options: { task_id: 'chain-c', reply_to: 'oid' }, subtask_type: null, immutable: false };
    const sig = app.signature(dict);
    expect(sig.id).toBe('chain-c');
    expect(sig.toDict()).toEqual(dict);
  });

  it('freeze fixes the id before sending', async () => {
    const app = newApp();
    const t = app.task('tasks.t', (a: number) => a);
    const sig = t.s(1);
    const frozen = sig.freeze();
    const sent = await sig.delay();
    expect(sent.id).toBe(frozen.id);
  });

  it('pipe builds a Celery chain signature', () => {
    const app = newApp();
    const add = app.task('tasks.add', (x: number, y: number) => x + y);
    const chained = add.s(1, 2).pipe(add.s(3));
    expect(chained.task).toBe('celery.chain');
    expect(chained.subtaskType).toBe('chain');
    expect((chained.kwargs['tasks'] as Array<{ args: unknown[] }>).map((t) => t.args)).toEqual([[1, 2], [3]]);
  });
});

describe('class-style tasks', () => {
  it('register with a static name and read the request', async () => {
    const app = newApp();
    class Mul extends Task<[number, number], number> {
      static override taskName = 'tasks.mul';
      override run(x: number, y: number): number {
        return this.request!.retries === 0 ? x * y : -1;
      }
    }
    const mul = app.register(Mul);
    expect(mul.name).toBe('tasks.mul');
    const r = await mul.delay(6, 7);
    await runNext(app);
    expect(await r.get()).toBe(42);
  });
});

describe('AsyncResult', () => {
  it('is PENDING for unknown ids, and get() times out with TimeoutError', async () => {
    const app = newApp();
    const r = app.asyncResult('unknown-id');
    expect(await r.state()).toBe('PENDING');
    expect(await r.ready()).toBe(false);
    expect(await r.exists()).toBe(false);
    await expect(r.get({ timeout: 0.05 })).rejects.toBeInstanceOf(TimeoutError);
  });

  it('forgets a result', async () => {
    const app = newApp();
    const t = app.task('tasks.t', () => 1);
    const r = await t.delay();
    await runNext(app);
    expect(await r.get()).toBe(1);
    await r.forget();
    expect(await r.state()).toBe('PENDING');
  });

  it('is not thenable, so awaiting a call gives the handle', async () => {
    const app = newApp();
    const r = await app.task('tasks.t', () => 1).delay();
    expect('then' in r).toBe(false);
  });
});
