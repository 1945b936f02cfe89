/**
 * What every short chaos run asserts (packages/worker/test/chaos*.test.ts): nothing lost, every
 * duplicate explained by a kill, no beat run sent twice, the standby beat in charge in time.
 * Vitest only: `npm run chaos` checks the same through its exit code.
 */
import { expect } from 'vitest';
import { chaosTable, type ChaosResult } from './chaos.js';

/** `brokerRestarted`: whether the run must (true) or must not (false) have restarted its broker; unchecked when omitted. */
export function expectNothingLost(result: ChaosResult, brokerRestarted?: boolean): void {
  console.log(chaosTable([result]));
  expect(result.lost).toBe(0);
  expect(result.completed).toBe(result.sent);
  expect(result.unexplained).toBe(0);
  expect(result.kills).toBeGreaterThanOrEqual(3);
  if (brokerRestarted === true) expect(result.brokerRestartSeconds).not.toBeNull();
  if (brokerRestarted === false) expect(result.brokerRestartSeconds).toBeNull();
  expect(result.backendOutageSeconds).not.toBeNull();
  expect(result.beat?.runsSentTwice).toBe(0);
  // The standby beat takes over within the lease (3 s), its 0.5 s check and the next 1 s tick, on a loaded machine.
  expect(result.beat?.takeoverSeconds).not.toBeNull();
  expect(result.beat!.takeoverSeconds!).toBeLessThan(result.beat!.leaseSeconds + 3);
}
