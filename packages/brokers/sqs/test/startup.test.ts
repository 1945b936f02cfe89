/** An SQS endpoint that is not there: connecting fails at once with a clear, retryable error. */
import { freePort } from '@tq/testing';
import { describe, expect, it } from 'vitest';
import { SqsBroker } from '../src/sqs-broker.js';

describe('connecting to SQS', () => {
  it('names the endpoint and what to check when nothing answers', async () => {
    const port = await freePort();
    const broker = new SqsBroker(`sqs://k:s@127.0.0.1:${port}`);
    try {
      const error = (await broker.connect().catch((e: unknown) => e)) as Error & { retryable?: boolean; code?: string };
      expect(error.message).toMatch(new RegExp(`\\[broker-sqs\\] cannot connect to SQS on http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED.*Is the SQS endpoint running\\?`));
      expect([error.code, error.retryable]).toEqual(['BROKER_ERROR', true]);
    } finally {
      await broker.close();
    }
  });
});
