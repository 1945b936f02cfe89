/**
 * Mingle, as Celery's: before consuming, a starting worker broadcasts `hello` with its node name
 * and revoked ids; every worker that answers within the timeout merges those and replies with its
 * own revoked ids and clock, which the new worker merges. So a task revoked while this worker was
 * down is still refused when it arrives. Brokers without fanout skip it.
 */
import type { Bootstep } from './bootsteps.js';
import type { Worker } from './worker.js';

export async function mingle(worker: Worker, timeout: number): Promise<void> {
  const broker = worker.broker;
  if (!broker?.capabilities.fanout) return;
  worker.logger.info('mingle: searching for neighbors');
  // In-process (memory) neighbours answer within microseconds; a second's wait would only slow start-up.
  if (broker.name === 'memory') timeout = Math.min(timeout, 0.05);
  let replies: Record<string, unknown> | null;
  try {
    replies = await worker.app.control.inspect({ timeout }).hello(worker.hostname, worker.revoked.toCeleryData());
  } catch (err) {
    worker.logger.warn(`mingle: could not reach the other workers: ${(err as Error).message}`);
    return;
  }
  const others = Object.entries(replies ?? {}).filter(([node, reply]) => node !== worker.hostname && reply);
  if (others.length === 0) {
    worker.logger.info('mingle: all alone');
    return;
  }
  worker.logger.info(`mingle: sync with ${others.length} node(s)`);
  let merged = 0;
  for (const [node, reply] of others) {
    const { revoked, clock } = reply as { revoked?: unknown; clock?: unknown };
    if (typeof clock === 'number') worker.app.clock.adjust(clock);
    merged += worker.revoked.mergeCeleryData(revoked);
    worker.logger.debug(`mingle: processed the reply of ${node}`);
  }
  if (merged > 0) worker.statedb?.changed();
  worker.logger.info(`mingle: sync complete (${merged} revoked id(s) learned)`);
}

export function mingleStep(worker: Worker, timeout: number): Bootstep<Worker> {
  return { name: 'mingle', requires: ['pidbox'], start: () => mingle(worker, timeout) };
}
