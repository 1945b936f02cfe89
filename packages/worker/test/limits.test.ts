/**
 * Rate limits, time limits and prefetch on the in-process pools (the process and thread pools'
 * limits are in pools.test.ts).
 */
import { Collector, recordingLogger, waitFor } from '@tq/testing';
import { describe, expect, it } from 'vitest';
import { MemoryBroker, batchTask, isTqError, type BatchCall, type TaskContext } from '@tq/core';
import { newApp, startWorker } from './helpers.js';

describe('rate limits', () => {
  it('space the runs of a task type without blocking other types', async () => {
    const app = newApp();
    const starts = new Collector<number>();
    const order = new Collector<string>();
    const tick = app.task({ name: 'tasks.tick', rateLimit: '5/s' }, () => {
      starts.push(performance.now());
      order.push('tick');
    });
    const other = app.task('tasks.other', () => void order.push('other'));
    await startWorker(app, { concurrency: 10 });
    for (let i = 0; i < 4; i++) await tick.delay();
    await other.delay();
    await starts.atLeast(4, 10_000);
    const gaps = starts.items.slice(1).map((t, i) => t - starts.items[i]!);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(180);
    // The other task type ran while ticks waited for their tokens.
    expect(order.items.indexOf('other')).toBeLessThan(3);
  });

  it('change at run time with the rate_limit command, and bad ones are refused with a reason', async () => {
    const app = newApp();
    const starts = new Collector<number>();
    const tick = app.task({ name: 'tasks.tick', rateLimit: '1/m' }, () => void starts.push(performance.now()));
    const worker = await startWorker(app, { hostname: 'rl@test' });
    for (let i = 0; i < 3; i++) await tick.delay();
    await starts.atLeast(1);
    await waitFor(() => worker.reserved().length === 2, { message: 'two ticks waiting for tokens' });
    expect(await app.control.rateLimit('tasks.tick', '100/s', { reply: true, timeout: 2, destination: ['rl@test'] })).toEqual([{ 'rl@test': { ok: 'new rate limit set successfully' } }]);
    await starts.atLeast(3, 5000);
    expect(await app.control.rateLimit('tasks.tick', 'fast', { reply: true, destination: ['rl@test'] })).toEqual([
      { 'rl@test': { error: expect.stringMatching(/^Invalid rate limit string: a rate limit must look like '10\/s'/) as string } },
    ]);
    expect(await app.control.rateLimit('tasks.nope', '1/s', { reply: true, destination: ['rl@test'] })).toEqual([{ 'rl@test': { error: 'unknown task' } }]);
    expect(await app.control.rateLimit('tasks.tick', null, { reply: true, destination: ['rl@test'] })).toEqual([{ 'rl@test': { ok: 'rate limit disabled successfully' } }]);
    expect(app.tasks.get('tasks.tick')!.options.rateLimit).toBeNull();
  });

  it('are checked when a task is defined', () => {
    const app = newApp();
    expect(() => app.task({ name: 'tasks.bad', rateLimit: '10/d' }, () => 1)).toThrow(/rate limit must look like '10\/s', '100\/m', '1000\/h'/);
  });
});

describe('time limits in the async pool', () => {
  it('fail a task with TimeLimitExceeded at the deadline, fire its signal, and say at start-up that its code runs on', async () => {
    const logger = recordingLogger();
    const app = newApp();
    const reasons = new Collector<unknown>();
    const stuck = app.task({ name: 'tasks.stuck', timeLimit: 0.3 }, function (this: TaskContext) {
      this.signal.addEventListener('abort', () => reasons.push(this.signal.reason));
      return new Promise(() => undefined);
    });
    await startWorker(app, { logger });
    expect(logger.lines.find((l) => l.level === 'warn')?.message).toMatch(/the async pool cannot stop a running task: .*TimeLimitExceeded.*use --pool process or thread/);
    const started = Date.now();
    const error = await (await stuck.delay()).get({ timeout: 5, propagate: false });
    expect(isTqError(error, 'TIME_LIMIT_EXCEEDED')).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    expect((await reasons.atLeast(1))[0]).toMatchObject({ code: 'TIME_LIMIT_EXCEEDED' });
  });

  it('soft limits raise SoftTimeLimitExceeded where the task awaits; worker-wide limits apply to tasks without their own', async () => {
    const app = newApp();
    const waits = app.task('tasks.waits', () => new Promise((resolve) => setTimeout(resolve, 10_000)));
    const quick = app.task('tasks.quick', () => 'quick');
    await startWorker(app, { softTimeLimit: 0.2, timeLimit: 5 });
    const error = await (await waits.delay()).get({ timeout: 5, propagate: false });
    expect(isTqError(error, 'SOFT_TIME_LIMIT_EXCEEDED')).toBe(true);
    expect(await (await quick.delay()).get({ timeout: 5 })).toBe('quick');
    // The message's own limit (header) wins over the worker's.
    const own = await waits.applyAsync([], { softTimeLimit: 0.1 });
    expect(((await own.get({ timeout: 5, propagate: false })) as Error).message).toMatch(/\(0\.1s\)/);
  });

  it('a batch-task call that hits its soft limit while waiting for its batch leaves the batch: the body never sees it', async () => {
    const app = newApp();
    const seen = new Collector<string[]>();
    const send = batchTask(app, { name: 'tasks.send', batch: { size: 2, wait: 30 } }, (calls: BatchCall<[string]>[]) => {
      seen.push(calls.map((c) => c.args[0]));
      return calls.map((c) => `sent ${c.args[0]}`);
    });
    await startWorker(app, { concurrency: 4 });
    const early = await send.applyAsync(['early'], { softTimeLimit: 0.2 });
    const error = await early.get({ timeout: 5, propagate: false });
    expect(isTqError(error, 'SOFT_TIME_LIMIT_EXCEEDED')).toBe(true);
    const [a, b] = [await send.delay('a'), await send.delay('b')];
    expect([await a.get({ timeout: 5 }), await b.get({ timeout: 5 })]).toEqual(['sent a', 'sent b']);
    expect(seen.items).toEqual([['a', 'b']]);
  });

  it('change at run time with the time_limit command', async () => {
    const app = newApp();
    const waits = app.task('tasks.waits', () => new Promise((resolve) => setTimeout(resolve, 10_000)));
    await startWorker(app, { hostname: 'tl@test' });
    expect(await app.control.timeLimit('tasks.waits', { soft: 0.1, hard: 1 }, { reply: true, destination: ['tl@test'] })).toEqual([{ 'tl@test': { ok: 'time limits set successfully' } }]);
    expect(app.tasks.get('tasks.waits')!.options).toMatchObject({ softTimeLimit: 0.1, timeLimit: 1 });
    const error = await (await waits.delay()).get({ timeout: 5, propagate: false });
    expect(isTqError(error, 'SOFT_TIME_LIMIT_EXCEEDED')).toBe(true);
    expect(await app.control.timeLimit('tasks.nope', { soft: 1 }, { reply: true, destination: ['tl@test'] })).toEqual([{ 'tl@test': { error: 'unknown task' } }]);
  });
});

describe('prefetch', () => {
  it('-O fair holds no more messages than there are free slots (one waits when all are busy)', async () => {
    const app = newApp();
    const gates: Array<() => void> = [];
    const slow = app.task('tasks.slow', () => new Promise<void>((resolve) => gates.push(resolve)));
    const worker = await startWorker(app, { concurrency: 2, optimization: 'fair' });
    const broker = (await app.getBroker()) as MemoryBroker;
    for (let i = 0; i < 10; i++) await slow.delay();
    await waitFor(() => gates.length === 2, { message: 'two running tasks' });
    await waitFor(async () => (await broker.queueLength('celery')) === 7, { message: 'seven messages left in the queue' });
    expect(worker.reserved().length).toBe(1);
    expect(worker.prefetchCount()).toBe(1);
    gates.shift()!();
    await waitFor(() => gates.length === 2, { message: 'the reserved task to start' });
    await waitFor(async () => (await broker.queueLength('celery')) === 6, { message: 'one more message taken' });
    expect(worker.reserved().length).toBe(1);
    while (gates.length) gates.shift()!();
    for (;;) {
      while (gates.length) gates.shift()!();
      if ((await broker.queueLength('celery')) === 0 && worker.active.size === 0) break;
      await waitFor(() => gates.length > 0 || worker.active.size === 0, { message: 'progress' });
    }
  });

  it('a prefetch multiplier of 0 means no limit, as in Celery', async () => {
    const app = newApp();
    const gates: Array<() => void> = [];
    const slow = app.task('tasks.slow', () => new Promise<void>((resolve) => gates.push(resolve)));
    const worker = await startWorker(app, { concurrency: 2, prefetchMultiplier: 0 });
    const broker = (await app.getBroker()) as MemoryBroker;
    for (let i = 0; i < 20; i++) await slow.delay();
    await waitFor(async () => (await broker.queueLength('celery')) === 0, { message: 'every message taken' });
    expect(worker.reserved().length).toBe(18);
    for (;;) {
      while (gates.length) gates.shift()!();
      if (worker.active.size === 0 && worker.reserved().length === 0) break;
      await waitFor(() => gates.length > 0 || worker.active.size === 0, { message: 'progress' });
    }
  });
});

describe('the solo pool', () => {
  it('runs one task at a time and cannot grow', async () => {
    const app = newApp();
    let running = 0;
    let peak = 0;
    const t = app.task('tasks.t', async () => {
      peak = Math.max(peak, ++running);
      await new Promise((resolve) => setTimeout(resolve, 5));
      running--;
    });
    const worker = await startWorker(app, { pool: 'solo', hostname: 'solo@test' });
    const results = await Promise.all(Array.from({ length: 5 }, () => t.delay()));
    await Promise.all(results.map((r) => r.get({ timeout: 5 })));
    expect(peak).toBe(1);
    expect(worker.pool.concurrency).toBe(1);
    expect(await app.control.poolGrow(1, { reply: true, destination: ['solo@test'] })).toEqual([
      { 'solo@test': { error: "ConfigurationError('the solo pool runs one task at a time and cannot grow; use --pool async, thread or process')" } },
    ]);
  });
});
