/**
 * Redis, side by side with BullMQ on the same server, each side in its own process (so peak RSS
 * is its own):
 *
 * - tq: 20,000 no-op `add` tasks published concurrently (`delay`), one worker with the async pool
 *   (concurrency 200), results through the Redis result backend, every `get` resolved. Enqueue
 *   is also measured on its own (no worker consuming) — pipelined publishing.
 * - BullMQ: the same jobs with `queue.addBulk` (its fastest way in; faster here than `add` ×N),
 *   one Worker with concurrency 100, every job's result awaited with
 *   `job.waitUntilFinished(queueEvents)` — BullMQ's documented per-job equivalent of `get`. Also
 *   shown: results taken from one global QueueEvents 'completed' listener instead (no per-job
 *   wait; faster for BullMQ, not what a caller holding one job does).
 *
 * Targets (issue 6): tq end to end ≥ 2× BullMQ, enqueue ≥ 30,000 tasks/s. Uses its own db
 * (TQ_BENCH_REDIS_DB, default 10) and key prefixes, and deletes only its own keys.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createApp, silentLogger } from '@tq/core';
import { Worker } from '@tq/worker';
import { Queue, QueueEvents, Worker as BullWorker } from 'bullmq';
import { Redis } from 'ioredis';
import { heading, line, peakRssMb, rate } from '../report.js';

const TOTAL = Number(process.env['TQ_BENCH_TASKS'] ?? 20_000);
const WARMUP = Math.min(2000, TOTAL);
const BASE = (process.env['TQ_REDIS_URL'] ?? 'redis://127.0.0.1:6379').replace(/\/\d*$/, '');
const DB = Number(process.env['TQ_BENCH_REDIS_DB'] ?? 10);
const URL = `${BASE}/${DB}`;
const SIDE = 'TQ_BENCH_REDIS_SIDE';

interface SideResult {
  side: string;
  enqueue: number;
  enqueueWhileConsuming: number;
  endToEnd: number;
  seconds: number;
  rssMb: number;
  method: string;
  /** BullMQ only: every result taken from one global 'completed' listener. */
  endToEndStream?: number;
}

async function deletePrefix(prefix: string): Promise<void> {
  const client = new Redis(URL);
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

async function runTq(): Promise<SideResult> {
  const prefix = `tqbench:${randomUUID().slice(0, 8)}:`;
  const queue = 'bench';
  const app = createApp({
    broker: URL,
    backend: URL,
    brokerTransportOptions: { globalKeyprefix: prefix },
    resultBackendTransportOptions: { globalKeyprefix: prefix },
    taskDefaultQueue: queue,
    logger: silentLogger,
  });
  const add = app.task('bench.add', (x: number, y: number) => x + y);
  try {
    const worker = new Worker(app, { concurrency: 200, logger: silentLogger, mingle: false });
    await worker.start();
    // Warm up the JIT on the whole path before measuring.
    await Promise.all((await Promise.all(Array.from({ length: WARMUP }, (_, i) => add.delay(i, i)))).map((r) => r.get()));

    // End to end: publish everything at once while the worker consumes, then every get().
    const e2eStart = performance.now();
    const results = await Promise.all(Array.from({ length: TOTAL }, (_, i) => add.delay(i, i)));
    const published = performance.now();
    const values = await Promise.all(results.map((r) => r.get()));
    const done = performance.now();
    if (values[TOTAL - 1] !== (TOTAL - 1) * 2) throw new Error('wrong result');

    // Enqueue on its own: the same calls to a queue nobody consumes (declared first, then purged).
    await Promise.all(Array.from({ length: 100 }, (_, i) => add.applyAsync([i, i], { queue: 'bench-enqueue' })));
    const start = performance.now();
    await Promise.all(Array.from({ length: TOTAL }, (_, i) => add.applyAsync([i, i], { queue: 'bench-enqueue' })));
    const enqueueMs = performance.now() - start;
    await worker.stop();
    return {
      side: 'tq',
      enqueue: rate(TOTAL, enqueueMs),
      enqueueWhileConsuming: rate(TOTAL, published - e2eStart),
      endToEnd: rate(TOTAL, done - e2eStart),
      seconds: (done - e2eStart) / 1000,
      rssMb: peakRssMb(),
      method: 'delay() ×N concurrently, worker concurrency 200 (async pool), AsyncResult.get() each',
    };
  } finally {
    await app.close();
    await deletePrefix(prefix);
  }
}

async function runBullmq(): Promise<SideResult> {
  const prefix = `tqbench-bull-${randomUUID().slice(0, 8)}`;
  const name = 'bench';
  const connection = { url: URL, maxRetriesPerRequest: null };
  const queue = new Queue(name, { connection, prefix });
  const events = new QueueEvents(name, { connection, prefix });
  await events.waitUntilReady();
  const jobs = (n: number, offset = 0) => Array.from({ length: n }, (_, i) => ({ name: 'add', data: { x: i + offset, y: i + offset } }));
  try {
    const worker = new BullWorker(name, async (job) => (job.data as { x: number; y: number }).x + (job.data as { x: number; y: number }).y, { connection, prefix, concurrency: 100 });
    await worker.waitUntilReady();
    const warm = await queue.addBulk(jobs(WARMUP));
    await Promise.all(warm.map((job) => job.waitUntilFinished(events)));

    const e2eStart = performance.now();
    const added = await queue.addBulk(jobs(TOTAL));
    const published = performance.now();
    const values = await Promise.all(added.map((job) => job.waitUntilFinished(events)));
    const done = performance.now();
    if (values[TOTAL - 1] !== (TOTAL - 1) * 2) throw new Error('wrong BullMQ result');

    // The global QueueEvents stream (one listener for every completion) instead of one wait per job.
    const completed = new Map<string, (value: unknown) => void>();
    const early = new Map<string, unknown>();
    const onCompleted = ({ jobId, returnvalue }: { jobId: string; returnvalue: unknown }) => {
      const resolve = completed.get(jobId);
      if (resolve) {
        completed.delete(jobId);
        resolve(returnvalue);
      } else early.set(jobId, returnvalue);
    };
    events.on('completed', onCompleted);
    const streamStart = performance.now();
    const added2 = await queue.addBulk(jobs(TOTAL));
    await Promise.all(added2.map((job) => (early.has(job.id!) ? early.get(job.id!) : new Promise((resolve) => completed.set(job.id!, resolve)))));
    const streamDone = performance.now();
    events.off('completed', onCompleted);
    await worker.close();

    // Enqueue on its own, to a queue nobody consumes.
    const idle = new Queue(`${name}-enqueue`, { connection, prefix });
    const start = performance.now();
    await idle.addBulk(jobs(TOTAL));
    const enqueueMs = performance.now() - start;
    await idle.obliterate({ force: true }).catch(() => undefined);
    await idle.close();
    return {
      side: 'BullMQ',
      enqueue: rate(TOTAL, enqueueMs),
      enqueueWhileConsuming: rate(TOTAL, published - e2eStart),
      endToEnd: rate(TOTAL, done - e2eStart),
      seconds: (done - e2eStart) / 1000,
      rssMb: peakRssMb(),
      method: 'Queue.addBulk, Worker concurrency 100, job.waitUntilFinished(QueueEvents) each',
      endToEndStream: rate(TOTAL, streamDone - streamStart),
    };
  } finally {
    await events.close();
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    await deletePrefix(prefix);
  }
}

/** Run one side in a fresh process (this suite again, told which side by the environment). */
function inChild(side: 'tq' | 'bullmq'): SideResult {
  const result = spawnSync(process.execPath, process.argv.slice(1), { env: { ...process.env, [SIDE]: side }, encoding: 'utf8', maxBuffer: 1 << 24 });
  const last = (result.stdout ?? '').trim().split('\n').filter(Boolean).at(-1) ?? '';
  if (result.status !== 0 || !last.startsWith('{')) {
    throw new Error(`the ${side} side failed (exit ${result.status ?? result.signal}):\n${result.stdout}\n${result.stderr}`);
  }
  return JSON.parse(last) as SideResult;
}

export async function run(): Promise<void> {
  const side = process.env[SIDE];
  if (side) {
    const result = side === 'tq' ? await runTq() : await runBullmq();
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  heading(`Redis (${URL}), ${TOTAL.toLocaleString('en-US')} no-op tasks, tq vs BullMQ (each in its own process)`);
  const tq = inChild('tq');
  const bull = inChild('bullmq');
  const fmt = (n: number) => `${n.toLocaleString('en-US')} tasks/s`;
  for (const r of [tq, bull]) {
    line(`${r.side}: enqueue (nothing consuming)`, fmt(r.enqueue));
    line(`${r.side}: enqueue (while the worker runs)`, fmt(r.enqueueWhileConsuming));
    line(`${r.side}: end to end (publish → result awaited)`, `${fmt(r.endToEnd)}  (${r.seconds.toFixed(2)} s)`);
    line(`${r.side}: peak RSS`, `${r.rssMb} MB`);
    line(`${r.side}: method`, r.method);
    if (r.endToEndStream) line(`${r.side}: end to end, one global 'completed' listener`, fmt(r.endToEndStream));
  }
  const ratio = tq.endToEnd / bull.endToEnd;
  line('tq / BullMQ end to end (per-result wait on both)', `${ratio.toFixed(2)}×`);
  if (bull.endToEndStream) line('tq / BullMQ with its global completed stream', `${(tq.endToEnd / bull.endToEndStream).toFixed(2)}×`);
  line('target: tq end to end ≥ 2× BullMQ', ratio >= 2 ? 'met' : 'NOT met');
  line('target: tq enqueue ≥ 30,000 tasks/s', tq.enqueue >= 30_000 ? 'met' : 'NOT met');
}
