/**
 * The process and thread pools, with real child processes and threads: the same outcomes as the
 * in-process pools (results, failures, retries, subtasks, chains, custom states, hooks), what
 * only they can enforce (hard time limits, terminate, crashed children, child replacement after
 * N tasks or past a memory bound), and bad input refused in every pool.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Collector, recordingLogger, waitFor } from '@tq/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBroker, isTqError, silentLogger, type App, type ReceivedEvent } from '@tq/core';
import type { SignatureDict } from '@tq/protocol';
import { Worker } from '../src/index.js';
import { createPoolApp } from './fixtures/pool-app.js';
import { POOL_APP, newPoolApp, startWorker } from './helpers.js';

type Where = { pid: number; thread: number };

function chainStep(task: string, args: unknown[], taskId: string): SignatureDict {
  return { task, args, kwargs: {}, options: { task_id: taskId }, subtask_type: null, immutable: false };
}

describe.each(['process', 'thread'] as const)('the %s pool', (kind) => {
  let app: App;
  let worker: Worker;
  const tmp = mkdtempSync(join(tmpdir(), `tq-pool-${kind}-`));
  const where = async (): Promise<Where> => (await app.sendTask<Where>('pool.where')).get({ timeout: 20 });
  /** The child that ran a task: its pid for processes, its thread id for threads. */
  const childOf = (w: Where) => (kind === 'process' ? w.pid : w.thread);

  beforeAll(async () => {
    // Shared by the tests of this block (children take a moment to start), so not cleaned per test.
    app = createPoolApp({ logger: silentLogger });
    worker = new Worker(app, { pool: kind, concurrency: 2, appModule: POOL_APP, logger: silentLogger, mingle: false });
    await worker.start();
  });
  afterAll(async () => {
    await worker.stop({ timeout: 5 });
    await app.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('runs tasks in children, with the same outcomes as in process', async () => {
    expect(await (await app.sendTask('pool.add', [1, 2])).get({ timeout: 20 })).toBe(3);
    const w = await where();
    if (kind === 'process') expect(w.pid).not.toBe(process.pid);
    else {
      expect(w.pid).toBe(process.pid);
      expect(w.thread).toBeGreaterThan(0);
    }
    const failed = await (await app.sendTask('pool.fail', ['bad value 7'])).get({ timeout: 20, propagate: false });
    expect(failed).toMatchObject({ name: 'TypeError', message: 'bad value 7' });
    expect((failed as { traceback: string }).traceback).toMatch(/TypeError: bad value 7\n\s+at /);
    // A retry is re-sent by the child through the worker's broker and runs again.
    expect(await (await app.sendTask('pool.retryOnce')).get({ timeout: 20 })).toBe('retried 1');
    // A subtask sent from the child, and its result awaited there.
    expect(await (await app.sendTask('pool.viaSubtask', [5])).get({ timeout: 20 })).toBe(6);
    // The next chain step is sent by the child.
    await app.sendTask('pool.add', [1, 2], { chain: [chainStep('pool.add', [10], `chain-${kind}`)] });
    expect(await app.asyncResult(`chain-${kind}`).get({ timeout: 20 })).toBe(13);
  });

  it('stores custom states and publishes custom events sent from a child', async () => {
    const release = join(tmp, 'progress-release');
    const progress = new Collector<ReceivedEvent>();
    const receiver = await app.events.receiver({ 'task-progress': progress.push }, { wakeup: false });
    const r = await app.sendTask('pool.progress', [release]);
    await waitFor(async () => (await r.state()) === 'PROGRESS', { message: 'the PROGRESS state' });
    expect(await r.meta()).toMatchObject({ status: 'PROGRESS', result: { done: 1 } });
    const [event] = await progress.atLeast(1, 10_000).finally(() => receiver.close());
    expect(event).toMatchObject({ type: 'task-progress', uuid: r.id, done: 1, total: 2, hostname: worker.hostname });
    writeFileSync(release, '');
    expect(await r.get({ timeout: 20 })).toBe('done');
  });

  it('stores STARTED with the child pid (trackStarted), and discards expired tasks', async () => {
    const release = join(tmp, 'tracked-release');
    const r = await app.sendTask('pool.tracked', [release]);
    await waitFor(async () => (await r.state()) === 'STARTED', { message: 'the STARTED state' });
    const started = (await r.meta())!.result as { pid: number; hostname: string };
    expect(started.hostname).toBe(worker.hostname);
    writeFileSync(release, '');
    expect(await r.get({ timeout: 20 })).toBe(started.pid);
    if (kind === 'process') expect(started.pid).not.toBe(process.pid);
    const expired = await app.sendTask('pool.add', [1, 1], { expires: new Date(Date.now() - 1000) });
    await expect(expired.get({ timeout: 20 })).rejects.toMatchObject({ code: 'TASK_REVOKED', message: '[tq] expired' });
  });

  it('fires worker hooks for what happens in children', async () => {
    const events = new Collector<string>();
    const offs = [
      worker.hooks.on('started', (r) => events.push(`started ${r.name}`)),
      worker.hooks.on('succeeded', (r, result) => events.push(`succeeded ${r.name} ${JSON.stringify(result)}`)),
      worker.hooks.on('failed', (r, error) => events.push(`failed ${r.name} ${(error as Error).name}`)),
    ];
    try {
      await (await app.sendTask('pool.add', [2, 2])).get({ timeout: 20 });
      await (await app.sendTask('pool.fail', ['x'])).get({ timeout: 20, propagate: false });
      await events.atLeast(4);
      expect(events.items).toEqual(['started pool.add', 'succeeded pool.add 4', 'started pool.fail', 'failed pool.fail TypeError']);
    } finally {
      for (const off of offs) off();
    }
  });

  it('a crashing child fails its task with WorkerLostError; the next task runs in a new child', async () => {
    const r = await app.sendTask('pool.crash', [7]);
    const error = await r.get({ timeout: 20, propagate: false });
    expect(isTqError(error, 'WORKER_LOST')).toBe(true);
    expect((error as Error).message).toMatch(/Worker exited prematurely: exitcode 7/);
    expect(await (await app.sendTask('pool.add', [20, 22])).get({ timeout: 20 })).toBe(42);
  });

  it('with rejectOnWorkerLost and acksLate, a crashed task goes back to the queue and runs again', async () => {
    const marker = join(tmp, 'crashed-once');
    const r = await app.sendTask('pool.crashOnce', [marker]);
    expect(await r.get({ timeout: 20 })).toBe('recovered');
  });

  it('a hard time limit kills the child and fails the task with TimeLimitExceeded; the worker goes on', async () => {
    const failed = new Collector<string>();
    const off = worker.hooks.on('failed', (r, error) => failed.push(`${r.name} ${(error as Error).name}`));
    try {
      const spin = await app.sendTask('pool.spin', [30_000], { timeLimit: 0.5 });
      const started = Date.now();
      const error = await spin.get({ timeout: 20, propagate: false });
      expect(isTqError(error, 'TIME_LIMIT_EXCEEDED')).toBe(true);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(await spin.state()).toBe('FAILURE');
      expect(await failed.atLeast(1)).toEqual(['pool.spin TimeLimitExceeded']);
    } finally {
      off();
    }
    const children = new Set((await Promise.all([where(), where(), where()])).map(childOf));
    expect(children.size).toBeGreaterThan(0);
    expect(await (await app.sendTask('pool.add', [1, 1])).get({ timeout: 20 })).toBe(2);
  });

  it('a soft time limit fires the AbortSignal and fails the task with SoftTimeLimitExceeded', async () => {
    const r = await app.sendTask('pool.wait', [], { softTimeLimit: 0.3 });
    const error = await r.get({ timeout: 20, propagate: false });
    expect(isTqError(error, 'SOFT_TIME_LIMIT_EXCEEDED')).toBe(true);
    expect((error as Error).message).toMatch(/soft time limit \(0\.3s\) exceeded/);
  });

  it('revoke with terminate kills the child running the task and stores REVOKED', async () => {
    const spin = await app.sendTask('pool.spin', [60_000]);
    await waitFor(() => worker.active.has(spin.id), { message: 'the spinning task to start' });
    const pid = worker.active.get(spin.id)!.workerPid;
    const replies = await app.control.terminate(spin.id, { signal: 'SIGKILL', reply: true, timeout: 2 });
    expect(replies).toEqual([{ [worker.hostname]: { ok: `terminate: ${spin.id}` } }]);
    await expect(spin.get({ timeout: 20 })).rejects.toMatchObject({ code: 'TASK_REVOKED' });
    expect(await spin.state()).toBe('REVOKED');
    if (kind === 'process') expect(pid).not.toBe(process.pid);
    expect(await (await app.sendTask('pool.add', [3, 4])).get({ timeout: 20 })).toBe(7);
  });

  it('rejects bad input in the worker before any child sees it', async () => {
    const broker = (await app.getBroker()) as MemoryBroker;
    const target = { exchange: '', routingKey: 'celery' };
    const raw = (headers: Record<string, unknown>, body: string, contentType = 'application/json') => ({
      body: Buffer.from(body), contentType, contentEncoding: 'utf-8', headers, properties: {},
    });
    await broker.publish(raw({ task: 'pool.add', id: 'bad-json' }, '[[1, 2], {}'), target);
    await broker.publish(raw({ task: 'pool.add', id: 'pickled' }, '\x80\x04.', 'application/x-python-serialize'), target);
    await broker.publish(raw({ task: 'pool.nope', id: `unknown-${kind}` }, '[[], {}, null]'), target);
    const unknown = await app.asyncResult(`unknown-${kind}`).get({ timeout: 20, propagate: false });
    expect(isTqError(unknown, 'TASK_NOT_REGISTERED')).toBe(true);
    expect(await (await app.sendTask('pool.add', [5, 5])).get({ timeout: 20 })).toBe(10);
  });
});

describe.each(['process', 'thread'] as const)('replacing %s children', (kind) => {
  const where = async (app: App): Promise<Where> => (await app.sendTask<Where>('pool.where')).get({ timeout: 20 });
  const childOf = (w: Where) => (kind === 'process' ? w.pid : w.thread);

  it('replaces a child after maxTasksPerChild tasks, without losing the task in hand', async () => {
    const app = newPoolApp();
    await startWorker(app, { pool: kind, concurrency: 1, appModule: POOL_APP, maxTasksPerChild: 2 });
    const seen: number[] = [];
    for (let i = 0; i < 4; i++) seen.push(childOf(await where(app)));
    expect(seen[0]).toBe(seen[1]);
    expect(seen[2]).toBe(seen[3]);
    expect(seen[1]).not.toBe(seen[2]);
  });

  it('replaces a child that is above maxMemoryPerChild after a task', async () => {
    const logger = recordingLogger();
    const app = newPoolApp();
    await startWorker(app, { pool: kind, concurrency: 1, appModule: POOL_APP, maxMemoryPerChild: '150MB', logger });
    const first = childOf(await where(app));
    expect(childOf(await where(app))).toBe(first);
    const held = await (await app.sendTask<{ held: number }>('pool.hold', [200])).get({ timeout: 20 });
    expect(held.held).toBe(1);
    expect(childOf(await where(app))).not.toBe(first);
    expect(logger.lines.some((l) => /above maxMemoryPerChild 150\.0 MiB/.test(l.message))).toBe(true);
  });
});
