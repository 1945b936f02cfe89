/**
 * tq demo: tasks, a worker, results — all in one process on the memory transport.
 * Run it with `npm start` at the repository root.
 */
import { Worker } from '@tq/worker';
import { add, app, chargeInvoice, dailyReport, fetchRate } from './tasks.js';

const say = (text: string) => process.stdout.write(`${text}\n`);

async function main(): Promise<void> {
  // One worker consuming the default queue and the reports queue (like `tq worker -Q celery,reports`).
  const worker = new Worker(app, { concurrency: 10, queues: ['celery', 'reports'], hostname: 'demo@%h' });
  await worker.start();
  say(`worker ${worker.hostname} started on queues ${worker.queues.map((q) => q.name).join(', ')}\n`);

  // 1. delay / get
  const sum = await add.delay(2, 3);
  say(`1. add.delay(2, 3)             → task ${sum.id}`);
  say(`   result                       → ${await sum.get({ timeout: 5 })} (state ${await sum.state()})`);

  // 2. countdown: the task waits before it runs
  const started = Date.now();
  const later = await add.applyAsync([10, 20], { countdown: 0.5 });
  say(`2. add.applyAsync([10, 20], { countdown: 0.5 })`);
  say(`   result                       → ${await later.get({ timeout: 5 })} after ${((Date.now() - started) / 1000).toFixed(2)} s`);

  // 3. a task that retries until it succeeds
  const rate = await fetchRate.delay('EUR');
  const value = await rate.get({ timeout: 10 });
  say(`3. fetchRate.delay('EUR')       → retried, then ${JSON.stringify(value)}`);

  // 4. a failing task: its error and traceback come back
  const charge = await chargeInvoice.delay('INV-7', 0);
  try {
    await charge.get({ timeout: 5 });
  } catch (error) {
    const err = error as Error & { traceback?: string | null };
    say(`4. chargeInvoice.delay('INV-7', 0) failed (state ${await charge.state()})`);
    say(`   error                        → ${err.name}: ${err.message}`);
    say(`   traceback (first 3 lines)`);
    for (const line of (err.traceback ?? '').split('\n').slice(0, 3)) say(`     ${line.trim()}`);
  }

  // 5. routing: this task goes to the "reports" queue
  const report = await dailyReport.delay('2026-11-23');
  say(`5. dailyReport.delay(...)       → ${await report.get({ timeout: 5 })}`);

  await worker.stop();
  await app.close();
  say('\ndone: the worker stopped cleanly.');
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
