/**
 * A minimal consumer for core's tests: takes messages off a queue of the memory broker and runs
 * them through the executor, one at a time, so tests can look at each step (the real consumer
 * lives in @tq/worker and is tested there).
 */
import { decodeTaskMessage, type TaskMessage } from '@tq/protocol';
import { afterEach } from 'vitest';
import { TaskExecutor, createApp, silentLogger, type App, type AppConfig, type Delivery, type Outcome } from '../src/index.js';

const apps: App[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

/** A quiet app that is closed after the test. */
export function newApp(config: AppConfig = {}): App {
  const app = createApp({ logger: silentLogger, ...config });
  apps.push(app);
  return app;
}

export async function nextMessage(app: App, queue = 'celery', timeout = 2000): Promise<{ message: TaskMessage; delivery: Delivery }> {
  const broker = await app.getBroker();
  let received!: (delivery: Delivery) => void;
  const got = new Promise<Delivery>((resolve) => (received = resolve));
  const consumer = await broker.consume([app.router.queue(queue)], (delivery) => received(delivery), { prefetch: 1 });
  let timer: NodeJS.Timeout | undefined;
  try {
    const delivery = await Promise.race([
      got,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no message on ${queue} within ${timeout}ms`)), timeout);
      }),
    ]);
    return { message: decodeTaskMessage(delivery.message), delivery };
  } finally {
    clearTimeout(timer);
    await consumer.cancel();
  }
}

/** Run the next message on `queue` through the executor and acknowledge it. */
export async function runNext(app: App, queue = 'celery'): Promise<{ message: TaskMessage; outcome: Outcome }> {
  const { message, delivery } = await nextMessage(app, queue);
  const executor = new TaskExecutor(app, { hostname: 'test@host' });
  const task = app.requireTask(message.headers.task);
  const outcome = await executor.execute(task, message, { deliveryInfo: delivery.info });
  await delivery.ack();
  return { message, outcome };
}
