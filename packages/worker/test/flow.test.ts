/**
 * Cluster-wide flow control against real Redis with three worker processes: a global rate
 * limit, per-key limits, a global concurrency limit across a SIGKILL, deduplication and batch
 * tasks; and the refusal of these options on an app without a shared store.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, silentLogger } from '@tq/core';

const HERE = dirname(fileURLToPath(import.meta.url));
process.env['TQ_FLOW_RUN'] ??= randomUUID().slice(0, 8);
const flow = await import('./fixtures/flow-app.js');
const { app, PREFIX, REDIS_URL } = flow;

interface Proc {
  child: ChildProcess;
  pid: number;
  exited: Promise<void>;
}

function spawnWorker(): Promise<Proc> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions', '@tq/source', join(HERE, 'fixtures/flow-worker.ts')], {
    env: { ...process.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start:\n${out}`)), 30_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = /READY (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, pid: Number(m[1]), exited });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`worker exited (${code}):\n${out}`)));
  });
}

async function stopWorker(proc: Proc): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill('SIGTERM');
  await proc.exited;
}

const workers: Proc[] = [];
const redis = new Redis(REDIS_URL);

beforeAll(async () => {
  workers.push(...(await Promise.all([spawnWorker(), spawnWorker(), spawnWorker()])));
}, 60_000);

afterAll(async () => {
  await Promise.all(workers.map(stopWorker));
  await app.close();
  flow.closeCounter();
  const keys = await redis.keys(`${PREFIX}*`);
  // The run's queue and its binding (results expire by themselves).
  keys.push(`flowtest-${flow.RUN}`, `_kombu.binding.flowtest-${flow.RUN}`);
  await redis.del(...keys);
  redis.disconnect();
}, 30_000);

/** Most intervals open at one instant. */
function maxOverlap(intervals: Array<[number, number]>): number {
  const edges = intervals.flatMap(([s, e]) => [[s, 1] as const, [e, -1] as const]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let most = 0;
  for (const [, d] of edges) most = Math.max(most, (open += d));
  return most;
}

describe('flow control across three worker processes', () => {
  it('a global rate limit of 50/s holds within 10 % over 10 s', async () => {
    const results = await flow.limited.applyAsyncMany(Array.from({ length: 600 }, () => [] as []));
    const starts = (await Promise.all(results.map((r) => r.get({ timeout: 60 })))).sort((a, b) => a - b);
    const first = starts[0]!;
    const inWindow = starts.filter((t) => t < first + 10_000).length;
    if (process.env['TQ_FLOW_REPORT']) console.log(`global 50/s: ${inWindow} starts in the first 10 s`);
    // 50/s for 10 s is 500 starts (+ the burst of 5 the bucket starts with).
    expect(inWindow).toBeLessThanOrEqual(550);
    expect(inWindow).toBeGreaterThanOrEqual(450);
  }, 90_000);

  it('a per-key limit holds per key while another key runs at its own pace', async () => {
    const busy = await flow.keyed.applyAsyncMany(Array.from({ length: 25 }, () => ['busy'] as [string]));
    const calm = await flow.keyed.applyAsyncMany(Array.from({ length: 3 }, () => ['calm'] as [string]));
    const busyStarts = (await Promise.all(busy.map((r) => r.get({ timeout: 30 })))).map((v) => v.t).sort((a, b) => a - b);
    const calmStarts = (await Promise.all(calm.map((r) => r.get({ timeout: 30 })))).map((v) => v.t).sort((a, b) => a - b);
    // 25 calls at 5/s take at least 4.8 s; calm's 3 calls need ~0.4 s whatever busy's backlog.
    const busySpan = busyStarts.at(-1)! - busyStarts[0]!;
    expect(busySpan).toBeGreaterThanOrEqual(4500);
    expect(calmStarts.at(-1)! - busyStarts[0]!).toBeLessThan(busySpan / 2);
    expect(calmStarts.at(-1)! - calmStarts[0]!).toBeLessThan(1500);
  }, 60_000);

  it('a global concurrency of 3 is never exceeded', async () => {
    const results = await flow.capped.applyAsyncMany(Array.from({ length: 24 }, () => [100] as [number]));
    const values = await Promise.all(results.map((r) => r.get({ timeout: 60 })));
    expect(maxOverlap(values.map(([s, e]) => [s, e]))).toBeLessThanOrEqual(3);
    // The tasks ran on more than one worker: the limit is the cluster's, not a worker's.
    expect(new Set(values.map((v) => v[2])).size).toBeGreaterThan(1);
  }, 60_000);

  it('a per-key concurrency limit of 1 serialises each key while keys run side by side', async () => {
    const calls = ['a', 'b', 'c'].flatMap((account) => Array.from({ length: 4 }, () => [account, 150] as [string, number]));
    const values = await Promise.all((await flow.perAccount.applyAsyncMany(calls)).map((r) => r.get({ timeout: 30 })));
    for (const account of ['a', 'b', 'c']) {
      expect(maxOverlap(values.filter((v) => v.account === account).map((v) => [v.start, v.end]))).toBe(1);
    }
    expect(maxOverlap(values.map((v) => [v.start, v.end]))).toBeGreaterThan(1);
  }, 60_000);

  it('duplicate submissions run once and share one result', async () => {
    const key = randomUUID();
    const results = await Promise.all(Array.from({ length: 5 }, () => flow.once.delay(key)));
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
    expect(await results[0]!.get({ timeout: 20 })).toBe(1);
    // Once it finished ('active' mode), the key is free again: a new call runs.
    const again = await flow.once.delay(key);
    expect(again.id).not.toBe(results[0]!.id);
    expect(await again.get({ timeout: 20 })).toBe(2);
    // A retry re-sends the call with its own id and key: it is not taken for a duplicate.
    expect(await (await flow.retriedOnce.delay(key)).get({ timeout: 20 })).toBe(`${key} after 1 retry`);
    // taskId reuse within the ttl: the second send is dropped, the caller gets the first result.
    const id = randomUUID();
    const a = await flow.byId.applyAsync([], { taskId: id });
    expect(await a.get({ timeout: 20 })).toBe(1);
    const b = await flow.byId.applyAsync([], { taskId: id });
    expect(b.id).toBe(id);
    expect(await b.get({ timeout: 20 })).toBe(1);
    expect(Number(await redis.get(`${PREFIX}runs:byid`))).toBe(1);
    expect(Number(await redis.hget(`${PREFIX}stats`, 'flow.once'))).toBe(4);
  }, 60_000);

  it('tq inspect limits shows tokens, leases and deduplicated counts', async () => {
    const replies = await app.control.broadcast('limits', {}, { reply: true, timeout: 2 });
    expect(replies.length).toBe(3);
    const info = Object.values(replies[0]!)[0] as { tokens: Record<string, number>; running: Record<string, number>; deduped: Record<string, number>; waiting: unknown };
    expect(Object.keys(info.tokens)).toEqual(expect.arrayContaining(['flow.limited', 'flow.keyed:busy', 'flow.keyed:calm']));
    expect(info.tokens['flow.limited']).toBeGreaterThanOrEqual(0);
    expect(info.deduped['flow.once']).toBe(4);
    expect(info.running['flow.capped'] ?? 0).toBe(0);
    expect(info.waiting).toEqual({ rate: {}, concurrency: {} });
  });

  it('sendTasks mixing deduplicated calls with others: duplicates share one result, every other call its own, in call order', async () => {
    const key = randomUUID();
    const results = await app.sendTasks<unknown>([
      { name: 'flow.byid', options: { taskId: key } },
      { name: 'flow.doubled', args: [1] },
      { name: 'flow.byid', options: { taskId: key } },
      { name: 'flow.doubled', args: [2] },
    ]);
    expect(results.map((r) => r.id)).toEqual([key, expect.any(String), key, expect.any(String)]);
    expect(results[1]!.id).not.toBe(results[3]!.id);
    const values = (await Promise.all(results.map((r) => r.get({ timeout: 20 })))) as [number, { value: number }, number, { value: number }];
    expect(values[0]).toBe(values[2]);
    expect([values[1].value, values[3].value]).toEqual([2, 4]);
  }, 30_000);

  it('a batch body receives the calls grouped and every caller gets its own value', async () => {
    const results = await flow.doubled.applyAsyncMany(Array.from({ length: 12 }, (_, i) => [i] as [number]));
    const values = await Promise.all(results.map((r) => r.get({ timeout: 20 })));
    values.forEach((v, i) => {
      expect(v.value).toBe(i * 2);
      expect(v.id).toBe(results[i]!.id);
      expect(v.size).toBeLessThanOrEqual(5);
    });
    expect(Math.max(...values.map((v) => v.size))).toBeGreaterThan(1);
  }, 30_000);

  it('a SIGKILLed worker holding slots gives them back when its leases expire', async () => {
    // Only the first worker runs: stop the other two, it takes all three slots with long tasks.
    await Promise.all(workers.splice(1).map(stopWorker));
    const long = await flow.capped.applyAsyncMany([[60_000], [60_000], [60_000]]);
    const deadline = Date.now() + 20_000;
    while ((await Promise.all(long.map((r) => r.state()))).some((s) => s !== 'STARTED')) {
      if (Date.now() > deadline) throw new Error('the long tasks did not start');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await redis.zcard(`${PREFIX}conc:flow.capped`)).toBe(3);
    workers.push(...(await Promise.all([spawnWorker(), spawnWorker()])));
    const victim = workers.shift()!;
    victim.child.kill('SIGKILL');
    await victim.exited;
    const killedAt = Date.now();
    const after = await flow.capped.applyAsyncMany(Array.from({ length: 9 }, () => [100] as [number]));
    const values = await Promise.all(after.map((r) => r.get({ timeout: 30 })));
    expect(maxOverlap(values.map(([s, e]) => [s, e]))).toBeLessThanOrEqual(3);
    expect(Math.min(...values.map((v) => v[0]))).toBeGreaterThanOrEqual(killedAt);
  }, 90_000);
});

describe('without a shared store', () => {
  it('refuses cluster-wide options at registration instead of enforcing them per worker', () => {
    const memory = createApp({ logger: silentLogger });
    expect(() => memory.task({ name: 'g', rateLimit: { rate: '5/s', scope: 'global' } }, () => 1)).toThrow(/no shared store.*flowStore/);
    expect(() => memory.task({ name: 'c', concurrencyLimit: 2 }, () => 1)).toThrow(/concurrencyLimit must be shared by every worker/);
    expect(() => memory.task({ name: 'd', dedupKey: (args) => String(args[0]) }, () => 1)).toThrow(/dedupKey/);
    const amqp = createApp({ broker: 'amqp://127.0.0.1:5672', backend: null, logger: silentLogger });
    expect(() => amqp.task({ name: 'g', rateLimit: { rate: '5/s', scope: 'global' } }, () => 1)).toThrow(/no shared store/);
    // Per-worker limits and batches need no store; an explicit flowStore makes the others legal.
    expect(() => memory.task({ name: 'w', rateLimit: { rate: '5/s', scope: 'worker' }, batch: { size: 2 } }, () => 1)).not.toThrow();
    const withStore = createApp({ broker: 'amqp://127.0.0.1:5672', flowStore: REDIS_URL, logger: silentLogger });
    expect(withStore.task({ name: 'g', rateLimit: { rate: '5/s', scope: 'global' } }, () => 1).options.flow?.rate).toBe(5);
    expect(memory.tasks.get('w')!.options.rateLimit).toBe('5/s');
  });
});
