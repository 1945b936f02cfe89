/** The canvas suite of @tq/testing (group, chain, chord, map, … through real workers) on SQS, results in Redis. */
import { createApp, silentLogger } from '@tq/core';
import { runCanvasSuite } from '@tq/testing';
import { RESULTS, SQS_URL, testPrefix } from './helpers.js';

const prefix = testPrefix('canvas');

runCanvasSuite({
  name: 'sqs',
  createApp: () =>
    createApp({
      broker: SQS_URL,
      backend: RESULTS.tq,
      brokerTransportOptions: { queueNamePrefix: prefix, waitTimeSeconds: 1 },
      resultBackendTransportOptions: { globalKeyprefix: prefix },
      logger: silentLogger,
    }),
});
