/**
 * The UI API's richer pages on Redis with real workers: a chord's workflow graph, beat entries
 * with their runs, graph series, purging a queue, and Flower's apply endpoints.
 */
import { chord } from '@tq/canvas';
import { waitFor } from '@tq/testing';
import { Beat } from '@tq/worker';
import { afterEach, describe, expect, it } from 'vitest';
import type { BeatEntryJson, StatsJson, WorkerJson, WorkflowGraph } from '../src/index.js';
import { REDIS, startCluster, waitForTask, type Cluster } from './helpers.js';

let cluster: Cluster | null = null;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
  await cluster?.close();
  cluster = null;
});

describe('UI API', () => {
  it("draws a chord's header and body", async () => {
    const c = (cluster = await startCluster(REDIS));
    await c.startWorker();
    const sig = (name: string, args: unknown[] = []) => c.client.signature(name, args);
    const result = await chord([sig('flower.add', [1, 1]), sig('flower.add', [2, 2])], sig('flower.xsum')).applyAsync();
    expect(await result.get({ timeout: 15 })).toBe(6);
    const body = await waitForTask(c, result.id, 'SUCCESS');
    const graph = await waitFor(async () => {
      const g = await c.getJson<WorkflowGraph>(`/api/ui/tasks/${body.uuid}/graph`);
      return g.nodes.filter((n) => n.name === 'flower.add').length === 2 ? g : null;
    }, { message: 'the chord graph with both header tasks' });
    const headers = graph.nodes.filter((n) => n.name === 'flower.add');
    expect(headers.every((n) => n.state === 'SUCCESS')).toBe(true);
    expect(graph.nodes.find((n) => n.id === result.id)).toMatchObject({ name: 'flower.xsum', kind: 'chord-body', state: 'SUCCESS' });
    for (const h of headers) expect(graph.edges).toContainEqual({ from: h.id, to: result.id, kind: 'chord' });
    expect(graph.nodes.some((n) => n.kind === 'group')).toBe(true);
  });

  it('lists beat entries with their last and next run', async () => {
    const c = (cluster = await startCluster(REDIS));
    expect(await c.getJson('/api/ui/beat')).toEqual([]);
    await c.monitor.close();
    // An app with a schedule, and a real beat keeping its state in the result backend.
    c.client.conf.beatSchedule['add-every-second'] = { task: 'flower.add', schedule: 1, args: [1, 2] };
    const beat = new Beat(c.client, { store: 'backend' });
    await beat.start();
    cleanups.push(() => beat.stop());
    const entry = await waitFor(async () => {
      const entries = await c.getJson<BeatEntryJson[]>('/api/ui/beat');
      return entries[0] && entries[0].totalRunCount > 0 ? entries[0] : null;
    }, { message: 'a beat run recorded' });
    expect(entry).toMatchObject({ name: 'add-every-second', task: 'flower.add', schedule: 'every 1s' });
    expect(entry.lastRunAt).toBeGreaterThan(Date.now() / 1000 - 30);
    expect(entry.nextRunAt).toBeCloseTo(entry.lastRunAt! + 1, 0);
  });

  it('serves throughput, percentiles and queue depth, and purges a queue', async () => {
    const c = (cluster = await startCluster(REDIS));
    for (let i = 0; i < 4; i++) await c.client.sendTask('flower.add', [i, i]);
    const depth = await waitFor(async () => {
      const s = await c.getJson<StatsJson>('/api/ui/stats?minutes=5');
      return s.queueDepth.find((d) => d.queue === c.queue && d.depth === 4);
    }, { message: 'a queue depth sample of 4' });
    expect(depth.t).toBeGreaterThan(Date.now() / 1000 - 60);
    const purge = await c.post(`/api/ui/queues/${encodeURIComponent(c.queue)}/purge`);
    expect(await purge.json()).toEqual({ purged: 4 });
    expect((await c.getJson<Array<{ name: string; messages: number }>>('/api/ui/queues')).find((q) => q.name === c.queue)?.messages).toBe(0);

    await c.startWorker();
    const sent = [];
    for (let i = 0; i < 5; i++) sent.push(await c.client.sendTask('flower.add', [i, 1]));
    const failed = await c.client.sendTask('flower.fail', ['x']);
    for (const r of sent) await waitForTask(c, r.id, 'SUCCESS');
    await waitForTask(c, failed.id, 'FAILURE');
    const stats = await c.getJson<StatsJson>('/api/ui/stats?minutes=5');
    expect(stats.throughput).toHaveLength(5);
    const sum = stats.throughput.reduce((a, p) => ({ succeeded: a.succeeded + p.succeeded, failed: a.failed + p.failed }), { succeeded: 0, failed: 0 });
    expect(sum).toEqual({ succeeded: 5, failed: 1 });
    expect(stats.runtime.p50).toBeGreaterThanOrEqual(0);
    expect(stats.runtime.p99).toBeGreaterThanOrEqual(stats.runtime.p50!);
    expect(stats.wait.p50).not.toBeNull();
  });

  it("runs tasks through Flower's apply endpoints", async () => {
    const c = (cluster = await startCluster(REDIS));
    await c.startWorker();
    const applied = await c.post('/api/task/apply/flower.add', { args: [20, 22] });
    expect(await applied.json()).toMatchObject({ state: 'SUCCESS', result: 42 });
    const queued = (await (await c.post('/api/task/async-apply/flower.echo', { args: ['hi'], kwargs: { options: { tag: 't' } }, countdown: 0 })).json()) as { 'task-id': string; state: string };
    const done = await waitForTask(c, queued['task-id'], 'SUCCESS');
    expect(done.result).toContain("'tag': 't'");
    const byName = (await (await c.post('/api/task/send-task/flower.add', { args: [1, 1] })).json()) as { 'task-id': string };
    expect((await c.client.asyncResult(byName['task-id']).get({ timeout: 10 }))).toBe(2);
    expect((await c.post('/api/task/async-apply/no.such.task', { args: [] })).status).toBe(404);
    expect((await c.post('/api/task/async-apply/flower.add', { args: 'nope' })).status).toBe(400);
    const result = await c.getJson(`/api/task/result/${queued['task-id']}`);
    expect(result).toMatchObject({ 'task-id': queued['task-id'], state: 'SUCCESS', result: { value: 'hi', tag: 't' } });
  });

  it("controls a worker through Flower's worker endpoints", async () => {
    const c = (cluster = await startCluster(REDIS));
    const worker = await c.startWorker();
    const w = encodeURIComponent(worker.hostname);
    const info = async () => {
      await c.get(`/api/workers?refresh=1&workername=${w}`);
      return c.getJson<WorkerJson>(`/api/ui/workers/${w}`);
    };
    await waitFor(async () => (await info()).online);
    expect((await c.post(`/api/worker/pool/shrink/${w}?n=1`)).status).toBe(200);
    await waitFor(async () => (await info()).pool.maxConcurrency === 3, { message: 'the pool shrunk to 3' });
    const extra = `${c.queue}-extra`;
    expect((await c.post(`/api/worker/queue/add-consumer/${w}?queue=${encodeURIComponent(extra)}`)).status).toBe(200);
    await waitFor(async () => (await info()).queues.includes(extra), { message: 'the added queue' });
    expect((await c.post(`/api/worker/queue/cancel-consumer/${w}?queue=${encodeURIComponent(extra)}`)).status).toBe(200);
    await waitFor(async () => !(await info()).queues.includes(extra), { message: 'the cancelled queue gone' });
    const limits = await c.post(`/api/task/timeout/flower.sleep?workername=${w}&soft=5&hard=10`);
    expect(await limits.json()).toEqual({ message: 'time limits set successfully' });
    // Refusals come back as 403 with the worker's reason, as in Flower.
    const autoscale = await c.post(`/api/worker/pool/autoscale/${w}?min=1&max=4`);
    expect(autoscale.status).toBe(403);
    const restart = await c.post(`/api/worker/pool/restart/${w}`);
    expect(restart.status).toBe(403);
    expect((await c.post(`/api/worker/shutdown/nobody@nowhere`)).status).toBe(404);
    expect((await c.post(`/api/worker/shutdown/${w}`)).status).toBe(200);
    await worker.stopped;
    await waitFor(async () => (await info()).online === false, { message: 'the worker offline after shutdown' });
  });
});
