/** The monitor against real tq workers on RabbitMQ (TQ_AMQP_URL), results in Redis. */
import { runMonitorSuite } from './monitor-suite.js';
import { RABBITMQ } from './helpers.js';

runMonitorSuite(RABBITMQ);
