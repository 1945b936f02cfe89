/**
 * Hostile input on RabbitMQ: every case of @tq/testing's hostile suite published straight into
 * the queue by a plain amqplib channel, with the headers and properties as given (any AMQP client
 * can send them). The worker refuses each with a logged reason, runs none, and runs the next
 * valid task; rejected messages go to the queue's dead-letter queue.
 */
import { runHostileInputSuite, uniqueName, waitFor } from '@tq/testing';
import type { Channel } from 'amqplib';
import { afterAll, beforeAll, describe } from 'vitest';
import { AMQP_URL, plainChannel, rabbitTestFile } from './helpers.js';

const created = rabbitTestFile();
let plain: Awaited<ReturnType<typeof plainChannel>>;
let channel: Channel;

beforeAll(async () => {
  plain = await plainChannel();
  channel = await plain.channel();
});
afterAll(async () => {
  await plain?.close();
});

describe('hostile input published into a RabbitMQ queue', () => {
  const dead = uniqueName('tq-amqp-hostile-dead');
  runHostileInputSuite({
    appConfig: (queue) => {
      created.queues.add(queue);
      return { broker: AMQP_URL, backend: null, taskQueues: [{ name: queue, deadLetterExchange: '', deadLetterRoutingKey: dead }] };
    },
    push: async (_app, queue, message) => {
      if (!created.queues.has(dead)) {
        created.queues.add(dead);
        await channel.assertQueue(dead, { durable: true });
      }
      const { correlation_id, reply_to, delivery_mode, priority } = message.properties;
      channel.sendToQueue(queue, Buffer.from(message.body), {
        contentType: message.contentType,
        contentEncoding: message.contentEncoding,
        headers: message.headers,
        ...(correlation_id ? { correlationId: correlation_id } : {}),
        ...(reply_to ? { replyTo: reply_to } : {}),
        persistent: delivery_mode === 2,
        ...(priority ? { priority } : {}),
      });
    },
    verify: async (app, _queue, rejected) => {
      const broker = await app.getBroker();
      await waitFor(async () => (await broker.queueLength!(dead)) === rejected, { timeout: 30_000, message: `${rejected} rejected messages in the dead-letter queue` });
    },
  });
});
