/** The monitor shows tq's cluster-wide flow control: `/api/workers` and the UI's worker JSON carry each worker's `inspect limits`. */
import { createApp, type App } from '@tq/core';
import { waitFor } from '@tq/testing';
import { Worker } from '@tq/worker';
import { afterEach, expect, it } from 'vitest';
import { REDIS, startCluster, type Cluster } from './helpers.js';

let cluster: Cluster | null = null;
let worker: Worker | null = null;
afterEach(async () => {
  await worker?.stop({ timeout: 5 });
  await worker?.app.close();
  await cluster?.close();
  worker = cluster = null;
});

it('shows tokens per bucket and deduplicated calls of a tq worker', async () => {
  const c = (cluster = await startCluster(REDIS));
  const flowPrefix = `${c.prefix}flow:`;
  const declare = (app: App) => {
    app.task({ name: 'flower.limited', rateLimit: { rate: '100/s', scope: 'global' } }, (x: number) => x);
    return app.task({ name: 'flower.once', dedupKey: (args) => String(args[0]) }, (x: number) => x);
  };
  const app = createApp({ ...c.config, flowStorePrefix: flowPrefix });
  declare(app);
  worker = new Worker(app, { queues: [c.queue], concurrency: 4, mingle: false, hostname: 'flow-limits@test' });
  await worker.start();
  const client = createApp({ ...c.config, flowStorePrefix: flowPrefix });
  const once = declare(client);
  try {
    await (await client.sendTask('flower.limited', [1])).get({ timeout: 10 });
    const [a, b] = await Promise.all([once.delay(7), once.delay(7)]);
    expect(b!.id).toBe(a!.id);
    await a!.get({ timeout: 10 });
  } finally {
    await client.close();
  }
  const limits = await waitFor(async () => {
    const workers = await c.getJson<Record<string, { limits?: { tokens: Record<string, number>; deduped: Record<string, number> } }>>('/api/workers?refresh=1');
    const view = workers['flow-limits@test']?.limits;
    return view?.tokens['flower.limited'] !== undefined ? view : null;
  }, { timeout: 15_000, interval: 200 });
  expect(limits.deduped['flower.once']).toBe(1);
  const ui = await c.getJson<{ limits: { tokens: Record<string, number> } | null }>('/api/ui/workers/flow-limits@test');
  expect(Object.keys(ui.limits?.tokens ?? {})).toContain('flower.limited');
});
