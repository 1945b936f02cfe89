import { describe, expect, it } from 'vitest';
import { ChordError, MaxRetriesExceededError, Reject, TaskContext, isTqError, type ReceivedEvent } from '../src/index.js';
import { newApp, nextMessage, runNext } from './helpers.js';


describe('the executor', () => {
  it('stores SUCCESS with Celery meta; get() returns the value', async () => {
    const app = newApp({ resultExtended: true });
    const add = app.task('tasks.add', (x: number, y: number) => x + y);
    const r = await add.delay(2, 3);
    const { outcome } = await runNext(app);
    expect(outcome.state).toBe('SUCCESS');
    expect(await r.get({ timeout: 1 })).toBe(5);
    const meta = await r.meta();
    expect(meta).toMatchObject({ status: 'SUCCESS', result: 5, traceback: null, children: [], name: 'tasks.add', args: [2, 3], kwargs: {}, worker: 'test@host', retries: 0, queue: 'celery', task_id: r.id });
    expect(Object.keys(meta!)).toEqual(['status', 'result', 'traceback', 'children', 'date_done', 'name', 'args', 'kwargs', 'worker', 'retries', 'queue', 'task_id']);
    expect(await r.dateDone()).toBeInstanceOf(Date);
  });

  it('stores FAILURE with the error and its traceback; get() rethrows it by name', async () => {
    const app = newApp();
    class PaymentDeclined extends Error {
      override name = 'PaymentDeclined';
    }
    const charge = app.task('tasks.charge', (amount: number) => {
      throw new PaymentDeclined(`card refused for ${amount}`);
    });
    const r = await charge.delay(7);
    await runNext(app);
    const err = await r.get({ timeout: 1 }).catch((e: unknown) => e);
    expect((err as Error).name).toBe('PaymentDeclined');
    expect((err as Error).message).toBe('card refused for 7');
    expect(isTqError(err, 'TASK_FAILED')).toBe(true);
    expect((err as { traceback: string }).traceback).toMatch(/PaymentDeclined: card refused for 7\n\s+at /);
    expect(await r.state()).toBe('FAILURE');
    expect(await r.failed()).toBe(true);
    const returned = await r.get({ propagate: false });
    expect((returned as Error).name).toBe('PaymentDeclined');
  });

  it('maps keyword arguments onto parameters by name, and rejects unknown ones', async () => {
    const app = newApp();
    const sub = app.task('tasks.sub', (x: number, y: number) => x - y);
    // Keyword arguments come from Python callers; sendTask is the untyped path they take.
    const ok = await app.sendTask<number>(sub.name, [], { kwargs: { y: 1, x: 10 } });
    await runNext(app);
    expect(await ok.get()).toBe(9);
    const bad = await app.sendTask(sub.name, [1], { kwargs: { z: 2 } });
    await runNext(app);
    await expect(bad.get()).rejects.toThrow("tasks.sub() got an unexpected keyword argument 'z'");
  });

  it('retry() re-sends the same id with retries + 1, parent = itself, and stores RETRY', async () => {
    const app = newApp();
    let calls = 0;
    const flaky = app.task({ name: 'tasks.flaky', maxRetries: 2 }, function (this: TaskContext, x: number) {
      calls++;
      if (calls < 3) this.retry({ countdown: 0, exc: new Error(`attempt ${calls}`) });
      return x * 2;
    });
    const r = await flaky.delay(21);
    const first = await runNext(app);
    expect(first.outcome.state).toBe('RETRY');
    expect(await r.state()).toBe('RETRY');
    expect(((await r.result()) as Error).message).toBe('attempt 1');
    const second = await runNext(app);
    expect(second.message.headers).toMatchObject({ id: r.id, retries: 1, parent_id: r.id, root_id: r.id });
    const third = await runNext(app);
    expect(third.message.headers.retries).toBe(2);
    expect(third.outcome.state).toBe('SUCCESS');
    expect(await r.get()).toBe(42);
  });

  it('raises the original error, or MaxRetriesExceededError, when retries run out', async () => {
    const app = newApp();
    const always = app.task({ name: 'tasks.always', maxRetries: 1 }, function (this: TaskContext, withExc: boolean) {
      this.retry({ countdown: 0, ...(withExc ? { exc: new RangeError('still down') } : {}) });
    });
    const a = await always.delay(true);
    await runNext(app);
    await runNext(app);
    await expect(a.get()).rejects.toMatchObject({ name: 'RangeError', message: 'still down' });
    const b = await always.delay(false);
    await runNext(app);
    await runNext(app);
    const err = await b.get().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MaxRetriesExceededError);
  });

  it('autoretryFor retries matching errors with exponential backoff, and not others', async () => {
    const app = newApp();
    class Flaky extends Error {}
    let n = 0;
    const fetcher = app.task({ name: 'tasks.fetch', autoretryFor: [Flaky], retryBackoff: 0.25, retryJitter: false, maxRetries: 3 }, () => {
      n++;
      if (n < 3) throw new Flaky('503');
      return 'ok';
    });
    const r = await fetcher.delay();
    const sent: number[] = [];
    for (let i = 0; i < 3; i++) {
      const { message, outcome } = await runNext(app);
      sent.push(message.headers.eta ? new Date(message.headers.eta).getTime() : 0);
      expect(outcome.state).toBe(i < 2 ? 'RETRY' : 'SUCCESS');
    }
    expect(await r.get()).toBe('ok');
    // countdown = factor · 2^retries: 0.25 s, then 0.5 s after the second run.
    expect(sent[2]! - sent[1]!).toBeGreaterThanOrEqual(450);

    const picky = app.task({ name: 'tasks.picky', autoretryFor: ['Flaky'] }, () => {
      throw new TypeError('not retried');
    });
    const p = await picky.delay();
    expect((await runNext(app)).outcome.state).toBe('FAILURE');
    expect(await p.state()).toBe('FAILURE');
  });

  it('ignoreResult stores nothing; trackStarted stores STARTED with pid and hostname', async () => {
    const app = newApp();
    let seen: unknown;
    const quiet = app.task({ name: 'tasks.quiet', ignoreResult: true }, () => 1);
    const tracked = app.task({ name: 'tasks.tracked', trackStarted: true }, async function (this: TaskContext) {
      seen = await app.asyncResult(this.id).meta();
      return 2;
    });
    const q = await quiet.delay();
    await runNext(app);
    expect(await q.exists()).toBe(false);
    expect(await q.state()).toBe('PENDING');
    const t = await tracked.delay();
    await runNext(app);
    expect(seen).toMatchObject({ status: 'STARTED', result: { pid: process.pid, hostname: 'test@host' } });
    expect(await t.get()).toBe(2);
  });

  it('updateState stores custom states that AsyncResult reports', async () => {
    const app = newApp();
    let progress: unknown;
    const long = app.task('tasks.long', async function (this: TaskContext) {
      await this.updateState('PROGRESS', { current: 3, total: 10 });
      progress = { state: await app.asyncResult(this.id).state(), info: await app.asyncResult(this.id).result() };
      return 'done';
    });
    const r = await long.delay();
    await runNext(app);
    expect(progress).toEqual({ state: 'PROGRESS', info: { current: 3, total: 10 } });
    expect(await r.get()).toBe('done');
  });

  it('sendEvent publishes a custom event with the task id, even without task events enabled', async () => {
    const app = newApp();
    let onEvent!: (event: ReceivedEvent) => void;
    const received = new Promise<ReceivedEvent>((resolve) => (onEvent = resolve));
    const receiver = await app.events.receiver({ 'task-progress': (event) => onEvent(event) }, { wakeup: false });
    const long = app.task('tasks.reporting', async function (this: TaskContext) {
      await this.sendEvent('task-progress', { current: 3, total: 10 });
      return 'done';
    });
    const r = await long.delay();
    await runNext(app);
    const event = await received;
    await receiver.close();
    expect(event).toMatchObject({ type: 'task-progress', uuid: r.id, current: 3, total: 10, hostname: 'test@host' });
    expect(() => long.sendEvent('task-progress')).toThrow(/tasks\.reporting\.sendEvent\(\) called outside a running task/);
    const spoofing = app.task('tasks.spoofing', function (this: TaskContext) {
      return this.sendEvent('task-progress', { hostname: 'elsewhere', clock: 1 }).then(() => 'sent', (e: Error) => e.message);
    });
    const refused = await spoofing.delay();
    await runNext(app);
    expect(await refused.get()).toBe('[tq] sendEvent sets hostname, clock itself; name your fields otherwise');
  });

  it('gives tasks sent from inside a task their parent and root, before and after awaits', async () => {
    const app = newApp();
    const child = app.task('tasks.child', (n: number) => n);
    const asyncParent = app.task('tasks.async_parent', async () => {
      await child.delay(1);
      await new Promise((resolve) => setImmediate(resolve));
      await child.delay(2);
    });
    // A plain function returning a promise is tracked across awaits once it has been seen
    // returning one (declare such bodies async); its first run here only sets that up.
    const promiseParent = app.task('tasks.promise_parent', () => new Promise<void>((resolve) => setImmediate(resolve)).then(() => child.delay(3)).then(() => undefined));
    const syncParent = app.task('tasks.sync_parent', () => {
      void child.delay(4);
    });
    await promiseParent.delay();
    await runNext(app);
    await runNext(app);
    for (const parent of [asyncParent, promiseParent, syncParent]) {
      const r = await parent.delay();
      await runNext(app);
      const sent = [];
      for (let i = 0; i < (parent === asyncParent ? 2 : 1); i++) sent.push((await runNext(app)).message.headers);
      for (const headers of sent) expect({ parent: headers.parent_id, root: headers.root_id }).toEqual({ parent: r.id, root: r.id });
    }
  });

  it('sends link callbacks with the result and records them as children', async () => {
    const app = newApp();
    const add = app.task('tasks.add', (x: number, y: number) => x + y);
    const r = await add.applyAsync([1, 2], { link: add.s(10) });
    await runNext(app);
    const child = await runNext(app);
    expect(child.message.args).toEqual([3, 10]);
    expect(child.message.headers).toMatchObject({ parent_id: r.id, root_id: r.id });
    const children = await r.children();
    expect(children.map((c) => c.id)).toEqual([child.message.headers.id]);
    expect(await children[0]!.get()).toBe(13);
  });

  it('continues a chain from the embed: the next step gets the result, parent and root', async () => {
    const app = newApp();
    const add = app.task('tasks.add', (x: number, y: number) => x + y);
    const last = add.s(100).set({ taskId: 'last-step' });
    const middle = add.s(10).set({ taskId: 'middle-step' });
    const r = await add.applyAsync([1, 2], { chain: [last.toDict(), middle.toDict()] });
    await runNext(app);
    const second = await runNext(app);
    expect(second.message.headers).toMatchObject({ id: 'middle-step', parent_id: r.id, root_id: r.id });
    expect(second.message.args).toEqual([3, 10]);
    expect(second.message.embed.chain).toHaveLength(1);
    const third = await runNext(app);
    expect(third.message.headers).toMatchObject({ id: 'last-step', parent_id: 'middle-step', root_id: r.id });
    expect(await app.asyncResult('last-step').get()).toBe(113);
  });

  it('on failure: marks the rest of the chain failed and sends errbacks with the task id', async () => {
    const app = newApp();
    const boom = app.task('tasks.boom', () => {
      throw new Error('kaput');
    });
    const onError = app.task('tasks.on_error', (id: string) => id);
    const add = app.task('tasks.add', (x: number, y: number) => x + y);
    const r = await boom.applyAsync([], { chain: [add.s(1).set({ taskId: 'never-runs' }).toDict()], linkError: onError.s() });
    await runNext(app);
    await expect(app.asyncResult('never-runs').get({ timeout: 1 })).rejects.toThrow('kaput');
    const errback = await runNext(app);
    expect(errback.message.headers.task).toBe('tasks.on_error');
    expect(errback.message.args).toEqual([r.id]);
    expect(await app.asyncResult(errback.message.headers.id).get()).toBe(r.id);
  });

  it('joins a chord with the backend counter: the body gets header results in order, once', async () => {
    const app = newApp();
    const add = app.task('tasks.add', (x: number, y: number) => x + y);
    const xsum = app.task('tasks.xsum', (values: number[]) => values.reduce((a, b) => a + b, 0));
    const body = xsum.s().set({ taskId: 'chord-body' }).toDict();
    const backend = await app.requireBackend('test');
    await backend.setChordSize!('g1', 3);
    for (const [i, args] of [[1, 1], [2, 2], [3, 3]].entries()) {
      await add.applyAsync(args as [number, number], { groupId: 'g1', groupIndex: i, chord: body });
    }
    // Run the headers out of order; the body must still see [2, 4, 6].
    const messages = [await nextMessage(app), await nextMessage(app), await nextMessage(app)];
    const { TaskExecutor } = await import('../src/index.js');
    const executor = new TaskExecutor(app, { hostname: 'test@host' });
    for (const { message, delivery } of [messages[2]!, messages[0]!, messages[1]!]) {
      await executor.execute(app.requireTask(message.headers.task), message, { deliveryInfo: delivery.info });
      await delivery.ack();
    }
    const bodyRun = await runNext(app);
    expect(bodyRun.message.args).toEqual([[2, 4, 6]]);
    expect(await app.asyncResult('chord-body').get()).toBe(12);
  });

  it('fails a chord body with ChordError when a header fails, and runs its errbacks', async () => {
    const app = newApp();
    const add = app.task('tasks.add', (x: number, y: number) => x + y);
    const boom = app.task('tasks.boom', () => {
      throw new ValueErrorLike('bad value 7');
    });
    const onError = app.task('tasks.on_error', (id: string) => id);
    const xsum = app.task('tasks.xsum', (values: number[]) => values.length);
    const body = xsum.s().set({ taskId: 'failing-body', linkError: onError.s() }).toDict();
    const backend = await app.requireBackend('test');
    await backend.setChordSize!('g2', 2);
    await add.applyAsync([1, 1], { groupId: 'g2', groupIndex: 0, chord: body });
    await boom.applyAsync([], { groupId: 'g2', groupIndex: 1, chord: body });
    await runNext(app);
    await runNext(app);
    const err = await app.asyncResult('failing-body').get({ timeout: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChordError);
    expect((err as Error).message).toMatch(/Dependency .* raised ValueError\('bad value 7'\)/);
    const errback = await runNext(app);
    expect(errback.message.args).toEqual(['failing-body']);
  });

  it('Reject requeues or drops the message; Ignore stores nothing', async () => {
    const app = newApp();
    const picky = app.task('tasks.picky', (requeue: boolean) => {
      throw new Reject('not now', requeue);
    });
    await picky.delay(true);
    const { outcome } = await runNext(app);
    expect(outcome).toMatchObject({ state: 'REJECTED', requeue: true });
  });
});

class ValueErrorLike extends Error {
  override name = 'ValueError';
}
