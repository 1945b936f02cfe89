/** The canvas suite of @tq/testing (group, chain, chord, map, … through real workers) on Redis. */
import { createApp, silentLogger } from '@tq/core';
import { runCanvasSuite } from '@tq/testing';
import { afterAll } from 'vitest';
import { DB, deleteKeys, redisUrl, uniquePrefix } from './helpers.js';

const prefix = uniquePrefix('canvas');

runCanvasSuite({
  name: 'redis',
  createApp: () =>
    createApp({
      broker: redisUrl(DB.broker),
      backend: redisUrl(DB.backend),
      brokerTransportOptions: { globalKeyprefix: prefix },
      resultBackendTransportOptions: { globalKeyprefix: prefix },
      logger: silentLogger,
    }),
});

afterAll(async () => {
  await deleteKeys(DB.broker, `${prefix}*`);
  await deleteKeys(DB.backend, `${prefix}*`);
});
