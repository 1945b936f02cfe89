/**
 * @tq/broker-redis: tq's Redis broker and result backend, on ioredis, with kombu's and Celery's
 * exact Redis layout so that Python Celery clients and workers share queues and results with tq.
 *
 *   createApp({ broker: 'redis://127.0.0.1:6379/0', backend: 'redis://127.0.0.1:6379/1' })
 *
 * `@tq/core` loads this package lazily for the `redis://`, `rediss://`, `redis+socket://` and
 * `sentinel://` schemes through `createBroker` / `createBackend`.
 */
import type { AdapterContext } from '@tq/core';
import { RedisBackend } from './redis-backend.js';
import { RedisBroker } from './redis-broker.js';

export { RedisBroker, RedisConsumer, RedisDelivery, type RedisBrokerConfig } from './redis-broker.js';
export { RedisBackend, type RedisBackendConfig } from './redis-backend.js';
export { parseRedisUrl, type RedisEndpoint, type EndpointOptions } from './url.js';
export { encodeEnvelope, decodeEnvelope, markRedelivered, type DecodedEnvelope } from './envelope.js';
export { Layout, topicPattern, DEFAULT_SEP, DEFAULT_PRIORITY_STEPS, BINDING_PREFIX, UNACKED, UNACKED_INDEX, UNACKED_MUTEX } from './layout.js';
export { resolveBrokerOptions, resolveBackendOptions, type RedisBrokerOptions, type RedisBackendOptions, type QueueOrderStrategy } from './options.js';
export { describeRedisError } from './connection.js';
export { RedisFlowStore, createFlowStore, type RedisFlowStoreOptions } from './flow-store.js';

/** The broker for a `redis://` (or `rediss://`, `redis+socket://`, `sentinel://`) URL; called by @tq/core. */
export function createBroker(url: string, context: AdapterContext): RedisBroker {
  return new RedisBroker(url, { ...context.options, logger: context.logger });
}

/** The result backend for a Redis URL; called by @tq/core. */
export function createBackend(url: string, context: AdapterContext): RedisBackend {
  const expires = context.options['expires'] ?? context.resultExpires;
  return new RedisBackend(url, { ...context.options, expires: expires as number | null, logger: context.logger });
}
