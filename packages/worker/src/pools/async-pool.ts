/**
 * The async pool: task bodies run on the worker's own event loop, many at once. The fastest
 * pool and the right one for I/O-bound work (HTTP calls, database queries). A task that blocks
 * the loop with CPU work blocks every other task, and the pool cannot stop a body: a soft limit,
 * a terminate or a hard limit fire the task's AbortSignal and end its run (the outcome is
 * recorded at once), but code that ignores the signal keeps running in the background.
 *
 * The solo pool is the same with exactly one slot (Celery's `solo`).
 */
import type { Outcome } from '@tq/core';
import { ConfigurationError } from '@tq/core';
import type { Pool, PoolJob, PoolKind, PoolOptions } from './pool.js';

export class AsyncPool implements Pool {
  readonly kind: PoolKind = 'async';
  readonly stopsAtTimeLimit = false;
  concurrency: number;
  running = 0;
  protected readonly options: PoolOptions;

  constructor(options: PoolOptions) {
    this.options = options;
    this.concurrency = options.concurrency;
  }

  get free(): number {
    return Math.max(0, this.concurrency - this.running);
  }

  async start(): Promise<void> {}

  run(job: PoolJob): Promise<Outcome> {
    // Not an async function: the executor never rejects, so one `then` frees the slot.
    this.running++;
    let outcome: Promise<Outcome>;
    try {
      job.accepted(process.pid);
      outcome = this.options.executor.execute(job.task, job.message, {
        deliveryInfo: job.deliveryInfo,
        abort: job.abort,
        softTimeLimit: job.softTimeLimit,
        timeLimit: job.timeLimit,
      });
    } catch (err) {
      this.running--;
      return Promise.reject(err);
    }
    return outcome.then(this.freeSlot, this.freeSlotAndThrow);
  }

  private readonly freeSlot = (outcome: Outcome): Outcome => {
    this.running--;
    return outcome;
  };

  private readonly freeSlotAndThrow = (err: unknown): never => {
    this.running--;
    throw err;
  };

  kill(job: PoolJob, reason: Error): void {
    job.abort.abort(reason);
  }

  grow(n: number): void {
    this.concurrency += n;
    this.options.onFree();
  }

  shrink(n: number): void {
    this.concurrency = Math.max(0, this.concurrency - n);
  }

  async restart(): Promise<void> {
    throw new ConfigurationError(`the ${this.kind} pool runs tasks in the worker's own process and cannot load new code; use --pool process or thread for pool_restart and --autoreload`);
  }

  drain(): void {}

  info(): Record<string, unknown> {
    return {
      implementation: `tq.pools:${this.kind}`,
      'max-concurrency': this.concurrency,
      processes: [process.pid],
      'max-tasks-per-child': 'N/A',
      'put-guarded-by-semaphore': false,
      timeouts: [0, 0],
    };
  }

  async stop(): Promise<void> {}
}

/** One task at a time in the worker's process (Celery's `solo`). */
export class SoloPool extends AsyncPool {
  override readonly kind: PoolKind = 'solo';

  constructor(options: PoolOptions) {
    super({ ...options, concurrency: 1 });
  }

  override grow(): void {
    throw new ConfigurationError('the solo pool runs one task at a time and cannot grow; use --pool async, thread or process');
  }

  override shrink(): void {
    throw new ConfigurationError('the solo pool runs one task at a time and cannot shrink');
  }
}
