/**
 * Remote control against Python Celery 5 over Redis (127.0.0.1:6379 db 12, or TQ_REDIS_URL's
 * host with db 12): `celery inspect` and Celery's `app.control` talk to a tq worker and get
 * Celery's shapes back (what Flower polls included), control commands from Python act on it, and
 * the mingle handshake works both ways. Skipped when Redis or Python Celery is not available.
 */
import { connect } from 'node:net';
import { spawn, spawnSync } from 'node:child_process';
import { lastJson, pythonExecutable, runPython, startPythonWorker, uniqueName, waitFor, PYTHON_DIR } from '@tq/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, silentLogger, type App, type TaskContext } from '@tq/core';
import { Worker } from '../src/index.js';

const base = new URL(process.env['TQ_REDIS_URL'] ?? 'redis://127.0.0.1:6379/0');
base.pathname = '/12';
const url = base.toString();

function reachable(): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: base.hostname, port: Number(base.port || 6379) });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

const pythonReady = spawnSync(pythonExecutable(), ['-c', 'import celery'], { stdio: 'ignore' }).status === 0;
const available = pythonReady && (await reachable());

describe.skipIf(!available)('remote control with Python Celery (Redis)', () => {
  const node = `${uniqueName('tq')}@interop`;
  const queue = uniqueName('interop-q');
  let app: App;
  let worker: Worker;
  let release: (() => void) | null = null;
  const env = { brokerUrl: url, backendUrl: url, queue };

  beforeAll(async () => {
    app = createApp({ main: 'interop', broker: url, backend: url, logger: silentLogger, taskDefaultQueue: queue });
    app.task('tq.add', (x: number, y: number) => x + y);
    app.task({ name: 'tq.hold', rateLimit: '100/m' }, function (this: TaskContext) {
      return new Promise<void>((resolve) => (release = resolve));
    });
    worker = new Worker(app, { hostname: node, logger: silentLogger, mingle: false, concurrency: 4 });
    await worker.start();
  });
  afterAll(async () => {
    release?.();
    await worker?.stop({ timeout: 5 });
    await app?.close();
  });

  it('celery inspect ping and active answer from a tq worker', async () => {
    const held = await app.sendTask('tq.hold', [], { queue });
    await waitFor(() => worker.active.size === 1, { message: 'the task to run' });
    // Asynchronously: the tq worker answering runs in this very process.
    const cli = (...args: string[]) =>
      new Promise<{ stdout: string; code: number | null }>((resolve) => {
        const child = spawn(pythonExecutable(), ['-m', 'celery', '-A', 'interop_app', 'inspect', ...args, '-d', node, '-t', '3'], {
          env: { ...process.env, PYTHONPATH: PYTHON_DIR, TQ_BROKER_URL: url, TQ_QUEUE: queue },
        });
        let stdout = '';
        child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
        child.on('close', (code) => resolve({ stdout, code }));
      });
    const ping = await cli('ping');
    expect(ping.stdout).toContain(`->  ${node}: OK`);
    expect(ping.stdout).toContain('pong');
    expect(ping.stdout).toContain('1 node online.');
    expect(ping.code).toBe(0);
    const active = await cli('active');
    expect(active.stdout).toContain(`->  ${node}: OK`);
    expect(active.stdout).toContain(held.id);
    release?.();
    await held.get({ timeout: 10 });
  });

  it("Celery's app.control gets Celery's shapes for everything Flower polls, and its commands act on the tq worker", async () => {
    const out = lastJson<Record<string, Record<string, unknown>>>(
      await runPython(
        `
import json
from interop_app import app
i = app.control.inspect(destination=[${JSON.stringify(node)}], timeout=3)
out = {}
for name in ['ping', 'stats', 'active_queues', 'registered', 'scheduled', 'active', 'reserved', 'revoked', 'conf', 'clock', 'report']:
    out[name] = getattr(i, name)()
out['query_task'] = i.query_task('nope')
out['rate_limit'] = app.control.rate_limit('tq.add', '7/s', destination=[${JSON.stringify(node)}], reply=True, timeout=3)
out['time_limit'] = app.control.time_limit('tq.add', soft=5, hard=9, destination=[${JSON.stringify(node)}], reply=True, timeout=3)
out['revoke'] = app.control.revoke('py-revoked-1', destination=[${JSON.stringify(node)}], reply=True, timeout=3)
out['pool_grow'] = app.control.pool_grow(1, destination=[${JSON.stringify(node)}], reply=True, timeout=3)
out['add_consumer'] = app.control.add_consumer('py-extra-${queue}', destination=[${JSON.stringify(node)}], reply=True, timeout=3)
print(json.dumps(out, default=str))
`,
        { ...env, timeout: 60_000 },
      ),
    );
    const of = (name: string) => (out[name] as Record<string, unknown>)[node];
    expect(of('ping')).toEqual({ ok: 'pong' });
    expect(of('stats')).toMatchObject({ pid: process.pid, pool: { 'max-concurrency': 4 }, broker: { transport: 'redis', hostname: base.hostname }, prefetch_count: 16 });
    expect(of('active_queues')).toEqual([expect.objectContaining({ name: queue, routing_key: queue, exchange: expect.objectContaining({ name: queue, type: 'direct' }) })]);
    expect(of('registered')).toEqual(['tq.add', 'tq.hold [rate_limit=100/m]']);
    expect(of('scheduled')).toEqual([]);
    expect(of('active')).toEqual([]);
    expect(of('reserved')).toEqual([]);
    expect(of('revoked')).toEqual([]);
    expect(of('conf')).toMatchObject({ task_default_queue: queue, main: 'interop' });
    expect(of('clock')).toEqual({ clock: expect.any(Number) });
    expect(of('report')).toEqual({ ok: expect.stringContaining('transport:redis') });
    expect(of('query_task')).toEqual({});
    expect(out['rate_limit']).toEqual([{ [node]: { ok: 'new rate limit set successfully' } }]);
    expect(app.tasks.get('tq.add')!.options.rateLimit).toBe('7/s');
    expect(out['time_limit']).toEqual([{ [node]: { ok: 'time limits set successfully' } }]);
    expect(app.tasks.get('tq.add')!.options).toMatchObject({ softTimeLimit: 5, timeLimit: 9 });
    expect(out['revoke']).toEqual([{ [node]: { ok: 'tasks py-revoked-1 flagged as revoked' } }]);
    expect(worker.revoked.has('py-revoked-1')).toBe(true);
    expect(out['pool_grow']).toEqual([{ [node]: { ok: 'pool will grow' } }]);
    expect(worker.pool.concurrency).toBe(5);
    expect(out['add_consumer']).toEqual([{ [node]: { ok: `add consumer py-extra-${queue}` } }]);
    await waitFor(() => worker.queues.some((q) => q.name === `py-extra-${queue}`), { message: 'the added queue' });
  });

  it('mingle: a tq worker accepts the hello of a Python node and Python accepts its reply; a tq worker syncs from a Python worker', async () => {
    const reply = lastJson<{ ok: boolean; has: boolean }>(
      await runPython(
        `
import json, time
from celery.utils.collections import LimitedSet
from interop_app import app
replies = app.control.inspect(destination=[${JSON.stringify(node)}], timeout=3).hello('py@interop', {'from-python': time.monotonic()})
mine = LimitedSet(maxlen=100)
mine.update(replies[${JSON.stringify(node)}]['revoked'])
print(json.dumps({'ok': True, 'has': 'py-revoked-1' in mine}))
`,
        { ...env, timeout: 60_000 },
      ),
    );
    expect(reply).toEqual({ ok: true, has: true });
    expect(worker.revoked.has('from-python')).toBe(true);

    const pyQueue = uniqueName('py-q');
    const python = await startPythonWorker({ ...env, queue: pyQueue, queues: [pyQueue], concurrency: 1 });
    try {
      expect(await app.control.revoke('revoked-on-python', { destination: [python.nodename], reply: true, timeout: 10 })).toEqual([
        { [python.nodename]: { ok: 'tasks revoked-on-python flagged as revoked' } },
      ]);
      // Mingle waits this long for every node's reply (Celery waits 1 s); generous for a loaded machine.
      const late = new Worker(app, { hostname: `${uniqueName('late')}@interop`, queues: [uniqueName('late-q')], logger: silentLogger, mingle: true, mingleTimeout: 3 });
      await late.start();
      try {
        expect(late.revoked.has('revoked-on-python')).toBe(true);
        expect(late.revoked.has('py-revoked-1')).toBe(true);
      } finally {
        await late.stop({ timeout: 5 });
      }
    } finally {
      await python.stop();
    }
  });
});
