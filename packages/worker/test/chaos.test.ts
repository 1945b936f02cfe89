/**
 * The short form of `npm run chaos`: a few hundred acksLate tasks on the process pool over a Redis
 * of the test's own, while workers are SIGKILLed and restarted, a pool child is SIGKILLed
 * mid-task, the broker restarts, the result backend goes away, and the leading beat is killed.
 * Nothing may be lost, every duplicate must be explained by a kill, and no beat run goes out twice.
 */
import { it } from 'vitest';
import { runChaos } from './chaos/chaos.js';
import { expectNothingLost } from './chaos/expect.js';

it('loses no task and sends no beat run twice under kills, a broker restart and a backend outage', async () => {
  const result = await runChaos({ broker: 'redis', tasks: 300, killEvery: [2, 3], log: () => undefined });
  expectNothingLost(result, true);
}, 180_000);
