import { runBackendConformance, runBrokerConformance } from '@tq/testing';
import { afterAll } from 'vitest';
import { RedisBackend } from '../src/redis-backend.js';
import { RedisBroker } from '../src/redis-broker.js';
import { DB, deleteKeys, redisUrl, uniquePrefix } from './helpers.js';

const brokerPrefix = uniquePrefix('conformance');
const backendPrefix = uniquePrefix('conformance');

runBrokerConformance({
  name: 'redis',
  create: () => new RedisBroker(redisUrl(DB.broker), { globalKeyprefix: brokerPrefix }),
  prefix: 'conf',
});

runBackendConformance({
  name: 'redis',
  create: () => new RedisBackend(redisUrl(DB.backend), { globalKeyprefix: backendPrefix }),
});

afterAll(async () => {
  await deleteKeys(DB.broker, `${brokerPrefix}*`);
  await deleteKeys(DB.backend, `${backendPrefix}*`);
});
