import { createEvent, decodeEventMessage, exceptionRepr, pyJsonDumps, type CeleryEvent, type RawMessage } from '@tq/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp, type App } from '../app.js';
import type { Broker } from '../broker.js';
import { silentLogger, type Logger } from '../logger.js';
import { MemoryBroker } from '../memory/memory-broker.js';
import { EVENT_EXCHANGE } from './dispatcher.js';
import type { ReceivedEvent } from './receiver.js';
import { State } from './state.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function newApp(config: Parameters<typeof createApp>[0] = {}): App {
  const app = createApp({ logger: silentLogger, ...config });
  cleanups.push(() => app.close());
  return app;
}

/** Every message published to celeryev, with its routing key, straight from the broker. */
async function tap(app: App): Promise<Array<{ routingKey: string; message: RawMessage }>> {
  const broker = await app.getBroker();
  const seen: Array<{ routingKey: string; message: RawMessage }> = [];
  const sub = await broker.subscribe!(EVENT_EXCHANGE, '#', (message, routingKey) => seen.push({ routingKey, message }), { exchangeType: 'topic' });
  cleanups.push(() => sub.close());
  return seen;
}

const until = async (check: () => boolean) => {
  for (let i = 0; i < 1000 && !check(); i++) await new Promise((r) => setImmediate(r));
  expect(check()).toBe(true);
};

describe('EventDispatcher', () => {
  it("publishes worker events at once, in Celery's field order, to the celeryev topic exchange", async () => {
    const app = newApp();
    const seen = await tap(app);
    const dispatcher = app.events.dispatcher({ hostname: 'w1@vm', pid: 9728, now: () => 1795474849387.0776 });
    await dispatcher.send('worker-heartbeat', { freq: 2.0, active: 0, processed: 3, loadavg: [0.1, 0.2, 0.3], sw_ident: 'py-celery', sw_ver: '5.2.6', sw_sys: 'Linux' });
    await until(() => seen.length === 1);
    const [{ routingKey, message }] = seen as [(typeof seen)[0]];
    expect(routingKey).toBe('worker.heartbeat');
    expect(message.headers).toEqual({ hostname: 'w1@vm' });
    expect(message.properties.delivery_mode).toBe(1);
    const [event] = decodeEventMessage(message);
    expect(Object.keys(event!)).toEqual(['hostname', 'utcoffset', 'pid', 'clock', 'freq', 'active', 'processed', 'loadavg', 'sw_ident', 'sw_ver', 'sw_sys', 'timestamp', 'type']);
    expect(event).toMatchObject({ hostname: 'w1@vm', pid: 9728, clock: 1, timestamp: 1795474849.3870776, type: 'worker-heartbeat' });
    await dispatcher.close();
  });

  it('batches buffered groups under task.multi, flushing on the next turn or at the limit', async () => {
    const app = newApp();
    const seen = await tap(app);
    const dispatcher = app.events.dispatcher({ hostname: 'w1@vm', bufferGroups: ['task'], bufferLimit: 3 });
    void dispatcher.send('task-received', { uuid: 'a' });
    void dispatcher.send('task-started', { uuid: 'a' });
    await until(() => seen.length === 1);
    expect(seen[0]!.routingKey).toBe('task.multi');
    expect(decodeEventMessage(seen[0]!.message).map((e) => e.type)).toEqual(['task-received', 'task-started']);
    // The limit flushes without waiting for the next turn.
    void dispatcher.send('task-received', { uuid: 'b' });
    void dispatcher.send('task-received', { uuid: 'c' });
    await dispatcher.send('task-received', { uuid: 'd' });
    await until(() => seen.length === 2);
    expect(decodeEventMessage(seen[1]!.message).map((e) => e['uuid'])).toEqual(['b', 'c', 'd']);
    // Clocks tick per event, in order.
    const clocks = seen.flatMap((s) => decodeEventMessage(s.message)).map((e) => e.clock);
    expect(clocks).toEqual([...clocks].sort((a, b) => a - b));
    await dispatcher.close();
  });

  it('sends only enabled groups, and groups can be switched at run time', async () => {
    const app = newApp();
    const seen = await tap(app);
    const dispatcher = app.events.dispatcher({ hostname: 'w', groups: ['worker'] });
    await dispatcher.send('task-started', { uuid: 'x' });
    expect(dispatcher.enableGroup('task')).toBe(true);
    expect(dispatcher.enableGroup('task')).toBe(false);
    await dispatcher.send('task-started', { uuid: 'y' });
    expect(dispatcher.disableGroup('task')).toBe(true);
    expect(dispatcher.disableGroup('task')).toBe(false);
    await dispatcher.send('task-started', { uuid: 'z' });
    await dispatcher.send('worker-heartbeat', {});
    await until(() => seen.length === 2);
    expect(seen.map((s) => decodeEventMessage(s.message)[0]!['uuid'] ?? s.routingKey)).toEqual(['y', 'worker.heartbeat']);
    await dispatcher.close();
  });

  it('says once that events are unavailable on a broker without fanout', async () => {
    const warnings: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (m: string) => void warnings.push(m) };
    const memory = new MemoryBroker();
    const broker: Broker = Object.assign(Object.create(memory) as MemoryBroker, { name: 'sqs', capabilities: { ...memory.capabilities, fanout: false } });
    const app = newApp({ broker, logger });
    const dispatcher = app.events.dispatcher({ hostname: 'w' });
    await dispatcher.send('worker-online', {});
    await dispatcher.send('worker-heartbeat', {});
    expect(warnings).toEqual([expect.stringMatching(/the sqs broker has no fanout exchanges, so events are unavailable/)]);
    expect(dispatcher.unavailableReason).toMatch(/no fanout/);
    await expect(app.events.receiver({})).rejects.toThrow(/events need a broker with fanout exchanges; the sqs broker has none/);
  });
});

describe('task-sent', () => {
  it('is published by the client when taskSendSentEvent is on, with Celery’s fields', async () => {
    const app = newApp({ taskSendSentEvent: true });
    const events: ReceivedEvent[] = [];
    const receiver = await app.events.receiver({ 'task-sent': (e) => events.push(e) }, { wakeup: false });
    const result = await app.sendTask('proj.add', [2, 3], { kwargs: { z: 1 }, countdown: 60, queue: 'math' });
    await until(() => events.length === 1);
    const [event] = events as [ReceivedEvent];
    expect(Object.keys(event)).toEqual([
      'hostname', 'utcoffset', 'pid', 'clock', 'uuid', 'root_id', 'parent_id', 'name', 'args', 'kwargs', 'retries', 'eta', 'expires', 'queue', 'exchange', 'routing_key', 'timestamp', 'type', 'local_received',
    ]);
    expect(event).toMatchObject({ uuid: result.id, root_id: result.id, parent_id: null, name: 'proj.add', args: '(2, 3)', kwargs: "{'z': 1}", retries: 0, expires: null, queue: 'math', exchange: '', routing_key: 'math', type: 'task-sent' });
    expect(event.hostname).toMatch(/^gen\d+@/);
    expect(typeof event.eta).toBe('string');
    await receiver.close();
  });

  it('is not sent by default', async () => {
    const app = newApp();
    const seen = await tap(app);
    await app.sendTask('proj.add', [1, 2]);
    await app.close();
    expect(seen).toEqual([]);
  });
});

describe('EventReceiver', () => {
  it('unpacks batches, dispatches by type or *, merges clocks and stamps local_received', async () => {
    const app = newApp();
    const byType: string[] = [];
    const rest: string[] = [];
    const receiver = await app.events.receiver(
      { 'task-succeeded': (e) => byType.push(String(e['uuid'])), '*': (e) => rest.push(e.type) },
      { wakeup: false, now: () => 1_000_000_000_000 },
    );
    const worker = app.events.dispatcher({ hostname: 'w1@vm', bufferGroups: ['task'] });
    app.clock.adjust(0);
    void worker.send('task-received', { uuid: 'a' });
    void worker.send('task-succeeded', { uuid: 'a', result: '5', runtime: 0.1 });
    await worker.send('worker-heartbeat', { freq: 2 });
    await worker.close();
    await until(() => byType.length + rest.length === 3);
    expect(byType).toEqual(['a']);
    expect(rest.sort()).toEqual(['task-received', 'worker-heartbeat']);
    await receiver.close();
  });

  it('replaces the clock of task-sent and shifts timestamps by the sender’s utcoffset, as Celery does', async () => {
    const app = newApp();
    const receiver = await app.events.receiver({}, { wakeup: false, now: () => 5000 });
    app.clock.adjust(41);
    const local = new Date().getTimezoneOffset() / 60;
    const sent = receiver.prepare(createEvent('task-sent', { hostname: 'gen1@c', pid: 1, clock: 999, utcoffset: Math.floor(local) - 2 }, { uuid: 'u' }, 1000));
    expect(sent.clock).toBe(42 - 1);
    expect(sent.timestamp).toBe(1000 + 2 * 3600);
    expect(sent.local_received).toBe(5);
    const other = receiver.prepare(createEvent('task-started', { hostname: 'w', pid: 1, clock: 100, utcoffset: Math.floor(local) }, { uuid: 'u' }, 1000));
    expect(other.timestamp).toBe(1000);
    expect(app.clock.current).toBe(101);
    await receiver.close();
  });

  it('wakes workers with a heartbeat broadcast when it starts', async () => {
    const app = newApp();
    const broker = await app.getBroker();
    const methods: string[] = [];
    const sub = await broker.subscribe!('celery.pidbox', '', (m) => methods.push(JSON.parse(new TextDecoder().decode(m.body)).method), { exchangeType: 'fanout' });
    const receiver = await app.events.receiver({});
    await until(() => methods.length === 1);
    expect(methods).toEqual(['heartbeat']);
    await receiver.close();
    await sub.close();
  });
});

describe('State', () => {
  const ev = (type: string, fields: Record<string, unknown>, ts: number, hostname = 'w1@vm', clock = 0): CeleryEvent & { local_received: number } =>
    ({ ...createEvent(type, { hostname, pid: 42, clock, utcoffset: 0 }, fields, ts), local_received: ts });

  it('folds task events into Celery states with timestamps, fields and runtime', () => {
    const state = new State({ now: () => 1010_000 });
    state.event(ev('task-sent', { uuid: 't1', name: 'proj.add', args: '(2, 3)', kwargs: '{}', retries: 0, queue: 'celery', exchange: '', routing_key: 'celery', root_id: 't1', parent_id: null }, 1000, 'gen1@client'));
    expect(state.task('t1')).toMatchObject({ state: 'PENDING', client: 'gen1@client', sent: 1000, queue: 'celery', routingKey: 'celery' });
    state.event(ev('task-received', { uuid: 't1', name: 'proj.add', args: '(2, 3)', kwargs: '{}', root_id: 't1', parent_id: null, retries: 0, eta: null, expires: null }, 1001));
    state.event(ev('task-started', { uuid: 't1' }, 1002));
    state.event(ev('task-succeeded', { uuid: 't1', result: '5', runtime: 0.5 }, 1003));
    const task = state.task('t1')!;
    expect(task).toMatchObject({ state: 'SUCCESS', name: 'proj.add', args: '(2, 3)', worker: 'w1@vm', received: 1001, started: 1002, succeeded: 1003, result: '5', runtime: 0.5, timestamp: 1003, rootId: 't1' });
    expect(task.ready).toBe(true);
    expect(task.asDict()).toMatchObject({ uuid: 't1', state: 'SUCCESS', routing_key: 'celery', root_id: 't1', children: [] });
    expect(state.taskCount).toBe(1);
    expect(state.counts()).toMatchObject({ events: 4, tasks: 1, received: 1, workers: 1, byState: { SUCCESS: 1 } });
  });

  it('never moves a task back when events arrive out of order, but keeps task-received’s fields', () => {
    const state = new State();
    state.event(ev('task-failed', { uuid: 't', exception: "ValueError('bad value 7')", traceback: 'Traceback…' }, 2000));
    state.event(ev('task-started', { uuid: 't' }, 1999));
    state.event(ev('task-received', { uuid: 't', name: 'proj.div', args: '(7,)', kwargs: '{}', retries: 1, eta: null, expires: null, root_id: 'r', parent_id: 'p', extra_field: 1 }, 1998));
    expect(state.task('t')).toMatchObject({ state: 'FAILURE', exception: "ValueError('bad value 7')", name: 'proj.div', args: '(7,)', retries: 1, rootId: 'r', parentId: 'p', received: 1998, started: 1999, failed: 2000, timestamp: 2000 });
    expect(state.task('t')!.extra).toEqual({});
    // RETRY always applies, whatever came before.
    state.event(ev('task-retried', { uuid: 't', exception: "KeyError('x')" }, 2001));
    expect(state.task('t')!.state).toBe('RETRY');
    state.event(ev('task-rejected', { uuid: 'r2', requeue: false }, 2002));
    expect(state.task('r2')).toMatchObject({ state: 'REJECTED', extra: { requeue: false } });
  });

  it('tracks worker liveness from heartbeats (alive while now < last + freq × 2)', () => {
    let now = 100_000;
    const state = new State({ now: () => now });
    const joined: string[] = [];
    const left: string[] = [];
    state.on('workerOnline', (w) => joined.push(w.hostname));
    state.on('workerOffline', (w, reason) => left.push(`${w.hostname}:${reason}`));
    state.event(ev('worker-online', { freq: 2, active: 0, processed: 0, loadavg: [0, 0, 0], sw_ident: 'py-celery', sw_ver: '0.1.0', sw_sys: 'Linux' }, 100));
    const worker = state.worker('w1@vm')!;
    expect(worker).toMatchObject({ alive: true, status: 'ONLINE', freq: 2, pid: 42, swIdent: 'py-celery', loadavg: [0, 0, 0] });
    expect(worker.heartbeatExpires).toBe(104);
    now = 103_900;
    expect(worker.alive).toBe(true);
    now = 104_000;
    expect(worker.alive).toBe(false);
    expect(state.sweep().map((w) => w.hostname)).toEqual(['w1@vm']);
    expect(state.sweep()).toEqual([]);
    state.event(ev('worker-heartbeat', { freq: 2, active: 3, processed: 10 }, 104.5));
    expect(worker).toMatchObject({ alive: true, active: 3, processed: 10 });
    // A task event counts as a sign of life.
    now = 108_000;
    state.event(ev('task-started', { uuid: 'z' }, 107));
    expect(worker.alive).toBe(true);
    expect(worker.heartbeats).toEqual([100, 104.5, 107]);
    state.event(ev('worker-offline', { freq: 2 }, 108));
    expect(worker.alive).toBe(false);
    expect(state.aliveWorkers()).toEqual([]);
    // An offline event from a worker never seen is not tracked.
    state.event(ev('worker-offline', {}, 108, 'ghost@vm'));
    expect(state.worker('ghost@vm')).toBeUndefined();
    expect(joined).toEqual(['w1@vm', 'w1@vm']);
    expect(left).toEqual(['w1@vm:heartbeat-expired', 'w1@vm:offline']);
  });

  it('links children to parents in either order, answers queries, and stays within its bounds', () => {
    const state = new State({ maxTasks: 3 });
    state.event(ev('task-received', { uuid: 'child', name: 'b', parent_id: 'parent', root_id: 'parent' }, 2));
    state.event(ev('task-received', { uuid: 'parent', name: 'a', parent_id: null, root_id: 'parent' }, 1, 'w2@vm'));
    state.event(ev('task-received', { uuid: 'child2', name: 'b', parent_id: 'parent', root_id: 'parent' }, 3));
    expect([...state.task('parent')!.children].sort()).toEqual(['child', 'child2']);
    state.event(ev('task-succeeded', { uuid: 'child', result: '1', runtime: 0 }, 4));
    expect(state.tasksByState('SUCCESS').map((t) => t.id)).toEqual(['child']);
    expect(state.tasksByWorker('w2@vm').map((t) => t.id)).toEqual(['parent']);
    expect(state.tasksByName('b').map((t) => t.id)).toEqual(['child', 'child2']);
    expect(state.queryTasks({ state: ['RECEIVED'], reverse: false }).map((t) => t.id)).toEqual(['parent', 'child2']);
    expect(state.tasksByTime(2).map((t) => t.id)).toEqual(['child', 'child2']);
    expect(state.taskNames()).toEqual(['a', 'b']);
    const changes: string[] = [];
    state.on('task', (task, event, created) => changes.push(`${task.id}:${event.type}:${created}`));
    state.event(ev('task-received', { uuid: 'late', name: 'c' }, 5));
    expect(changes).toEqual(['late:task-received:true']);
    // Four tasks seen, three kept: the least recently updated went.
    expect([...state.tasks.keys()]).toEqual(['child2', 'child', 'late']);
    state.clear();
    expect([...state.tasks.keys()]).toEqual(['child2', 'late']);
    state.clear(false);
    expect(state.counts()).toEqual({ events: 0, tasks: 0, received: 0, workers: 0, aliveWorkers: 0, byState: {} });
  });

  it("writes exceptions as Python's repr, as task-failed carries them", () => {
    class ValueError extends Error {
      override name = 'ValueError';
    }
    expect(exceptionRepr(new ValueError('bad value 7'))).toBe("ValueError('bad value 7')");
    expect(exceptionRepr(new Error('boom'))).toBe("Exception('boom')");
    expect(exceptionRepr({ excType: 'KeyError', excArgs: ['x', 1], message: '' })).toBe("KeyError('x', 1)");
    expect(exceptionRepr({ excType: 'StopIteration', excArgs: [], message: '' })).toBe('StopIteration()');
    expect(exceptionRepr('plain string')).toBe("Exception('plain string')");
  });

  it('round-trips the captured task-succeeded example through JSON', () => {
    const event = createEvent('task-succeeded', { hostname: 'w1@vm', pid: 9728, clock: 6, utcoffset: 0 }, { uuid: '1111', result: '5', runtime: 0.0243 }, 1795474849.3870776);
    expect(pyJsonDumps(event)).toBe('{"hostname": "w1@vm", "utcoffset": 0, "pid": 9728, "clock": 6, "uuid": "1111", "result": "5", "runtime": 0.0243, "timestamp": 1795474849.3870776, "type": "task-succeeded"}');
  });
});
