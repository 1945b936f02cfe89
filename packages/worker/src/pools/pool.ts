/**
 * The Pool contract: where a worker runs task bodies. The worker decides what to run and when
 * (prefetch, ETA, rate limits, revokes); a pool only runs one job per free slot and reports the
 * executor's outcome. Pools differ in isolation and in what they can enforce — see the README.
 */
import type { AnyTask, Outcome, TaskExecutor } from '@tq/core';
import type { DeliveryInfo } from '@tq/core';
import type { TaskMessage } from '@tq/protocol';

export type PoolKind = 'async' | 'thread' | 'process' | 'solo';

export interface PoolJob {
  task: AnyTask;
  message: TaskMessage;
  deliveryInfo: DeliveryInfo;
  /** Aborted on revoke-with-terminate and on cold shutdown (made on first use). */
  signal: () => AbortSignal;
}

export interface Pool {
  readonly kind: PoolKind;
  /** Current number of slots. */
  readonly concurrency: number;
  /** Jobs running now. */
  readonly running: number;
  start(): Promise<void>;
  /** Run a job in a free slot. Never rejects: failures are outcomes. */
  run(job: PoolJob): Promise<Outcome>;
  /** Add slots. */
  grow(n: number): void;
  /** Remove slots (running jobs finish first). */
  shrink(n: number): void;
  /** Stop the pool; running jobs are awaited by the worker before this is called. */
  stop(): Promise<void>;
}

export interface PoolOptions {
  concurrency: number;
  executor: TaskExecutor;
}
