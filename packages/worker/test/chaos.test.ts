/**
 * The short form of `npm run chaos`: a few hundred acksLate tasks on the process pool over a Redis
 * of the test's own, while workers are SIGKILLed and restarted, a pool child is SIGKILLed
 * mid-task, the broker restarts, the result backend goes away, and the leading beat is killed.
 * Nothing may be lost, every duplicate must be explained by a kill, and no beat run goes out twice.
 */
import { expect, it } from 'vitest';
import { chaosTable, runChaos } from './chaos/chaos.js';

it('loses no task and sends no beat run twice under kills, a broker restart and a backend outage', async () => {
  const result = await runChaos({ broker: 'redis', tasks: 300, killEvery: [2, 3], log: () => undefined });
  console.log(chaosTable([result]));
  expect(result.lost).toBe(0);
  expect(result.completed).toBe(result.sent);
  expect(result.unexplained).toBe(0);
  expect(result.kills).toBeGreaterThanOrEqual(3);
  expect(result.brokerRestartSeconds).not.toBeNull();
  expect(result.backendOutageSeconds).not.toBeNull();
  expect(result.beat?.runsSentTwice).toBe(0);
  // The standby beat takes over within the lease (3 s), its 0.5 s check and the next 1 s tick, on a loaded machine.
  expect(result.beat?.takeoverSeconds).not.toBeNull();
  expect(result.beat!.takeoverSeconds!).toBeLessThan(result.beat!.leaseSeconds + 3);
}, 180_000);
