/** The shared Broker conformance suite against the real RabbitMQ. */
import { runBrokerConformance } from '@tq/testing';
import { afterAll, beforeAll } from 'vitest';
import { Created, lockRabbit } from './helpers.js';

const created = new Created();
let unlock: () => void = () => undefined;
beforeAll(async () => {
  unlock = await lockRabbit();
});
afterAll(async () => {
  await created.cleanup();
  unlock();
});

runBrokerConformance({ name: 'amqp', create: () => created.broker(), prefix: 'tq-amqp-conf', timeout: 10_000 });
