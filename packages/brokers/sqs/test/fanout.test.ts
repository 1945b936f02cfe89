/**
 * Events and remote control on SQS, which Celery lacks there: through SNS topics fanned out to a
 * queue per subscriber (kombu's SNS fanout layout). A client pings and inspects a tq worker,
 * revokes a delayed task, and an event receiver sees the worker's heartbeats and task
 * events; the subscriber queues and SNS subscriptions are removed when they close.
 */
import { ListQueuesCommand } from '@aws-sdk/client-sqs';
import { ListSubscriptionsByTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { createApp, silentLogger, type App, type ReceivedEvent } from '@tq/core';
import { Collector, uniqueName, waitFor } from '@tq/testing';
import { Worker } from '@tq/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SqsBroker } from '../src/sqs-broker.js';
import { ENDPOINT, rawSqs, RESULTS, SQS_URL, testPrefix } from './helpers.js';

const prefix = testPrefix('fan');
const queue = uniqueName('fan');
const options = { queueNamePrefix: prefix, waitTimeSeconds: 1 };
let app: App;
let worker: Worker;
let client: App;

async function queueNames(): Promise<string[]> {
  const page = await rawSqs.send(new ListQueuesCommand({ QueueNamePrefix: prefix }));
  return (page.QueueUrls ?? []).map((u) => u.split('/').at(-1)!);
}

beforeAll(async () => {
  app = createApp({ broker: SQS_URL, backend: RESULTS.tq, brokerTransportOptions: options, resultBackendTransportOptions: { globalKeyprefix: prefix }, taskDefaultQueue: queue, logger: silentLogger });
  app.task('f.add', (x: number, y: number) => x + y);
  worker = new Worker(app, { queues: [queue], concurrency: 4, hostname: `tq-${queue}@%h`, logger: silentLogger, mingle: false, events: true });
  await worker.start();
  client = createApp({ broker: SQS_URL, backend: RESULTS.tq, brokerTransportOptions: options, resultBackendTransportOptions: { globalKeyprefix: prefix }, taskDefaultQueue: queue, logger: silentLogger });
});

afterAll(async () => {
  await worker?.stop({ timeout: 10 });
  await app?.close();
  await client?.close();
});

describe('events and remote control on SQS (SNS fanout)', () => {
  it("pings and inspects the worker through its pidbox queue, kombu's names", async () => {
    expect(await client.control.inspect({ timeout: 3, destination: [worker.hostname] }).ping()).toEqual({ [worker.hostname]: { ok: 'pong' } });
    const registered = await client.control.inspect({ timeout: 3, destination: [worker.hostname] }).registered();
    expect(registered?.[worker.hostname]).toContain('f.add');
    const names = await queueNames();
    // `<node>.celery.pidbox` and the client's `<oid>.reply.celery.pidbox`, mangled as kombu does.
    expect(names).toContain(`${prefix}${worker.hostname.replace('@', '_').replace(/\./g, '-')}-celery-pidbox`);
    expect(names).toContain(`${prefix}${client.oid}-reply-celery-pidbox`);
  });

  it('revokes a countdown task before SQS delivers it (DelaySeconds), and the worker discards it', async () => {
    const r = await client.sendTask('f.add', [1, 2], { countdown: 2 });
    const replies = await client.control.revoke(r.id, { reply: true, timeout: 3, destination: [worker.hostname] });
    expect(replies).toEqual([{ [worker.hostname]: { ok: `tasks ${r.id} flagged as revoked` } }]);
    await expect(r.get({ timeout: 15 })).rejects.toThrow(/revoked/i);
  });

  it("delivers the worker's heartbeats and task events to an event receiver, and removes its queue on close", async () => {
    const events = new Collector<ReceivedEvent>();
    const receiver = await client.events.receiver({ '*': (e) => events.push(e) });
    const r = await client.sendTask<number>('f.add', [40, 2]);
    expect(await r.get({ timeout: 15 })).toBe(42);
    const types = () => new Set(events.items.filter((e) => e['uuid'] === r.id || e.type === 'worker-heartbeat').map((e) => e.type));
    await waitFor(() => ['worker-heartbeat', 'task-received', 'task-started', 'task-succeeded'].every((t) => types().has(t)), { timeout: 15_000, message: 'heartbeats and task events' });
    expect(events.items.find((e) => e.type === 'task-succeeded' && e['uuid'] === r.id)).toMatchObject({ hostname: worker.hostname, result: '42' });
    const eventQueue = `${prefix}${receiver.queueName.replace(/\./g, '-')}`;
    expect(await queueNames()).toContain(eventQueue);
    await receiver.close();
    expect(await queueNames()).not.toContain(eventQueue);
    const broker = (await client.getBroker()) as SqsBroker;
    const topic = await broker.fanout.topicArn('celeryev');
    expect(topic.endsWith(`:${prefix}celeryev`)).toBe(true);
    const sns = new SNSClient({ region: 'us-east-1', endpoint: ENDPOINT, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    const subs = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: topic }));
    expect((subs.Subscriptions ?? []).map((s) => s.Endpoint)).not.toContain(expect.stringContaining(eventQueue));
    sns.destroy();
  });
});
