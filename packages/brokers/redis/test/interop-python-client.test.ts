/**
 * Python Celery 5 (Debian's) as the client, a tq Worker on Redis as the worker: calls by name
 * with args, kwargs, countdown, priority and link, canvas (chain, group, chord), failures that
 * Python re-raises with their type and message, remote control (`celery inspect ping`, `active`)
 * and events (Python's event receiver sees the tq worker's heartbeats and task events).
 */
import { createApp, silentLogger, type App } from '@tq/core';
import { lastJson, runPython, uniqueName } from '@tq/testing';
import { Worker } from '@tq/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanInterop, DB, redisUrl } from './helpers.js';

const db = DB.pythonClient;
const url = redisUrl(db);
const queue = uniqueName('tq-interop-py-client');
const env = { brokerUrl: url, backendUrl: url, queue };
let app: App;
let worker: Worker;

/** Run Python with the interop app and parse the JSON it prints last. */
async function py<T = unknown>(code: string): Promise<T> {
  return lastJson<T>(await runPython(`import json\nfrom interop_app import app\n${code}`, { ...env, timeout: 60_000 }));
}

beforeAll(async () => {
  app = createApp({ main: 'interop', broker: url, backend: url, taskDefaultQueue: queue, logger: silentLogger, resultExtended: true });
  app.task('tq.add', (x: number, y: number) => x + y);
  app.task('tq.xsum', (numbers: number[]) => numbers.reduce((a, b) => a + b, 0));
  app.task('tq.echo', (...args: unknown[]) => ({ args }));
  app.task('tq.kw', (name: string, n: number[]) => ({ name, n }));
  app.task({ name: 'tq.request', bind: true }, (request) => ({
    priority: request.deliveryInfo.priority,
    routingKey: request.deliveryInfo.routingKey,
    eta: request.eta,
    retries: request.retries,
  }));
  app.task('tq.fail', (kind: string, message: string) => {
    if (kind === 'type') throw new TypeError(message);
    throw new Error(message);
  });
  app.task('tq.value_error', (message: string) => {
    const error = new Error(message);
    error.name = 'ValueError';
    throw error;
  });
  app.task({ name: 'tq.report', bind: true }, async (request, x: number) => {
    await request.sendEvent('task-progress', { current: 1, total: 1 });
    return x;
  });
  app.task('tq.sleep', async (seconds: number) => {
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    return seconds;
  });
  worker = new Worker(app, { queues: [queue], concurrency: 20, hostname: `tq-${queue}@%h`, logger: silentLogger, mingle: false, events: true });
  await worker.start();
});

afterAll(async () => {
  await worker?.stop({ timeout: 5 });
  await app?.close();
  await cleanInterop(db, queue);
});

describe('Python Celery client → tq worker (Redis)', () => {
  it('send_task with args returns the result through the Redis backend', async () => {
    expect(await py(`r = app.send_task('tq.add', (2, 3))\nprint(json.dumps(r.get(timeout=30)))`)).toBe(5);
  });

  it('passes kwargs and non-ASCII text intact', async () => {
    const got = await py(`r = app.send_task('tq.kw', kwargs={'name': 'é✓', 'n': [1, 2]})\nprint(json.dumps(r.get(timeout=30)))`);
    expect(got).toEqual({ name: 'é✓', n: [1, 2] });
  });

  it('honours countdown (the tq worker holds the message until its eta)', async () => {
    const got = await py<{ eta: string; elapsed: number }>(
      `import time\nt = time.time()\nr = app.send_task('tq.request', countdown=1.5)\nv = r.get(timeout=30)\nprint(json.dumps({'eta': v['eta'], 'elapsed': time.time() - t}))`,
    );
    expect(got.eta).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(got.elapsed).toBeGreaterThanOrEqual(1.4);
  });

  it('carries priority (served from the priority list) and the routing key', async () => {
    const got = await py<{ priority: number; routingKey: string }>(`r = app.send_task('tq.request', priority=7)\nprint(json.dumps(r.get(timeout=30)))`);
    expect(got).toMatchObject({ priority: 7, routingKey: queue });
  });

  it('runs a link callback with the parent result prepended', async () => {
    const got = await py(
      `from celery import signature\nlink = signature('tq.add', args=(10,), app=app).set(task_id='link-${queue}')\nr = app.send_task('tq.add', (2, 3), link=link)\nr.get(timeout=30)\nprint(json.dumps(app.AsyncResult('link-${queue}').get(timeout=30)))`,
    );
    expect(got).toBe(15);
  });

  it('re-raises a tq failure in Python with its type and message (TypeError, ValueError)', async () => {
    const got = await py<string[][]>(
      `out = []\nfor name, args in [('tq.fail', ('type', 'bad type 7')), ('tq.value_error', ('bad value 7',)), ('tq.fail', ('other', 'plain error'))]:\n    try:\n        app.send_task(name, args).get(timeout=30)\n        out.append(['no error'])\n    except Exception as e:\n        out.append([type(e).__name__, type(e).__module__, str(e)])\nprint(json.dumps(out))`,
    );
    expect(got[0]).toEqual(['TypeError', 'builtins', 'bad type 7']);
    expect(got[1]).toEqual(['ValueError', 'builtins', 'bad value 7']);
    expect(got[2]![2]).toBe('plain error');
  });

  it('runs Python canvas over tq tasks: chain, group and chord (chord counter in Redis)', async () => {
    const got = await py<{ chain: number; group: number[]; chord: number }>(
      `from celery import chain, group, chord, signature\ns = lambda name, *a: signature(name, args=a, app=app)\n` +
        `c = chain(s('tq.add', 2, 3), s('tq.add', 4), s('tq.add', 5)).apply_async()\n` +
        `g = group(s('tq.add', i, i) for i in range(5)).apply_async()\n` +
        `d = chord([s('tq.add', i, i) for i in range(4)], s('tq.xsum')).apply_async()\n` +
        `print(json.dumps({'chain': c.get(timeout=30), 'group': g.get(timeout=30), 'chord': d.get(timeout=30)}))`,
    );
    expect(got).toEqual({ chain: 14, group: [0, 2, 4, 6, 8], chord: 12 });
  });

  it('answers celery inspect active from Python while a task runs', async () => {
    const got = await py<{ id: string; active: Record<string, Array<{ id: string; name: string; args: unknown }>> }>(
      `import time\nr = app.send_task('tq.sleep', (3,))\ndeadline = time.time() + 10\nactive = {}\n` +
        `while time.time() < deadline:\n    active = app.control.inspect(timeout=1, destination=['${worker.hostname}']).active() or {}\n` +
        `    if any(t['id'] == r.id for t in active.get('${worker.hostname}', [])):\n        break\n` +
        `print(json.dumps({'id': r.id, 'active': active}))`,
    );
    const mine = got.active[worker.hostname]?.find((t) => t.id === got.id);
    expect(mine).toMatchObject({ id: got.id, name: 'tq.sleep' });
  });

  it("feeds Python's event receiver with the tq worker's heartbeats, task events and a task's own events", async () => {
    const got = await py<{ id: string; types: string[] }>(
      `import socket, threading, time\nHOST = '${worker.hostname}'\nseen = []\nsent = {}\n` +
        `def handler(event):\n    if event.get('hostname') == HOST:\n        seen.append((event['type'], event.get('uuid')))\n` +
        `def send():\n    sent['id'] = app.send_task('tq.report', (42,)).id\n` +
        `def done():\n    types = [t for t, u in seen if u in (None, sent.get('id'))]\n    return 'task-succeeded' in types and 'task-progress' in types and 'worker-heartbeat' in types\n` +
        // itercapture ends after a drain timeout, so each quiet second starts a new one.
        `with app.connection() as conn:\n    recv = app.events.Receiver(conn, handlers={'*': handler})\n` +
        `    threading.Timer(0.5, send).start()\n    deadline = time.time() + 20\n    while time.time() < deadline and not done():\n` +
        `        try:\n            for _ in recv.itercapture(limit=None, timeout=1, wakeup=False):\n                if done() or time.time() > deadline:\n                    break\n` +
        `        except (socket.timeout, TimeoutError):\n            pass\n` +
        `print(json.dumps({'id': sent.get('id'), 'types': [t for t, u in seen if u in (None, sent.get('id'))]}))`,
    );
    expect(got.types).toContain('worker-heartbeat');
    expect(got.types).toEqual(expect.arrayContaining(['task-received', 'task-started', 'task-progress', 'task-succeeded']));
  });

  it('answers celery inspect ping from Python', async () => {
    const got = await py<Record<string, unknown>>(`print(json.dumps(app.control.inspect(timeout=3, destination=['${worker.hostname}']).ping()))`);
    expect(got).toEqual({ [worker.hostname]: { ok: 'pong' } });
  });
});
