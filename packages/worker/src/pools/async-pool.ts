/**
 * The async pool: task bodies run on the worker's own event loop, many at once. The fastest
 * pool and the right one for I/O-bound work (HTTP calls, database queries). A task that blocks
 * the loop with CPU work blocks every other task, and time limits can only be enforced through
 * the task's AbortSignal: the pool cannot kill a body that ignores it.
 */
import type { Outcome } from '@tq/core';
import type { Pool, PoolJob, PoolOptions } from './pool.js';

export class AsyncPool implements Pool {
  readonly kind = 'async' as const;
  concurrency: number;
  running = 0;
  private readonly options: PoolOptions;

  constructor(options: PoolOptions) {
    this.options = options;
    this.concurrency = options.concurrency;
  }

  async start(): Promise<void> {}

  async run(job: PoolJob): Promise<Outcome> {
    this.running++;
    try {
      return await this.options.executor.execute(job.task, job.message, { deliveryInfo: job.deliveryInfo, signal: job.signal });
    } finally {
      this.running--;
    }
  }

  grow(n: number): void {
    this.concurrency += n;
  }

  shrink(n: number): void {
    this.concurrency = Math.max(1, this.concurrency - n);
  }

  async stop(): Promise<void> {}
}
