/**
 * A MongoDB server restart mid-run, on a FerretDB of this test's own (never the shared one):
 * results stored before it are still there, a store issued while the server is down completes
 * once it is back, and a `get` waiting across the restart resolves.
 */
import { createApp, silentLogger } from '@tq/core';
import { createResultMeta } from '@tq/protocol';
import { PrivateFerretDB, startWorker, uniqueName, waitFor } from '@tq/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MongoBackend } from '../src/mongo-backend.js';

const server = new PrivateFerretDB({ database: 'restart' });

beforeAll(() => server.start(), 60_000);
afterAll(() => server.close());

const done = (taskId: string, result: unknown) => createResultMeta({ taskId, status: 'SUCCESS', result, dateDone: new Date() });

it('keeps results across a restart; a store made while down lands; a waiting get resolves', { timeout: 90_000 }, async () => {
  const backend = new MongoBackend(server.url, { clientOptions: { serverSelectionTimeoutMS: 30_000 } });
  try {
    const before = uniqueName('before');
    const during = uniqueName('during');
    const after = uniqueName('after');
    await backend.store(done(before, 1));
    const waiting = backend.waitFor(after, { timeout: 60, interval: 0.2 });

    await server.stop();
    const storing = backend.store(done(during, 2));
    await server.start();
    await storing;
    await backend.store(done(after, 3));

    expect((await waiting).result).toBe(3);
    expect((await backend.get(before))?.result).toBe(1);
    expect((await backend.get(during))?.result).toBe(2);
  } finally {
    await backend.close();
  }
});

it('a worker keeps storing results after a restart, and each get resolves', { timeout: 90_000 }, async () => {
  const queue = uniqueName('restart');
  const app = createApp({ broker: 'memory://', backend: server.url, resultBackendTransportOptions: { clientOptions: { serverSelectionTimeoutMS: 30_000 } }, logger: silentLogger });
  const add = app.task({ name: 'restart.add', queue }, (x: number, y: number) => x + y);
  const worker = await startWorker(app, { queues: [queue], concurrency: 4 });
  try {
    expect(await (await add.delay(1, 1)).get({ timeout: 20 })).toBe(2);
    await server.stop();
    await server.start();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => add.delay(i, i)));
    expect(await Promise.all(results.map((r) => r.get({ timeout: 30 })))).toEqual(Array.from({ length: 20 }, (_, i) => 2 * i));
  } finally {
    await worker.stop();
    await app.close();
  }
});

it('a store in flight when the server goes down is written once it is back, never dropped', { timeout: 90_000 }, async () => {
  const backend = new MongoBackend(server.url, { clientOptions: { serverSelectionTimeoutMS: 30_000 } });
  try {
    await backend.store(done(uniqueName('warm'), 0));
    const ids: string[] = [];
    const stores: Array<Promise<unknown>> = [];
    let producing = true;
    // Stores keep going out, so some are on the wire when the server is stopped (the chaos run's worker results).
    const producer = (async () => {
      while (producing && ids.length < 2000) {
        for (let i = 0; i < 20; i++) {
          const id = uniqueName('inflight');
          ids.push(id);
          stores.push(backend.store(done(id, ids.length)).then(() => null, (err: unknown) => err));
        }
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    })();
    await waitFor(() => ids.length >= 400, { timeout: 10_000, interval: 5, message: 'stores to be under way' });
    await server.stop();
    producing = false;
    await producer;
    await server.start();
    const failures = (await Promise.all(stores)).filter((err) => err !== null);
    expect(failures.map(String).slice(0, 3)).toEqual([]);
    const stored = await backend.getMany(ids);
    expect(ids.filter((id) => stored.get(id)?.status !== 'SUCCESS')).toEqual([]);
  } finally {
    await backend.close();
  }
});
