/**
 * Remote control round trips on the memory transport: every inspect and control command, with
 * Celery's argument and reply shapes, addressed to several workers by destination list, glob or
 * regex, and request expiry; mingle's revoke sync at start-up; and revokes that survive a
 * restart with a statedb.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Collector, waitFor } from '@tq/testing';
import { createControlRequest, createTaskMessage, encodeControlRequest, encodeTaskMessage, PIDBOX_EXCHANGE } from '@tq/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryBroker, type App, type TaskContext } from '@tq/core';
import { Worker } from '../src/index.js';
import { newApp, onCleanup, startWorker } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'tq-control-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Two workers on one app, with a task that waits until released, and one held by its ETA. */
async function twoWorkers() {
  const app = newApp({ broker: new MemoryBroker(), resultExtended: false, taskDefaultRateLimit: null });
  const gates: Array<() => void> = [];
  const started = new Collector<string>();
  let open = false;
  const slow = app.task('tasks.slow', function (this: TaskContext, label: string) {
    started.push(label);
    if (open) return Promise.resolve();
    return new Promise<void>((resolve) => gates.push(resolve));
  });
  const add = app.task({ name: 'tasks.add', rateLimit: '100/m' }, (x: number, y: number) => x + y);
  const w1 = await startWorker(app, { hostname: 'w1@test', concurrency: 1 });
  const w2 = await startWorker(app, { hostname: 'w2@test', concurrency: 1, queues: ['other'] });
  onCleanup(async () => {
    open = true;
    for (const gate of gates.splice(0)) gate();
  });
  return { app, w1, w2, slow, add, gates, started };
}

describe('inspect', () => {
  it('answers every inspect command with Celery shapes, merged by node name', async () => {
    const { app, w1, slow, started } = await twoWorkers();
    const running = await slow.delay('running');
    await started.atLeast(1);
    const waiting = await slow.delay('waiting');
    // An ETA message the worker must hold (published without the broker's delayed delivery).
    const later = { id: 'eta-later' };
    await (await app.getBroker()).publish(
      encodeTaskMessage(createTaskMessage({ id: later.id, task: 'tasks.slow', args: ['later'], eta: new Date(Date.now() + 60_000), origin: 'test' })),
      { exchange: '', routingKey: 'celery' },
    );
    await waitFor(() => w1.held.size === 1, { message: 'the ETA task to be held' });
    // With a destination list, replies are collected until every node answered.
    const inspect = app.control.inspect({ destination: ['w1@test', 'w2@test'], timeout: 2 });

    expect(await inspect.ping()).toEqual({ 'w1@test': { ok: 'pong' }, 'w2@test': { ok: 'pong' } });

    const active = (await inspect.active())!;
    expect(active['w2@test']).toEqual([]);
    expect(active['w1@test']).toEqual([
      expect.objectContaining({
        id: running.id,
        name: 'tasks.slow',
        args: ['running'],
        kwargs: {},
        type: 'tasks.slow',
        hostname: 'w1@test',
        time_start: expect.any(Number) as number,
        acknowledged: true,
        delivery_info: { exchange: '', routing_key: 'celery', priority: null, redelivered: false },
        worker_pid: process.pid,
      }),
    ]);
    expect((await inspect.active({ safe: true }))!['w1@test']![0]).toMatchObject({ args: "('running',)", kwargs: '{}' });

    const reserved = (await inspect.reserved())!;
    expect(reserved['w1@test']!.map((r) => r.id)).toEqual([waiting.id]);
    expect(reserved['w1@test']![0]).toMatchObject({ acknowledged: false, time_start: null });

    const scheduled = (await inspect.scheduled())!;
    expect(scheduled['w1@test']).toEqual([{ eta: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as string, priority: 6, request: expect.objectContaining({ id: later.id }) as object }]);

    expect(await inspect.registered()).toEqual({ 'w1@test': ['tasks.add [rate_limit=100/m]', 'tasks.slow'], 'w2@test': ['tasks.add [rate_limit=100/m]', 'tasks.slow'] });
    expect((await inspect.registered('rate_limit', 'acks_late'))!['w1@test']).toEqual(['tasks.add [rate_limit=100/m acks_late=False]', 'tasks.slow [acks_late=False]']);

    const queried = (await inspect.queryTask(running.id, waiting.id, later.id, 'unknown-id'))!;
    expect(Object.fromEntries(Object.entries(queried['w1@test']!).map(([id, [state]]) => [id, state]))).toEqual({ [running.id]: 'active', [waiting.id]: 'reserved', [later.id]: 'scheduled' });
    expect(queried['w2@test']).toEqual({});

    const stats = (await inspect.stats())!['w1@test']!;
    expect(Object.keys(stats)).toEqual(['total', 'pid', 'clock', 'uptime', 'pool', 'broker', 'prefetch_count', 'rusage']);
    expect(stats).toMatchObject({
      total: { 'tasks.slow': 1 },
      pid: process.pid,
      clock: expect.stringMatching(/^\d+$/) as string,
      uptime: expect.any(Number) as number,
      pool: { implementation: 'tq.pools:async', 'max-concurrency': 1, processes: [process.pid], 'max-tasks-per-child': 'N/A', 'put-guarded-by-semaphore': false, timeouts: [0, 0] },
      broker: { transport: 'memory', hostname: 'localhost' },
      prefetch_count: 5,
    });
    expect(Object.keys(stats.rusage as object)).toEqual(['utime', 'stime', 'maxrss', 'ixrss', 'idrss', 'isrss', 'minflt', 'majflt', 'nswap', 'inblock', 'oublock', 'msgsnd', 'msgrcv', 'nsignals', 'nvcsw', 'nivcsw']);

    const queues = (await inspect.activeQueues())!;
    expect(queues['w2@test']).toEqual([
      {
        name: 'other',
        exchange: { name: 'other', type: 'direct', arguments: null, durable: true, passive: false, auto_delete: false, delivery_mode: null, no_declare: false },
        routing_key: 'other',
        queue_arguments: null,
        binding_arguments: null,
        consumer_arguments: null,
        durable: true,
        exclusive: false,
        auto_delete: false,
        no_ack: false,
        alias: null,
        bindings: [],
        no_declare: null,
        expires: null,
        message_ttl: null,
        max_length: null,
        max_length_bytes: null,
        max_priority: null,
      },
    ]);

    expect((await inspect.conf())!['w1@test']).toEqual({ broker_url: '<memory broker>', result_extended: false, task_default_rate_limit: null });
    expect((await inspect.conf(true))!['w1@test']).toMatchObject({ task_default_queue: 'celery', result_expires: 86400, task_acks_late: false });
    expect((await inspect.report())!['w1@test']).toEqual({ ok: expect.stringMatching(/^software -> tq:0\.1\.0 node:v\d+/) as string });
    expect((await inspect.clock())!['w1@test']).toEqual({ clock: expect.any(Number) as number });

    await app.control.revoke('gone-1');
    await waitFor(async () => (await inspect.revoked())?.['w1@test']?.includes('gone-1'), { message: 'the revoke to arrive' });
    expect(await inspect.hello('w1@test')).toEqual({ 'w1@test': null, 'w2@test': expect.objectContaining({ clock: expect.any(Number) }) as object });
    const hello = (await inspect.hello('w9@test', { 'from-w9': [1_700_000_000.5, 'from-w9'] }))!;
    expect(hello['w1@test']).toEqual({ revoked: expect.objectContaining({ 'gone-1': [expect.any(Number), 'gone-1'], 'from-w9': [1_700_000_000.5, 'from-w9'] }) as object, clock: expect.any(Number) as number });
    expect((await inspect.revoked())!['w2@test']).toContain('from-w9');
  });

  it('addresses workers by destination list, glob and regex, and ignores expired requests', async () => {
    const { app, w1 } = await twoWorkers();
    expect(await app.control.inspect({ destination: ['w2@test'], timeout: 0.5 }).ping()).toEqual({ 'w2@test': { ok: 'pong' } });
    expect(await app.control.inspect({ pattern: 'w1@*', matcher: 'glob', timeout: 0.3 }).ping()).toEqual({ 'w1@test': { ok: 'pong' } });
    expect(await app.control.inspect({ pattern: '^w[12]@', matcher: 'pcre', timeout: 0.3 }).ping()).toEqual({ 'w1@test': { ok: 'pong' }, 'w2@test': { ok: 'pong' } });
    expect(await app.control.inspect({ destination: ['nobody@test'], timeout: 0.2 }).ping()).toBeNull();
    // A request that expired before it arrived is dropped: this revoke never takes effect.
    const broker = await app.getBroker();
    const expired = createControlRequest({ method: 'revoke', arguments: { task_id: 'expired-revoke' } });
    await broker.publish(encodeControlRequest(expired, 1, Date.now() / 1000 - 5), { exchange: PIDBOX_EXCHANGE, routingKey: '', exchangeType: 'fanout' });
    const current = createControlRequest({ method: 'revoke', arguments: { task_id: 'current-revoke' } });
    await broker.publish(encodeControlRequest(current, 2, Date.now() / 1000 + 5), { exchange: PIDBOX_EXCHANGE, routingKey: '', exchangeType: 'fanout' });
    await waitFor(() => w1.revoked.has('current-revoke'), { message: 'the current revoke' });
    expect(w1.revoked.has('expired-revoke')).toBe(false);
  });
});

describe('control', () => {
  it('carries out every control command with Celery replies', async () => {
    const { app, w1, w2, slow, add, started, gates } = await twoWorkers();
    const to = (node: string) => ({ reply: true, timeout: 1, destination: [node] });

    // revoke / terminate
    expect(await app.control.revoke(['r-1', 'r-2'], to('w1@test'))).toEqual([{ 'w1@test': { ok: 'tasks r-1, r-2 flagged as revoked' } }]);
    expect(w1.revoked.has('r-2')).toBe(true);
    expect(await app.control.terminate('nothing-running', to('w1@test'))).toEqual([{ 'w1@test': { ok: 'terminate: tasks unknown' } }]);
    const running = await slow.delay('t');
    await started.atLeast(1);
    expect(await app.control.terminate(running.id, { ...to('w1@test'), signal: 'KILL' })).toEqual([{ 'w1@test': { ok: `terminate: ${running.id}` } }]);
    await expect(running.get({ timeout: 5 })).rejects.toMatchObject({ code: 'TASK_REVOKED' });
    expect(await app.control.broadcast('terminate', { signal: 'SIGTERM', task_id: ['x'] }, to('w2@test'))).toEqual([{ 'w2@test': { ok: 'terminate: tasks unknown' } }]);

    // pool_grow / pool_shrink
    expect(await app.control.poolGrow(2, to('w1@test'))).toEqual([{ 'w1@test': { ok: 'pool will grow' } }]);
    expect(w1.pool.concurrency).toBe(3);
    expect(w1.prefetchCount()).toBe(12);
    expect(await app.control.poolShrink(1, to('w1@test'))).toEqual([{ 'w1@test': { ok: 'pool will shrink' } }]);
    expect(w1.pool.concurrency).toBe(2);

    // autoscale without autoscaling
    expect(await app.control.autoscale(4, 1, to('w1@test'))).toEqual([{ 'w1@test': { error: "ValueError('Autoscale not enabled')" } }]);

    // add_consumer / cancel_consumer
    expect(await app.control.addConsumer('extra', {}, to('w2@test'))).toEqual([{ 'w2@test': { ok: 'add consumer extra' } }]);
    await waitFor(() => w2.queues.some((q) => q.name === 'extra'), { message: 'the new consumer' });
    expect(await (await add.applyAsync([2, 3], { queue: 'extra' })).get({ timeout: 5 })).toBe(5);
    expect(await app.control.cancelConsumer('extra', to('w2@test'))).toEqual([{ 'w2@test': { ok: 'no longer consuming from extra' } }]);
    await waitFor(() => !w2.queues.some((q) => q.name === 'extra'), { message: 'the consumer to go' });

    // pool_restart needs poolRestarts and a child pool
    expect(await app.control.poolRestart({}, to('w1@test'))).toEqual([{ 'w1@test': { error: "ValueError('Pool restarts not enabled')" } }]);

    // unknown commands
    expect(await app.control.broadcast('nope', {}, to('w1@test'))).toEqual([{ 'w1@test': { error: 'No such control command: nope' } }]);

    // shutdown: a warm one, then the worker is gone
    for (const gate of gates.splice(0)) gate();
    expect(await app.control.shutdown(to('w2@test'))).toEqual([{ 'w2@test': { ok: 'shutting down' } }]);
    await w2.stopped;
    expect(w2.state).toBe('stopped');
    expect(await app.control.inspect({ timeout: 0.3 }).ping()).toEqual({ 'w1@test': { ok: 'pong' } });
  });

  it('autoscale changes the bounds of an autoscaling worker; pool_grow is refused there', async () => {
    const app = newApp();
    app.task('tasks.t', () => 1);
    const worker = await startWorker(app, { hostname: 'as@test', autoscale: [4, 1] });
    const to = { reply: true, timeout: 1, destination: ['as@test'] };
    expect(await app.control.autoscale(6, 2, to)).toEqual([{ 'as@test': { ok: 'autoscale now max=6 min=2' } }]);
    expect(worker.pool.concurrency).toBe(2);
    expect(worker.prefetchCount()).toBe(24);
    expect((await app.control.inspect({ timeout: 0.5 }).stats())!['as@test']!.autoscaler).toEqual({ max: 6, min: 2, current: 2, qty: 0 });
    expect(await app.control.poolGrow(1, to)).toEqual([{ 'as@test': { error: 'pool_grow is not supported with autoscale. Adjust autoscale range instead.' } }]);
    expect(await app.control.poolShrink(1, to)).toEqual([{ 'as@test': { error: 'pool_shrink is not supported with autoscale. Adjust autoscale range instead.' } }]);
  });
});

describe('revokes that outlive a worker', () => {
  it('a worker starting later learns revokes from running workers (mingle hello)', async () => {
    const app = newApp();
    let ran = false;
    const t = app.task('tasks.t', () => {
      ran = true;
    });
    await startWorker(app, { hostname: 'old@test', queues: ['old'] });
    const r = await t.applyAsync([], { queue: 'late' });
    await app.control.revoke(r.id);
    await waitFor(async () => (await app.control.inspect({ timeout: 0.3 }).revoked())?.['old@test']?.includes(r.id), { message: 'the revoke on the old worker' });
    const late = new Worker(app, { hostname: 'new@test', queues: ['late'], mingle: true, mingleTimeout: 0.5 });
    await late.start();
    onCleanup(() => late.stop({ timeout: 5 }));
    expect(late.revoked.has(r.id)).toBe(true);
    await expect(r.get({ timeout: 5 })).rejects.toMatchObject({ code: 'TASK_REVOKED' });
    expect(ran).toBe(false);
  });

  it('--statedb keeps revoked ids across a restart', async () => {
    const statedb = join(tmp, 'worker.state');
    const app = newApp();
    let ran = false;
    const t = app.task('tasks.t', () => {
      ran = true;
    });
    const first = new Worker(app, { hostname: 'sd@test', statedb, mingle: false, queues: ['q1'] });
    await first.start();
    await app.control.revoke('revoked-before-restart', { reply: true, timeout: 1 });
    await first.stop();
    expect(JSON.parse(readFileSync(statedb, 'utf8'))).toMatchObject({ version: 1, revoked: [['revoked-before-restart', expect.any(Number)]], clock: expect.any(Number) });
    // The task arrives after the restart; the new worker refuses it.
    await t.applyAsync([], { taskId: 'revoked-before-restart', queue: 'q2' });
    const second = await startWorker(app, { hostname: 'sd@test', statedb, queues: ['q2'] });
    expect(second.revoked.has('revoked-before-restart')).toBe(true);
    await expect(app.asyncResult('revoked-before-restart').get({ timeout: 5 })).rejects.toMatchObject({ code: 'TASK_REVOKED' });
    expect(ran).toBe(false);
  });
});
