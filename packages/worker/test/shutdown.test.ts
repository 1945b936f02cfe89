/**
 * Shutdown with real child processes: a warm shutdown in the middle of work loses nothing (every
 * task is done or back in the queue), a cold one requeues acksLate work and records the rest as
 * lost; and autoscaling grows the pool under backlog and shrinks it after idle.
 */
import { waitFor } from '@tq/testing';
import { describe, expect, it } from 'vitest';
import { MemoryBroker, isTqError, silentLogger, type AsyncResult } from '@tq/core';
import { Worker } from '../src/index.js';
import { POOL_APP, newPoolApp, startWorker } from './helpers.js';

async function states(results: AsyncResult[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const r of results) {
    const state = await r.state();
    counts[state] = (counts[state] ?? 0) + 1;
  }
  return counts;
}

describe('shutdown of a process pool', () => {
  it('warm: running tasks finish, every other message goes back to the queue; nothing is lost', async () => {
    const app = newPoolApp();
    const broker = (await app.getBroker()) as MemoryBroker;
    const worker = new Worker(app, { pool: 'process', concurrency: 2, appModule: POOL_APP, logger: silentLogger, mingle: false, prefetchMultiplier: 2 });
    await worker.start();
    const results = await Promise.all(Array.from({ length: 12 }, () => app.sendTask('pool.sleep', [150])));
    await waitFor(async () => (await states(results))['SUCCESS'] === 2 && worker.active.size === 2, { message: 'two done and two running' });
    await worker.stop({ timeout: 10 });
    const counts = await states(results);
    const queued = await broker.queueLength('celery');
    expect(broker.unackedCount()).toBe(0);
    expect(counts['FAILURE'] ?? 0).toBe(0);
    // Done or back in the queue: every one of the twelve.
    expect((counts['SUCCESS'] ?? 0) + queued).toBe(12);
    expect(counts['SUCCESS']).toBeGreaterThanOrEqual(4);
    expect(counts['PENDING']).toBe(queued);
  });

  it('cold: acksLate tasks that were running go back to the queue; the others are recorded as lost', async () => {
    const app = newPoolApp();
    const broker = (await app.getBroker()) as MemoryBroker;
    const worker = new Worker(app, { pool: 'process', concurrency: 3, appModule: POOL_APP, logger: silentLogger, mingle: false, prefetchMultiplier: 2 });
    await worker.start();
    const late = await Promise.all([app.sendTask('pool.sleepLate', [30_000]), app.sendTask('pool.sleepLate', [30_000])]);
    const early = await app.sendTask('pool.sleep', [30_000]);
    await waitFor(() => worker.active.size === 3, { message: 'three running tasks' });
    const waiting = await Promise.all(Array.from({ length: 3 }, () => app.sendTask('pool.sleep', [1])));
    await waitFor(() => worker.reserved().length === 3, { message: 'three reserved tasks' });
    const started = Date.now();
    await worker.stop({ cold: true });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(broker.unackedCount()).toBe(0);
    // The two acksLate ones and the three waiting ones are in the queue again.
    expect(await broker.queueLength('celery')).toBe(5);
    expect(await states([...late, ...waiting])).toEqual({ PENDING: 5 });
    const lost = await early.get({ timeout: 5, propagate: false });
    expect(isTqError(lost, 'WORKER_LOST')).toBe(true);
  });

  it('cold shutdown of the async pool requeues acksLate work too', async () => {
    const app = newPoolApp();
    const broker = (await app.getBroker()) as MemoryBroker;
    const worker = new Worker(app, { concurrency: 2, logger: silentLogger, mingle: false });
    await worker.start();
    const late = await app.sendTask('pool.sleepLate', [30_000]);
    const early = await app.sendTask('pool.sleep', [30_000]);
    await waitFor(() => worker.active.size === 2, { message: 'two running tasks' });
    await worker.stop({ cold: true });
    expect(broker.unackedCount()).toBe(0);
    expect(await broker.queueLength('celery')).toBe(1);
    expect(await late.state()).toBe('PENDING');
    expect(isTqError(await early.get({ timeout: 5, propagate: false }), 'WORKER_LOST')).toBe(true);
  });
});

describe('autoscale', () => {
  it('grows the process pool under backlog and shrinks it after idle', async () => {
    const app = newPoolApp();
    const worker = await startWorker(app, { pool: 'process', appModule: POOL_APP, autoscale: [3, 1], autoscaleKeepalive: 0.5 });
    const processes = () => (worker.pool.info()['processes'] as number[]).length;
    expect(worker.pool.concurrency).toBe(1);
    expect(processes()).toBe(1);
    expect(worker.prefetchCount()).toBe(12);
    const results = await Promise.all(Array.from({ length: 6 }, () => app.sendTask<number>('pool.where', [])));
    const slow = await Promise.all(Array.from({ length: 6 }, () => app.sendTask('pool.sleep', [600])));
    await waitFor(() => worker.pool.concurrency === 3 && processes() === 3, { timeout: 15_000, message: 'the pool to grow to 3' });
    await Promise.all([...results, ...slow].map((r) => r.get({ timeout: 20 })));
    const pids = new Set((await Promise.all(results.map((r) => r.get()))).map((w) => (w as unknown as { pid: number }).pid));
    expect(pids.size).toBeGreaterThanOrEqual(1);
    await waitFor(() => worker.pool.concurrency === 1 && processes() === 1, { timeout: 15_000, message: 'the pool to shrink back to 1' });
  });
});
