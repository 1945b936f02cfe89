import { Collector, recordingLogger, waitFor } from '@tq/testing';
import { createTaskMessage, encodeTaskMessage } from '@tq/protocol';
import { describe, expect, it } from 'vitest';
import { MemoryBroker, TaskContext, isTqError, silentLogger } from '@tq/core';
import { Worker } from '../src/index.js';
import { newApp, onCleanup, startWorker } from './helpers.js';

const errorLines = (logger: ReturnType<typeof recordingLogger>) => logger.lines.filter((l) => l.level === 'error').map((l) => l.message);

describe('Worker on the memory transport', () => {
  it('runs tasks end to end and stores their results', async () => {
    const app = newApp();
    const add = app.task('tasks.add', (x: number, y: number) => x + y);
    await startWorker(app);
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => add.delay(i, i)));
    expect(await Promise.all(results.map((r) => r.get({ timeout: 5 })))).toEqual(Array.from({ length: 50 }, (_, i) => 2 * i));
  });

  it('never runs more tasks at once than its concurrency', async () => {
    const app = newApp();
    let running = 0;
    let peak = 0;
    const gates: Array<() => void> = [];
    const slow = app.task('tasks.slow', async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise<void>((resolve) => gates.push(resolve));
      running--;
    });
    await startWorker(app, { concurrency: 3 });
    const results = await Promise.all(Array.from({ length: 10 }, () => slow.delay()));
    while (results.length > 0) {
      await waitFor(() => gates.length > 0, { message: 'a task to start' });
      expect(running).toBeLessThanOrEqual(3);
      gates.shift()!();
      await results.shift()!.get({ timeout: 5 });
    }
    expect(peak).toBe(3);
  });

  it('prefetches at most concurrency × prefetchMultiplier messages', async () => {
    const app = newApp();
    const gates: Array<() => void> = [];
    const slow = app.task('tasks.slow', () => new Promise<void>((resolve) => gates.push(resolve)));
    const worker = await startWorker(app, { concurrency: 2, prefetchMultiplier: 2 });
    for (let i = 0; i < 10; i++) await slow.delay();
    const broker = (await app.getBroker()) as MemoryBroker;
    await waitFor(() => gates.length === 2, { message: 'two running tasks' });
    // Two running (acknowledged when they started) and four reserved, unacknowledged: the prefetch.
    await waitFor(async () => (await broker.queueLength('celery')) === 4, { message: 'four messages left in the queue' });
    expect(broker.unackedCount()).toBe(4);
    expect(worker.reserved().length).toBe(4);
    for (;;) {
      const gate = gates.shift();
      if (gate) gate();
      if ((await broker.queueLength('celery')) === 0 && worker.active.size === 0 && gates.length === 0) break;
      await waitFor(() => gates.length > 0 || worker.active.size === 0, { message: 'progress' });
    }
  });

  it('holds ETA tasks until due without blocking other work', async () => {
    const app = newApp({ broker: new MemoryBroker() });
    // Delayed delivery off the broker: publish an eta message directly so the worker must hold it.
    const order = new Collector<string>();
    const record = app.task('tasks.record', (label: string) => void order.push(label));
    const worker = await startWorker(app, { concurrency: 1 });
    const broker = await app.getBroker();
    const eta = new Date(Date.now() + 300);
    await broker.publish(
      encodeTaskMessage(createTaskMessage({ id: 'eta-1', task: 'tasks.record', args: ['later'], eta, origin: 'test' })),
      { exchange: '', routingKey: 'celery' },
    );
    await waitFor(() => worker.held.size === 1, { message: 'the ETA task to be held' });
    await record.delay('now');
    await order.atLeast(2, 5000);
    expect(order.items).toEqual(['now', 'later']);
    expect(Date.now()).toBeGreaterThanOrEqual(eta.getTime());
  });

  it('with acksLate, acknowledges only after the task ran', async () => {
    const app = newApp();
    let release!: () => void;
    const late = app.task({ name: 'tasks.late', acksLate: true }, () => new Promise<void>((resolve) => (release = resolve)));
    const early = app.task('tasks.early', () => new Promise<void>((resolve) => (release = resolve)));
    const broker = (await app.getBroker()) as MemoryBroker;
    const worker = await startWorker(app);
    const l = await late.delay();
    await waitFor(() => worker.active.size === 1);
    expect(broker.unackedCount()).toBe(1);
    release();
    await l.get({ timeout: 5 });
    await waitFor(() => broker.unackedCount() === 0, { message: 'the late ack' });
    const e = await early.delay();
    await waitFor(() => worker.active.size === 1);
    expect(broker.unackedCount()).toBe(0);
    release();
    await e.get({ timeout: 5 });
  });

  it('rejects bad messages with a logged reason and goes on', async () => {
    const logger = recordingLogger();
    const app = newApp();
    const add = app.task('tasks.add', (x: number, y: number) => x + y);
    const broker = await app.getBroker();
    const deadLetters = new Collector<string>();
    await broker.declareQueue({ name: 'dead' });
    await broker.declareQueue({ name: 'celery', deadLetterExchange: '', deadLetterRoutingKey: 'dead' });
    await startWorker(app, { logger });
    const raw = (headers: Record<string, unknown>, body: string, contentType = 'application/json') => ({
      body: Buffer.from(body), contentType, contentEncoding: 'utf-8', headers, properties: {},
    });
    const target = { exchange: '', routingKey: 'celery' };
    await broker.publish(raw({ task: 'tasks.add', id: 'bad-json' }, '[[1, 2], {}'), target);
    await broker.publish(raw({ task: 'tasks.add', id: 'pickled' }, '\x80\x04.', 'application/x-python-serialize'), target);
    await broker.publish(raw({ task: 'tasks.add' }, '[[1, 2], {}, null]'), target);
    await broker.publish(raw({ task: 'tasks.unknown', id: 'unknown-1' }, '[[], {}, null]'), target);
    const good = await add.delay(20, 22);
    expect(await good.get({ timeout: 5 })).toBe(42);
    await waitFor(() => errorLines(logger).length >= 4, { message: 'four rejections logged' });
    expect(errorLines(logger).join('\n')).toMatch(/bad-json.*not valid JSON/);
    expect(errorLines(logger).join('\n')).toMatch(/pickle/);
    expect(errorLines(logger).join('\n')).toMatch(/field headers\.id/);
    expect(errorLines(logger).join('\n')).toMatch(/tasks\.unknown\[unknown-1\].*not registered/);
    const unknown = await app.asyncResult('unknown-1').get({ timeout: 5, propagate: false });
    expect(isTqError(unknown, 'TASK_NOT_REGISTERED')).toBe(true);
    await broker.consume([{ name: 'dead' }], (d) => {
      deadLetters.push(String(d.message.headers['id'] ?? '(no id)'));
      void d.ack();
    }, { prefetch: 10 });
    expect((await deadLetters.atLeast(4, 5000)).sort()).toEqual(['(no id)', 'bad-json', 'pickled', 'unknown-1']);
  });

  it('does not run revoked tasks, and stores REVOKED', async () => {
    const app = newApp();
    let ran = false;
    const t = app.task('tasks.t', () => {
      ran = true;
    });
    await startWorker(app);
    const r = await t.applyAsync([], { countdown: 0.3 });
    await r.revoke();
    await expect(r.get({ timeout: 5 })).rejects.toMatchObject({ code: 'TASK_REVOKED' });
    expect(ran).toBe(false);
    expect(await r.state()).toBe('REVOKED');
  });

  it('revoke with terminate fires the running task AbortSignal and stores REVOKED (terminated)', async () => {
    const app = newApp();
    const started = new Collector<string>();
    const aborted = new Collector<unknown>();
    const t = app.task('tasks.wait', function (this: TaskContext) {
      started.push(this.id);
      this.signal.addEventListener('abort', () => aborted.push(this.signal.reason));
      return new Promise(() => undefined);
    });
    const worker = await startWorker(app);
    const revoked = new Collector<{ terminated: boolean; signum: string | null }>();
    worker.hooks.on('revoked', (_, detail) => revoked.push(detail));
    const r = await t.delay();
    await started.atLeast(1);
    await app.control.revoke(r.id, { terminate: true });
    await expect(r.get({ timeout: 5 })).rejects.toMatchObject({ code: 'TASK_REVOKED', message: '[tq] terminated' });
    expect(await r.state()).toBe('REVOKED');
    expect((await aborted.atLeast(1))[0]).toMatchObject({ signal: 'SIGTERM' });
    expect(revoked.items).toEqual([{ terminated: true, signum: 'SIGTERM', expired: false }]);
    await waitFor(() => worker.active.size === 0, { message: 'the slot to be free' });
  });

  it('discards expired tasks as REVOKED (expired)', async () => {
    const app = newApp();
    let ran = false;
    const t = app.task('tasks.t', () => {
      ran = true;
    });
    const r = await t.applyAsync([], { expires: new Date(Date.now() - 1000) });
    await startWorker(app);
    const err = await r.get({ timeout: 5 }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/expired/);
    expect(ran).toBe(false);
  });

  it('warm shutdown finishes running tasks and returns the rest to the queue', async () => {
    const app = newApp();
    const gates: Array<() => void> = [];
    const slow = app.task('tasks.slow', () => new Promise<void>((resolve) => gates.push(resolve)));
    const worker = new Worker(app, { logger: silentLogger, concurrency: 2, prefetchMultiplier: 3, mingle: false });
    await worker.start();
    const results = await Promise.all(Array.from({ length: 10 }, () => slow.delay()));
    await waitFor(() => gates.length === 2);
    const stopping = worker.stop({ timeout: 5 });
    for (const gate of gates.splice(0)) gate();
    await stopping;
    const broker = (await app.getBroker()) as MemoryBroker;
    expect(broker.unackedCount()).toBe(0);
    expect(await broker.queueLength('celery')).toBe(8);
    const done = await Promise.all(results.map((r) => r.state()));
    expect(done.filter((s) => s === 'SUCCESS').length).toBe(2);
  });

  it('answers ping over remote control', async () => {
    const app = newApp();
    await startWorker(app, { hostname: 'w1@test' });
    await startWorker(app, { hostname: 'w2@test' });
    const replies = await app.control.broadcast('ping', {}, { reply: true, timeout: 0.5 });
    expect(replies).toEqual(expect.arrayContaining([{ 'w1@test': { ok: 'pong' } }, { 'w2@test': { ok: 'pong' } }]));
    const one = await app.control.broadcast('ping', {}, { reply: true, destination: ['w2@test'], timeout: 2 });
    expect(one).toEqual([{ 'w2@test': { ok: 'pong' } }]);
  });

  it('starts user bootsteps in dependency order, stops them in reverse, and refuses cycles', async () => {
    const app = newApp();
    const events: string[] = [];
    const step = (name: string, requires: string[] = []) => ({
      name,
      requires,
      start: () => void events.push(`start ${name}`),
      stop: () => void events.push(`stop ${name}`),
    });
    const worker = new Worker(app, { logger: silentLogger, mingle: false, steps: [step('b', ['a', 'consumer']), step('a')] });
    await worker.start();
    await worker.stop();
    expect(events).toEqual(['start a', 'start b', 'stop b', 'stop a']);
    expect(() => new Worker(app, { steps: [step('x', ['y']), step('y', ['x'])] })).toThrow(/cycle: x → y → x|cycle: y → x → y/);
    expect(() => new Worker(app, { steps: [step('x', ['nope'])] })).toThrow(/requires "nope", which does not exist/);
  });
});
