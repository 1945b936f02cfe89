/**
 * Messages a worker cannot run, published raw by a plain AMQP client (not JSON; no task
 * headers and no v1 body): they reach the consumer as RawMessages, the worker rejects each with
 * a logged reason, goes on with the next good message, and RabbitMQ dead-letters the rejected
 * ones where the queue has a dead-letter exchange.
 */
import { createApp, type Logger } from '@tq/core';
import { uniqueName, waitFor } from '@tq/testing';
import { Worker } from '@tq/worker';
import { expect, it } from 'vitest';
import { AMQP_URL, plainChannel, rabbitTestFile } from './helpers.js';

const created = rabbitTestFile();

function capture(): Logger & { errors: string[] } {
  const errors: string[] = [];
  return {
    errors,
    debug() {},
    info() {},
    warn() {},
    error: (message: string) => void errors.push(message),
  };
}

it('rejects malformed messages with a logged reason, runs the next good one, and they end up in the dead-letter queue', async () => {
  const queue = uniqueName('tq-amqp-malformed');
  const dead = uniqueName('tq-amqp-dead');
  created.queues.add(queue);
  created.queues.add(dead);
  created.exchanges.add(queue);
  const logger = capture();
  const app = createApp({
    broker: AMQP_URL,
    backend: null,
    logger,
    taskDefaultQueue: queue,
    taskQueues: [{ name: queue, deadLetterExchange: '', deadLetterRoutingKey: dead }],
  });
  const ran: number[] = [];
  app.task('malformed.good', (n: number) => void ran.push(n));
  const broker = await app.getBroker();
  await broker.declareQueue({ name: dead, durable: true });
  const worker = new Worker(app, { queues: [queue], concurrency: 2, logger });
  await worker.start();

  const plain = await plainChannel();
  const channel = await plain.channel();
  // Not JSON at all, though it says it is.
  channel.sendToQueue(queue, Buffer.from('{"this is": not json'), { contentType: 'application/json', contentEncoding: 'utf-8', headers: { id: 'bad-json', task: 'malformed.good' }, persistent: true });
  // No task headers, and a body that is no protocol v1 message either.
  channel.sendToQueue(queue, Buffer.from('[1, 2, 3]'), { contentType: 'application/json', contentEncoding: 'utf-8', persistent: true });
  await channel.close();
  await plain.close();
  await app.sendTask('malformed.good', [7]);

  await waitFor(() => ran.includes(7), { message: 'the good task after the bad messages to run' });
  await waitFor(async () => (await broker.queueLength!(dead)) === 2, { message: 'both bad messages in the dead-letter queue' });
  const rejections = logger.errors.filter((line) => line.includes(queue));
  expect(rejections.length).toBe(2);
  expect(rejections.join('\n')).toMatch(/bad-json/);
  expect(rejections.join('\n')).toMatch(/invalid message/);
  await worker.stop();
  await app.close();
}, 60_000);
