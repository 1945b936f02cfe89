/**
 * Flow control: what a global rate limit far above the offered rate, a global concurrency limit
 * far above the pool, and deduplication (every call a new key, so all run) cost per task,
 * against the same no-op task without them, end to end on Redis with one in-process worker
 * (async pool, concurrency 64). Rows repeat TQ_BENCH_REPEAT times (default 3), interleaved;
 * the overhead is the difference of the medians of wall time per task.
 *
 * Runs on a Redis server of its own (TQ_BENCH_REDIS_URL for another one).
 */
import { randomUUID } from 'node:crypto';
import { createApp, silentLogger, type App, type AsyncResult } from '@tq/core';
import { Worker } from '@tq/worker';
import { Redis } from 'ioredis';
import { heading, line, median, n0, n1, spreadOf, table } from '../report.js';
import { requireRedis, startOwnRedis } from '../redis-server.js';

const TOTAL = Number(process.env['TQ_BENCH_TASKS'] ?? 5000);
const REPEAT = Math.max(1, Number(process.env['TQ_BENCH_REPEAT'] ?? 3));

type Variant = 'plain-bulk' | 'global-rate' | 'concurrency' | 'plain-single' | 'dedup';

const LABELS: Record<Variant, string> = {
  'plain-bulk': 'no limit (bulk publish)',
  'global-rate': 'global rateLimit 1,000,000/s (bulk publish)',
  concurrency: 'global concurrencyLimit 10,000 (bulk publish)',
  'plain-single': 'no dedup (one delay per call)',
  dedup: 'dedupKey, every key new (one delay per call)',
};

const BASELINE: Partial<Record<Variant, Variant>> = { 'global-rate': 'plain-bulk', concurrency: 'plain-bulk', dedup: 'plain-single' };

function benchApp(url: string, prefix: string): App {
  const app = createApp({
    broker: url,
    backend: url,
    brokerTransportOptions: { globalKeyprefix: prefix },
    resultBackendTransportOptions: { globalKeyprefix: prefix },
    flowStorePrefix: `${prefix}flow:`,
    taskDefaultQueue: 'bench-limits',
    logger: silentLogger,
  });
  app.task('bench.plain', (x: number) => x);
  app.task({ name: 'bench.rate', rateLimit: { rate: 1_000_000, scope: 'global' } }, (x: number) => x);
  app.task({ name: 'bench.conc', concurrencyLimit: 10_000 }, (x: number) => x);
  app.task({ name: 'bench.dedup', dedupKey: (args) => `${prefix}${String(args[0])}` }, (x: number) => x);
  return app;
}

const TASK: Record<Variant, string> = { 'plain-bulk': 'bench.plain', 'global-rate': 'bench.rate', concurrency: 'bench.conc', 'plain-single': 'bench.plain', dedup: 'bench.dedup' };

async function measure(url: string, variant: Variant): Promise<number> {
  const prefix = `tqbench-limits:${randomUUID().slice(0, 8)}:`;
  const app = benchApp(url, prefix);
  const worker = new Worker(app, { concurrency: 64, logger: silentLogger, mingle: false });
  await worker.start();
  const name = TASK[variant];
  const bulk = variant === 'plain-bulk' || variant === 'global-rate' || variant === 'concurrency';
  const publish = (offset: number, n: number): Promise<AsyncResult[]> => {
    const calls = Array.from({ length: n }, (_, i) => ({ name, args: [offset + i] }));
    return bulk ? app.sendTasks(calls) : Promise.all(calls.map((c) => app.sendTask(c.name, c.args)));
  };
  try {
    await Promise.all((await publish(-1000, 500)).map((r) => r.get({ timeout: 60 })));
    const start = performance.now();
    const results = await publish(0, TOTAL);
    const values = await Promise.all(results.map((r) => r.get({ timeout: 120 })));
    const ms = performance.now() - start;
    if (values[TOTAL - 1] !== TOTAL - 1) throw new Error(`wrong result for ${variant}`);
    return (ms * 1000) / TOTAL;
  } finally {
    await worker.stop();
    await app.close();
    const redis = new Redis(url);
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
    redis.disconnect();
  }
}

export async function run(): Promise<void> {
  const own = process.env['TQ_BENCH_REDIS_URL'] ? null : await startOwnRedis();
  const url = process.env['TQ_BENCH_REDIS_URL'] ?? own?.url ?? `${(process.env['TQ_REDIS_URL'] ?? 'redis://127.0.0.1:6379').replace(/\/\d*$/, '')}/11`;
  if (!own) await requireRedis(url);
  heading(`flow control overhead — ${n0(TOTAL)} no-op tasks end to end on Redis, one worker (async, concurrency 64), ${REPEAT} runs`);
  const variants = Object.keys(LABELS) as Variant[];
  const runs = new Map<Variant, number[]>(variants.map((v) => [v, []]));
  try {
    for (let i = 0; i < REPEAT; i++) for (const v of variants) runs.get(v)!.push(await measure(url, v));
  } finally {
    await own?.stop();
  }
  const rows = variants.map((v) => {
    const us = runs.get(v)!;
    const base = BASELINE[v];
    const overhead = base ? `${n1(median(us) - median(runs.get(base)!))} µs` : '—';
    return [LABELS[v], `${spreadOf(us, n1)} µs`, n0(1e6 / median(us)), overhead];
  });
  table(['variant', 'wall per task (median, range)', 'tasks/s', 'overhead per task'], rows);
  line('note', 'overhead = median wall time per task minus the same tasks without the option; the machine is shared, repeat for a range');
}
