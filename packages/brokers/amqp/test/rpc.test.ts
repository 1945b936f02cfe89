/**
 * The rpc:// result backend on RabbitMQ: a tq client and a tq worker in this process, each with
 * its own app and connection, exchanging results as messages to the client's reply queue.
 */
import { createApp, isTqError, silentLogger, type App } from '@tq/core';
import { createResultMeta, encodeException } from '@tq/protocol';
import { uniqueName, waitFor } from '@tq/testing';
import { Worker } from '@tq/worker';
import { afterEach, describe, expect, it } from 'vitest';
import { AmqpBroker, RpcBackend } from '../src/index.js';
import { AMQP_URL, plainChannel, rabbitTestFile } from './helpers.js';

const created = rabbitTestFile();

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

function apps(queue: string): { client: App; server: App } {
  const common = { broker: AMQP_URL, backend: 'rpc://', logger: silentLogger, taskDefaultQueue: queue };
  const client = createApp(common);
  const server = createApp(common);
  for (const app of [client, server]) closers.push(() => app.close());
  created.queues.add(queue);
  return { client, server };
}

async function startWorker(app: App, queue: string): Promise<Worker> {
  const worker = new Worker(app, { queues: [queue], concurrency: 10, logger: silentLogger });
  await worker.start();
  closers.push(() => worker.stop());
  return worker;
}

describe('rpc:// result backend', () => {
  it('returns results and failures from a worker to the client that sent the task', async () => {
    const queue = uniqueName('tq-amqp-rpc');
    const { client, server } = apps(queue);
    for (const app of [client, server]) {
      app.task('rpc.add', (x: number, y: number) => x + y);
      app.task('rpc.fail', (message: string) => {
        const error = new Error(message);
        error.name = 'ValueError';
        throw error;
      });
    }
    await startWorker(server, queue);
    await client.getBackend();
    const sum = await client.sendTask<number>('rpc.add', [2, 3]);
    const failing = await client.sendTask('rpc.fail', ['bad value 7']);
    expect(await sum.get({ timeout: 10 })).toBe(5);
    const error = await failing.get({ timeout: 10 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'ValueError', message: 'bad value 7' });
    expect(await sum.state()).toBe('SUCCESS');
    expect(await failing.state()).toBe('FAILURE');
  });

  it('declares the reply queue as Celery does, named after the client oid, before the first task is sent', async () => {
    const queue = uniqueName('tq-amqp-rpc');
    const { client } = apps(queue);
    client.task('rpc.noop', () => null);
    await client.getBackend();
    await client.sendTask('rpc.noop', []);
    const plain = await plainChannel();
    closers.push(() => plain.close());
    const ch = await plain.channel();
    const info = await ch.checkQueue(client.oid);
    expect(info.queue).toBe(client.oid);
    expect(info.consumerCount).toBe(1);
  });

  it('keeps intermediate states, never lets a late state hide SUCCESS, and times out clearly', async () => {
    const broker = created.broker();
    const backend = new RpcBackend({ broker, logger: silentLogger });
    closers.push(() => broker.close(), () => backend.close());
    await backend.connect();
    const oid = uniqueName('tq-amqp-oid');
    const id = uniqueName('task');
    backend.onTaskCall(id);
    // What a producer would publish: a task message whose reply_to is this client's queue.
    const taskQueue = uniqueName('tq-amqp-rpc');
    created.queues.add(taskQueue);
    await broker.publish(
      { body: Buffer.from('[[], {}, {}]'), contentType: 'application/json', contentEncoding: 'utf-8', headers: { id, task: 'x' }, properties: { correlation_id: id, reply_to: oid } },
      { exchange: '', routingKey: taskQueue },
      { declare: [{ name: taskQueue, durable: false }] },
    );
    expect(backend.ownQueues()).toEqual([oid]);
    const waiting = backend.waitFor(id, { timeout: 10 });
    await backend.store(createResultMeta({ taskId: id, status: 'STARTED', result: { pid: 1 } }));
    await waitFor(async () => (await backend.get(id))?.status === 'STARTED', { message: 'STARTED to arrive' });
    await backend.store(createResultMeta({ taskId: id, status: 'SUCCESS', result: 42, dateDone: new Date() }));
    expect((await waiting).result).toBe(42);
    await backend.store(createResultMeta({ taskId: id, status: 'RETRY', result: encodeException(new Error('late')) }));
    // The late RETRY arrives after SUCCESS (same queue, in order); it must not replace it.
    const marker = uniqueName('marker');
    backend.onTaskCall(marker);
    await broker.publish(
      { body: Buffer.from('[[], {}, {}]'), contentType: 'application/json', contentEncoding: 'utf-8', headers: { id: marker, task: 'x' }, properties: { correlation_id: marker, reply_to: oid } },
      { exchange: '', routingKey: taskQueue },
    );
    await backend.store(createResultMeta({ taskId: marker, status: 'SUCCESS', result: 1, dateDone: new Date() }));
    await backend.waitFor(marker, { timeout: 10 });
    expect((await backend.get(id))?.status).toBe('SUCCESS');
    const error = await backend.waitFor(uniqueName('never'), { timeout: 0.2 }).catch((e: unknown) => e);
    expect(isTqError(error, 'TIMEOUT')).toBe(true);
    expect(await backend.get(uniqueName('unknown'))).toBeNull();
  });

  it("a worker sending tasks for another client's reply queue (callbacks, chain steps) never consumes that queue", async () => {
    const queue = uniqueName('tq-amqp-rpc');
    const { client, server } = apps(queue);
    for (const app of [client, server]) {
      app.task('rpc.add', (x: number, y: number) => x + y);
      app.task('rpc.spawn', async (x: number) => {
        // Inside a task: the next step goes to the original client's reply queue, as a chain step would.
        const next = await server.sendTask('rpc.add', [x, 100], { replyTo: client.oid, taskId: `${queue}-next` });
        return next.id;
      });
    }
    await startWorker(server, queue);
    await client.getBackend();
    const spawned = await client.sendTask<string>('rpc.spawn', [1]);
    const nextId = await spawned.get({ timeout: 10 });
    expect(await client.asyncResult<number>(nextId).get({ timeout: 10 })).toBe(101);
    const serverBackend = (await server.getBackend()) as RpcBackend;
    expect(serverBackend.ownQueues()).not.toContain(client.oid);
    expect((await client.getBackend() as RpcBackend).ownQueues()).toEqual([client.oid]);
  });

  it('refuses to run on a broker that is not RabbitMQ', async () => {
    const app = createApp({ backend: 'rpc://', logger: silentLogger });
    closers.push(() => app.close());
    const error = await app.getBackend().catch((e: unknown) => e);
    expect(isTqError(error, 'CONFIGURATION_ERROR')).toBe(true);
    expect(String(error)).toMatch(/needs an amqp:\/\/ broker/);
  });

  it('is not persistent, has no chord counter, and pushes results', () => {
    const backend = new RpcBackend({ broker: new AmqpBroker({ url: AMQP_URL }) });
    expect(backend.capabilities).toEqual({ chordCounter: false, nativeWait: true, persistent: false });
  });
});
