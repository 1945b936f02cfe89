/**
 * tq and real Python Celery 5 (Debian's, pymongo 3.11) sharing results in MongoDB through
 * Celery's own MongoDB backend, both ways: values, failures re-raised by type, groups and chords
 * (joined by `celery.chord_unlock`, which each side runs for the other). The broker is Redis
 * (a db of this file's own); the backend is a database of this file's own.
 */
import { chord, group } from '@tq/canvas';
import { createApp, silentLogger, type App, type TaskError } from '@tq/core';
import { lastJson, runPython, startPythonWorker, startWorker, uniqueName, type PythonWorker } from '@tq/testing';
import type { Worker } from '@tq/worker';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabase } from './helpers.js';

const brokerUrl = `${(process.env['TQ_REDIS_URL'] ?? 'redis://127.0.0.1:6379').replace(/\/\d*$/, '')}/10`;
const mongo = testDatabase('interop');
const backendUrl = mongo.url;
/** mongo_interop_app.py: interop_app without result_extended, which FerretDB v1 cannot store for chords. */
const PYTHON_APP_DIR = join(dirname(fileURLToPath(import.meta.url)), 'python');

/** Remove the test queue's keys from the broker's db (with redis-py: ioredis is not a dependency here). */
async function deleteQueue(queue: string): Promise<void> {
  const code = `import os, redis\nr = redis.Redis.from_url(os.environ['TQ_BROKER_URL'])\nkeys = r.keys('*' + os.environ['TQ_QUEUE'] + '*')\nif keys: r.delete(*keys)`;
  await runPython(code, { brokerUrl, queue, timeout: 30_000 });
}

describe('a tq worker stores, Python Celery reads (AsyncResult.get)', () => {
  const queue = uniqueName('tq-mongo-interop-tq-worker');
  let app: App;
  let worker: Worker;

  beforeAll(async () => {
    app = createApp({ main: 'interop', broker: brokerUrl, backend: backendUrl, taskDefaultQueue: queue, resultChordRetryInterval: 0.1, logger: silentLogger });
    app.task('tq.add', (x: number, y: number) => x + y);
    app.task('tq.xsum', (values: number[]) => values.reduce((a, b) => a + b, 0));
    app.task('tq.echo', (value: unknown) => value);
    app.task('tq.fail', (message: string): number => {
      throw Object.assign(new Error(message), { name: 'ValueError' });
    });
    worker = await startWorker(app, { queues: [queue], concurrency: 10 });
  }, 60_000);

  afterAll(async () => {
    await worker?.stop();
    await app?.close();
    await deleteQueue(queue);
  });

  const py = (code: string) => runPython(`import json\nfrom interop_app import app\n${code}`, { brokerUrl, backendUrl, queue, timeout: 60_000 }).then((out) => lastJson(out));

  it('values, a failure re-raised as ValueError, a group and a chord', async () => {
    const got = await py(
      `from celery import group, chord, signature\ns = lambda name, *a: signature(name, args=a, app=app)\n` +
        `out = {'value': app.send_task('tq.add', (2, 3)).get(timeout=30)}\n` +
        `out['echo'] = app.send_task('tq.echo', ({'é': [1, 2.5, None, True]},)).get(timeout=30)\n` +
        `try:\n    app.send_task('tq.fail', ('bad value 7',)).get(timeout=30)\nexcept Exception as e:\n    out['error'] = [type(e).__name__, str(e)]\n` +
        `r = app.send_task('tq.add', (1, 1)); r.get(timeout=30)\n` +
        `out['meta'] = [r.state, r.date_done is not None]\n` +
        `out['group'] = group(s('tq.add', i, i) for i in range(5)).apply_async().get(timeout=30)\n` +
        `out['chord'] = chord([s('tq.add', i, i) for i in range(4)], s('tq.xsum')).apply_async().get(timeout=60)\n` +
        `print(json.dumps(out))`,
    );
    expect(got).toEqual({
      value: 5,
      echo: { é: [1, 2.5, null, true] },
      error: ['ValueError', 'bad value 7'],
      meta: ['SUCCESS', true],
      group: [0, 2, 4, 6, 8],
      chord: 12,
    });
  });

  it('stores the document Celery writes: JSON text result, BSON Date date_done', async () => {
    const r = await app.sendTask('tq.add', [20, 22]);
    expect(await r.get({ timeout: 30 })).toBe(42);
    const doc = await mongo.db().collection<{ _id: string }>('celery_taskmeta').findOne({ _id: r.id });
    expect(doc).toMatchObject({ _id: r.id, status: 'SUCCESS', result: '42', traceback: null, children: [] });
    expect((doc as Record<string, unknown> | null)?.['date_done']).toBeInstanceOf(Date);
  });
});

describe('a Python Celery worker stores, tq reads (AsyncResult.get)', () => {
  const queue = uniqueName('tq-mongo-interop-py-worker');
  let app: App;
  let python: PythonWorker;

  beforeAll(async () => {
    python = await startPythonWorker({ brokerUrl, backendUrl, queue, concurrency: 4, appModule: 'mongo_interop_app', pythonPath: [PYTHON_APP_DIR] });
    app = createApp({ main: 'interop', broker: brokerUrl, backend: backendUrl, taskDefaultQueue: queue, resultChordRetryInterval: 0.1, logger: silentLogger });
  }, 90_000);

  afterAll(async () => {
    await app?.close();
    await python?.stop();
    await deleteQueue(queue);
  });

  it('reads values and the date Celery 5.2 stores as text', async () => {
    const r = await app.sendTask<number>('py.add', [2, 3]);
    expect(await r.get({ timeout: 30 })).toBe(5);
    const echo = await app.sendTask('py.echo', [1, 'é✓'], { kwargs: { k: { nested: [true, null] } } });
    expect(await echo.get({ timeout: 30 })).toEqual({ args: [1, 'é✓'], kwargs: { k: { nested: [true, null] } } });
    expect(typeof (await r.dateDone())?.getTime()).toBe('number');
  });

  it('re-raises a Python failure as a TaskError named after its class', async () => {
    const r = await app.sendTask('py.fail', ['bad value 7']);
    const error = (await r.get({ timeout: 30 }).catch((e: unknown) => e)) as TaskError;
    expect(error.name).toBe('ValueError');
    expect(error.message).toBe('bad value 7');
    expect(error.traceback).toContain('ValueError');
  });

  it('joins a group and a chord of Python tasks (the Python worker runs celery.chord_unlock)', async () => {
    const g = await group([1, 2, 3].map((i) => app.signature('py.mul', [i, i]))).applyAsync();
    const d = await chord([1, 2, 3, 4].map((i) => app.signature('py.add', [i, i])), app.signature('py.xsum')).applyAsync();
    expect(await g.get({ timeout: 30 })).toEqual([1, 4, 9]);
    expect(await d.get({ timeout: 60 })).toBe(20);
  });
});
