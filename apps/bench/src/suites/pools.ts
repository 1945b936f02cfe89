/**
 * Pools on the memory transport: end-to-end throughput (publish → run → result stored → `get`
 * resolved) of no-op tasks in each pool, and each pool's cost per task over the async pool's
 * (1/rate − 1/rate_async), and the CPU time each task took (the worker's process, its threads,
 * and its child processes). Child pools start their children from the compiled bench app
 * (dist/pool-app.js) and talk to the worker's memory transport through its IPC proxy; they run
 * with the default window (a child holds only the job it runs) and with a window (`workerPoolWindow`, 4 unless TQ_BENCH_POOL_WINDOW says otherwise).
 * Last, the floor under a child pool's cost: a bare JSON round trip with an idle child process.
 *
 *   npm run bench -- pools          (TQ_BENCH_POOL_TASKS=20000, TQ_BENCH_POOL_WINDOW=4 by default)
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { silentLogger, type App } from '@tq/core';
import { Worker, type PoolKind } from '@tq/worker';
import { createBenchApp } from '../pool-app.js';
import { heading, line, peakRssMb, perSecond } from '../report.js';

const TOTAL = Number(process.env['TQ_BENCH_POOL_TASKS'] ?? 20_000);
const APP_MODULE = fileURLToPath(new URL('../pool-app.js', import.meta.url));
const ECHO = fileURLToPath(new URL('../ipc-echo.js', import.meta.url));
const CPUS = availableParallelism();
const WINDOW = Number(process.env['TQ_BENCH_POOL_WINDOW'] ?? 4);

interface Run {
  pool: PoolKind;
  concurrency: number;
  /** The app's workerPoolWindow (child pools); the default when absent. */
  window?: number;
}

const label = (r: Run) => `${r.pool}, concurrency ${r.concurrency}${r.window ? `, window ${r.window}` : ''}`;

/** CPU seconds a process used so far (Linux /proc): utime and stime, the 12th and 13th fields after the command name, in clock ticks (100 per second). */
function processSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** CPU seconds used so far by this process (its threads included). */
function ownSeconds(): number {
  const own = process.cpuUsage();
  return (own.user + own.system) / 1e6;
}

/** CPU seconds used so far by this process and by the given child processes. */
function cpuSeconds(pids: number[]): number {
  return pids.reduce((total, pid) => total + processSeconds(pid), ownSeconds());
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

/**
 * The floor under a child pool's cost per task: one round trip of a job-sized JSON message with a
 * child process that does no work (ipc-echo.ts), over the channel the process pool uses. A child
 * that holds one job at a time (the default window) pays at least this once per task.
 */
async function ipcFloor(): Promise<void> {
  const child = fork(ECHO, [], { serialization: 'json', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await once(child, 'spawn');
  const body = Buffer.from(JSON.stringify([[1, 2], {}, { callbacks: null, errbacks: null, chain: null, chord: null }])).toString('base64');
  const job = [{ t: 'run', job: 1, raw: { body, contentType: 'application/json', contentEncoding: 'utf-8', headers: { lang: 'py', task: 'bench.add', id: '00000000-0000-4000-8000-000000000000', argsrepr: '(1, 2)', kwargsrepr: '{}', origin: 'gen1@bench', retries: 0 } }, info: { exchange: '', routingKey: 'celery', priority: 0, redelivered: false }, soft: null }];
  const roundTrips = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const answered = once(child, 'message');
      child.send(job);
      await answered;
    }
  };
  await roundTrips(2000);
  const ownStart = ownSeconds();
  const echoStart = processSeconds(child.pid!);
  const start = performance.now();
  await roundTrips(TOTAL);
  const ms = performance.now() - start;
  const worker = ownSeconds() - ownStart;
  const echo = processSeconds(child.pid!) - echoStart;
  child.disconnect();
  const perTrip = (s: number) => `${((s / TOTAL) * 1e6).toFixed(1)} µs`;
  line('IPC floor: a job-sized JSON round trip with an idle child process', `${((ms / TOTAL) * 1000).toFixed(1)} µs wall, CPU ${perTrip(worker)} worker side + ${perTrip(echo)} child side`);
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
  await ipcFloor();
}
