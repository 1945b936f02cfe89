/**
 * A tq Worker on SQS (fauxqs), with a visibility timeout of 2 s: an ETA task held past it, and a
 * long acksLate task, run exactly once (the worker extends what it holds); bad messages (not
 * base64, not JSON, an unknown task, pickle) are rejected with a reason into the queue's
 * redrive-policy DLQ while the worker goes on.
 */
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand, type QueueAttributeName } from '@aws-sdk/client-sqs';
import { createApp } from '@tq/core';
import { createTaskMessage, encodeTaskMessage, type RawMessage } from '@tq/protocol';
import { recordingLogger, uniqueName, waitFor } from '@tq/testing';
import { Worker } from '@tq/worker';
import { afterEach, describe, expect, it } from 'vitest';
import { envelopeJson, sqsBody } from '../src/envelope.js';
import type { SqsBroker } from '../src/sqs-broker.js';
import { rawSqs, RESULTS, SQS_URL, testPrefix } from './helpers.js';

const prefix = testPrefix('worker');
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function start(queue: string, logger = recordingLogger()) {
  const app = createApp({
    broker: SQS_URL,
    backend: RESULTS.tq,
    brokerTransportOptions: { queueNamePrefix: prefix, visibilityTimeout: 2, waitTimeSeconds: 1 },
    resultBackendTransportOptions: { globalKeyprefix: prefix },
    taskDefaultQueue: queue,
    logger,
  });
  const runs = new Map<string, number>();
  app.task({ name: 'w.count', bind: true }, (request, value: number) => {
    runs.set(request.id, (runs.get(request.id) ?? 0) + 1);
    return value;
  });
  app.task({ name: 'w.slow', bind: true, acksLate: true }, async (request, seconds: number) => {
    runs.set(request.id, (runs.get(request.id) ?? 0) + 1);
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    return seconds;
  });
  const worker = new Worker(app, { queues: [queue], concurrency: 4, logger, mingle: false, hostname: `w-${queue}@%h` });
  await worker.start();
  cleanups.push(async () => {
    await worker.stop({ timeout: 10 });
    await app.close();
  });
  return { app, worker, runs, logger, broker: (await app.getBroker()) as SqsBroker };
}

async function attribute(url: string, name: QueueAttributeName): Promise<string | undefined> {
  return (await rawSqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: [name] }))).Attributes?.[name];
}

/** A message as a Python client publishes an ETA task: no DelaySeconds, the worker holds it. */
function etaMessage(id: string, seconds: number): RawMessage {
  return encodeTaskMessage(createTaskMessage({ id, task: 'w.count', args: [7], eta: new Date(Date.now() + seconds * 1000), origin: 'gen1@test' }));
}

describe('tq Worker on SQS', () => {
  it('runs an ETA task held past the visibility timeout exactly once', { timeout: 30_000 }, async () => {
    const queue = uniqueName('eta');
    const { app, runs, broker } = await start(queue);
    const id = `eta-${queue}`;
    await broker.publish(etaMessage(id, 6), { exchange: '', routingKey: queue });
    const url = broker.known(queue)!.url;
    // Received at once and held invisible by the worker, for three visibility timeouts.
    await waitFor(async () => (await attribute(url, 'ApproximateNumberOfMessagesNotVisible')) === '1', { message: 'the task to be held' });
    expect(await app.asyncResult<number>(id).get({ timeout: 20 })).toBe(7);
    await waitFor(async () => (await attribute(url, 'ApproximateNumberOfMessagesNotVisible')) === '0', { message: 'the message to be deleted' });
    expect(await attribute(url, 'ApproximateNumberOfMessages')).toBe('0');
    expect(runs.get(id)).toBe(1);
  });

  it('runs an acksLate task longer than the visibility timeout exactly once', { timeout: 30_000 }, async () => {
    const queue = uniqueName('late');
    const { app, runs } = await start(queue);
    const result = await app.sendTask<number>('w.slow', [5]);
    expect(await result.get({ timeout: 20 })).toBe(5);
    expect(runs.get(result.id)).toBe(1);
  });

  it('rejects bad messages with a reason into the redrive-policy DLQ and goes on', { timeout: 40_000 }, async () => {
    const queue = uniqueName('bad');
    // Queues made beforehand, as infrastructure would: the DLQ and a queue whose redrive policy names it.
    const dlq = await rawSqs.send(new CreateQueueCommand({ QueueName: `${prefix}${queue}-dlq` }));
    const dlqArn = await attribute(dlq.QueueUrl!, 'QueueArn');
    const main = await rawSqs.send(
      new CreateQueueCommand({ QueueName: `${prefix}${queue}`, Attributes: { VisibilityTimeout: '2', RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 5 }) } }),
    );
    const logger = recordingLogger();
    const { app } = await start(queue, logger);
    const envelope = (message: RawMessage) => sqsBody(envelopeJson(message, '', queue), true);
    const unknown = encodeTaskMessage(createTaskMessage({ id: 'unknown-1', task: 'no.such.task', origin: 'gen1@test' }));
    const pickle: RawMessage = { ...encodeTaskMessage(createTaskMessage({ id: 'pickle-1', task: 'w.count', args: [1], origin: 'gen1@test' })), contentType: 'application/x-python-serialize', contentEncoding: 'binary', body: Buffer.from('cos\nsystem\n(S"echo pwned"\ntR.') };
    for (const body of ['%%% not base64 %%%', Buffer.from('{"body": nope').toString('base64'), envelope(unknown), envelope(pickle)]) {
      await rawSqs.send(new SendMessageCommand({ QueueUrl: main.QueueUrl!, MessageBody: body }));
    }
    const result = await app.sendTask<number>('w.count', [11]);
    expect(await result.get({ timeout: 15 })).toBe(11);
    await waitFor(async () => (await attribute(dlq.QueueUrl!, 'ApproximateNumberOfMessages')) === '4', { timeout: 15_000, message: 'four messages in the DLQ' });
    const reasons = logger.lines.filter((l) => l.level === 'error').map((l) => l.message);
    expect(reasons.find((m) => m.includes(queue) && m.includes('neither base64 nor JSON'))).toBeDefined();
    expect(reasons.find((m) => m.includes(queue) && m.includes('invalid JSON'))).toBeDefined();
    expect(reasons.find((m) => /no\.such\.task/.test(m))).toBeDefined();
    expect(reasons.find((m) => /pickle|x-python-serialize/.test(m))).toBeDefined();
    const dead = await rawSqs.send(new ReceiveMessageCommand({ QueueUrl: dlq.QueueUrl!, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'] }));
    expect(dead.Messages?.length).toBe(4);
    expect(dead.Messages!.map((m) => m.MessageAttributes?.['tq_reject_reason']?.StringValue).filter(Boolean)).toEqual(
      expect.arrayContaining([expect.stringMatching(/neither base64 nor JSON/), expect.stringMatching(/invalid JSON/)]),
    );
    expect(await attribute(main.QueueUrl!, 'ApproximateNumberOfMessages')).toBe('0');
  });
});

