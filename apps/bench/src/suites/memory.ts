/**
 * Memory transport, async pool: enqueue rate and end-to-end rate (publish → run → result
 * stored → `get` resolved) for 100,000 no-op tasks, and memory. Target (issue 14): ≥ 80,000
 * tasks/s end to end on a 2-core machine, peak RSS flat in the number of tasks.
 *
 * Two workloads:
 * - burst: all 100,000 `delay` calls at once. Every call reaches the in-process broker in the
 *   same turn, before the worker runs one, so the peak holds that many messages: the suite prints
 *   how many, and the heap per task at that point.
 * - steady: 1,000 callers, each awaiting `delay` then `get` before its next call (a producer that
 *   keeps pace). Memory is measured after a full garbage collection at two sizes, so what stays
 *   per finished task is visible: the results the backend keeps until `resultExpires`.
 *
 * Last, untimed: one more burst with a full collection at its peak, for the live heap per queued
 * task (the burst's peak RSS is mostly garbage not yet collected).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createApp, silentLogger } from '@tq/core';
import { Worker } from '@tq/worker';
import { heading, line, peakRssMb, perSecond } from '../report.js';

const TOTAL = Number(process.env['TQ_BENCH_TASKS'] ?? 100_000);
const IN_FLIGHT = 1000;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapAfterGc(): number {
  gc();
  return process.memoryUsage().heapUsed;
}

export async function run(): Promise<void> {
  heading(`memory transport, async pool, ${TOTAL.toLocaleString('en-US')} no-op tasks`);
  const app = createApp({ logger: silentLogger });
  const add = app.task('bench.add', (x: number, y: number) => x + y);
  const worker = new Worker(app, { concurrency: 100, logger: silentLogger });
  await worker.start();

  /** `count` tasks from IN_FLIGHT callers that each wait for their result before the next call. */
  const steady = async (count: number): Promise<number> => {
    let next = 0;
    const caller = async () => {
      while (next < count) {
        const i = next++;
        if ((await (await add.delay(i, i)).get()) !== i * 2) throw new Error('wrong result');
      }
    };
    const start = performance.now();
    await Promise.all(Array.from({ length: IN_FLIGHT }, caller));
    return performance.now() - start;
  };

  // Warm up the JIT so the figures describe steady state, not compilation.
  await Promise.all((await Promise.all(Array.from({ length: 5000 }, (_, i) => add.delay(i, i)))).map((r) => r.get()));
  await steady(20_000);

  line('burst: all delay() calls at once', '');
  const broker = await app.getBroker();
  const heapBefore = process.memoryUsage().heapUsed;
  const burstCpu = process.cpuUsage();
  const start = performance.now();
  const results = await Promise.all(Array.from({ length: TOTAL }, (_, i) => add.delay(i, i)));
  const published = performance.now();
  const queued = (await broker.queueLength?.('celery')) ?? 0;
  const heapAtPeak = process.memoryUsage().heapUsed;
  const values = await Promise.all(results.map((r) => r.get()));
  const done = performance.now();
  const burstUsed = process.cpuUsage(burstCpu);
  if (values[TOTAL - 1] !== (TOTAL - 1) * 2) throw new Error('wrong result');

  perSecond('  enqueue (delay, all at once)', TOTAL, published - start);
  const burst = perSecond('  end to end (publish → get resolved)', TOTAL, done - start);
  line('  CPU per task (all threads)', `${((burstUsed.user + burstUsed.system) / TOTAL).toFixed(1)} µs`);
  line('  queued when the last delay() resolved', `${queued.toLocaleString('en-US')} of ${TOTAL.toLocaleString('en-US')} (heap grown by ${Math.round((heapAtPeak - heapBefore) / TOTAL)} bytes/task, garbage included)`);
  line('  peak RSS (after the burst)', `${peakRssMb()} MB`);
  results.length = 0;
  values.length = 0;

  line(`steady: ${IN_FLIGHT.toLocaleString('en-US')} callers, each awaiting its result`, '');
  const backend = (await app.getBackend()) as unknown as { size(): number };
  const keptBefore = backend.size();
  const heap0 = heapAfterGc();
  const cpu0 = process.cpuUsage();
  const steadyMs = await steady(TOTAL);
  const cpu = process.cpuUsage(cpu0);
  const heap1 = heapAfterGc();
  const steadyRate = perSecond('  end to end', TOTAL, steadyMs);
  line('  CPU per task (all threads)', `${((cpu.user + cpu.system) / TOTAL).toFixed(1)} µs`);
  await steady(TOTAL);
  const heap2 = heapAfterGc();
  const kept = backend.size() - keptBefore;
  line('  heap kept per finished task, after GC', `${Math.round((heap1 - heap0) / TOTAL)} B for the first ${TOTAL.toLocaleString('en-US')}, ${Math.round((heap2 - heap1) / TOTAL)} B for the next (${kept.toLocaleString('en-US')} results kept by the backend for resultExpires)`);
  line('  peak RSS (the whole suite so far)', `${peakRssMb()} MB`);
  line('target ≥ 80,000 tasks/s end to end', `burst ${burst >= 80_000 ? 'met' : 'NOT met'}, steady ${steadyRate >= 80_000 ? 'met' : 'NOT met'}`);

  // The same with an async body: its request follows it across awaits (AsyncLocalStorage), which
  // on Node 20 slows every promise in the process from then on (see core's current-request.ts).
  const addAsync = app.task('bench.add_async', async (x: number, y: number) => x + y);
  const asyncStart = performance.now();
  const asyncResults = await Promise.all(Array.from({ length: TOTAL }, (_, i) => addAsync.delay(i, i)));
  await Promise.all(asyncResults.map((r) => r.get()));
  perSecond('burst, async task body', TOTAL, performance.now() - asyncStart);

  // What a queued task holds, apart from garbage: the burst's peak RSS is mostly garbage V8 has
  // not collected yet. Untimed, since the full collections would change the figures above.
  const liveBefore = heapAfterGc();
  const queuedResults = await Promise.all(Array.from({ length: TOTAL }, (_, i) => add.delay(i, i)));
  const liveAtPeak = heapAfterGc();
  const queuedNow = (await broker.queueLength?.('celery')) ?? 0;
  await Promise.all(queuedResults.map((r) => r.get()));
  line('live heap per queued task, after GC', `${Math.round((liveAtPeak - liveBefore) / TOTAL)} B (${queuedNow.toLocaleString('en-US')} queued; the message, its AsyncResult, and the burst's own arrays)`);
  await worker.stop();
  await app.close();
}
