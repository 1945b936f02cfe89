/**
 * Redis: tq against BullMQ on the same Redis server, like for like, in one table.
 *
 * Each measurement runs in a fresh Node process (so its peak RSS and CPU are its own), on a
 * Redis server the suite starts for itself (so `INFO commandstats` and `INFO cpu` count only
 * this benchmark; TQ_BENCH_REDIS_URL runs on another server instead, counters then include its
 * other clients). Rows, repeated TQ_BENCH_REPEAT times (default 3) with the sides interleaved:
 *
 * - end to end at concurrency 8, 64 and 200 (the same on both sides), 20,000 no-op tasks
 *   published while one in-process worker consumes, every result awaited the side's fastest
 *   documented way (tq: `AsyncResult.get()` per task; BullMQ: the Worker's `completed` event);
 *   publishing with single calls (tq `delay`, BullMQ `queue.add`, all concurrently) and in bulk
 *   (tq `applyAsyncMany`, BullMQ `addBulk`, one call);
 * - enqueue alone (nobody consuming), single and bulk: producer CPU per task;
 * - a worker draining 20,000 queued tasks at concurrency 64: worker CPU per task;
 * - labelled extra: BullMQ with `job.waitUntilFinished(queueEvents)` per job (its per-job wait).
 *
 * Commands per task are the server's command count over the measured phase divided by the
 * tasks (commands a Lua script runs are counted too; "scripts" counts the script calls).
 *
 * Every row first runs TQ_BENCH_WARMUP tasks (default 2,000) the same way on both sides. In a
 * process this young, V8's background compiler still takes 15–20% of the process's CPU
 * during the measured phase (perf, c=8); a larger warm-up shows a long-running worker's figures.
 * TQ_BENCH_TASKS and TQ_BENCH_CONCURRENCY change the size and the rows.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createApp, silentLogger, type App, type Task } from '@tq/core';
import { Worker } from '@tq/worker';
import { Queue, QueueEvents, Worker as BullWorker, type Job as BullJob } from 'bullmq';
import { Redis } from 'ioredis';
import { heading, line, median, n0, n1, n2, packageVersion, peakRssMb, rate, spread, spreadOf, table } from '../report.js';
import { counterDelta, requireRedis, serverCounters, startOwnRedis, type ServerCounters } from '../redis-server.js';

const TOTAL = Number(process.env['TQ_BENCH_TASKS'] ?? 20_000);
const WARMUP = Math.min(Number(process.env['TQ_BENCH_WARMUP'] ?? 2000), TOTAL);
const REPEAT = Math.max(1, Number(process.env['TQ_BENCH_REPEAT'] ?? 3));
const CONCURRENCIES = (process.env['TQ_BENCH_CONCURRENCY'] ?? '8,64,200').split(',').map(Number);
const DRAIN_CONCURRENCY = 64;
const JOB = 'TQ_BENCH_REDIS_JOB';

type Side = 'tq' | 'BullMQ';
type Mode = 'single' | 'bulk';
type Kind = 'e2e' | 'enqueue' | 'drain' | 'wait';

interface JobSpec {
  url: string;
  side: Side;
  kind: Kind;
  mode: Mode;
  concurrency: number;
}

interface JobResult {
  /** Tasks per second over the measured phase. */
  rate: number;
  /** End to end: the rate of the publishing calls themselves (while the worker consumes). */
  publishRate?: number;
  /** This process's CPU (user + system) per task, µs. */
  cpuUs: number;
  server: ServerCounters;
  rssMb: number;
}

const args = (n: number, offset = 0): Array<[number, number]> => Array.from({ length: n }, (_, i) => [i + offset, i + offset]);

// -- tq ----------------------------------------------------------------------------------------

function tqApp(url: string): { app: App; add: Task<[number, number], number>; prefix: string } {
  const prefix = `tqbench:${randomUUID().slice(0, 8)}:`;
  const app = createApp({
    broker: url,
    backend: url,
    brokerTransportOptions: { globalKeyprefix: prefix },
    resultBackendTransportOptions: { globalKeyprefix: prefix },
    taskDefaultQueue: 'bench',
    logger: silentLogger,
  });
  const add = app.task('bench.add', (x: number, y: number) => x + y);
  return { app, add, prefix };
}

function tqWorker(app: App, concurrency: number): Worker {
  // prefetchMultiplier 1: at most `concurrency` messages reserved, as BullMQ fetches only for a free slot.
  return new Worker(app, { concurrency, prefetchMultiplier: 1, logger: silentLogger, mingle: false });
}

async function tqPublish(add: Task<[number, number], number>, mode: Mode, n: number, queue?: string) {
  const list = args(n);
  const options = queue ? { queue } : {};
  if (mode === 'bulk') return add.applyAsyncMany(list, options);
  return Promise.all(list.map((a) => (queue ? add.applyAsync(a, options) : add.delay(...a))));
}

async function runTq(spec: JobSpec, measure: Measure): Promise<JobResult> {
  const { app, add, prefix } = tqApp(spec.url);
  try {
    if (spec.kind === 'enqueue') {
      await tqPublish(add, spec.mode, WARMUP, 'bench-idle');
      return await measure(TOTAL, async () => {
        await tqPublish(add, spec.mode, TOTAL, 'bench-idle');
      });
    }
    if (spec.kind === 'drain') {
      await tqPublish(add, 'bulk', TOTAL);
      const worker = tqWorker(app, spec.concurrency);
      let done = 0;
      let finished!: () => void;
      const all = new Promise<void>((resolve) => (finished = resolve));
      worker.hooks.on('succeeded', () => {
        if (++done === TOTAL) finished();
      });
      const result = await measure(TOTAL, async () => {
        await worker.start();
        await all;
      });
      await worker.stop();
      return result;
    }
    const worker = tqWorker(app, spec.concurrency);
    await worker.start();
    await Promise.all((await tqPublish(add, spec.mode, WARMUP)).map((r) => r.get()));
    let published = 0;
    const result = await measure(TOTAL, async () => {
      const start = performance.now();
      const results = await tqPublish(add, spec.mode, TOTAL);
      published = rate(TOTAL, performance.now() - start);
      const values = await Promise.all(results.map((r) => r.get()));
      if (values[TOTAL - 1] !== (TOTAL - 1) * 2) throw new Error('wrong tq result');
    });
    await worker.stop();
    return { ...result, publishRate: published };
  } finally {
    await app.close();
    await deletePrefix(spec.url, prefix);
  }
}

// -- BullMQ ------------------------------------------------------------------------------------

async function bullPublish(queue: Queue, mode: Mode, n: number): Promise<BullJob[]> {
  const list = args(n).map(([x, y]) => ({ name: 'add', data: { x, y } }));
  if (mode === 'bulk') return queue.addBulk(list);
  return Promise.all(list.map((job) => queue.add(job.name, job.data)));
}

async function runBull(spec: JobSpec, measure: Measure): Promise<JobResult> {
  const prefix = `tqbench-bull-${randomUUID().slice(0, 8)}`;
  const connection = { url: spec.url, maxRetriesPerRequest: null };
  const name = spec.kind === 'enqueue' ? 'bench-idle' : 'bench';
  const queue = new Queue(name, { connection, prefix });
  const processor = async (job: BullJob) => (job.data as { x: number; y: number }).x + (job.data as { x: number; y: number }).y;
  try {
    if (spec.kind === 'enqueue') {
      await bullPublish(queue, spec.mode, WARMUP);
      return await measure(TOTAL, async () => {
        await bullPublish(queue, spec.mode, TOTAL);
      });
    }
    // Results through the worker's in-process `completed` event: BullMQ's fastest documented way.
    let done = 0;
    let target = 0;
    let last: unknown;
    let finished: (() => void) | null = null;
    const worker = new BullWorker(name, processor, { connection, prefix, concurrency: spec.concurrency, autorun: spec.kind !== 'drain' });
    worker.on('completed', (_job, value) => {
      last = value;
      if (++done === target) finished?.();
    });
    const until = (n: number) => {
      target = n;
      return done >= n ? Promise.resolve() : new Promise<void>((resolve) => (finished = resolve));
    };
    await worker.waitUntilReady();
    if (spec.kind === 'drain') {
      await bullPublish(queue, 'bulk', TOTAL);
      const result = await measure(TOTAL, async () => {
        void worker.run();
        await until(TOTAL);
      });
      await worker.close();
      return result;
    }
    await bullPublish(queue, spec.mode, WARMUP);
    await until(WARMUP);
    let events: QueueEvents | null = null;
    if (spec.kind === 'wait') {
      events = new QueueEvents(name, { connection, prefix });
      await events.waitUntilReady();
    }
    let published = 0;
    const result = await measure(TOTAL, async () => {
      const start = performance.now();
      const jobs = await bullPublish(queue, spec.mode, TOTAL);
      published = rate(TOTAL, performance.now() - start);
      if (events) {
        const values = await Promise.all(jobs.map((job) => job.waitUntilFinished(events!)));
        if (values[TOTAL - 1] !== (TOTAL - 1) * 2) throw new Error('wrong BullMQ result');
      } else {
        await until(WARMUP + TOTAL);
        if (typeof last !== 'number') throw new Error('wrong BullMQ result');
      }
    });
    await worker.close();
    await events?.close();
    return { ...result, publishRate: published };
  } finally {
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    await deletePrefix(spec.url, prefix);
  }
}

// -- measuring ---------------------------------------------------------------------------------

type Measure = (tasks: number, phase: () => Promise<void>) => Promise<JobResult>;

function measurer(url: string): { measure: Measure; close(): void } {
  const stats = new Redis(url);
  return {
    measure: async (tasks, phase) => {
      const before = await serverCounters(stats);
      const cpu = process.cpuUsage();
      const start = performance.now();
      await phase();
      const ms = performance.now() - start;
      const used = process.cpuUsage(cpu);
      const after = await serverCounters(stats);
      return { rate: rate(tasks, ms), cpuUs: (used.user + used.system) / tasks, server: counterDelta(before, after), rssMb: peakRssMb() };
    },
    close: () => stats.disconnect(),
  };
}

async function deletePrefix(url: string, prefix: string): Promise<void> {
  const client = new Redis(url);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 2000);
      cursor = next;
      if (keys.length > 0) await client.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}

/** Run one measurement in a fresh process (this suite again, told what to do by the environment). */
function inChild(spec: JobSpec): JobResult {
  const result = spawnSync(process.execPath, process.argv.slice(1), { env: { ...process.env, [JOB]: JSON.stringify(spec) }, encoding: 'utf8', maxBuffer: 1 << 24 });
  const last = (result.stdout ?? '').trim().split('\n').filter(Boolean).at(-1) ?? '';
  if (result.status !== 0 || !last.startsWith('{')) {
    throw new Error(`${spec.side} ${spec.kind} ${spec.mode} c=${spec.concurrency} failed (exit ${result.status ?? result.signal}):\n${result.stdout}\n${result.stderr}`);
  }
  return JSON.parse(last) as JobResult;
}

// -- the table ---------------------------------------------------------------------------------

export async function run(): Promise<void> {
  const job = process.env[JOB];
  if (job) {
    const spec = JSON.parse(job) as JobSpec;
    const { measure, close } = measurer(spec.url);
    try {
      const result = spec.side === 'tq' ? await runTq(spec, measure) : await runBull(spec, measure);
      process.stdout.write(`${JSON.stringify(result)}\n`);
    } finally {
      close();
    }
    return;
  }

  const given = process.env['TQ_BENCH_REDIS_URL'];
  const own = given ? null : await startOwnRedis();
  const url = given ?? own?.url ?? `${(process.env['TQ_REDIS_URL'] ?? 'redis://127.0.0.1:6379').replace(/\/\d*$/, '')}/10`;
  if (!own) await requireRedis(url);
  try {
    heading(`Redis: tq vs BullMQ, like for like — ${TOTAL.toLocaleString('en-US')} no-op tasks per row, ${REPEAT} repeat(s), median (min–max)`);
    line('Redis server', own ? `its own redis-server ${own.version} (${url}, no persistence): counters are this benchmark's alone` : `${url} (shared: the command and CPU counters include other clients)`);
    line('both sides', `one Node process per row (producer + one worker in it), node ${process.version}, ${WARMUP.toLocaleString('en-US')} tasks of warm-up`);
    line('task', 'add(x, y) → x + y, result stored in Redis and awaited for every task');
    line('concurrency', `${CONCURRENCIES.join(', ')} on both sides`);
    line('tq', `@tq/worker async pool, concurrency C, prefetchMultiplier 1 (≤ C reserved), acks early (Celery's default), Redis result backend (SETEX + PUBLISH), AsyncResult.get() per task`);
    line('BullMQ', `${packageVersion('bullmq')}: Worker concurrency C (fetches a job per free slot), default job options (completed jobs kept), results from the Worker's 'completed' event`);
    line('single publishing', 'tq task.delay() ×N / BullMQ queue.add() ×N, all called at once');
    line('bulk publishing', 'tq task.applyAsyncMany(N) / BullMQ queue.addBulk(N), one call');
    line('columns', 'rate = tasks/s end to end; cpu = the process\'s CPU µs/task; cmds = Redis commands/task (script calls)');

    const e2e = new Map<string, JobResult[]>();
    const other = new Map<string, JobResult[]>();
    const push = (map: Map<string, JobResult[]>, key: string, r: JobResult) => map.set(key, [...(map.get(key) ?? []), r]);
    for (let rep = 0; rep < REPEAT; rep++) {
      for (const concurrency of CONCURRENCIES) {
        for (const mode of ['single', 'bulk'] as const) {
          for (const side of ['tq', 'BullMQ'] as const) push(e2e, `${side} ${mode} ${concurrency}`, inChild({ url, side, kind: 'e2e', mode, concurrency }));
        }
      }
      for (const mode of ['single', 'bulk'] as const) {
        for (const side of ['tq', 'BullMQ'] as const) push(other, `${side} enqueue ${mode}`, inChild({ url, side, kind: 'enqueue', mode, concurrency: 0 }));
      }
      for (const side of ['tq', 'BullMQ'] as const) push(other, `${side} drain`, inChild({ url, side, kind: 'drain', mode: 'bulk', concurrency: DRAIN_CONCURRENCY }));
      if (rep === 0) push(other, 'BullMQ wait', inChild({ url, side: 'BullMQ', kind: 'wait', mode: 'single', concurrency: 64 }));
    }

    const cmds = (rs: JobResult[]) => `${spread(rs, (r) => r.server.commands / TOTAL, n1)} (${n2(median(rs.map((r) => r.server.scripts / TOTAL)))})`;
    heading('end to end (publish → every result awaited)');
    const rows: string[][] = [];
    let metAll = true;
    for (const concurrency of CONCURRENCIES) {
      for (const mode of ['single', 'bulk'] as const) {
        const tq = e2e.get(`tq ${mode} ${concurrency}`)!;
        const bull = e2e.get(`BullMQ ${mode} ${concurrency}`)!;
        const ratios = tq.map((r, i) => r.rate / bull[i]!.rate);
        if (median(ratios) < 2) metAll = false;
        rows.push([
          `c=${concurrency} ${mode}`,
          spread(tq, (r) => r.rate, n0),
          spread(bull, (r) => r.rate, n0),
          `${spreadOf(ratios, n2)}×`,
          spread(tq, (r) => r.publishRate ?? 0, n0),
          spread(bull, (r) => r.publishRate ?? 0, n0),
          `${n0(median(tq.map((r) => r.cpuUs)))} / ${n0(median(bull.map((r) => r.cpuUs)))}`,
          `${n0(median(tq.map((r) => r.server.cpuUs / TOTAL)))} / ${n0(median(bull.map((r) => r.server.cpuUs / TOTAL)))}`,
          `${cmds(tq)} / ${cmds(bull)}`,
          `${Math.max(...tq.map((r) => r.rssMb))} / ${Math.max(...bull.map((r) => r.rssMb))}`,
        ]);
      }
    }
    table(['row', 'tq tasks/s', 'BullMQ tasks/s', 'tq/BullMQ', 'tq publish/s', 'BullMQ publish/s', 'cpu µs tq/Bull', 'redis µs tq/Bull', 'cmds/task tq / BullMQ', 'peak RSS MB'], rows);

    heading('enqueue alone (nobody consuming) and a worker draining a full queue');
    const orow = (label: string, key: string, side: Side) => {
      const rs = other.get(`${side} ${key}`)!;
      return [label, side, spread(rs, (r) => r.rate, n0), spread(rs, (r) => r.cpuUs, n1), n1(median(rs.map((r) => r.server.cpuUs / TOTAL))), cmds(rs), String(Math.max(...rs.map((r) => r.rssMb)))];
    };
    const orows: string[][] = [];
    for (const side of ['tq', 'BullMQ'] as const) orows.push(orow('enqueue, single calls', 'enqueue single', side));
    for (const side of ['tq', 'BullMQ'] as const) orows.push(orow('enqueue, bulk', 'enqueue bulk', side));
    for (const side of ['tq', 'BullMQ'] as const) orows.push(orow(`worker drain, c=${DRAIN_CONCURRENCY}`, 'drain', side));
    table(['row', 'side', 'tasks/s', 'cpu µs/task', 'redis µs/task', 'cmds/task (scripts)', 'peak RSS MB'], orows);

    heading("extra (not like for like): BullMQ awaiting each job with job.waitUntilFinished(QueueEvents), c=64, single add");
    const wait = other.get('BullMQ wait')![0]!;
    line('BullMQ end to end', `${n0(wait.rate)} tasks/s, ${n1(wait.server.commands / TOTAL)} cmds/task, ${wait.rssMb} MB`);

    heading('targets');
    const tqSingle = other.get('tq enqueue single')!;
    const tqBulk = other.get('tq enqueue bulk')!;
    const whileConsuming = CONCURRENCIES.map((c) => median(e2e.get(`tq single ${c}`)!.map((r) => r.publishRate ?? 0)));
    line('tq end to end ≥ 2× BullMQ, every row (median)', metAll ? 'met' : 'NOT met');
    line('tq enqueue ≥ 30,000/s, single calls', `${median(tqSingle.map((r) => r.rate)) >= 30_000 ? 'met' : 'NOT met'} (${n0(median(tqSingle.map((r) => r.rate)))}/s)`);
    line('… while a worker consumes (c=8/64/200)', `${whileConsuming.every((x) => x >= 30_000) ? 'met' : 'NOT met'} (${whileConsuming.map(n0).join(' / ')}/s)`);
    line('tq enqueue ≥ 100,000/s, bulk', `${median(tqBulk.map((r) => r.rate)) >= 100_000 ? 'met' : 'NOT met'} (${n0(median(tqBulk.map((r) => r.rate)))}/s)`);
  } finally {
    await own?.stop();
  }
}
