/** A chaos worker process: the process pool over chaos-app.ts; SIGTERM is a warm shutdown (the harness mostly SIGKILLs). */
import { fileURLToPath } from 'node:url';
import { Worker } from '@tq/worker';
import { app } from './chaos-app.js';

const worker = new Worker(app, {
  pool: (process.env['TQ_CHAOS_POOL'] as 'process' | 'async' | undefined) ?? 'process',
  concurrency: Number(process.env['TQ_CHAOS_CONCURRENCY'] ?? 3),
  appModule: fileURLToPath(new URL('./chaos-app.ts', import.meta.url)),
  hostname: process.env['TQ_CHAOS_NODE'] ?? `chaos-${process.pid}@%h`,
  mingle: false,
  prefetchMultiplier: 2,
});
process.once('SIGTERM', () => void worker.stop({ timeout: 5 }).then(() => app.close()).then(() => process.exit(0)));
await worker.start();
console.log(`READY ${process.pid}`);
