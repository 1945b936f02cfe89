/**
 * Real Python Celery 5 (Debian's python3-celery) and tq on the same RabbitMQ, results through
 * the rpc:// backend: a Python client calls tq tasks, a tq client calls Python tasks, and
 * `celery inspect ping` from Python is answered by a tq worker.
 */
import { spawn } from 'node:child_process';
import { createApp, silentLogger, type App } from '@tq/core';
import { lastJson, PYTHON_DIR, pythonExecutable, runPython, startPythonWorker, uniqueName, waitFor, type PythonWorker } from '@tq/testing';
import { Worker } from '@tq/worker';
import { afterEach, describe, expect, it } from 'vitest';
import { AMQP_URL, rabbitTestFile } from './helpers.js';

const created = rabbitTestFile();

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

function queueName(): string {
  const name = uniqueName('tq-amqp-interop');
  created.queues.add(name);
  created.exchanges.add(name);
  return name;
}

async function tqWorker(queue: string, hostname?: string): Promise<{ app: App; worker: Worker; callbacks: unknown[] }> {
  const app = createApp({ broker: AMQP_URL, backend: 'rpc://', logger: silentLogger, taskDefaultQueue: queue });
  const callbacks: unknown[] = [];
  app.task('tq.add', (x: number, y: number) => x + y);
  app.task('tq.echo', (...args: unknown[]) => ({ args }));
  app.task({ name: 'tq.kw', bind: true }, (ctx, x: number, options?: { k?: string }) => ({ x, k: options?.k ?? null, id: ctx.id, retries: ctx.retries, priority: ctx.deliveryInfo.priority, eta: ctx.eta ?? null }));
  app.task('tq.record', (value: unknown) => {
    callbacks.push(value);
    return value;
  });
  app.task('tq.fail', (message: string) => {
    const error = new Error(message);
    error.name = 'ValueError';
    throw error;
  });
  const worker = new Worker(app, { queues: [queue], concurrency: 10, logger: silentLogger, ...(hostname ? { hostname } : {}) });
  await worker.start();
  closers.push(async () => {
    await worker.stop();
    await app.close();
  });
  return { app, worker, callbacks };
}

describe('Python Celery client → tq worker (rpc:// results)', () => {
  it('calls tq tasks with args, kwargs, countdown, priority and link, and re-raises a failure by type and message', async () => {
    const queue = queueName();
    const { callbacks } = await tqWorker(queue);
    const out = await runPython(
      `
import json, time
from celery import signature
from interop_app import app
out = {}
out['add'] = app.send_task('tq.add', (2, 3)).get(timeout=30)
out['echo'] = app.send_task('tq.echo', (1, 'é', [True, None])).get(timeout=30)
r = app.send_task('tq.kw', (4,), {'options': {'k': 'é'}}, priority=5)
out['kw'] = r.get(timeout=30)
out['kw_id'] = r.id
t0 = time.time()
out['countdown'] = app.send_task('tq.add', (1, 1), countdown=1).get(timeout=30)
out['countdown_elapsed'] = time.time() - t0
linked = app.send_task('tq.add', (2, 2), link=signature('tq.record', app=app))
out['linked'] = linked.get(timeout=30)
out['linked_children'] = len(linked.children or [])
try:
    app.send_task('tq.fail', ('bad value 7',)).get(timeout=30)
    out['fail'] = 'no exception'
except Exception as e:
    out['fail'] = [type(e).__name__, str(e), isinstance(e, ValueError)]
out['state'] = r.state
print(json.dumps(out))
`,
      { brokerUrl: AMQP_URL, backendUrl: 'rpc://', queue, timeout: 90_000 },
    );
    const got = lastJson<Record<string, unknown>>(out);
    expect(got['add']).toBe(5);
    expect(got['echo']).toEqual({ args: [1, 'é', [true, null]] });
    expect(got['kw']).toMatchObject({ x: 4, k: 'é', id: got['kw_id'], retries: 0 });
    expect(got['countdown']).toBe(2);
    expect(got['countdown_elapsed']).toBeGreaterThanOrEqual(0.9);
    expect(got['linked']).toBe(4);
    expect(got['linked_children']).toBe(1);
    expect(got['fail']).toEqual(['ValueError', 'bad value 7', true]);
    expect(got['state']).toBe('SUCCESS');
    await waitFor(() => callbacks.includes(4), { message: 'the link callback to run in tq with the parent result' });
  }, 120_000);
});

describe('tq client → Python Celery worker (rpc:// results)', () => {
  let python: PythonWorker | null = null;
  afterEach(async () => {
    await python?.stop();
    python = null;
  });

  it('calls Python tasks and reads their results and failures', async () => {
    const queue = queueName();
    python = await startPythonWorker({ brokerUrl: AMQP_URL, backendUrl: 'rpc://', queue });
    const app = createApp({ broker: AMQP_URL, backend: 'rpc://', logger: silentLogger, taskDefaultQueue: queue });
    closers.push(() => app.close());
    await app.getBackend();
    const sum = await app.sendTask<number>('py.add', [2, 3]);
    const echo = await app.sendTask('py.echo', [1, 'é'], { kwargs: { k: [true, null] } });
    const request = await app.sendTask<Record<string, unknown>>('py.request', ['a'], { kwargs: { b: 2 }, countdown: 1, priority: 3 });
    const failing = await app.sendTask('py.fail', ['boom from python']);
    expect(await sum.get({ timeout: 30 })).toBe(5);
    expect(await echo.get({ timeout: 30 })).toEqual({ args: [1, 'é'], kwargs: { k: [true, null] } });
    const seen = await request.get({ timeout: 30 });
    expect(seen).toMatchObject({ id: request.id, args: ['a'], kwargs: { b: 2 }, root_id: request.id, parent_id: null, retries: 0, routing_key: queue });
    expect(seen['eta']).not.toBeNull();
    const error = await failing.get({ timeout: 30 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'ValueError', message: 'boom from python' });
    expect(await failing.state()).toBe('FAILURE');
  }, 120_000);
});

describe('remote control', () => {
  it('`celery inspect ping` from Python is answered by a tq worker', async () => {
    const queue = queueName();
    const hostname = `${uniqueName('tq-ping')}@interop`;
    await tqWorker(queue, hostname);
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(pythonExecutable(), ['-m', 'celery', '-A', 'interop_app', 'inspect', 'ping', '-d', hostname, '--timeout', '5'], {
        env: { ...process.env, PYTHONPATH: PYTHON_DIR, TQ_BROKER_URL: AMQP_URL, TQ_BACKEND_URL: '', TQ_QUEUE: queue },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let text = '';
      child.stdout.on('data', (c: Buffer) => (text += c.toString()));
      child.stderr.on('data', (c: Buffer) => (text += c.toString()));
      child.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`celery inspect ping exited with ${code}:\n${text}`))));
    });
    expect(out).toMatch(new RegExp(`->\\s+${hostname.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: OK`));
    expect(out).toContain('pong');
    expect(out).toMatch(/1 node online/);
    // And through the Python API, the reply as Celery shapes it.
    const api = await runPython(
      `
import json
from interop_app import app
print(json.dumps(app.control.inspect(destination=['${hostname}'], timeout=5).ping()))
`,
      { brokerUrl: AMQP_URL, queue },
    );
    expect(lastJson(api)).toEqual({ [hostname]: { ok: 'pong' } });
  }, 60_000);
});
