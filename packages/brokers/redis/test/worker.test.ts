/**
 * A tq Worker on the Redis broker: an ETA task held past the visibility timeout runs once (the
 * worker touches what it holds), and a malformed envelope pushed straight into the queue is
 * dropped with a reason while the next task still runs.
 */
import { createApp, type App, type Logger } from '@tq/core';
import { uniqueName, waitFor } from '@tq/testing';
import { Worker } from '@tq/worker';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DB, deleteKeys, rawClient, redisUrl, uniquePrefix } from './helpers.js';

const prefix = uniquePrefix('worker');
const url = redisUrl(DB.broker);
let raw: Redis;
const cleanups: Array<() => Promise<void>> = [];

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = (m: string) => lines.push(m);
  return { lines, debug: log, info: log, warn: log, error: log };
}

async function start(options: { visibilityTimeout?: number; logger?: Logger } = {}): Promise<{ app: App; worker: Worker; queue: string; runs: Map<string, number> }> {
  const queue = uniqueName('wq');
  const logger = options.logger ?? recordingLogger();
  const app = createApp({
    broker: url,
    backend: redisUrl(DB.backend),
    brokerTransportOptions: { globalKeyprefix: prefix, visibilityTimeout: options.visibilityTimeout ?? 3600, unackedRestoreInterval: 0.25 },
    resultBackendTransportOptions: { globalKeyprefix: prefix },
    taskDefaultQueue: queue,
    logger,
  });
  const runs = new Map<string, number>();
  app.task({ name: 'w.count', bind: true }, (request, value: number) => {
    runs.set(request.id, (runs.get(request.id) ?? 0) + 1);
    return value;
  });
  const worker = new Worker(app, { queues: [queue], concurrency: 4, logger, mingle: false, hostname: `w-${queue}@%h` });
  await worker.start();
  cleanups.push(async () => {
    await worker.stop({ timeout: 5 });
    await app.close();
  });
  return { app, worker, queue, runs };
}

beforeAll(() => {
  raw = rawClient(DB.broker);
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

afterAll(async () => {
  raw.disconnect();
  await deleteKeys(DB.broker, `${prefix}*`);
  await deleteKeys(DB.backend, `${prefix}*`);
});

describe('tq Worker on Redis', () => {
  it('runs an ETA task held past the visibility timeout exactly once', { timeout: 30_000 }, async () => {
    const { app, queue, runs } = await start({ visibilityTimeout: 2 });
    const result = await app.sendTask<number>('w.count', [7], { countdown: 5 });
    // Held by the worker: out of the list, in unacked, for longer than the visibility timeout.
    await waitFor(async () => (await raw.hlen(`${prefix}unacked`)) === 1, { message: 'the task to be held' });
    expect(await result.get({ timeout: 20 })).toBe(7);
    await waitFor(async () => (await raw.hlen(`${prefix}unacked`)) === 0, { message: 'nothing left unacknowledged' });
    expect(await raw.llen(`${prefix}${queue}`)).toBe(0);
    expect(runs.get(result.id)).toBe(1);
  });

  it('drops a malformed envelope with a logged reason and runs the next task', async () => {
    const logger = recordingLogger();
    const { app, queue } = await start({ logger });
    await raw.lpush(`${prefix}${queue}`, 'definitely {not} an envelope');
    const result = await app.sendTask<number>('w.count', [11]);
    expect(await result.get({ timeout: 10 })).toBe(11);
    expect(logger.lines.find((l) => l.includes('dropped a message') && l.includes(queue))).toMatch(/invalid JSON/);
  });
});
