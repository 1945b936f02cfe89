/**
 * Hostile input on Redis: every case of @tq/testing's hostile suite LPUSHed straight into the
 * queue list as a kombu envelope (what any Redis client can do), plus bytes that are no envelope
 * at all. The worker refuses each with a logged reason, runs none, and runs the next valid task.
 */
import { randomUUID } from 'node:crypto';
import { runHostileInputSuite } from '@tq/testing';
import { describe } from 'vitest';
import { encodeEnvelope } from '../src/envelope.js';
import { DB, redisUrl, testKeyspace } from './helpers.js';

const keys = testKeyspace(DB.broker, 'hostile');

describe('hostile input pushed into a Redis queue', () => {
  runHostileInputSuite({
    appConfig: () => ({
      broker: redisUrl(DB.broker),
      backend: redisUrl(DB.backend),
      brokerTransportOptions: { globalKeyprefix: keys.prefix },
      resultBackendTransportOptions: { globalKeyprefix: keys.prefix },
    }),
    push: async (_app, queue, message) => {
      await keys.raw.lpush(`${keys.prefix}${queue}`, encodeEnvelope(message, '', queue, randomUUID()));
    },
    extra: [
      { name: 'bytes that are no envelope', push: async (_app, queue) => void (await keys.raw.lpush(`${keys.prefix}${queue}`, Buffer.from([0x80, 0xff, 0x00, 0x7b]))), reason: /dropped a message from queue .*not a kombu envelope/ },
      { name: 'an envelope of the wrong shape', push: async (_app, queue) => void (await keys.raw.lpush(`${keys.prefix}${queue}`, '{"body": 5, "headers": "none"}')), reason: /dropped a message from queue / },
    ],
  });
});
