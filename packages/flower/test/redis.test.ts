/** The monitor against real tq workers on Redis (TQ_REDIS_URL). */
import { runMonitorSuite } from './monitor-suite.js';
import { REDIS } from './helpers.js';

runMonitorSuite(REDIS);
