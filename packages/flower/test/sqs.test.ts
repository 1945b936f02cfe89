/** The monitor against real tq workers on SQS (fauxqs at TQ_SQS_ENDPOINT), events and control through SNS fanout. */
import { runMonitorSuite } from './monitor-suite.js';
import { SQS } from './helpers.js';

runMonitorSuite(SQS);
