/**
 * Memory transport, async pool: enqueue rate and end-to-end rate (publish → run → result
 * stored → `get` resolved) for 100,000 no-op tasks, and peak RSS. Target (issue 14): ≥ 80,000
 * tasks/s end to end on a 2-core machine. Publishing all tasks at once queues nearly all of them
 * before the worker runs one (every `delay` reaches the in-process broker in the same turn), so the
 * peak holds that many messages: the suite prints how many, and the heap per task at that point.
 */
import { createApp, silentLogger } from '@tq/core';
import { Worker } from '@tq/worker';
import { heading, line, peakRssMb, perSecond } from '../report.js';

const TOTAL = Number(process.env['TQ_BENCH_TASKS'] ?? 100_000);

export async function run(): Promise<void> {
  heading(`memory transport, async pool, ${TOTAL.toLocaleString('en-US')} no-op tasks`);
  const app = createApp({ logger: silentLogger });
  const add = app.task('bench.add', (x: number, y: number) => x + y);
  const worker = new Worker(app, { concurrency: 100, logger: silentLogger });
  await worker.start();

  // Warm up the JIT so the figures describe steady state, not compilation.
  await Promise.all((await Promise.all(Array.from({ length: 5000 }, (_, i) => add.delay(i, i)))).map((r) => r.get()));

  const broker = await app.getBroker();
  const heapBefore = process.memoryUsage().heapUsed;
  const start = performance.now();
  const results = await Promise.all(Array.from({ length: TOTAL }, (_, i) => add.delay(i, i)));
  const published = performance.now();
  const queued = (await broker.queueLength?.('celery')) ?? 0;
  const heapAtPeak = process.memoryUsage().heapUsed;
  const values = await Promise.all(results.map((r) => r.get()));
  const done = performance.now();
  if (values[TOTAL - 1] !== (TOTAL - 1) * 2) throw new Error('wrong result');

  perSecond('enqueue (delay, all at once)', TOTAL, published - start);
  const e2e = perSecond('end to end (publish → get resolved)', TOTAL, done - start);
  line('queued when the last delay() resolved', `${queued.toLocaleString('en-US')} of ${TOTAL.toLocaleString('en-US')} (heap grown by ${Math.round((heapAtPeak - heapBefore) / TOTAL)} bytes/task, garbage included)`);
  line('peak RSS (after the sync run)', `${peakRssMb()} MB`);
  line('target ≥ 80,000 tasks/s end to end', e2e >= 80_000 ? 'met' : 'NOT met');

  // The same with an async body: its request follows it across awaits (AsyncLocalStorage), which
  // on Node 20 slows every promise in the process from then on (see core's current-request.ts).
  const addAsync = app.task('bench.add_async', async (x: number, y: number) => x + y);
  const asyncStart = performance.now();
  const asyncResults = await Promise.all(Array.from({ length: TOTAL }, (_, i) => addAsync.delay(i, i)));
  await Promise.all(asyncResults.map((r) => r.get()));
  perSecond('end to end, async task body', TOTAL, performance.now() - asyncStart);
  await worker.stop();
  await app.close();
}
