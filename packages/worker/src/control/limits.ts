/**
 * `limits` (tq's own inspect command, `tq inspect limits`): cluster-wide flow control as the
 * flow store sees it (tokens per bucket, leases held per key, dedup claims and drops per task)
 * and what this worker holds waiting. `{ enabled: false }` on a worker without flow tasks.
 */
import type { Worker } from '../worker.js';

export function registerLimitsCommand(worker: Worker): void {
  worker.pidbox.register('limits', async () => (await worker.flow.info()) ?? { enabled: false });
}
