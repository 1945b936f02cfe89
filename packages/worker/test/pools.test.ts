/**
 * The process and thread pools, with real child processes and threads: the same outcomes as the
 * in-process pools (results, failures, retries, subtasks, chains, custom states, hooks), what
 * only they can enforce (hard time limits, terminate, crashed children, child replacement after
 * N tasks or past a memory bound), and bad input refused in every pool.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Collector, recordingLogger, waitFor } from '@tq/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackendError, MemoryBackend, MemoryBroker, isTqError, silentLogger, type App, type ReceivedEvent, type StoreOptions } from '@tq/core';
import type { ResultMeta, SignatureDict } from '@tq/protocol';
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

describe.each(['process', 'thread'] as const)('a %s child whose result cannot be stored', (kind) => {
  it('with acksLate, the task goes back to the queue and its result is stored once the backend answers again', async () => {
    let away = true;
    const refused = new Collector<string>();
    /** A result backend that is away (a retryable BackendError, as an outage gives) until told otherwise. */
    class AwayBackend extends MemoryBackend {
      override async store(meta: ResultMeta, options?: StoreOptions): Promise<void> {
        if (away && meta.status === 'SUCCESS') {
          refused.push(meta.task_id);
          throw new BackendError('the result backend is away');
        }
        return super.store(meta, options);
      }
    }
    const logger = recordingLogger();
    const app = newPoolApp({ backend: new AwayBackend() });
    await startWorker(app, { pool: kind, concurrency: 1, appModule: POOL_APP, logger });
    const late = await app.sendTask<number>('pool.sleepLate', [5]);
    // Refused twice: it ran, was requeued instead of acknowledged, and ran again.
    await refused.atLeast(2);
    expect(refused.items.every((id) => id === late.id)).toBe(true);
    expect(logger.lines.some((l) => l.level === 'warn' && l.message.includes(`[${late.id}] requeued: its outcome could not be recorded`))).toBe(true);
    away = false;
    expect(await late.get({ timeout: 20 })).toBe(5);
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

  it('replaces a child that died at once, while a result it sent before is still being stored (a hanging backend)', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const storing = new Collector<string>();
    class SlowBackend extends MemoryBackend {
      override async store(meta: ResultMeta, options?: StoreOptions): Promise<void> {
        if (meta.status === 'SUCCESS' && meta.result === 7) {
          storing.push(meta.task_id);
          await gate;
        }
        return super.store(meta, options);
      }
    }
    const app = newPoolApp({ backend: new SlowBackend(), workerPoolWindow: 2 });
    await startWorker(app, { pool: kind, concurrency: 1, appModule: POOL_APP });
    const first = childOf(await where(app));
    // The child stores this result (held by the backend), then runs the crash queued behind it.
    const slow = await app.sendTask('pool.sleep', [7]);
    const crash = await app.sendTask('pool.crash', [1]);
    await storing.atLeast(1);
    const next = childOf(await where(app));
    expect(next).not.toBe(first);
    expect(await crash.state()).toBe('PENDING');
    release();
    expect(await slow.get({ timeout: 20 })).toBe(7);
    expect(isTqError(await crash.get({ timeout: 20, propagate: false }), 'WORKER_LOST')).toBe(true);
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

describe.each(['process', 'thread'] as const)('jobs queued in %s children (workerPoolWindow)', (kind) => {
  const tmp = mkdtempSync(join(tmpdir(), `tq-queued-${kind}-`));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const childOf = (w: Where) => (kind === 'process' ? w.pid : w.thread);
  let n = 0;
  const file = (name: string) => join(tmp, `${name}-${++n}`);

  /**
   * Two children, each blocked in a task until its file exists, and a third job given to the
   * pool: it waits in the first child's queue (ties go to the first child).
   */
  async function blockedPool(third: [task: string, args: unknown[]], window: 'app' | 'worker' = 'app') {
    const app = newPoolApp(window === 'app' ? { workerPoolWindow: 2 } : {});
    const worker = await startWorker(app, { pool: kind, concurrency: 2, appModule: POOL_APP, ...(window === 'worker' ? { poolWindow: 2 } : {}) });
    const releases = [file('release'), file('release')];
    const blockers = [await app.sendTask<Where>('pool.until', [releases[0]]), await app.sendTask<Where>('pool.until', [releases[1]])];
    const queued = await app.sendTask(third[0], third[1]);
    await waitFor(() => worker.active.has(queued.id), { message: 'the third job given to the pool' });
    return { app, worker, releases, blockers, queued };
  }

  it('a job queued behind a long task moves to a child that becomes free', async () => {
    const { releases, blockers, queued } = await blockedPool(['pool.where', []]);
    writeFileSync(releases[1]!, '');
    const freed = await blockers[1]!.get({ timeout: 20 });
    expect(childOf((await queued.get({ timeout: 20 })) as Where)).toBe(childOf(freed));
    // The first child still runs its long task.
    expect(await blockers[0]!.state()).toBe('PENDING');
    writeFileSync(releases[0]!, '');
    expect(childOf(await blockers[0]!.get({ timeout: 20 }))).not.toBe(childOf(freed));
  });

  it('inspect lists a job queued in a child as reserved, not active, until its child starts it', async () => {
    const { app, worker, releases, blockers, queued } = await blockedPool(['pool.add', [1, 2]]);
    const inspect = app.control.inspect({ destination: [worker.hostname], timeout: 2 });
    const ids = (reply: Record<string, Array<{ id: string }>> | null) => (reply?.[worker.hostname] ?? []).map((r) => r.id).sort();
    expect(ids(await inspect.active())).toEqual(blockers.map((b) => b.id).sort());
    expect(ids(await inspect.reserved())).toEqual([queued.id]);
    expect(await inspect.queryTask(queued.id)).toEqual({ [worker.hostname]: { [queued.id]: ['reserved', expect.objectContaining({ id: queued.id })] } });
    // Heartbeats count active tasks the same way (a receiver that connects asks for one at once).
    const beats = new Collector<Record<string, unknown>>();
    const receiver = await app.events.receiver({ 'worker-heartbeat': (e) => beats.push(e as unknown as Record<string, unknown>) });
    try {
      expect((await beats.atLeast(1))[0]!['active']).toBe(2);
    } finally {
      await receiver.close();
    }
    for (const release of releases) writeFileSync(release, '');
    expect(await queued.get({ timeout: 20 })).toBe(3);
  });

  it("the worker's poolWindow (--pool-window) queues jobs in children without the app setting", async () => {
    const { releases, blockers, queued } = await blockedPool(['pool.add', [2, 3]], 'worker');
    // Given to a busy child, not kept in the worker: it runs there once that child's task ends.
    expect(await queued.state()).toBe('PENDING');
    writeFileSync(releases[0]!, '');
    const first = await blockers[0]!.get({ timeout: 20 });
    expect(await queued.get({ timeout: 20 })).toBe(5);
    writeFileSync(releases[1]!, '');
    expect(childOf(await blockers[1]!.get({ timeout: 20 }))).not.toBe(childOf(first));
  });

  it('a pool restart hands the jobs queued in old children to the new ones', async () => {
    const { worker, releases, blockers, queued } = await blockedPool(['pool.where', []]);
    await worker.pool.restart();
    const where = (await queued.get({ timeout: 20 })) as Where;
    expect(await blockers[0]!.state()).toBe('PENDING');
    for (const release of releases) writeFileSync(release, '');
    const old = await Promise.all(blockers.map((b) => b.get({ timeout: 20 })));
    expect(old.map(childOf)).not.toContain(childOf(where));
  });

  it('terminating a job queued in a child stores REVOKED; it never runs and the child lives on', async () => {
    const marker = file('marker');
    const { app, worker, releases, blockers, queued } = await blockedPool(['pool.touch', [marker]]);
    const replies = await app.control.terminate(queued.id, { signal: 'SIGKILL', reply: true, timeout: 2 });
    expect(replies).toEqual([{ [worker.hostname]: { ok: `terminate: ${queued.id}` } }]);
    await expect(queued.get({ timeout: 20 })).rejects.toMatchObject({ code: 'TASK_REVOKED', message: '[tq] terminated' });
    for (const release of releases) writeFileSync(release, '');
    // Both long tasks finish in the children they started in: neither child was killed.
    const ran = await Promise.all(blockers.map((b) => b.get({ timeout: 20 })));
    expect(new Set(ran.map(childOf)).size).toBe(2);
    expect(await (await app.sendTask('pool.add', [2, 3])).get({ timeout: 20 })).toBe(5);
    expect(existsSync(marker)).toBe(false);
  });

  it('a plain revoke reaches a job queued in a child: it never runs, REVOKED is stored, and no child is killed', async () => {
    const marker = file('marker');
    const { app, releases, blockers, queued } = await blockedPool(['pool.touch', [marker]]);
    await app.control.revoke(queued.id);
    await expect(queued.get({ timeout: 20 })).rejects.toMatchObject({ code: 'TASK_REVOKED', message: '[tq] revoked' });
    for (const release of releases) writeFileSync(release, '');
    const ran = await Promise.all(blockers.map((b) => b.get({ timeout: 20 })));
    expect(new Set(ran.map(childOf)).size).toBe(2);
    expect(existsSync(marker)).toBe(false);
  });

  it('when a child dies, its running task fails with WorkerLostError and the jobs queued behind it run elsewhere', async () => {
    const app = newPoolApp({ workerPoolWindow: 2 });
    const worker = await startWorker(app, { pool: kind, concurrency: 2, appModule: POOL_APP });
    const crash = file('crash');
    const release = file('release');
    const crashing = await app.sendTask('pool.crashAt', [crash, 5]);
    const blocker = await app.sendTask<Where>('pool.until', [release]);
    const queued = await app.sendTask<Where>('pool.where');
    await waitFor(() => worker.active.has(queued.id), { message: 'the third job given to the pool' });
    writeFileSync(crash, '');
    const error = await crashing.get({ timeout: 20, propagate: false });
    expect(isTqError(error, 'WORKER_LOST')).toBe(true);
    expect((error as Error).message).toMatch(/exitcode 5/);
    // It runs in the replacement child while the other child is still blocked.
    const where = await queued.get({ timeout: 20 });
    expect(await blocker.state()).toBe('PENDING');
    writeFileSync(release, '');
    expect(childOf(await blocker.get({ timeout: 20 }))).not.toBe(childOf(where));
  });

  it('the hard time limit of a queued job starts when the child starts it', async () => {
    const app = newPoolApp({ workerPoolWindow: 2 });
    await startWorker(app, { pool: kind, concurrency: 1, appModule: POOL_APP });
    // One child: the second job waits in its queue for 1.5 s, longer than its own 1 s limit.
    const first = await app.sendTask('pool.sleep', [1500]);
    const second = await app.sendTask('pool.add', [1, 2], { timeLimit: 1 });
    expect(await first.get({ timeout: 20 })).toBe(1500);
    expect(await second.get({ timeout: 20 })).toBe(3);
  });

  it('a warm shutdown runs the jobs queued in children', async () => {
    const app = newPoolApp({ workerPoolWindow: 2 });
    const worker = await startWorker(app, { pool: kind, concurrency: 1, appModule: POOL_APP });
    const release = file('release');
    const first = await app.sendTask<Where>('pool.until', [release]);
    const second = await app.sendTask('pool.add', [4, 4]);
    await waitFor(() => worker.active.has(second.id), { message: 'the second job given to the pool' });
    const stopped = worker.stop({ timeout: 20 });
    writeFileSync(release, '');
    await stopped;
    expect(await first.state()).toBe('SUCCESS');
    expect(await second.get({ timeout: 20 })).toBe(8);
  });

  it('a child above maxMemoryPerChild starts nothing more: the job queued behind runs in its replacement', async () => {
    const app = newPoolApp({ workerPoolWindow: 2 });
    await startWorker(app, { pool: kind, concurrency: 1, appModule: POOL_APP, maxMemoryPerChild: '150MB' });
    const hold = await app.sendTask<Where & { held: number }>('pool.hold', [200]);
    const next = await app.sendTask<Where>('pool.where');
    const held = await hold.get({ timeout: 20 });
    expect(childOf(await next.get({ timeout: 20 }))).not.toBe(childOf(held));
  });

  it('a cold shutdown sends acksLate jobs queued in children back to the queue', async () => {
    const app = newPoolApp({ workerPoolWindow: 2 });
    const broker = (await app.getBroker()) as MemoryBroker;
    const worker = await startWorker(app, { pool: kind, concurrency: 1, appModule: POOL_APP });
    const running = await app.sendTask('pool.sleepLate', [30_000]);
    const queued = await app.sendTask('pool.sleepLate', [1]);
    await waitFor(() => worker.active.has(running.id) && worker.active.has(queued.id), { message: 'both jobs given to the pool' });
    await worker.stop({ cold: true });
    expect(broker.unackedCount()).toBe(0);
    expect(await broker.queueLength('celery')).toBe(2);
    expect(await queued.state()).toBe('PENDING');
  });

  it('a job that is not acksLate is acknowledged when its child starts it: queued at a cold shutdown, it goes back to the queue', async () => {
    const app = newPoolApp({ workerPoolWindow: 2 });
    const broker = (await app.getBroker()) as MemoryBroker;
    const worker = await startWorker(app, { pool: kind, concurrency: 1, appModule: POOL_APP });
    const release = file('release');
    const running = await app.sendTask('pool.until', [release]);
    const queued = await app.sendTask('pool.add', [1, 1]);
    await waitFor(() => worker.active.has(running.id) && worker.active.has(queued.id), { message: 'both jobs given to the pool' });
    // The running one was acknowledged when it started; the queued one is still the broker's.
    expect(broker.unackedCount()).toBe(1);
    await worker.stop({ cold: true });
    expect(isTqError(await running.get({ timeout: 20, propagate: false }), 'WORKER_LOST')).toBe(true);
    expect(await broker.queueLength('celery')).toBe(1);
    expect(await queued.state()).toBe('PENDING');
  });

  /** One child busy with a long task: the next job waits in the worker, not in the child, and runs once the child is free. */
  async function nextWaitsInTheWorker(app: App, worker: Worker): Promise<void> {
    const release = file('release');
    const blocker = await app.sendTask<Where>('pool.until', [release]);
    await waitFor(() => worker.active.has(blocker.id), { message: 'the blocking task to start' });
    const next = await app.sendTask('pool.add', [1, 1]);
    await waitFor(() => worker.reserved().some((r) => r.id === next.id), { message: 'the next task waiting in the worker' });
    expect(worker.active.has(next.id)).toBe(false);
    writeFileSync(release, '');
    expect(await next.get({ timeout: 20 })).toBe(2);
  }

  it('by default a child gets a job only when it is free; a bad window is refused', async () => {
    const app = newPoolApp();
    await nextWaitsInTheWorker(app, await startWorker(app, { pool: kind, concurrency: 1, appModule: POOL_APP }));
    for (const window of [0, 1.5, '2']) {
      expect(() => new Worker(newPoolApp({ workerPoolWindow: window as number }), { pool: kind, appModule: POOL_APP, logger: silentLogger })).toThrow(/pool window .* must be an integer ≥ 1, got/);
      expect(() => new Worker(newPoolApp(), { pool: kind, appModule: POOL_APP, logger: silentLogger, poolWindow: window as number })).toThrow(/pool window .* must be an integer ≥ 1, got/);
    }
  });

  it('with -O fair a child gets a job only when it is free, whatever workerPoolWindow says', async () => {
    const app = newPoolApp({ workerPoolWindow: 4 });
    await nextWaitsInTheWorker(app, await startWorker(app, { pool: kind, concurrency: 1, appModule: POOL_APP, optimization: 'fair' }));
  });

  it('a child takes no more jobs than maxTasksPerChild lets it run', async () => {
    const app = newPoolApp({ workerPoolWindow: 2 });
    await startWorker(app, { pool: kind, concurrency: 1, appModule: POOL_APP, maxTasksPerChild: 2 });
    const sent = await Promise.all(Array.from({ length: 4 }, () => app.sendTask<Where>('pool.where')));
    const seen = (await Promise.all(sent.map((r) => r.get({ timeout: 20 })))).map(childOf);
    expect(seen[0]).toBe(seen[1]);
    expect(seen[2]).toBe(seen[3]);
    expect(seen[1]).not.toBe(seen[2]);
  });
});
