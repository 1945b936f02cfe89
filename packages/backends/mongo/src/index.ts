/**
 * @tq/backend-mongo: tq's MongoDB result backend, on the official `mongodb` driver, with Celery's
 * exact MongoDB layout so that Python Celery and tq read each other's results.
 *
 *   createApp({ broker: 'redis://127.0.0.1:6379/0', backend: 'mongodb://127.0.0.1:27017/celery' })
 *
 * `@tq/core` loads this package lazily for the `mongodb://` and `mongodb+srv://` schemes through
 * `createBackend`.
 */
import type { AdapterContext } from '@tq/core';
import { MongoBackend } from './mongo-backend.js';

export { MongoBackend, type MongoBackendConfig } from './mongo-backend.js';
export { resolveMongoOptions, type MongoBackendOptions, type ResolvedMongoOptions } from './options.js';
export { parseMongoUrl, redactMongoUrl, type MongoEndpoint } from './url.js';
export { toTaskDocument, fromTaskDocument, toGroupDocument, fromGroupDocument, type TaskDocument, type GroupDocument } from './documents.js';
export { describeMongoError } from './errors.js';

/** The result backend for a `mongodb://` or `mongodb+srv://` URL; called by @tq/core. */
export function createBackend(url: string, context: AdapterContext): MongoBackend {
  const expires = context.options['expires'] ?? context.resultExpires;
  return new MongoBackend(url, { ...context.options, expires: expires as number | null, logger: context.logger });
}
