import { pyIsoDatetime } from '@tq/protocol';
import { describe, expect, it } from 'vitest';
import { AdapterMissingError, isTqError } from '../src/index.js';
import { newApp, nextMessage } from './helpers.js';


describe('calling a task sends a Celery protocol v2 message', () => {
  it('delay: headers, properties and body as Python Celery writes them', async () => {
    const app = newApp();
    const add = app.task('tasks.add', (x: number, y: number) => x + y);
    const result = await add.delay(2, 3);
    const { message, delivery } = await nextMessage(app);
    expect(Object.keys(message.headers).slice(0, 16)).toEqual([
      'lang', 'task', 'id', 'shadow', 'eta', 'expires', 'group', 'group_index', 'retries', 'timelimit', 'root_id',
      'parent_id', 'argsrepr', 'kwargsrepr', 'origin', 'ignore_result',
    ]);
    expect(message.headers).toMatchObject({
      lang: 'py', task: 'tasks.add', id: result.id, root_id: result.id, parent_id: null, retries: 0,
      argsrepr: '(2, 3)', kwargsrepr: '{}', timelimit: [null, null], ignore_result: false,
    });
    expect(message.headers.origin).toMatch(/^gen\d+@/);
    expect(message.properties).toMatchObject({ correlation_id: result.id, reply_to: app.oid, delivery_mode: 2 });
    expect(message.args).toEqual([2, 3]);
    expect(message.embed).toEqual({ callbacks: null, errbacks: null, chain: null, chord: null });
    expect(delivery.info).toMatchObject({ exchange: '', routingKey: 'celery' });
  });

  it('applyAsync: countdown becomes an aware-UTC eta, expires an expiry and a broker TTL, priority and headers pass', async () => {
    const app = newApp();
    const add = app.task('tasks.add', (x: number, y: number) => x + y);
    const before = Date.now();
    await add.applyAsync([1, 2], { countdown: 0.2, expires: 60, priority: 5, headers: { tenant: 'acme' }, shadow: 'add(1,2)', timeLimit: 30, softTimeLimit: '25s' });
    const { message } = await nextMessage(app);
    const eta = new Date(message.headers.eta!).getTime();
    expect(eta).toBeGreaterThanOrEqual(before + 200);
    expect(message.headers.eta).toMatch(/\+00:00$/);
    expect(new Date(message.headers.expires!).getTime() - before).toBeGreaterThanOrEqual(59_000);
    expect(Number(message.properties.expiration)).toBeGreaterThan(59_000);
    expect(message.properties.priority).toBe(5);
    expect(message.headers['tenant']).toBe('acme');
    expect(message.headers.shadow).toBe('add(1,2)');
    expect(message.headers.timelimit).toEqual([30, 25]);
    // The memory broker holds the message until its eta: it arrived no earlier.
    expect(Date.now()).toBeGreaterThanOrEqual(eta);
  });

  it('an eta Date or ISO string is sent as given', async () => {
    const app = newApp();
    const add = app.task('tasks.add', (x: number, y: number) => x + y);
    const eta = new Date(Date.now() - 1000);
    await add.applyAsync([1, 2], { eta });
    expect((await nextMessage(app)).message.headers.eta).toBe(pyIsoDatetime(eta));
  });

  it('link and linkError travel as signature dicts in the embed', async () => {
    const app = newApp();
    const add = app.task('tasks.add', (x: number, y: number) => x + y);
    const report = app.task('tasks.report', (id: string) => id);
    await add.applyAsync([1, 2], { link: add.s(10), linkError: report.si('x') });
    const { message } = await nextMessage(app);
    expect(message.embed.callbacks).toEqual([{ task: 'tasks.add', args: [10], kwargs: {}, options: {}, subtask_type: null, immutable: false }]);
    expect(message.embed.errbacks).toEqual([{ task: 'tasks.report', args: ['x'], kwargs: {}, options: {}, subtask_type: null, immutable: true }]);
  });

  it('sendTask sends by name without the task being known here', async () => {
    const app = newApp();
    const r = await app.sendTask('py.add', [2, 3], { kwargs: { z: 1 }, queue: 'python' });
    const { message } = await nextMessage(app, 'python');
    expect(message.headers.task).toBe('py.add');
    expect(message.headers.id).toBe(r.id);
    expect(message.kwargs).toEqual({ z: 1 });
  });

  it('routes by taskRoutes and by the task queue option; explicit queue wins', async () => {
    const app = newApp({ taskRoutes: { 'media.*': { queue: 'media' } } });
    const resize = app.task('media.resize', (w: number) => w);
    const slow = app.task({ name: 'tasks.slow', queue: 'slow' }, () => 1);
    await resize.delay(100);
    expect((await nextMessage(app, 'media')).message.headers.task).toBe('media.resize');
    await slow.delay();
    expect((await nextMessage(app, 'slow')).message.headers.task).toBe('tasks.slow');
    await slow.applyAsync([], { queue: 'urgent' });
    expect((await nextMessage(app, 'urgent')).message.headers.task).toBe('tasks.slow');
  });

  it('compression and msgpack are applied and named as Celery names them', async () => {
    const app = newApp();
    const echo = app.task('tasks.echo', (s: string) => s);
    await echo.applyAsync(['x'.repeat(1000)], { compression: 'gzip', serializer: 'msgpack' });
    const broker = await app.getBroker();
    const raw = await new Promise<{ headers: Record<string, unknown>; contentType: string }>((resolve) => {
      void broker.consume([app.router.queue('celery')], (d) => resolve(d.message), { prefetch: 1 });
    });
    expect(raw.headers['compression']).toBe('application/x-gzip');
    expect(raw.contentType).toBe('application/x-msgpack');
  });

  it('arguments that cannot be encoded fail at the call with a clear error', async () => {
    const app = newApp();
    const echo = app.task('tasks.echo', (v: unknown) => v);
    const err = await echo.delay(Symbol('x') as unknown).catch((e: unknown) => e);
    expect(isTqError(err, 'ENCODE_ERROR')).toBe(true);
    expect(String((err as Error).message)).toMatch(/cannot encode the arguments of tasks.echo/);
  });
});

describe('sending many tasks in one call', () => {
  it('applyAsyncMany sends one message per argument list, in order, with the shared options', async () => {
    const app = newApp();
    const add = app.task('tasks.add', (x: number, y: number) => x + y);
    const results = await add.applyAsyncMany([[1, 2], [3, 4], [5, 6]], { queue: 'bulk', priority: 3 });
    expect(new Set(results.map((r) => r.id)).size).toBe(3);
    for (const [i, expected] of [[1, 2], [3, 4], [5, 6]].entries()) {
      const { message } = await nextMessage(app, 'bulk');
      expect(message.args).toEqual(expected);
      expect(message.headers.id).toBe(results[i]!.id);
      expect(message.properties.priority).toBe(3);
    }
  });

  it('sendTasks mixes task names and options per call', async () => {
    const app = newApp();
    const [a, b] = await app.sendTasks([
      { name: 'tasks.one', args: [1] },
      { name: 'tasks.two', options: { queue: 'other', kwargs: { k: 'v' } } },
    ]);
    expect((await nextMessage(app)).message.headers).toMatchObject({ task: 'tasks.one', id: a!.id });
    const second = (await nextMessage(app, 'other')).message;
    expect(second.headers).toMatchObject({ task: 'tasks.two', id: b!.id });
    expect(second.kwargs).toEqual({ k: 'v' });
  });

  it('an argument that cannot be encoded rejects the whole call before anything is sent', async () => {
    const app = newApp();
    const echo = app.task('tasks.echo', (x: unknown) => x);
    await expect(echo.applyAsyncMany([[1], [Symbol('x') as unknown]])).rejects.toThrow(/cannot encode the arguments of tasks.echo/);
    expect(await (await app.getBroker()).queueLength!('celery')).toBe(0);
    await expect(echo.applyAsyncMany([[1]], { taskId: 'same' })).rejects.toThrow(/taskId/);
  });
});

describe('transports by URL', () => {
  it('names the package to install when an adapter is missing', async () => {
    const app = newApp({ broker: 'kafka://127.0.0.1:9092', transports: { kafka: '@example/tq-broker-kafka' } });
    const err = await app.getBroker().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AdapterMissingError);
    expect((err as Error).message).toMatch(/npm install @example\/tq-broker-kafka/);
  });

  it('loads an adapter published outside this repo by the scheme the app maps to it', async () => {
    // The Redis adapter under another scheme stands in for a third-party package: it is loaded,
    // and it is the one that refuses the URL.
    const app = newApp({ broker: 'myredis://127.0.0.1:1/0', transports: { myredis: '@tq/broker-redis' } });
    const err = await app.getBroker().catch((e: unknown) => e);
    expect(String((err as Error).message)).toMatch(/"myredis:\/\/127.0.0.1:1\/0" is not a Redis URL/);
  });

  it('rejects an unknown scheme and a non-URL', async () => {
    expect(await newApp({ broker: 'kafka://x' }).getBroker().catch((e: Error) => e.message)).toMatch(/no transport for kafka/);
    expect(await newApp({ broker: 'localhost' }).getBroker().catch((e: Error) => e.message)).toMatch(/not a transport URL/);
  });

  it('has no result backend by default on a networked broker, and says so', async () => {
    const app = newApp({ broker: 'redis://127.0.0.1:1/0', backend: null });
    const err = await app.asyncResult('x').get().catch((e: Error) => e);
    expect(isTqError(err, 'CONFIGURATION_ERROR')).toBe(true);
    expect((err as Error).message).toMatch(/needs a result backend/);
  });
});
