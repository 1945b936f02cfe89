/**
 * The Pool contract: where a worker runs task bodies. The worker decides what to run and when
 * (prefetch, ETA, rate limits, revokes, acknowledgements); a pool runs one job per free slot
 * (a child pool's slot may be a place in a busy child's queue, see `workerPoolWindow`), enforces
 * what it can of the time limits, and reports the executor's outcome. Pools differ in
 * isolation and in what they can enforce — see the README's table and docs/pools.md.
 */
import type { AnyTask, DeliveryInfo, LazyAbort, Outcome, TaskExecutor, Logger } from '@tq/core';
import type { RawMessage, TaskMessage } from '@tq/protocol';

export type PoolKind = 'async' | 'thread' | 'process' | 'solo';

export const POOL_KINDS: readonly PoolKind[] = ['async', 'process', 'thread', 'solo'];

/** What happened to a job in another process or thread, reported back to the worker as it happens. */
export type JobEvent =
  | [name: 'started']
  | [name: 'succeeded', result: unknown, runtime: number]
  | [name: 'failed', error: unknown, traceback: string | null, runtime: number]
  | [name: 'retried', error: unknown, traceback: string | null]
  | [name: 'rejected', requeue: boolean];

export interface PoolJob {
  readonly task: AnyTask;
  readonly message: TaskMessage;
  /** The message as received, for pools that decode it again elsewhere (child processes, threads). */
  readonly raw: RawMessage;
  readonly deliveryInfo: DeliveryInfo;
  /** Aborted on terminate, on in-process time limits and on cold shutdown; the task's `signal`. */
  readonly abort: LazyAbort;
  /** Seconds; null for none. */
  readonly timeLimit: number | null;
  readonly softTimeLimit: number | null;
  /** Which job events the worker listens to now (child pools send only those). */
  readonly wants: ReadonlySet<JobEvent[0]>;
  /** The job started in this process (its pid); a child pool calls it when the child starts the job, not when it queues it. */
  accepted(pid: number): void;
  /** An event of a job running in a child (in-process pools report through the executor's hooks). */
  report(...event: JobEvent): void;
}

export interface Pool {
  readonly kind: PoolKind;
  /** Slots the pool has (or is starting). */
  readonly concurrency: number;
  /** Jobs running now. */
  readonly running: number;
  /** Slots that can start a job now (a child that is still starting is not free). */
  readonly free: number;
  /** Whether a task past its hard time limit is stopped (true) or only reported failed while its code runs on (false). */
  readonly stopsAtTimeLimit: boolean;
  start(): Promise<void>;
  /** Run a job in a free slot. Never rejects: failures are outcomes. */
  run(job: PoolJob): Promise<Outcome>;
  /**
   * End a running job now with `reason` as its outcome (TaskRevokedError → REVOKED, Reject →
   * REJECTED, any other error → FAILURE). Child pools kill the process (with `signal`) or thread;
   * in-process pools abort the job, whose body may run on.
   */
  kill(job: PoolJob, reason: Error, signal?: NodeJS.Signals): void;
  /**
   * A plain revoke of a job the pool holds but has not started (queued in a child, with
   * `workerPoolWindow` above 1): it ends with `reason` as its outcome when it is back unstarted;
   * if its child starts it first, it runs. Pools that start every job at once have none.
   */
  withdraw?(job: PoolJob, reason: Error): void;
  /** Add slots. */
  grow(n: number): void;
  /** Remove slots (busy ones leave once their job is done). */
  shrink(n: number): void;
  /** Replace every child with one running freshly loaded code (child pools); running jobs finish first. */
  restart(): Promise<void>;
  /** The worker is shutting down: start no more slots (children that die are not replaced). */
  drain(): void;
  /** Celery's `stats.pool` for this pool. */
  info(): Record<string, unknown>;
  /** Stop; the worker has waited for (or ended) running jobs first. */
  stop(): Promise<void>;
}

export interface PoolOptions {
  concurrency: number;
  /** The worker's executor: in-process pools run jobs with it; child pools record outcomes of jobs they had to end. */
  executor: TaskExecutor;
  logger: Logger;
  /** Called when slots become free other than by a job finishing (a child became ready, the pool grew). */
  onFree(): void;
}
