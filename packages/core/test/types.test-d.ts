/**
 * Type tests: argument and result types flow from task functions into delay, applyAsync, s()
 * and AsyncResult<T>; wrong arguments are compile errors. Checked by `vitest --typecheck`
 * (part of `npm test`) and `npm run typecheck`.
 */
import { describe, expectTypeOf, it } from 'vitest';
import { createApp, Task, type AsyncResult, type Signature, type TaskContext } from '../src/index.js';

const app = createApp();
const add = app.task('tasks.add', (x: number, y: number) => x + y);
const fetchPage = app.task({ name: 'tasks.fetch', maxRetries: 5 }, async (url: string) => ({ url, status: 200 }));
const bound = app.task({ name: 'tasks.bound', bind: true }, (ctx: TaskContext, n: number) => `${ctx.id}:${n}`);
const withThis = app.task('tasks.this', function (this: TaskContext, n: number) {
  return this.retries + n;
});

describe('task types', () => {
  it('delay takes the function parameters and resolves an AsyncResult of its return type', () => {
    expectTypeOf(add.delay(1, 2)).toEqualTypeOf<Promise<AsyncResult<number>>>();
    expectTypeOf(fetchPage.delay('https://x')).toEqualTypeOf<Promise<AsyncResult<{ url: string; status: number }>>>();
    expectTypeOf(bound.delay(3)).toEqualTypeOf<Promise<AsyncResult<string>>>();
    expectTypeOf(withThis.delay(3)).toEqualTypeOf<Promise<AsyncResult<number>>>();
    // @ts-expect-error a string is not a number
    void add.delay('1', 2);
    // @ts-expect-error missing argument
    void add.delay(1);
    // @ts-expect-error the request is supplied by the worker, not the caller
    void bound.delay(ctxValue(), 3);
  });

  it('applyAsync checks its argument tuple', () => {
    void add.applyAsync([1, 2], { countdown: 10, queue: 'math' });
    // @ts-expect-error wrong tuple
    void add.applyAsync(['a', 'b']);
    // @ts-expect-error unknown option
    void add.applyAsync([1, 2], { countdwn: 10 });
  });

  it('get() resolves to the result type', async () => {
    const r = await add.delay(1, 2);
    expectTypeOf(r.get()).toEqualTypeOf<Promise<number>>();
  });

  it('s() binds a suffix and leaves the rest to call time; si() is immutable', () => {
    expectTypeOf(add.s(10)).toEqualTypeOf<Signature<[x: number], number>>();
    expectTypeOf(add.s()).toEqualTypeOf<Signature<[x: number, y: number], number>>();
    expectTypeOf(add.s(1, 2)).toEqualTypeOf<Signature<[], number>>();
    expectTypeOf(add.si(1, 2)).toEqualTypeOf<Signature<unknown[], number>>();
    void add.s(10).delay(5);
    // @ts-expect-error a string cannot be bound to y
    void add.s('10');
    // @ts-expect-error the remaining argument is a number
    void add.s(10).delay('5');
  });

  it('class tasks carry their declared types', () => {
    class Mul extends Task<[number, number], number> {
      static override taskName = 'tasks.mul';
      override run(x: number, y: number) {
        return x * y;
      }
    }
    const mul = app.register(Mul);
    expectTypeOf(mul.delay(2, 3)).toEqualTypeOf<Promise<AsyncResult<number>>>();
    // @ts-expect-error wrong argument type
    void mul.delay(2, '3');
  });
});

describe('settings types', () => {
  it('the worker and flow-control settings are typed: a wrong type is a compile error, unknown settings pass', () => {
    createApp({ workerPoolWindow: 4, workerPoolRestarts: true, flowStore: 'redis://127.0.0.1:6379/0', flowStorePrefix: 'app:', flowDedupMaxAge: '1h', flowLeaseTtl: 10, resultChordJoinTimeout: 5 });
    // @ts-expect-error the window is a number of jobs
    createApp({ workerPoolWindow: '4' });
    // @ts-expect-error a flow store is a URL or a FlowStore
    createApp({ flowStore: 6379 });
    createApp({ somePluginSetting: { any: 'shape' } });
  });
});

declare function ctxValue(): TaskContext;
