/**
 * kombu's SQS queue features against fauxqs: FIFO queues (order within a MessageGroupId through a
 * worker with concurrency, MessageDeduplicationId honoured, kombu's defaults otherwise),
 * predefined queues (no ListQueues / GetQueueUrl / CreateQueue, an undeclared queue refused), the
 * queue attributes queues are created with, and countdowns as DelaySeconds.
 */
import { CreateQueueCommand, DeleteMessageCommand, GetQueueAttributesCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { createApp } from '@tq/core';
import { conformanceMessage, recordingLogger, uniqueName, waitFor } from '@tq/testing';
import { Worker } from '@tq/worker';
import { afterEach, describe, expect, it } from 'vitest';
import { SqsBroker } from '../src/sqs-broker.js';
import { rawSqs, RESULTS, SQS_URL, testPrefix } from './helpers.js';

const prefix = testPrefix('queues');
const closing: Array<{ close(): Promise<void> }> = [];

afterEach(async () => {
  for (const c of closing.splice(0)) await c.close();
});

function broker(extra: Record<string, unknown> = {}): SqsBroker {
  const b = new SqsBroker(SQS_URL, { queueNamePrefix: prefix, waitTimeSeconds: 1, ...extra });
  closing.push(b);
  return b;
}

/** The SDK commands a broker sends, by name. */
function recordCommands(b: SqsBroker): string[] {
  const names: string[] = [];
  b.client.middlewareStack.add(
    (next, context) => (args) => {
      names.push(String(context['commandName']));
      return next(args);
    },
    { step: 'initialize', name: 'testRecordCommands' },
  );
  return names;
}

describe('SQS queues as kombu makes them', () => {
  it('runs an acksLate task on a FIFO queue in order within each MessageGroupId, with a worker of concurrency 4', { timeout: 30_000 }, async () => {
    const queue = `${uniqueName('orders')}.fifo`;
    const app = createApp({ broker: SQS_URL, backend: RESULTS.tq, brokerTransportOptions: { queueNamePrefix: prefix, waitTimeSeconds: 1 }, resultBackendTransportOptions: { globalKeyprefix: prefix }, taskDefaultQueue: queue, logger: recordingLogger() });
    const seen: Record<string, number[]> = { a: [], b: [] };
    const step = app.task({ name: 'q.step', acksLate: true }, async (group: string, n: number) => {
      // Later messages finish sooner: only the group's lock (held until the acksLate delete) keeps them in order.
      await new Promise((resolve) => setTimeout(resolve, (10 - n) * 5));
      seen[group]!.push(n);
      return n;
    });
    const results = [];
    for (let n = 0; n < 10; n++) for (const group of ['a', 'b']) results.push(await step.applyAsync([group, n], { properties: { MessageGroupId: group } }));
    const worker = new Worker(app, { queues: [queue], concurrency: 4, logger: recordingLogger(), mingle: false, hostname: `w-${uniqueName('fifo')}@%h` });
    await worker.start();
    closing.push({ close: async () => { await worker.stop({ timeout: 10 }); await app.close(); } });
    await Promise.all(results.map((r) => r.get({ timeout: 20 })));
    expect(seen).toEqual({ a: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], b: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] });
  });

  it("creates a FIFO queue with FifoQueue, honours MessageDeduplicationId, and gives kombu's defaults otherwise", async () => {
    const b = broker();
    const q = { name: `${uniqueName('dedup')}.fifo` };
    await b.declareQueue(q);
    const url = b.known(q.name)!.url;
    const attributes = (await rawSqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }))).Attributes!;
    expect(attributes).toMatchObject({ FifoQueue: 'true', VisibilityTimeout: '1800' });
    const dup = conformanceMessage(1);
    dup.properties['MessageDeduplicationId'] = 'same';
    await b.publish(dup, { exchange: '', routingKey: q.name });
    await b.publish({ ...dup }, { exchange: '', routingKey: q.name });
    await b.publish(conformanceMessage(2), { exchange: '', routingKey: q.name });
    // Three publishes, two messages: the duplicate was dropped by SQS.
    expect((await rawSqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages'] }))).Attributes!['ApproximateNumberOfMessages']).toBe('2');
    const attributes2: Array<Record<string, string>> = [];
    for (let i = 0; i < 2; i++) {
      // One message of a group in flight at a time: take one, delete it, take the next.
      const got = await rawSqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, MessageSystemAttributeNames: ['MessageGroupId', 'MessageDeduplicationId'] }));
      const m = got.Messages![0]!;
      attributes2.push(m.Attributes as Record<string, string>);
      await rawSqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle! }));
    }
    expect(attributes2[0]).toMatchObject({ MessageGroupId: 'default', MessageDeduplicationId: 'same' });
    expect(attributes2[1]!['MessageDeduplicationId']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('uses predefined queues by URL alone, and refuses a queue that is not predefined', async () => {
    const real = await rawSqs.send(new CreateQueueCommand({ QueueName: `${prefix}${uniqueName('made-elsewhere')}` }));
    const b = broker({ predefinedQueues: { [`${prefix}jobs`]: { url: real.QueueUrl! } } });
    const commands = recordCommands(b);
    await b.connect();
    await b.publish(conformanceMessage(1), { exchange: '', routingKey: 'jobs' });
    const ids: string[] = [];
    await b.consume([{ name: 'jobs' }], (d) => {
      ids.push(String(d.message.headers['id']));
      void d.ack();
    }, { prefetch: 1 });
    await waitFor(() => ids.length === 1, { message: 'the message from the predefined queue' });
    expect(ids).toEqual(['msg-1']);
    expect(commands.filter((c) => /ListQueues|GetQueueUrl|CreateQueue/.test(c))).toEqual([]);
    await expect(b.publish(conformanceMessage(2), { exchange: '', routingKey: 'other' })).rejects.toThrow(/is not in predefinedQueues/);
  });

  it('creates queues with the visibility timeout and sqs-creation-attributes, and sends a countdown as DelaySeconds', async () => {
    const b = broker({ visibilityTimeout: 45, 'sqs-creation-attributes': { MessageRetentionPeriod: '3600' } });
    const q = { name: uniqueName('attrs') };
    await b.declareQueue(q);
    const url = b.known(q.name)!.url;
    const attributes = (await rawSqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }))).Attributes!;
    expect(attributes).toMatchObject({ VisibilityTimeout: '45', MessageRetentionPeriod: '3600' });
    await b.publish(conformanceMessage(1), { exchange: '', routingKey: q.name }, { deliverAt: Date.now() + 1500 });
    await waitFor(async () => (await rawSqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessagesDelayed'] }))).Attributes!['ApproximateNumberOfMessagesDelayed'] === '1', { message: 'one delayed message' });
  });
});
