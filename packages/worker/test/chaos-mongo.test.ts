/**
 * The short form of `npm run chaos -- --backend mongo`: a few hundred acksLate tasks on the process
 * pool over a Redis of the test's own, results and the beat's lease in a FerretDB of the test's
 * own, which is stopped for a few seconds mid-run, while workers and a pool child are SIGKILLed,
 * the broker restarts and the leading beat is killed. Every task must have its SUCCESS in
 * `celery_taskmeta`, every duplicate must be explained by a kill, and no beat run goes out twice.
 */
import { it } from 'vitest';
import { runChaos } from './chaos/chaos.js';
import { expectNothingLost } from './chaos/expect.js';

it('loses no result in MongoDB under kills, a broker restart and a real backend outage', async () => {
  const result = await runChaos({ broker: 'redis', backend: 'mongo', tasks: 300, killEvery: [2, 3], log: () => undefined });
  expectNothingLost(result, true);
}, 120_000);
