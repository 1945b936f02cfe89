/**
 * MongoDB result backend: 10,000 no-op tasks on the memory broker (so only the backend is
 * measured) with results in MongoDB (TQ_MONGO_URL; FerretDB v1 in this repo's services), every
 * `get` resolved. Rows: the backend's store rate alone (10,000 `store` calls at once), end to end
 * (publish → run → store → get resolved) with the time until the last result, and the same end
 * to end with the Redis result backend (TQ_REDIS_URL) as a like-for-like reference. Waiting on
 * MongoDB is polled (no change streams on FerretDB), so "time to all results" includes polling.
 */
import { randomUUID } from 'node:crypto';
import { MongoBackend } from '@tq/backend-mongo';
import { createApp, silentLogger, type App } from '@tq/core';
import { createResultMeta } from '@tq/protocol';
import { Worker } from '@tq/worker';
import { MongoClient } from 'mongodb';
import { requireRedis } from '../redis-server.js';
import { heading, line, peakRssMb, perSecond } from '../report.js';

const TOTAL = Number(process.env['TQ_BENCH_TASKS'] ?? 10_000);
const CONCURRENCY = Number(process.env['TQ_BENCH_CONCURRENCY'] ?? 100);
const MONGO = (process.env['TQ_MONGO_URL'] ?? 'mongodb://127.0.0.1:27017').replace(/\/+$/, '');
const REDIS = (process.env['TQ_REDIS_URL'] ?? 'redis://127.0.0.1:6379').replace(/\/\d*$/, '');

async function endToEnd(label: string, app: App): Promise<void> {
  const add = app.task('bench.add', (x: number, y: number) => x + y);
  const worker = new Worker(app, { concurrency: CONCURRENCY, logger: silentLogger, mingle: false });
  await worker.start();
  // Warm-up: connections open, JIT compiled.
  await Promise.all((await Promise.all(Array.from({ length: 200 }, (_, i) => add.delay(i, i)))).map((r) => r.get({ timeout: 60 })));
  const start = performance.now();
  const results = await Promise.all(Array.from({ length: TOTAL }, (_, i) => add.delay(i, i)));
  const values = await Promise.all(results.map((r) => r.get({ timeout: 600 })));
  const done = performance.now();
  if (values[TOTAL - 1] !== (TOTAL - 1) * 2) throw new Error('wrong result');
  perSecond(`${label}: end to end (publish → get resolved)`, TOTAL, done - start);
  line(`${label}: time to all ${TOTAL.toLocaleString('en-US')} results`, `${((done - start) / 1000).toFixed(2)} s`);
  await worker.stop();
  await app.close();
}

export async function run(): Promise<void> {
  await requireRedis(`${REDIS}/15`);
  const database = `tqbench_${randomUUID().slice(0, 8)}`;
  const url = `${MONGO}/${database}`;
  heading(`MongoDB result backend, ${TOTAL.toLocaleString('en-US')} no-op tasks, memory broker, async pool, concurrency ${CONCURRENCY}`);
  line('server', `${MONGO} (database ${database}, dropped afterwards)`);
  const raw = new MongoClient(MONGO);
  try {
    const build = await raw.db('admin').command({ buildInfo: 1 });
    line('server version', build['ferretdbVersion'] ? `FerretDB ${String(build['ferretdbVersion'])} (MongoDB wire ${String(build['version'])})` : `MongoDB ${String(build['version'])}`);

    const backend = new MongoBackend(url);
    await backend.connect();
    const now = new Date();
    const metas = Array.from({ length: TOTAL }, (_, i) => createResultMeta({ taskId: randomUUID(), status: 'SUCCESS', result: i, dateDone: now }));
    const start = performance.now();
    await Promise.all(metas.map((meta) => backend.store(meta)));
    perSecond('store rate (store × N at once, one batch per turn)', TOTAL, performance.now() - start);
    await backend.close();
    // Another backend, as another process would be: it has to read every result (polling).
    const reader = new MongoBackend(url);
    await reader.connect();
    const readStart = performance.now();
    await Promise.all(metas.map((meta) => reader.waitFor(meta.task_id, { timeout: 60 })));
    perSecond('waitFor × N in another process (batched $in polls)', TOTAL, performance.now() - readStart);
    await reader.close();

    await endToEnd('mongodb backend', createApp({ broker: 'memory://', backend: url, logger: silentLogger }));
    await endToEnd('redis backend (reference)', createApp({
      broker: 'memory://',
      backend: `${REDIS}/15`,
      resultExpires: 600,
      resultBackendTransportOptions: { globalKeyprefix: `tqbench:${randomUUID().slice(0, 8)}:` },
      logger: silentLogger,
    }));
    line('peak RSS', `${peakRssMb()} MB`);
  } finally {
    await raw.db(database).dropDatabase().catch(() => undefined);
    await raw.close();
  }
}
