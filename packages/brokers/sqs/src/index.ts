/**
 * @tq/broker-sqs: tq's Amazon SQS broker, on @aws-sdk/client-sqs v3, in kombu's SQS layout so that
 * Python Celery clients and workers share queues with tq, plus SNS fanout for events and remote
 * control (which Celery lacks on SQS).
 *
 *   createApp({ broker: 'sqs://', backend: 'redis://127.0.0.1:6379/1' })
 *
 * `@tq/core` loads this package lazily for the `sqs://` scheme through `createBroker`.
 */
import type { AdapterContext } from '@tq/core';
import { SqsBroker } from './sqs-broker.js';

export { SqsBroker, SqsConsumer, SqsDelivery, MAX_DELAY_SECONDS, type SqsBrokerConfig } from './sqs-broker.js';
export { resolveOptions, type SqsBrokerOptions, type PredefinedQueue, type ResolvedOptions } from './options.js';
export { canonicalQueueName, entityName } from './names.js';
export { envelopeJson, decodeSqsBody, sqsBody, type DecodedEnvelope } from './envelope.js';

/** The broker for an `sqs://` URL; called by @tq/core. */
export function createBroker(url: string, context: AdapterContext): SqsBroker {
  return new SqsBroker(url, { ...context.options, logger: context.logger });
}
