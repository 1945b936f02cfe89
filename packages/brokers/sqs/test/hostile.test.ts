/**
 * Hostile input on SQS: every case of @tq/testing's hostile suite sent straight into the queue
 * by a plain SQS client, as kombu's base64 envelope (what any SQS client can do), plus bodies that
 * are no envelope at all. The worker refuses each with a logged reason, runs none, runs the next
 * valid task, and the refused messages land in the queue's dead-letter queue. SQS itself refuses
 * bodies over its 1 MiB limit (the 100 MB case), so the compression bomb is one that fits.
 */
import { GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { App } from '@tq/core';
import { runHostileInputSuite, waitFor } from '@tq/testing';
import { describe, expect } from 'vitest';
import { envelopeJson, sqsBody } from '../src/envelope.js';
import type { SqsBroker } from '../src/sqs-broker.js';
import { rawSqs, RESULTS, SQS_URL, testPrefix } from './helpers.js';

const prefix = testPrefix('hostile');

async function queueUrl(app: App, queue: string): Promise<string> {
  const broker = (await app.getBroker()) as SqsBroker;
  const info = broker.known(queue);
  if (!info) throw new Error(`the worker has not declared ${queue}`);
  return info.url;
}

/** SQS's limit on a message body. */
const SQS_MAX_BYTES = 1024 * 1024;

async function send(app: App, queue: string, body: string): Promise<void> {
  try {
    await rawSqs.send(new SendMessageCommand({ QueueUrl: await queueUrl(app, queue), MessageBody: body }));
  } catch (err) {
    // Over the limit, fauxqs answers "Message must be shorter than…", or 413 or a closed
    // connection for a request of 100 MB, as AWS's front end would.
    if (Buffer.byteLength(body) > SQS_MAX_BYTES) throw new Error(`refused by SQS, over its 1 MiB limit (${(err as Error).message})`);
    throw err;
  }
}

async function visible(app: App, queue: string): Promise<number> {
  const got = await rawSqs.send(new GetQueueAttributesCommand({ QueueUrl: await queueUrl(app, queue), AttributeNames: ['ApproximateNumberOfMessages'] }));
  return Number(got.Attributes?.['ApproximateNumberOfMessages'] ?? NaN);
}

describe('hostile input sent into an SQS queue', () => {
  runHostileInputSuite({
    appConfig: (queue) => ({
      broker: SQS_URL,
      backend: RESULTS.tq,
      brokerTransportOptions: { queueNamePrefix: prefix, waitTimeSeconds: 1 },
      resultBackendTransportOptions: { globalKeyprefix: prefix },
      taskQueues: [{ name: queue, deadLetterRoutingKey: `${queue}-dead` }],
    }),
    push: (app, queue, message) => send(app, queue, sqsBody(envelopeJson(message, '', queue), true)),
    brokerRefuses: /refused by SQS, over its 1 MiB limit/,
    bombMiB: 512,
    extra: [
      { name: 'a body that is neither base64 nor JSON', push: (app, queue) => send(app, queue, '%%% not base64 %%%'), reason: /neither base64 nor JSON/ },
      { name: 'base64 of invalid JSON', push: (app, queue) => send(app, queue, Buffer.from('{"body": nope').toString('base64')), reason: /invalid JSON/ },
    ],
    verify: async (app, queue, rejected) => {
      const dead = `${queue}-dead`;
      const expected = rejected + 2; // and the two bodies that are no envelope
      await waitFor(async () => (await visible(app, dead)) === expected, { timeout: 30_000, message: `${expected} messages in ${dead}` });
      expect(await visible(app, queue)).toBe(0);
    },
  });
});
