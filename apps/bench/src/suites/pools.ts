/**
 * Pools on the memory transport: end-to-end throughput (publish → run → result stored → `get`
 * resolved) of no-op tasks in each pool, and each pool's cost per task over the async pool's
 * (1/rate − 1/rate_async), and the CPU time each task took (the worker's process, its threads,
 * and its child processes). Child pools start their children from the compiled bench app
 * (dist/pool-app.js) and talk to the worker's memory transport through its IPC proxy; they run
 * with the default window (a child holds only the job it runs) and with a window (`workerPoolWindow`, 4 unless TQ_BENCH_POOL_WINDOW says otherwise).
 *
 *   npm run bench -- pools          (TQ_BENCH_POOL_TASKS=20000, TQ_BENCH_POOL_WINDOW=4 by default)
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { silentLogger, type App } from '@tq/core';
import { Worker, type PoolKind } from '@tq/worker';
import { createBenchApp } from '../pool-app.js';
import { heading, line, peakRssMb, perSecond } from '../report.js';

const TOTAL = Number(process.env['TQ_BENCH_POOL_TASKS'] ?? 20_000);
const APP_MODULE = fileURLToPath(new URL('../pool-app.js', import.meta.url));
const CPUS = availableParallelism();
const WINDOW = Number(process.env['TQ_BENCH_POOL_WINDOW'] ?? 4);

interface Run {
  pool: PoolKind;
  concurrency: number;
  /** The app's workerPoolWindow (child pools); the default when absent. */
  window?: number;
}

const label = (r: Run) => `${r.pool}, concurrency ${r.concurrency}${r.window ? `, window ${r.window}` : ''}`;

/** CPU seconds used so far by this process (its threads included) and by the given child processes (Linux /proc). */
function cpuSeconds(pids: number[]): number {
  const own = process.cpuUsage();
  let total = (own.user + own.system) / 1e6;
  for (const pid of pids) {
    try {
      // Fields after the command name: utime and stime are the 12th and 13th, in clock ticks (100 per second).
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      total += (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      return Number.NaN;
    }
  }
  return total;
}

async function measure(app: App, count: number): Promise<number> {
  const start = performance.now();
  const results = await Promise.all(Array.from({ length: count }, (_, i) => app.sendTask('bench.add', [i, i])));
  const values = await Promise.all(results.map((r) => r.get({ timeout: 300 })));
  const ms = performance.now() - start;
  if (values[count - 1] !== (count - 1) * 2) throw new Error('wrong result');
  return ms;
}

async function bench(run: Run, report = true): Promise<number> {
  const { pool, concurrency, window } = run;
  const app = createBenchApp(window ? { workerPoolWindow: window } : {});
  const started = performance.now();
  const worker = new Worker(app, { pool, concurrency, appModule: APP_MODULE, logger: silentLogger, mingle: false });
  await worker.start();
  const startup = performance.now() - started;
  // Warm up the JIT (and the children's) so the figures describe steady state.
  await measure(app, Math.min(2000, TOTAL));
  const pids = pool === 'process' ? (worker.pool.info()['processes'] as number[]) : [];
  const cpu = cpuSeconds(pids);
  const ms = await measure(app, TOTAL);
  const cpuPerTask = ((cpuSeconds(pids) - cpu) / TOTAL) * 1e6;
  const rate = report ? perSecond(label(run), TOTAL, ms) : 0;
  if (report) line(`  CPU per task (worker${pool === 'process' ? ' + children' : ''})`, `${cpuPerTask.toFixed(1)} µs`);
  if (report && (pool === 'process' || pool === 'thread')) line(`  ${pool} pool start-up (${concurrency} children)`, `${Math.round(startup)} ms`);
  await worker.stop();
  await app.close();
  return rate;
}

export async function run(): Promise<void> {
  heading(`pools on the memory transport, ${TOTAL.toLocaleString('en-US')} no-op tasks each (${CPUS} CPUs)`);
  const runs: Run[] = [
    { pool: 'async', concurrency: 100 },
    { pool: 'solo', concurrency: 1 },
    { pool: 'thread', concurrency: CPUS },
    { pool: 'process', concurrency: CPUS },
    { pool: 'thread', concurrency: CPUS * 2 },
    { pool: 'process', concurrency: CPUS * 2 },
    { pool: 'thread', concurrency: CPUS, window: WINDOW },
    { pool: 'process', concurrency: CPUS, window: WINDOW },
  ];
  // One untimed round first: the worker's own code is then as warm for the first pool as for the last.
  await bench(runs[0]!, false);
  const rates: Array<[Run, number]> = [];
  for (const r of runs) rates.push([r, await bench(r)]);
  const base = rates[0]![1];
  heading('per-task cost over the async pool (1/rate − 1/rate_async)');
  for (const [r, rate] of rates.slice(1)) line(label(r), `${(1e6 / rate - 1e6 / base).toFixed(1)} µs/task`);
  line('peak RSS (the worker process)', `${peakRssMb()} MB`);
}
