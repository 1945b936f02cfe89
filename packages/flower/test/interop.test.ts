/**
 * Interop both ways, on Redis: the real Flower 2.0.1 (from the venv scripts/services.sh makes)
 * lists tq workers and their tasks through its REST API; and @tq/flower lists a Python Celery
 * worker and its tasks. Both sides share one Redis db without key prefixes, as Celery's do.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createApp, type App } from '@tq/core';
import { freePort, PYTHON_DIR, pythonExecutable, uniqueName, waitFor } from '@tq/testing';
import { Worker } from '@tq/worker';
import { afterEach, describe, expect, it } from 'vitest';
import { createMonitor, type Monitor, type TaskJson, type WorkerJson } from '../src/index.js';
import { registerTasks, redisUrl } from './helpers.js';

const VENV_PYTHON = process.env['TQ_PYTHON_VENV'] ?? '/tmp/tq-services/pyvenv/bin/python';
/** A db of its own: Flower and Python Celery use no key prefix. */
const INTEROP_DB = 14;
const broker = redisUrl(INTEROP_DB);

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tqWorker(queue: string): Promise<{ app: App; worker: Worker }> {
  const app = createApp({ main: 'interop', broker, backend: broker, taskDefaultQueue: queue });
  registerTasks(app);
  const worker = new Worker(app, { queues: [queue], mingle: false, events: true, hostname: `${uniqueName('tq')}@interop` });
  await worker.start();
  cleanups.push(async () => {
    await worker.stop({ timeout: 5 });
    await app.close();
  });
  return { app, worker };
}

describe('Flower 2.0.1 watching tq', () => {
  it('lists tq workers and their tasks', async () => {
    const queue = uniqueName('interop-flower');
    const port = await freePort();
    const flower: ChildProcess = spawn(VENV_PYTHON, ['-m', 'celery', '--broker', broker, 'flower', `--port=${port}`, '--address=127.0.0.1'], {
      env: { ...process.env, FLOWER_UNAUTHENTICATED_API: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    flower.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    flower.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    cleanups.push(() => {
      flower.kill('SIGKILL');
    });
    const base = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${base}/healthcheck`).catch(() => null))?.ok, { timeout: 60_000, message: `Flower up (log: ${log})` });
    const { app, worker } = await tqWorker(queue);
    const workers = await waitFor(
      async () => {
        const body = (await (await fetch(`${base}/api/workers?refresh=1`)).json()) as Record<string, { registered?: string[]; stats?: { pool?: unknown } }>;
        return body[worker.hostname]?.registered?.length ? body : null;
      },
      { timeout: 30_000, message: `Flower listing ${worker.hostname} (log: ${log})` },
    );
    expect(workers[worker.hostname]!.registered).toContain('flower.add');
    const r = await app.sendTask('flower.add', [20, 22]);
    const task = await waitFor(
      async () => {
        const body = (await (await fetch(`${base}/api/tasks?taskname=flower.add`)).json()) as Record<string, { state: string; result: string; worker: string; args: string }>;
        return body[r.id]?.state === 'SUCCESS' ? body[r.id] : null;
      },
      { timeout: 30_000, message: `Flower listing task ${r.id} as SUCCESS` },
    );
    expect(task).toMatchObject({ result: '42', worker: worker.hostname, args: '(20, 22)' });
    const status = (await (await fetch(`${base}/api/workers?status=1`)).json()) as Record<string, boolean>;
    expect(status[worker.hostname]).toBe(true);
  }, 120_000);
});

describe('@tq/flower watching Python Celery', () => {
  it('lists a Python worker and its tasks', async () => {
    const queue = uniqueName('interop-py');
    const client = createApp({ main: 'interop', broker, backend: broker, taskDefaultQueue: queue });
    const monitor: Monitor = createMonitor(client, { inspectInterval: 1 });
    await monitor.start();
    cleanups.push(async () => {
      await monitor.close();
      await client.close();
    });
    // Started here rather than with startPythonWorker, which turns heartbeats off: liveness needs them.
    const nodename = `${uniqueName('py')}@interop`;
    const child = spawn(pythonExecutable(), ['-m', 'celery', '-A', 'interop_app', 'worker', '-P', 'prefork', '-c', '1', '-n', nodename, '-Q', queue, '-E', '--without-gossip', '--without-mingle', '--loglevel', 'INFO'], {
      env: { ...process.env, PYTHONPATH: PYTHON_DIR, PYTHONUNBUFFERED: '1', TQ_BROKER_URL: broker, TQ_BACKEND_URL: broker, TQ_QUEUE: queue },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    cleanups.push(async () => {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    });
    const py = { nodename, output: () => log };
    const get = async <T>(path: string) => (await (await monitor.fetch(new Request(`http://m.test${path}`))).json()) as T;
    const listed = await waitFor(
      async () => (await get<{ workers: WorkerJson[] }>('/api/ui/overview')).workers.find((w) => w.hostname === py.nodename && w.online && w.registered.length > 0),
      { timeout: 60_000, message: `${py.nodename} online in the overview (log: ${py.output()})` },
    );
    expect(listed.swIdent).toBe('py-celery');
    expect(listed.registered).toContain('py.add');
    const r = await client.sendTask('py.add', [2, 40]);
    const task = await waitFor(async () => {
      const t = await get<TaskJson | { error: string }>(`/api/ui/tasks/${r.id}`);
      return 'state' in t && t.state === 'SUCCESS' ? t : null;
    }, { timeout: 30_000, message: `py.add ${r.id} SUCCESS (worker log: ${py.output()})` });
    expect(task).toMatchObject({ name: 'py.add', args: '(2, 40)', result: '42', worker: py.nodename });
    expect(task.runtime).toBeGreaterThanOrEqual(0);
  }, 90_000);
});
