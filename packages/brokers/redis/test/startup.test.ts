/**
 * A worker started before its Redis (a container that comes up first, a server being restarted)
 * waits for it, as Celery's `broker_connection_retry_on_startup` does, and then consumes; while it
 * waits it can be stopped at once; an error that waiting cannot fix ends the start at once.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createApp, isTqError, type AppConfig } from '@tq/core';
import { freePort, recordingLogger, uniqueName, waitFor } from '@tq/testing';
import { Worker } from '@tq/worker';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisBroker } from '../src/redis-broker.js';
import { DB, PrivateRedis, redisUrl } from './helpers.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

function appOn(url: string, config: AppConfig = {}) {
  const logger = recordingLogger();
  const app = createApp({ broker: url, backend: url, taskDefaultQueue: uniqueName('startup'), logger, ...config });
  const add = app.task('startup.add', (x: number, y: number) => x + y);
  cleanups.push(() => app.close());
  return { app, add, logger };
}

/** A server that accepts connections and never answers (a hung Redis, a black-holing proxy). */
async function silentServer(): Promise<Server> {
  const held: Socket[] = [];
  const server = createServer((socket) => void held.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return server;
}

const retries = (logger: ReturnType<typeof recordingLogger>) => logger.lines.filter((l) => l.level === 'error' && /Trying again in/.test(l.message));

describe('a worker whose Redis is not up yet', () => {
  it('logs each attempt, connects once Redis is up, and then runs tasks', async () => {
    const redis = new PrivateRedis();
    redis.port = await freePort();
    cleanups.push(() => redis.close());
    const { app, add, logger } = appOn(redis.url);
    const worker = new Worker(app, { logger, mingle: false });
    cleanups.push(() => worker.stop({ timeout: 5 }));
    const started = worker.start();

    await waitFor(() => retries(logger).length >= 1, { message: 'the first retry to be logged' });
    expect(retries(logger)[0]!.message).toBe(`[broker-redis] cannot connect to ${redis.url}: ECONNREFUSED. Is Redis running? Trying again in 2 s (1/100)`);
    expect(worker.state).toBe('starting');

    await redis.start();
    await started;
    expect(worker.state).toBe('running');
    expect(logger.lines.some((l) => /connected to the broker \(redis\) after \d+ retr/.test(l.message))).toBe(true);
    const result = await add.delay(2, 3);
    expect(await result.get({ timeout: 10 })).toBe(5);
  });

  it('stops at once when asked to while it waits', async () => {
    const { app, logger } = appOn(`redis://127.0.0.1:${await freePort()}/0`);
    const worker = new Worker(app, { logger, mingle: false });
    const started = worker.start().catch((e: unknown) => e);
    await waitFor(() => retries(logger).length >= 1, { message: 'the first retry to be logged' });

    const t0 = Date.now();
    await worker.stop();
    expect(Date.now() - t0).toBeLessThan(1000); // not the 2 s wait, nor the 100 retries
    expect(worker.state).toBe('stopped');
    expect(((await started) as Error).message).toMatch(/stopped while it waited for the broker/);
    expect(retries(logger)).toHaveLength(1);
  });

  it('stops at once even in the middle of an attempt that would take the whole connect timeout', async () => {
    // The attempt would wait out ioredis' connect timeout (10 s).
    const silent = await silentServer();
    const connected = new Promise((resolve) => silent.once('connection', resolve));
    const { app, logger } = appOn(`redis://127.0.0.1:${(silent.address() as { port: number }).port}/0`);
    const worker = new Worker(app, { logger, mingle: false });
    const started = worker.start().catch((e: unknown) => e);
    await connected;

    const t0 = Date.now();
    await worker.stop();
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(isTqError(await started, 'START_ABORTED')).toBe(true);
    expect(worker.state).toBe('stopped');
    expect(logger.lines.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('reports a server that accepts but never answers as a retryable timeout', async () => {
    const silent = await silentServer();
    const broker = new RedisBroker(`redis://127.0.0.1:${(silent.address() as { port: number }).port}/0`, { redisOptions: { connectTimeout: 300 } });
    cleanups.push(() => broker.close());
    const error = await broker.connect().catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/cannot connect to redis:\/\/127\.0\.0\.1:\d+\/0: ETIMEDOUT\. Is Redis reachable from here\?$/);
    expect(isTqError(error, 'BROKER_ERROR') && (error as { retryable: boolean }).retryable).toBe(true);
  });

  it('fails at once with brokerConnectionRetryOnStartup: false, or when the password is wrong', async () => {
    const closed = `redis://127.0.0.1:${await freePort()}/0`;
    const { app, logger } = appOn(closed, { brokerConnectionRetryOnStartup: false });
    const refused = await new Worker(app, { logger, mingle: false }).start().catch((e: unknown) => e);
    expect(isTqError(refused, 'BROKER_ERROR')).toBe(true);
    expect((refused as Error).message).toMatch(/ECONNREFUSED\. Is Redis running\?$/);
    expect(retries(logger)).toHaveLength(0);

    const guarded = new PrivateRedis(['--requirepass', 'right']);
    cleanups.push(() => guarded.close());
    await guarded.start();
    const wrong = appOn(`redis://:wrong@127.0.0.1:${guarded.port}/0`);
    const denied = await new Worker(wrong.app, { logger: wrong.logger, mingle: false }).start().catch((e: unknown) => e);
    expect((denied as Error).message).toMatch(/WRONGPASS.*Check the user name and password in the URL/);
    expect(retries(wrong.logger)).toHaveLength(0);
  });
});

describe('a worker whose result backend is not up yet', () => {
  it('waits for it as for the broker, then runs tasks and stores their results', async () => {
    const backend = new PrivateRedis();
    backend.port = await freePort();
    cleanups.push(() => backend.close());
    const logger = recordingLogger();
    const app = createApp({ broker: redisUrl(DB.broker), backend: backend.url, taskDefaultQueue: uniqueName('startup'), logger });
    cleanups.push(() => app.close());
    const add = app.task('startup.add', (x: number, y: number) => x + y);
    const worker = new Worker(app, { logger, mingle: false });
    cleanups.push(() => worker.stop({ timeout: 5 }));
    const started = worker.start();

    await waitFor(() => retries(logger).length >= 1, { message: 'the first retry to be logged' });
    expect(retries(logger)[0]!.message).toMatch(/result backend cannot connect to .*ECONNREFUSED.*Trying again in 2 s \(1\/100\)/);
    expect(worker.state).toBe('starting');

    await backend.start();
    await started;
    expect(worker.state).toBe('running');
    expect(logger.lines.some((l) => /connected to the result backend \(redis\) after \d+ retr/.test(l.message))).toBe(true);
    expect(await (await add.delay(4, 5)).get({ timeout: 10 })).toBe(9);
  });
});
