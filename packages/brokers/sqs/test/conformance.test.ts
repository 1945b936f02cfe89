/** The broker conformance suite of @tq/testing against fauxqs. */
import { runBrokerConformance } from '@tq/testing';
import { SqsBroker } from '../src/sqs-broker.js';
import { SQS_URL, testPrefix } from './helpers.js';

const prefix = testPrefix('conf');

runBrokerConformance({
  name: 'sqs',
  create: () => new SqsBroker(SQS_URL, { queueNamePrefix: prefix, waitTimeSeconds: 1 }),
  prefix: 'conf',
  timeout: 8000,
});
