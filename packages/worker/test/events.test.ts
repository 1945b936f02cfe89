import { Collector, waitFor } from '@tq/testing';
import { decodeEventMessage, type RawMessage } from '@tq/protocol';
import { describe, expect, it } from 'vitest';
import { EVENT_EXCHANGE, ManualClock, MemoryBroker, Reject, silentLogger, type App, type Broker, type Logger, type ReceivedEvent, type State, type TaskContext } from '@tq/core';
import { Worker, type EventsStepOptions, type WorkerOptions } from '../src/index.js';
import { newApp, onCleanup } from './helpers.js';

const START = Date.parse('2026-06-01T12:00:00Z');

async function startWorker(app: App, events: EventsStepOptions = {}, options: WorkerOptions = {}): Promise<Worker> {
  const worker = new Worker(app, { logger: silentLogger, hostname: 'w1@vm', mingle: false, ...options, events });
  await worker.start();
  onCleanup(() => worker.stop({ timeout: 5 }));
  return worker;
}

/** A receiver that collects every event, and a State fed by it, on the manual clock. */
async function listen(app: App, clock: ManualClock): Promise<{ events: Collector<ReceivedEvent>; state: State }> {
  const events = new Collector<ReceivedEvent>();
  const state = app.events.state({ now: () => clock.now() });
  const receiver = await app.events.receiver({ '*': (e) => (events.push(e), state.event(e)) }, { wakeup: false, now: () => clock.now() });
  onCleanup(() => receiver.close());
  return { events, state };
}

/** The raw event messages on the exchange, to see batching as the broker carries it. */
async function tap(app: App): Promise<Array<{ routingKey: string; message: RawMessage }>> {
  const broker = await app.getBroker();
  const seen: Array<{ routingKey: string; message: RawMessage }> = [];
  const sub = await broker.subscribe!(EVENT_EXCHANGE, '#', (message, routingKey) => seen.push({ routingKey, message }), { exchangeType: 'topic' });
  onCleanup(() => sub.close());
  return seen;
}

const ofTask = (events: ReceivedEvent[], id: string) => events.filter((e) => e['uuid'] === id);
const types = (events: ReceivedEvent[]) => events.map((e) => e.type);
const keys = (event: ReceivedEvent | undefined) => Object.keys(event ?? {});

describe('worker events (-E)', () => {
  it("reach a receiver in order, with Celery's fields in Celery's order", async () => {
    const clock = new ManualClock(START);
    const app = newApp();
    const { events } = await listen(app, clock);
    const add = app.task('proj.add', (x: number, y: number) => x + y);
    await startWorker(app, { clock });
    await events.atLeast(1);
    const r = await add.delay(2, 3);
    expect(await r.get({ timeout: 5 })).toBe(5);
    await waitFor(() => ofTask(events.items, r.id).length === 3, { message: 'three task events' });

    expect(types(events.items)).toEqual(['worker-online', 'task-received', 'task-started', 'task-succeeded']);
    const [online, received, started, succeeded] = events.items;
    // B6: hostname, utcoffset, pid, clock, …fields, timestamp, type (+ local_received from the receiver).
    expect(keys(online)).toEqual(['hostname', 'utcoffset', 'pid', 'clock', 'freq', 'active', 'processed', 'loadavg', 'sw_ident', 'sw_ver', 'sw_sys', 'timestamp', 'type', 'local_received']);
    expect(online).toMatchObject({ hostname: 'w1@vm', pid: process.pid, freq: 2, active: 0, processed: 0, sw_ident: 'py-celery', sw_ver: '0.1.0', timestamp: START / 1000 });
    expect(online!['loadavg']).toHaveLength(3);
    expect(keys(received)).toEqual(['hostname', 'utcoffset', 'pid', 'clock', 'uuid', 'name', 'args', 'kwargs', 'root_id', 'parent_id', 'retries', 'eta', 'expires', 'timestamp', 'type', 'local_received']);
    expect(received).toMatchObject({ uuid: r.id, name: 'proj.add', args: '(2, 3)', kwargs: '{}', root_id: r.id, parent_id: null, retries: 0, eta: null, expires: null });
    expect(keys(started)).toEqual(['hostname', 'utcoffset', 'pid', 'clock', 'uuid', 'timestamp', 'type', 'local_received']);
    // The captured example: {"hostname": "w1@vm", "utcoffset": 0, "pid": 9728, "clock": 6, "uuid": "1111…", "result": "5", "runtime": 0.0243, "timestamp": …, "type": "task-succeeded"}
    expect(keys(succeeded)).toEqual(['hostname', 'utcoffset', 'pid', 'clock', 'uuid', 'result', 'runtime', 'timestamp', 'type', 'local_received']);
    expect(succeeded).toMatchObject({ hostname: 'w1@vm', uuid: r.id, result: '5', type: 'task-succeeded' });
    expect(typeof succeeded!['runtime']).toBe('number');
    const clocks = events.items.map((e) => e.clock);
    expect(clocks).toEqual([...clocks].sort((a, b) => a - b));
  });

  it('report failures, retries, rejections and revocations as Celery does', async () => {
    const clock = new ManualClock(START);
    const app = newApp();
    const { events } = await listen(app, clock);
    class ValueError extends Error {
      override name = 'ValueError';
    }
    const div = app.task('proj.div', (x: number) => {
      throw new ValueError(`bad value ${x}`);
    });
    const flaky = app.task({ name: 'proj.flaky', bind: true, maxRetries: 1 }, (ctx: TaskContext) => {
      if (ctx.retries === 0) ctx.retry({ exc: new TypeError('not yet'), countdown: 0 });
      return 'ok';
    });
    const refuse = app.task('proj.refuse', () => {
      throw new Reject('no thanks', false);
    });
    const late = app.task('proj.late', () => 'never');
    await startWorker(app, { clock });

    const failed = await div.delay(7);
    await expect(failed.get({ timeout: 5 })).rejects.toThrow('bad value 7');
    const retried = await flaky.delay();
    expect(await retried.get({ timeout: 5 })).toBe('ok');
    const rejected = await refuse.delay();
    const expired = await late.applyAsync([], { expires: new Date(Date.now() - 1000) });
    await waitFor(() => ofTask(events.items, rejected.id).some((e) => e.type === 'task-rejected') && ofTask(events.items, expired.id).some((e) => e.type === 'task-revoked'), {
      message: 'rejected and revoked events',
    });

    const failure = ofTask(events.items, failed.id).find((e) => e.type === 'task-failed')!;
    expect(keys(failure)).toEqual(['hostname', 'utcoffset', 'pid', 'clock', 'uuid', 'exception', 'traceback', 'timestamp', 'type', 'local_received']);
    expect(failure['exception']).toBe("ValueError('bad value 7')");
    expect(failure['traceback']).toMatch(/bad value 7/);

    // task-retried is sent before the retry is published, so a monitor never sees it after the
    // retry's own events (Celery's event state would then show the finished task as RETRY).
    expect(types(ofTask(events.items, retried.id))).toEqual(['task-received', 'task-started', 'task-retried', 'task-received', 'task-started', 'task-succeeded']);
    const retry = ofTask(events.items, retried.id).find((e) => e.type === 'task-retried')!;
    expect(retry['exception']).toBe("TypeError('not yet')");
    expect(ofTask(events.items, retried.id).filter((e) => e.type === 'task-received').map((e) => e['retries'])).toEqual([0, 1]);

    expect(ofTask(events.items, rejected.id).find((e) => e.type === 'task-rejected')).toMatchObject({ requeue: false });
    const revoked = ofTask(events.items, expired.id).find((e) => e.type === 'task-revoked')!;
    expect(keys(revoked).slice(4, 8)).toEqual(['uuid', 'terminated', 'signum', 'expired']);
    expect(revoked).toMatchObject({ terminated: false, signum: null, expired: true });
  });

  it('feed a State that matches what ran, and heartbeats keep the worker alive', async () => {
    const clock = new ManualClock(START);
    const app = newApp();
    const { events, state } = await listen(app, clock);
    const add = app.task('proj.add', (x: number, y: number) => x + y);
    const boom = app.task('proj.boom', () => {
      throw new Error('boom');
    });
    const worker = await startWorker(app, { clock });
    const ok = await Promise.all([add.delay(1, 1), add.delay(2, 2), add.delay(3, 3)]);
    const bad = await boom.delay();
    await Promise.all(ok.map((r) => r.get({ timeout: 5 })));
    await bad.get({ timeout: 5, propagate: false });
    await waitFor(() => state.counts().byState['SUCCESS'] === 3 && state.counts().byState['FAILURE'] === 1, { message: 'four finished tasks in the State' });

    const w = state.worker('w1@vm')!;
    expect(w.alive).toBe(true);
    // Heartbeats every 2 s carry the worker's counts.
    const beats = () => events.items.filter((e) => e.type === 'worker-heartbeat');
    await clock.advance(2000);
    await waitFor(() => beats().length === 1, { message: 'a heartbeat' });
    expect(beats()[0]).toMatchObject({ freq: 2, active: 0, processed: 4, timestamp: START / 1000 + 2 });
    expect(w.processed).toBe(4);
    await clock.advance(4000);
    await waitFor(() => beats().length === 3, { message: 'three heartbeats' });
    expect(w.alive).toBe(true);
    expect(w.heartbeats.at(-1)).toBe(START / 1000 + 6);

    expect(state.tasksByName('proj.add').map((t) => t.result).sort()).toEqual(['2', '4', '6']);
    expect(state.task(bad.id)).toMatchObject({ state: 'FAILURE', name: 'proj.boom', worker: 'w1@vm', exception: "Exception('boom')" });
    expect(state.task(ok[0]!.id)!.runtime).toBeGreaterThanOrEqual(0);
    expect(state.tasksByWorker('w1@vm')).toHaveLength(4);

    // Without heartbeats for freq × 2 the worker counts as gone…
    await worker.stop();
    await waitFor(() => events.items.some((e) => e.type === 'worker-offline'), { message: 'worker-offline' });
    expect(w.alive).toBe(false);
    expect(events.items.at(-1)).toMatchObject({ type: 'worker-offline', processed: 4, active: 0 });
  });

  it('batch task events under task.multi, at most 24 per message', async () => {
    const clock = new ManualClock(START);
    const app = newApp();
    const seen = await tap(app);
    const add = app.task('proj.add', (x: number, y: number) => x + y);
    await startWorker(app, { clock });
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => add.delay(i, i)));
    await Promise.all(results.map((r) => r.get({ timeout: 5 })));
    const taskEvents = () => seen.filter((s) => s.routingKey === 'task.multi').flatMap((s) => decodeEventMessage(s.message));
    await waitFor(() => taskEvents().length === 90, { message: '90 task events' });
    const batches = seen.filter((s) => s.routingKey.startsWith('task.'));
    expect(batches.every((s) => s.routingKey === 'task.multi')).toBe(true);
    const sizes = batches.map((s) => decodeEventMessage(s.message).length);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(24);
    expect(Math.max(...sizes)).toBeGreaterThan(1);
    expect(batches.length).toBeLessThan(90);
    expect(seen.filter((s) => s.routingKey === 'worker.online')).toHaveLength(1);
  });
});

describe('events at run time', () => {
  it('without -E only worker events are sent; enable_events and disable_events switch task events', async () => {
    const clock = new ManualClock(START);
    const app = newApp();
    const { events } = await listen(app, clock);
    const add = app.task('proj.add', (x: number, y: number) => x + y);
    await startWorker(app, { clock, taskEvents: false });

    const quiet = await add.delay(1, 1);
    await quiet.get({ timeout: 5 });
    expect(await app.control.broadcast('enable_events', {}, { reply: true, destination: ['w1@vm'] })).toEqual([{ 'w1@vm': { ok: 'task events enabled' } }]);
    expect(await app.control.broadcast('enable_events', {}, { reply: true, destination: ['w1@vm'] })).toEqual([{ 'w1@vm': { ok: 'task events already enabled' } }]);
    const loud = await add.delay(2, 2);
    await loud.get({ timeout: 5 });
    await waitFor(() => ofTask(events.items, loud.id).length === 3, { message: 'task events after enable_events' });
    expect(await app.control.broadcast('disable_events', {}, { reply: true, destination: ['w1@vm'] })).toEqual([{ 'w1@vm': { ok: 'task events disabled' } }]);
    expect(await app.control.broadcast('disable_events', {}, { reply: true, destination: ['w1@vm'] })).toEqual([{ 'w1@vm': { ok: 'task events already disabled' } }]);
    const quietAgain = await add.delay(3, 3);
    await quietAgain.get({ timeout: 5 });

    // The heartbeat command sends one now, and replies with nothing (Celery: None).
    expect(await app.control.broadcast('heartbeat', {}, { reply: true, destination: ['w1@vm'] })).toEqual([{ 'w1@vm': null }]);
    await waitFor(() => events.items.some((e) => e.type === 'worker-heartbeat'), { message: 'a heartbeat on request' });
    expect(ofTask(events.items, quiet.id)).toEqual([]);
    expect(ofTask(events.items, quietAgain.id)).toEqual([]);
    expect(types(events.items).filter((t) => t.startsWith('worker-'))).toEqual(['worker-online', 'worker-heartbeat']);
  });

  it('a receiver wakes workers with a heartbeat request when it connects', async () => {
    const clock = new ManualClock(START);
    const app = newApp();
    await startWorker(app, { clock });
    const seen = new Collector<string>();
    const receiver = await app.events.receiver({ 'worker-heartbeat': (e) => seen.push(e.hostname) });
    onCleanup(() => receiver.close());
    expect(await seen.atLeast(1)).toEqual(['w1@vm']);
  });
});

describe('task-sent and the whole life of a task', () => {
  it('a client with taskSendSentEvent sends task-sent; the State shows client, worker and every step', async () => {
    const clock = new ManualClock(START);
    const broker = new MemoryBroker();
    const workerApp = newApp({ broker });
    workerApp.task('proj.mul', (x: number, y: number) => x * y);
    const client = newApp({ broker, taskSendSentEvent: true });
    const { events, state } = await listen(client, clock);
    await startWorker(workerApp, { clock });
    const r = await client.sendTask('proj.mul', [6, 7], { queue: 'celery' });
    await waitFor(() => state.task(r.id)?.state === 'SUCCESS', { message: 'the task to succeed in the State' });
    expect(types(ofTask(events.items, r.id))).toEqual(['task-sent', 'task-received', 'task-started', 'task-succeeded']);
    expect(state.task(r.id)).toMatchObject({ client: expect.stringMatching(/^gen\d+@/), worker: 'w1@vm', name: 'proj.mul', args: '(6, 7)', result: '42', queue: 'celery', routingKey: 'celery' });
    expect(state.task(r.id)!.sent).toBeGreaterThan(0);
  });
});

describe('tasks accepted before the events step started', () => {
  it('are announced when it starts, so no task is missing from monitors', async () => {
    const clock = new ManualClock(START);
    const app = newApp();
    const { events } = await listen(app, clock);
    const gates: Array<() => void> = [];
    const slow = app.task('proj.slow', () => new Promise<void>((resolve) => gates.push(resolve)));
    // Waiting in the queue before the worker starts: the consumer takes them before user steps start.
    const results = await Promise.all([slow.delay(), slow.delay()]);
    await startWorker(app, { clock }, { concurrency: 1 });
    await waitFor(() => gates.length === 1, { message: 'the first task to run' });
    gates.shift()!();
    await waitFor(() => gates.length === 1, { message: 'the second task to run' });
    gates.shift()!();
    await Promise.all(results.map((r) => r.get({ timeout: 5 })));
    await waitFor(() => results.every((r) => ofTask(events.items, r.id).some((e) => e.type === 'task-succeeded')), { message: 'both task-succeeded' });
    expect(events.items[0]!.type).toBe('worker-online');
    for (const r of results) expect(types(ofTask(events.items, r.id))).toEqual(['task-received', 'task-started', 'task-succeeded']);
  });
});

describe('events without fanout', () => {
  it('the worker says events are unavailable and runs tasks anyway', async () => {
    const warnings: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (m: string) => void warnings.push(m) };
    const memory = new MemoryBroker();
    const broker: Broker = Object.assign(Object.create(memory) as MemoryBroker, { name: 'sqs', capabilities: { ...memory.capabilities, fanout: false } });
    const app = newApp({ broker, logger });
    const add = app.task('proj.add', (x: number, y: number) => x + y);
    const worker = new Worker(app, { logger, hostname: 'w1@vm', mingle: false, events: true });
    await worker.start();
    onCleanup(() => worker.stop({ timeout: 5 }));
    expect(await (await add.delay(1, 2)).get({ timeout: 5 })).toBe(3);
    expect(warnings.some((w) => /the sqs broker has no fanout exchanges: events are unavailable/.test(w))).toBe(true);
  });
});
