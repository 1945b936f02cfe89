/**
 * Durable history in Redis and in MongoDB: records written behind survive a monitor restart (and are what a
 * second replica sees), retention bounds what is kept; and a worker killed without a goodbye
 * is marked offline once its heartbeats stop.
 */
import { uniqueName, waitFor } from '@tq/testing';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createMonitor, type TaskJson, type WorkerJson } from '../src/index.js';
import { DB, REDIS, redisUrl, startCluster, waitForTask, type Cluster } from './helpers.js';

const historyUrl = redisUrl(DB.history);
const keys: string[] = [];
let cluster: Cluster | null = null;
afterEach(async () => {
  await cluster?.close();
  cluster = null;
});
afterAll(async () => {
  const raw = new Redis(historyUrl);
  for (const key of keys) await raw.del(`${key}:tasks`, `${key}:updated`);
  raw.disconnect();
  const mongo = new MongoClient(mongoUrl);
  await mongo.connect();
  for (const key of keys) await mongo.db().collection(key).drop().catch(() => undefined);
  await mongo.close();
});

const MONGO_URL = process.env['TQ_MONGO_URL'] ?? 'mongodb://127.0.0.1:27017';
/** The monitor's own database on the shared server. */
const mongoUrl = (() => {
  const u = new URL(MONGO_URL);
  u.pathname = '/tq_flower_test';
  return u.toString();
})();

describe.each([
  { store: 'redis', url: historyUrl },
  { store: 'mongodb', url: mongoUrl },
])('durable history in $store', ({ store, url }) => {
  it('survives a monitor restart and is shared with a second monitor', async () => {
    const key = uniqueName('tq-flower-test');
    keys.push(key);
    const history = { store: url, key, retention: { maxTasks: 1000 } };
    const c = (cluster = await startCluster(REDIS, { history }));
    await c.startWorker();
    const sent = [];
    // One at a time: tasks prefetched in one batch share a received time (ms), and the list below
    // is sorted by it, so each is received only after the previous one finished.
    for (let i = 0; i < 5; i++) {
      sent.push(await c.client.sendTask('flower.add', [i, 1]));
      await waitForTask(c, sent[i]!.id, 'SUCCESS');
    }
    await c.monitor.engine.flush();
    await c.monitor.close();

    // A fresh monitor on the same store: the tasks are there before any new event arrives.
    const replica = createMonitor(c.client, { history, inspectInterval: 0 });
    await replica.start();
    try {
      const task = (await (await replica.fetch(new Request(`http://m.test/api/ui/tasks/${sent[3]!.id}`))).json()) as TaskJson;
      expect(task).toMatchObject({ uuid: sent[3]!.id, name: 'flower.add', state: 'SUCCESS', args: '(3, 1)', result: '4' });
      const list = (await (await replica.fetch(new Request('http://m.test/api/ui/tasks?name=flower.add&sort=received&dir=asc'))).json()) as { total: number; tasks: TaskJson[] };
      expect(list.tasks.map((t) => t.uuid)).toEqual(sent.map((r) => r.id));
      const overview = (await (await replica.fetch(new Request('http://m.test/api/ui/overview'))).json()) as { history: { store: string; stored: number; memoryBytes: number; retention: { maxTasks: number } } };
      expect(overview.history).toMatchObject({ store, stored: 5, retention: { maxTasks: 1000 } });
      expect(overview.history.memoryBytes).toBeGreaterThan(0);
      expect(((await (await replica.fetch(new Request('http://m.test/api/task/types'))).json()) as { 'task-types': string[] })['task-types']).toEqual(['flower.add']);
    } finally {
      await replica.close();
    }
  });

  it('keeps at most maxTasks records', async () => {
    const key = uniqueName('tq-flower-test');
    keys.push(key);
    const c = (cluster = await startCluster(REDIS, { history: { store: url, key, retention: { maxTasks: 3 } } }));
    const worker = await c.startWorker();
    const sent = [];
    for (let i = 0; i < 6; i++) sent.push(await c.client.sendTask('flower.add', [i, 2]));
    // Early tasks leave memory as later ones arrive: wait for the worker's count instead.
    await waitFor(() => c.monitor.engine.counters.get(worker.hostname)?.succeeded === 6, { message: 'six task-succeeded events' });
    await c.monitor.engine.flush();
    const store = c.monitor.engine.history!;
    await store.trim(c.monitor.engine.retention, Date.now() / 1000);
    expect(await store.count()).toBe(3);
    expect(c.monitor.engine.state.tasks.size).toBe(3);
    // The three most recently updated, as in memory (tasks run concurrently, so not by sending order).
    expect((await store.load(10)).map((r) => r.task.uuid).sort()).toEqual([...c.monitor.engine.state.tasks.keys()].sort());
  });
});

describe('liveness', () => {
  it('marks a killed worker offline when its heartbeats stop', async () => {
    const c = (cluster = await startCluster(REDIS));
    const nodename = `${uniqueName('killed')}@test`;
    const child = c.spawnWorker(nodename);
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const worker = () => c.getJson<WorkerJson>(`/api/ui/workers/${encodeURIComponent(nodename)}`).catch(() => null);
    await waitFor(async () => (await worker())?.online, { timeout: 30_000, message: `${nodename} online (worker output: ${output})` });
    child.kill('SIGKILL');
    await waitFor(async () => (await worker())?.online === false, { timeout: 20_000, message: `${nodename} offline after SIGKILL` });
    const metrics = await (await c.get('/metrics')).text();
    expect(metrics).toContain(`flower_worker_online{worker="${nodename}"} 0`);
  });
});
