/**
 * A worker started before RabbitMQ answers waits for it (Celery's
 * `broker_connection_retry_on_startup`), then declares and consumes. RabbitMQ "comes up" when a
 * loopback forwarder to the real server starts listening, so the shared server is not disturbed.
 */
import { createApp } from '@tq/core';
import { freePort, recordingLogger, TcpForwarder, uniqueName, waitFor } from '@tq/testing';
import { Worker } from '@tq/worker';
import { afterAll, describe, expect, it } from 'vitest';
import { AMQP_URL, rabbitTestFile } from './helpers.js';

// Takes its turn with the other files: one of them restarts RabbitMQ.
rabbitTestFile();
const target = new URL(AMQP_URL);
const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

describe('a worker whose RabbitMQ is not up yet', () => {
  it('logs each attempt, connects once RabbitMQ answers, and then runs tasks', async () => {
    const forwarder = new TcpForwarder(await freePort(), { host: target.hostname, port: Number(target.port || 5672) });
    cleanups.push(() => forwarder.close());
    const url = AMQP_URL.replace(`${target.hostname}:${target.port || 5672}`, `127.0.0.1:${forwarder.port}`);
    const queue = uniqueName('tq-amqp-startup');
    const logger = recordingLogger();
    const app = createApp({ broker: url, backend: 'rpc://', taskDefaultQueue: queue, taskQueues: [{ name: queue, autoDelete: true }], logger });
    cleanups.push(() => app.close());
    const add = app.task('startup.add', (x: number, y: number) => x + y);
    const worker = new Worker(app, { logger, mingle: false });
    cleanups.push(() => worker.stop({ timeout: 5 }));
    const started = worker.start();

    const retries = () => logger.lines.filter((l) => l.level === 'error' && /Trying again in/.test(l.message));
    await waitFor(() => retries().length >= 1, { message: 'the first retry to be logged' });
    expect(retries()[0]!.message).toMatch(/^\[broker-amqp\] cannot connect to amqp:\/\/guest:\*\*\*@127\.0\.0\.1:\d+\/\/: ECONNREFUSED\. Is RabbitMQ running\? Trying again in 2 s \(1\/100\)$/);
    expect(worker.state).toBe('starting');

    await forwarder.listen();
    await started;
    expect(worker.state).toBe('running');
    expect(await (await add.delay(20, 22)).get({ timeout: 10 })).toBe(42);
  });
});
