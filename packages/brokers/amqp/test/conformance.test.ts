/** The shared Broker conformance suite against the real RabbitMQ. */
import { runBrokerConformance } from '@tq/testing';
import { rabbitTestFile } from './helpers.js';

const created = rabbitTestFile();

runBrokerConformance({ name: 'amqp', create: () => created.broker(), prefix: 'tq-amqp-conf', timeout: 10_000 });
