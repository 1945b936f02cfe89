/**
 * Shared settings for the integration tests: the emulator (TQ_SQS_ENDPOINT, default fauxqs on
 * loopback), an `sqs://` URL for it, a queue-name prefix of each file's own, and a clean-up that
 * deletes every queue and topic under that prefix.
 */
import { DeleteQueueCommand, ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DeleteTopicCommand, ListTopicsCommand, SNSClient } from '@aws-sdk/client-sns';
import { fileURLToPath } from 'node:url';
import type { PythonEnv } from '@tq/testing';
import { Redis } from 'ioredis';
import { afterAll } from 'vitest';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';

export const ENDPOINT = process.env['TQ_SQS_ENDPOINT'] ?? 'http://127.0.0.1:9324';
const endpoint = new URL(ENDPOINT);
/** kombu's form: credentials in the URL, the emulator as host. */
export const SQS_URL = `sqs://test:test@${endpoint.host}`;
export const REDIS_URL = (process.env['TQ_REDIS_URL'] ?? 'redis://127.0.0.1:6379').replace(/\/\d*$/, '');
/** Redis databases for results: 5 for the broker's own tests, 4 for Python interop. */
export const RESULTS = { tq: `${REDIS_URL}/5`, python: `${REDIS_URL}/4` } as const;

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
export const rawSqs = new SQSClient({ region: 'us-east-1', endpoint: ENDPOINT, credentials });
const rawSns = new SNSClient({ region: 'us-east-1', endpoint: ENDPOINT, credentials });

/** A prefix unique to this run of a test file (SQS names allow letters, digits, `-` and `_`). */
export function uniquePrefix(name: string): string {
  return `tqt-${name}-${Math.random().toString(36).slice(2, 8)}-`;
}

/** Delete every queue and SNS topic whose name starts with `prefix`. */
export async function deleteUnder(prefix: string): Promise<void> {
  let next: string | undefined;
  do {
    const page = await rawSqs.send(new ListQueuesCommand({ QueueNamePrefix: prefix, ...(next ? { NextToken: next } : {}) }));
    for (const url of page.QueueUrls ?? []) await rawSqs.send(new DeleteQueueCommand({ QueueUrl: url })).catch(() => undefined);
    next = page.NextToken;
  } while (next);
  const topics = await rawSns.send(new ListTopicsCommand({}));
  for (const t of topics.Topics ?? []) {
    if (t.TopicArn?.split(':').at(-1)?.startsWith(prefix)) await rawSns.send(new DeleteTopicCommand({ TopicArn: t.TopicArn })).catch(() => undefined);
  }
}

/** Delete the Redis keys under a prefix in a results database. */
export async function deleteKeys(url: string, pattern: string): Promise<void> {
  const client = new Redis(url, { maxRetriesPerRequest: 5 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await client.del(...keys);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}

/** This file's prefix, with its queues, topics and (tq) results deleted after the file. */
export function testPrefix(name: string): string {
  const prefix = uniquePrefix(name);
  afterAll(async () => {
    await deleteUnder(prefix);
    await deleteKeys(RESULTS.tq, `${prefix}*`);
  });
  return prefix;
}

const PYTHON_DIR = fileURLToPath(new URL('./python/', import.meta.url));

/**
 * The Python Celery peer on SQS: the venv with boto3 (TQ_PYTHON_VENV), this package's
 * `sqs_interop_app` (kombu's SQS transport, consuming through boto3), the test's queue and
 * prefix, results in Redis.
 */
export function pythonOnSqs(queue: string, prefix: string): PythonEnv {
  return {
    brokerUrl: SQS_URL,
    backendUrl: RESULTS.python,
    queue,
    python: process.env['TQ_PYTHON_VENV'] ?? '/tmp/tq-services/pyvenv/bin/python',
    pythonPath: [PYTHON_DIR],
    appModule: 'sqs_interop_app',
    env: { TQ_SQS_OPTIONS: JSON.stringify({ queue_name_prefix: prefix, region: 'us-east-1', wait_time_seconds: 1, is_secure: false }) },
  };
}

/** Remove the results Python and tq stored for interop tests (their keys have no prefix). */
export async function deletePythonResults(): Promise<void> {
  for (const pattern of ['celery-task-meta-*', 'celery-taskset-meta-*', 'chord-unlock-*']) await deleteKeys(RESULTS.python, pattern);
}
