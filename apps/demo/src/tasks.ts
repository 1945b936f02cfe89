/**
 * The demo's tasks: an app on the embedded memory transport (no server) with a few tasks that
 * show what tq does. A real app would pass `broker: 'redis://…'` and nothing else would change.
 */
import { createApp, silentLogger, type TaskContext } from '@tq/core';

export const app = createApp({
  main: 'demo',
  // Reports go to their own queue, as Celery's task_routes.
  taskRoutes: { 'demo.report.*': { queue: 'reports' } },
  logger: silentLogger,
});

export const add = app.task('demo.add', (x: number, y: number) => x + y);

/** Fails twice with a "network" error, then succeeds: retried with a countdown each time. */
let attempts = 0;
export const fetchRate = app.task({ name: 'demo.fetch_rate', maxRetries: 5 }, function (this: TaskContext, currency: string) {
  attempts++;
  if (attempts < 3) this.retry({ countdown: 0.2, exc: new Error(`rate service unavailable (attempt ${attempts})`) });
  return { currency, rate: 1.0842, attempts };
});

export class InvoiceError extends Error {
  override name = 'InvoiceError';
}

/** Always fails: its error and traceback are stored and re-thrown by `get()`. */
export const chargeInvoice = app.task('demo.charge_invoice', (invoiceId: string, amount: number) => {
  if (amount <= 0) throw new InvoiceError(`invoice ${invoiceId}: amount must be positive, got ${amount}`);
  return `charged ${amount}`;
});

/** Routed to the "reports" queue by taskRoutes. */
export const dailyReport = app.task('demo.report.daily', function (this: TaskContext, day: string) {
  return `report for ${day} built from queue "${this.deliveryInfo.routingKey}"`;
});

export default app;
