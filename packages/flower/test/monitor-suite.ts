/**
 * The monitor's API against real tq workers on one broker: run by redis.test.ts and
 * rabbitmq.test.ts. Everything goes through the monitor's HTTP handler, as a user's script or
 * the web UI would.
 */
import { waitFor } from '@tq/testing';
import { afterEach, describe, expect, it } from 'vitest';
import type { TaskJson, WorkerJson } from '../src/index.js';
import { startCluster, waitForTask, type Cluster, type Transport } from './helpers.js';

export function runMonitorSuite(transport: Transport): void {
  describe(`monitor on ${transport.name}`, () => {
    let cluster: Cluster | null = null;
    afterEach(async () => {
      await cluster?.close();
      cluster = null;
    });

    it('lists workers with liveness and marks a stopped worker offline', async () => {
      cluster = await startCluster(transport);
      const c = cluster;
      const worker = await c.startWorker();
      const online = await waitFor(async () => {
        const overview = await c.getJson<{ workers: WorkerJson[] }>('/api/ui/overview');
        return overview.workers.find((w) => w.hostname === worker.hostname && w.online && w.registered.length > 0 && w.queues.length > 0 && w.pool.maxConcurrency !== null);
      }, { message: 'the worker online with its registered tasks' });
      expect(online.registered).toContain('flower.add');
      expect(online.queues).toContain(c.queue);
      expect(online.lastHeartbeat).toBeGreaterThan(Date.now() / 1000 - 30);
      expect(online.pool.maxConcurrency).toBe(4);
      const flower = await c.getJson<Record<string, { stats: { pool: unknown }; registered: string[] }>>(`/api/workers?refresh=1`);
      expect(flower[worker.hostname]?.registered).toContain('flower.add');
      expect(await c.getJson(`/api/workers?status=1`)).toMatchObject({ [worker.hostname]: true });
      await worker.stop();
      await waitFor(async () => (await c.getJson<WorkerJson>(`/api/ui/workers/${encodeURIComponent(worker.hostname)}`)).online === false, { message: 'the worker offline' });
      expect(await c.getJson(`/api/workers?status=1`)).toMatchObject({ [worker.hostname]: false });
    });

    it('lists, pages, filters and searches tasks, with args, result and runtime', async () => {
      cluster = await startCluster(transport);
      const c = cluster;
      const worker = await c.startWorker();
      const adds = [];
      // One at a time: tasks prefetched in one batch share a received time (ms), and the order of
      // ties is not defined, so each is received only after the previous one finished.
      for (let i = 0; i < 6; i++) {
        adds.push(await c.client.sendTask('flower.add', [i, 100]));
        await waitForTask(c, adds[i]!.id, 'SUCCESS');
      }
      const failed = await c.client.sendTask('flower.fail', ['seven']);
      const echo = await c.client.sendTask('flower.echo', ['needle-xyz'], { kwargs: { options: { tag: 'blue' } } });
      await waitForTask(c, failed.id, 'FAILURE');
      await waitForTask(c, echo.id, 'SUCCESS');

      const info = await c.getJson<Record<string, unknown>>(`/api/task/info/${adds[2]!.id}`);
      expect(info).toMatchObject({ uuid: adds[2]!.id, name: 'flower.add', state: 'SUCCESS', args: '(2, 100)', result: '102', worker: worker.hostname });
      expect(info['runtime']).toBeGreaterThanOrEqual(0);
      const detail = await c.getJson<TaskJson>(`/api/ui/tasks/${failed.id}`);
      expect(detail.exception).toContain('bad value seven');
      expect(detail.traceback).toContain('bad value seven');

      const page1 = await c.getJson<{ total: number; tasks: TaskJson[] }>('/api/ui/tasks?limit=3&offset=0&name=flower.add&sort=received&dir=asc');
      const page2 = await c.getJson<{ total: number; tasks: TaskJson[] }>('/api/ui/tasks?limit=3&offset=3&name=flower.add&sort=received&dir=asc');
      expect(page1.total).toBe(6);
      expect([...page1.tasks, ...page2.tasks].map((t) => t.uuid)).toEqual(adds.map((r) => r.id));
      expect((await c.getJson<{ total: number }>('/api/ui/tasks?state=FAILURE')).total).toBe(1);
      expect((await c.getJson<{ total: number }>(`/api/ui/tasks?worker=${encodeURIComponent(worker.hostname)}`)).total).toBe(8);

      const search = (q: string) => c.getJson<{ total: number; tasks: TaskJson[] }>(`/api/ui/tasks?search=${encodeURIComponent(q)}`);
      expect((await search('needle-xyz')).tasks.map((t) => t.uuid)).toEqual([echo.id]);
      expect((await search('kwargs:tag=blue')).tasks.map((t) => t.uuid)).toEqual([echo.id]);
      expect((await search('kwargs:tag=blu')).total).toBe(0);
      expect((await search('args:needle')).tasks.map((t) => t.uuid)).toEqual([echo.id]);
      expect((await search('state:failure OR result:105')).total).toBe(2);
      expect((await search('name:flower.add result:104')).tasks.map((t) => t.uuid)).toEqual([adds[4]!.id]);
      const bad = await c.get(`/api/ui/tasks?search=${encodeURIComponent('(state:SUCCESS')}`);
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: string }).error).toMatch(/parenthesis/);

      const flowerTasks = await c.getJson<Record<string, { name: string }>>('/api/tasks?taskname=flower.add&limit=2&sort_by=-received');
      expect(Object.keys(flowerTasks)).toEqual([adds[5]!.id, adds[4]!.id]);
      const flowerSearch = await c.getJson<Record<string, unknown>>(`/api/tasks?search=${encodeURIComponent('args:needle')}`);
      expect(Object.keys(flowerSearch)).toEqual([echo.id]);
      expect((await c.getJson<{ 'task-types': string[] }>('/api/task/types'))['task-types']).toEqual(['flower.add', 'flower.echo', 'flower.fail']);
      const result = await c.getJson(`/api/task/result/${adds[1]!.id}`);
      expect(result).toEqual({ 'task-id': adds[1]!.id, state: 'SUCCESS', result: 101 });
    });

    it('revokes a task and sets a rate limit on the worker', async () => {
      cluster = await startCluster(transport);
      const c = cluster;
      const worker = await c.startWorker();
      await waitFor(async () => (await c.getJson<{ workers: WorkerJson[] }>('/api/ui/overview')).workers.some((w) => w.hostname === worker.hostname && w.online));
      // Not run for ten minutes (on SQS not even delivered yet): revoking it is remembered by the worker.
      const held = await c.client.sendTask('flower.add', [1, 1], { countdown: 600 });
      const revoke = await c.post(`/api/task/revoke/${held.id}?terminate=false`);
      expect(revoke.status).toBe(200);
      expect(await revoke.json()).toEqual({ message: `Revoked '${held.id}'` });
      await waitFor(() => worker.revoked.has(held.id), { message: 'the worker to hold the id as revoked' });
      const running = await c.client.sendTask('flower.sleep', [30]);
      await waitForTask(c, running.id, 'STARTED');
      expect((await c.post(`/api/task/revoke/${running.id}?terminate=true&signal=SIGTERM`)).status).toBe(200);
      await waitForTask(c, running.id, 'REVOKED');

      const limit = await c.post(`/api/task/rate-limit/flower.add?workername=${encodeURIComponent(worker.hostname)}&ratelimit=10/m`);
      expect(limit.status).toBe(200);
      const registered = await c.client.control.inspect({ destination: [worker.hostname] }).registered('rate_limit');
      expect(registered?.[worker.hostname]).toContain('flower.add [rate_limit=10/m]');
      const unknown = await c.post(`/api/task/rate-limit/flower.add?workername=nobody@nowhere&ratelimit=10/m`);
      expect(unknown.status).toBe(404);
      const grow = await c.post(`/api/worker/pool/grow/${encodeURIComponent(worker.hostname)}?n=2`);
      expect(grow.status).toBe(200);
      await waitFor(async () => {
        await c.get(`/api/workers?refresh=1`);
        return (await c.getJson<WorkerJson>(`/api/ui/workers/${encodeURIComponent(worker.hostname)}`)).pool.maxConcurrency === 6;
      }, { message: 'the pool grown to 6' });
    });

    it('reports queue lengths and Prometheus metrics under Flower names', async () => {
      cluster = await startCluster(transport);
      const c = cluster;
      for (let i = 0; i < 3; i++) await c.client.sendTask('flower.add', [i, i]);
      const lengths = await c.getJson<{ active_queues: Array<{ name: string; messages: number }> }>('/api/queues/length');
      expect(lengths.active_queues).toContainEqual({ name: c.queue, messages: 3 });
      const queues = await c.getJson<Array<{ name: string; messages: number; broker: string }>>('/api/ui/queues');
      expect(queues.find((q) => q.name === c.queue)).toMatchObject({ messages: 3 });
      const worker = await c.startWorker();
      await waitFor(async () => (await c.getJson<Array<{ name: string; messages: number }>>('/api/ui/queues')).find((q) => q.name === c.queue)?.messages === 0, { message: 'the queue drained' });
      const metrics = await waitFor(async () => {
        const text = await (await c.get('/metrics')).text();
        return text.includes(`flower_task_runtime_seconds_count{worker="${worker.hostname}",task="flower.add"} 3`) ? text : null;
      }, { message: 'runtime metrics for the three tasks' });
      expect(metrics).toContain(`flower_events_total{worker="${worker.hostname}",type="task-succeeded",task="flower.add"} 3`);
      expect(metrics).toContain(`flower_worker_online{worker="${worker.hostname}"} 1`);
      expect(metrics).toMatch(/# TYPE flower_task_prefetch_time_seconds gauge/);
      expect(metrics).toMatch(/flower_worker_prefetched_tasks\{worker=.*,task="flower.add"\} 0/);
      expect(metrics).toMatch(/# TYPE flower_worker_number_of_currently_executing_tasks gauge/);
      expect(await (await c.get('/healthcheck')).text()).toBe('OK');
    });
  });
}
