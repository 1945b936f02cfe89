/**
 * The short form of `npm run chaos -- --broker sqs`: a few hundred acksLate tasks on the process
 * pool over a fauxqs of the test's own (6 s visibility timeout), while workers are SIGKILLed and
 * restarted, a pool child is SIGKILLed mid-task, the result backend goes away and the leading beat
 * is killed. There is no broker restart: fauxqs keeps messages in memory. Nothing may be lost,
 * every duplicate must be explained by a kill, and no beat run goes out twice.
 */
import { it } from 'vitest';
import { runChaos } from './chaos/chaos.js';
import { expectNothingLost } from './chaos/expect.js';

it('loses no task on SQS under worker and pool-child SIGKILLs, a backend outage and a beat failover', async () => {
  const result = await runChaos({ broker: 'sqs', tasks: 300, killEvery: [2, 3], log: () => undefined });
  expectNothingLost(result, false);
}, 120_000);
