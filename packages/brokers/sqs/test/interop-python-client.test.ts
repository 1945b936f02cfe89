/**
 * Python Celery 5 as the client (kombu 5.2's SQS transport, boto3), a tq Worker on SQS as the
 * worker, results in Redis: calls by name with args and kwargs, countdown, link, failures that
 * Python re-raises with their type and message, and Python canvas (chain, group, chord).
 */
import { createApp, silentLogger, type App } from '@tq/core';
import { lastJson, runPython, uniqueName } from '@tq/testing';
import { Worker } from '@tq/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deletePythonResults, pythonOnSqs, RESULTS, SQS_URL, testPrefix } from './helpers.js';

const prefix = testPrefix('pyc');
const queue = uniqueName('pyclient');
const env = pythonOnSqs(queue, prefix);
let app: App;
let worker: Worker;

async function py<T = unknown>(code: string): Promise<T> {
  return lastJson<T>(await runPython(`import json\nfrom sqs_interop_app import app\n${code}`, { ...env, timeout: 60_000 }));
}

beforeAll(async () => {
  app = createApp({
    main: 'interop',
    broker: SQS_URL,
    backend: RESULTS.python,
    brokerTransportOptions: { queueNamePrefix: prefix, waitTimeSeconds: 1 },
    taskDefaultQueue: queue,
    logger: silentLogger,
    resultExtended: true,
  });
  app.task('tq.add', (x: number, y: number) => x + y);
  app.task('tq.xsum', (numbers: number[]) => numbers.reduce((a, b) => a + b, 0));
  app.task('tq.kw', (name: string, n: number[]) => ({ name, n }));
  app.task({ name: 'tq.request', bind: true }, (request) => ({ routingKey: request.deliveryInfo.routingKey, eta: request.eta, retries: request.retries }));
  app.task('tq.fail', (kind: string, message: string) => {
    if (kind === 'type') throw new TypeError(message);
    throw new Error(message);
  });
  worker = new Worker(app, { queues: [queue], concurrency: 20, hostname: `tq-${queue}@%h`, logger: silentLogger, mingle: false });
  await worker.start();
});

afterAll(async () => {
  await worker?.stop({ timeout: 10 });
  await app?.close();
  await deletePythonResults();
});

describe('Python Celery client → tq worker (SQS)', () => {
  it('send_task with args and kwargs returns the result, non-ASCII intact', async () => {
    const got = await py(`a = app.send_task('tq.add', (2, 3)).get(timeout=30)\nb = app.send_task('tq.kw', kwargs={'name': 'é✓', 'n': [1, 2]}).get(timeout=30)\nprint(json.dumps([a, b]))`);
    expect(got).toEqual([5, { name: 'é✓', n: [1, 2] }]);
  });

  it('honours countdown: the tq worker holds the message until its eta', async () => {
    const got = await py<{ v: { eta: string; routingKey: string }; elapsed: number }>(
      `import time\nt = time.time()\nv = app.send_task('tq.request', countdown=2).get(timeout=30)\nprint(json.dumps({'v': v, 'elapsed': time.time() - t}))`,
    );
    expect(got.v.eta).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(got.v.routingKey).toBe(queue);
    expect(got.elapsed).toBeGreaterThanOrEqual(1.9);
  });

  it('runs a link callback with the parent result prepended', async () => {
    const got = await py(
      `from celery import signature\nlink = signature('tq.add', args=(10,), app=app).set(task_id='link-${queue}')\napp.send_task('tq.add', (2, 3), link=link).get(timeout=30)\nprint(json.dumps(app.AsyncResult('link-${queue}').get(timeout=30)))`,
    );
    expect(got).toBe(15);
  });

  it('re-raises a tq failure in Python with its type and message', async () => {
    const got = await py<string[][]>(
      `out = []\nfor args in [('type', 'bad type 7'), ('other', 'plain error')]:\n    try:\n        app.send_task('tq.fail', args).get(timeout=30)\n        out.append(['no error'])\n    except Exception as e:\n        out.append([type(e).__name__, str(e)])\nprint(json.dumps(out))`,
    );
    expect(got[0]).toEqual(['TypeError', 'bad type 7']);
    expect(got[1]![1]).toBe('plain error');
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
});
