/**
 * tq as the client, a real Python Celery 5 worker on SQS (kombu 5.2's SQS transport consuming
 * through boto3, see test/python/sqs_interop_app.py), results in Redis: calls by name, countdown
 * (tq sets DelaySeconds; Python reads the eta), link, failures rebuilt with the Python class,
 * and tq canvas run by the Python worker.
 */
import { chain, chord, group } from '@tq/canvas';
import { createApp, silentLogger, type App, type TaskError } from '@tq/core';
import { startPythonWorker, uniqueName, type PythonWorker } from '@tq/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deletePythonResults, pythonOnSqs, RESULTS, SQS_URL, testPrefix } from './helpers.js';

const prefix = testPrefix('pyw');
const queue = uniqueName('pyworker');
let app: App;
let python: PythonWorker;

beforeAll(async () => {
  python = await startPythonWorker({ ...pythonOnSqs(queue, prefix), concurrency: 4, pool: 'threads' });
  app = createApp({ main: 'interop', broker: SQS_URL, backend: RESULTS.python, brokerTransportOptions: { queueNamePrefix: prefix, waitTimeSeconds: 1 }, taskDefaultQueue: queue, logger: silentLogger });
}, 90_000);

afterAll(async () => {
  await app?.close();
  await python?.stop();
  await deletePythonResults();
});

describe('tq client → Python Celery worker (SQS)', () => {
  it('sendTask by name returns the Python result, args and kwargs intact', async () => {
    expect(await (await app.sendTask<number>('py.add', [2, 3])).get({ timeout: 30 })).toBe(5);
    const r = await app.sendTask('py.echo', [1, 'é✓'], { kwargs: { k: { nested: [true, null] } } });
    expect(await r.get({ timeout: 30 })).toEqual({ args: [1, 'é✓'], kwargs: { k: { nested: [true, null] } } });
  });

  it('honours countdown', async () => {
    const started = Date.now();
    const r = await app.sendTask<{ eta: string | null; routing_key: string }>('py.request', [], { countdown: 2 });
    const got = await r.get({ timeout: 30 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    expect(got.eta).not.toBeNull();
    expect(got.routing_key).toBe(queue);
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
    expect([error.name, error.message, error.excModule]).toEqual(['ValueError', 'bad value 7', 'builtins']);
    expect(error.traceback).toContain('ValueError');
  });

  it('runs tq canvas on the Python worker: chain, group and chord', async () => {
    const c = await chain(app.signature('py.add', [2, 3]), app.signature('py.add', [4]), app.signature('py.mul', [10])).applyAsync();
    const g = await group([1, 2, 3].map((i) => app.signature('py.mul', [i, i]))).applyAsync();
    const d = await chord([1, 2, 3, 4].map((i) => app.signature('py.add', [i, i])), app.signature('py.xsum')).applyAsync();
    expect(await c.get({ timeout: 30 })).toBe(90);
    expect(await g.get({ timeout: 30 })).toEqual([1, 4, 9]);
    expect(await d.get({ timeout: 30 })).toBe(20);
  });
});
