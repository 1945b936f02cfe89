import { describe, expect, it } from 'vitest';
import { batchTask, type BatchCall } from './batch.js';
import { createApp } from './app.js';
import { flowStoreSource } from './flow.js';
import { silentLogger } from './logger.js';

const REDIS = 'redis://127.0.0.1:6379/3';

describe('flow-control options', () => {
  it('take the shared store from flowStore, else a Redis backend, else a Redis broker', () => {
    expect(flowStoreSource(createApp({ logger: silentLogger }))).toBeNull();
    expect(flowStoreSource(createApp({ broker: 'amqp://h', backend: 'mongodb://h/db', logger: silentLogger }))).toBeNull();
    expect(flowStoreSource(createApp({ broker: 'amqp://h', backend: REDIS, logger: silentLogger }))).toBe(REDIS);
    expect(flowStoreSource(createApp({ broker: 'redis://b/0', backend: 'redis://r/1', logger: silentLogger }))).toBe('redis://r/1');
    expect(flowStoreSource(createApp({ broker: 'redis://b/0', backend: null, logger: silentLogger }))).toBe('redis://b/0');
    expect(flowStoreSource(createApp({ broker: 'sqs://', flowStore: REDIS, logger: silentLogger }))).toBe(REDIS);
  });

  it('refuse combinations that cannot mean anything, naming the fix', () => {
    const app = createApp({ broker: REDIS, logger: silentLogger });
    expect(() => app.task({ name: 'a', rateLimit: '5/s', rateLimitKey: () => 'k' }, () => 1)).toThrow(/rateLimitKey needs rateLimit: \{ rate, scope: 'global' \}/);
    expect(() => app.task({ name: 'b', concurrencyKey: () => 'k' }, () => 1)).toThrow(/concurrencyKey needs concurrencyLimit/);
    expect(() => app.task({ name: 'c', concurrencyLimit: 0 }, () => 1)).toThrow(/positive integer/);
    expect(() => app.task({ name: 'd', dedup: { ttl: 5 } }, () => 1)).toThrow(/dedup needs dedupKey/);
    expect(() => app.task({ name: 'e', batch: { size: 0 } }, () => 1)).toThrow(/batch.size/);
    expect(() => app.task({ name: 'f', rateLimit: { rate: 0, scope: 'global' } }, () => 1)).toThrow(/above 0/);
  });

  it('leave tasks without them exactly as before, and keep worker-scope limits Celery-shaped', () => {
    const app = createApp({ logger: silentLogger });
    expect(app.task('plain', () => 1).options.flow).toBeNull();
    const worker = app.task({ name: 'w', rateLimit: { rate: '10/m' } }, () => 1);
    expect(worker.options.rateLimit).toBe('10/m');
    expect(worker.options.flow).toBeNull();
    const global = createApp({ broker: REDIS, logger: silentLogger }).task({ name: 'g', rateLimit: { rate: '100/m', scope: 'global' } }, () => 1);
    // The global limit is not applied per worker too, and `inspect registered` shows no per-worker rate.
    expect(global.options.rateLimit).toBeNull();
    expect(global.options.flow).toMatchObject({ rate: 100 / 60, burst: 1 });
  });
});

describe('batch tasks', () => {
  it('run the body once for the calls that arrive together, each call getting its own value', async () => {
    const app = createApp({ logger: silentLogger });
    const sizes: number[] = [];
    const double = batchTask(app, { name: 'double', batch: { size: 3, wait: 5 } }, (calls: BatchCall<[number]>[]) => {
      sizes.push(calls.length);
      return calls.map((call) => (call.args[0] < 0 ? new RangeError(`negative: ${call.args[0]}`) : call.args[0] * 2));
    });
    const results = await Promise.all([double.apply([1]), double.apply([2]), double.apply([-1])]);
    expect(sizes).toEqual([3]);
    expect(await results[0]!.get()).toBe(2);
    expect(await results[1]!.get()).toBe(4);
    await expect(results[2]!.get()).rejects.toThrow(/negative: -1/);
    expect(new Set(results.map((r) => r.id)).size).toBe(3);
  });

  it('run what arrived within wait when fewer than size came', async () => {
    const app = createApp({ logger: silentLogger });
    const one = batchTask(app, { name: 'one', batch: { size: 10, wait: 0.05 } }, (calls: BatchCall<[string]>[]) => calls.map((c) => `${c.args[0]}/${calls.length}`));
    expect(await (await one.apply(['x'])).get()).toBe('x/1');
  });
});
