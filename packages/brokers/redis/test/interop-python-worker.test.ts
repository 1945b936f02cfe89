/**
 * tq as the client, a real Python Celery 5 worker (Debian's) on Redis: calls by name with args,
 * kwargs, countdown, priority and link; failures rebuilt as TaskError with the Python class name;
 * canvas; and results written by one side read by the other.
 */
import { createApp, silentLogger, type App, type ReceivedEvent, type TaskError } from '@tq/core';
import { createResultMeta } from '@tq/protocol';
import { chain, chord, group } from '@tq/canvas';
import { Collector, lastJson, runPython, startPythonWorker, uniqueName, waitFor, type PythonWorker } from '@tq/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBackend } from '../src/redis-backend.js';
import { cleanInterop, DB, redisUrl } from './helpers.js';

const db = DB.pythonWorker;
const url = redisUrl(db);
const queue = uniqueName('tq-interop-py-worker');
let app: App;
let python: PythonWorker;

beforeAll(async () => {
  python = await startPythonWorker({ brokerUrl: url, backendUrl: url, queue, concurrency: 4, pool: 'prefork', events: true });
  app = createApp({ main: 'interop', broker: url, backend: url, taskDefaultQueue: queue, logger: silentLogger });
}, 90_000);

afterAll(async () => {
  await app?.close();
  await python?.stop();
  await cleanInterop(db, queue);
});

describe('tq client → Python Celery worker (Redis)', () => {
  it('sendTask by name returns the Python result', async () => {
    const r = await app.sendTask<number>('py.add', [2, 3]);
    expect(await r.get({ timeout: 30 })).toBe(5);
  });

  it('passes args and kwargs intact, non-ASCII included', async () => {
    const r = await app.sendTask('py.echo', [1, 'é✓'], { kwargs: { k: { nested: [true, null] } } });
    expect(await r.get({ timeout: 30 })).toEqual({ args: [1, 'é✓'], kwargs: { k: { nested: [true, null] } } });
  });

  it('honours countdown and priority', async () => {
    const started = Date.now();
    const r = await app.sendTask<{ eta: string | null; priority: number }>('py.request', [], { countdown: 1.5, priority: 6 });
    const got = await r.get({ timeout: 30 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
    expect(got.eta).not.toBeNull();
    expect(got.priority).toBe(6);
  });

  it('runs a link on the Python side with the parent result prepended', async () => {
    const linkId = uniqueName('link');
    const r = await app.sendTask('py.add', [2, 3], { link: app.signature('py.add', [10]).set({ taskId: linkId }) });
    await r.get({ timeout: 30 });
    expect(await app.asyncResult(linkId).get({ timeout: 30 })).toBe(15);
  });

  it('rebuilds a Python failure as a TaskError named after the Python class', async () => {
    const r = await app.sendTask('py.fail', ['bad value 7']);
    const error = (await r.get({ timeout: 30 }).catch((e: unknown) => e)) as TaskError;
    expect(error.name).toBe('ValueError');
    expect(error.message).toBe('bad value 7');
    expect(error.excModule).toBe('builtins');
    expect(error.traceback).toContain('ValueError');
    expect(await r.state()).toBe('FAILURE');
  });

  it('runs tq canvas on the Python worker: chain, group and chord', async () => {
    const c = await chain(app.signature('py.add', [2, 3]), app.signature('py.add', [4]), app.signature('py.mul', [10])).applyAsync();
    const g = await group([1, 2, 3].map((i) => app.signature('py.mul', [i, i]))).applyAsync();
    const d = await chord([1, 2, 3, 4].map((i) => app.signature('py.add', [i, i])), app.signature('py.xsum')).applyAsync();
    expect(await c.get({ timeout: 30 })).toBe(90);
    expect(await g.get({ timeout: 30 })).toEqual([1, 4, 9]);
    expect(await d.get({ timeout: 30 })).toBe(20);
  });

  it("receives the Python worker's events (its PUBLISH on /<db>.celeryev/<rk>)", async () => {
    const events = new Collector<ReceivedEvent>();
    const receiver = await app.events.receiver({ '*': (e) => events.push(e) }, { wakeup: false });
    try {
      const r = await app.sendTask('py.add', [40, 2]);
      expect(await r.get({ timeout: 30 })).toBe(42);
      // Celery buffers task events (task.multi) and publishes them on its next event-loop turn.
      const typesSeen = () => new Set(events.items.filter((e) => e['uuid'] === r.id).map((e) => e.type));
      await waitFor(() => typesSeen().has('task-received') && typesSeen().has('task-started') && typesSeen().has('task-succeeded'), {
        timeout: 15_000,
        message: 'task-received, task-started and task-succeeded from Python',
      }).catch((err: Error) => {
        const fromPython = events.items.filter((e) => e.hostname === python.nodename);
        throw new Error(`${err.message}; events received: ${events.items.length}, from ${python.nodename}: ${fromPython.slice(-50).map((e) => e.type).join(', ')}\n${python.output().slice(-3000)}`);
      });
      const mine = events.items.filter((e) => e['uuid'] === r.id);
      expect(mine.map((e) => e.type)).toEqual(expect.arrayContaining(['task-received', 'task-started', 'task-succeeded']));
      expect(mine.every((e) => e.hostname === python.nodename)).toBe(true);
    } finally {
      await receiver.close();
    }
  });

  it('reads results Python stored, and Python reads results tq stored', async () => {
    const fromPython = uniqueName('py-stored');
    const fromTq = uniqueName('tq-stored');
    await runPython(
      `from interop_app import app\napp.backend.store_result('${fromPython}', {'answer': 42, 'who': 'py'}, 'SUCCESS')\napp.backend.store_result('${fromPython}-err', ValueError('nope'), 'FAILURE')`,
      { brokerUrl: url, backendUrl: url, queue },
    );
    expect(await app.asyncResult(fromPython).get({ timeout: 10 })).toEqual({ answer: 42, who: 'py' });
    const err = (await app.asyncResult(`${fromPython}-err`).get({ timeout: 10 }).catch((e: unknown) => e)) as TaskError;
    expect([err.name, err.message]).toEqual(['ValueError', 'nope']);

    const backend = new RedisBackend(url);
    try {
      await backend.store(createResultMeta({ taskId: fromTq, status: 'SUCCESS', result: { answer: 43, text: 'é✓', list: [1.5, null, true] }, dateDone: new Date() }));
      await backend.store(createResultMeta({ taskId: `${fromTq}-err`, status: 'FAILURE', result: { exc_type: 'KeyError', exc_message: ['missing'], exc_module: 'builtins' }, dateDone: new Date() }));
    } finally {
      await backend.close();
    }
    const got = lastJson<{ value: unknown; state: string; error: string[] }>(
      await runPython(
        `import json\nfrom interop_app import app\nr = app.AsyncResult('${fromTq}')\nv = r.get(timeout=10)\n` +
          `try:\n    app.AsyncResult('${fromTq}-err').get(timeout=10)\n    e = None\nexcept Exception as ex:\n    e = [type(ex).__name__, str(ex)]\n` +
          `print(json.dumps({'value': v, 'state': r.state, 'error': e}))`,
        { brokerUrl: url, backendUrl: url, queue },
      ),
    );
    expect(got).toEqual({ value: { answer: 43, text: 'é✓', list: [1.5, null, true] }, state: 'SUCCESS', error: ['KeyError', "'missing'"] });
  });
});
