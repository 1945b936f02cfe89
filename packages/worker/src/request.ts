/**
 * A task message the worker holds, from delivery to settlement: waiting for its ETA, for a rate
 * limit token, for a free slot, or running. It is the RequestInfo that hooks and inspect replies
 * see, and the PoolJob a pool runs.
 */
import { LazyAbort, type AnyTask, type Delivery, type DeliveryInfo } from '@tq/core';
import type { RawMessage, TaskMessage } from '@tq/protocol';
import type { JobEvent, PoolJob } from './pools/pool.js';
import type { RequestInfo } from './request-info.js';

export class Request implements RequestInfo, PoolJob {
  readonly id: string;
  readonly name: string;
  readonly abort = new LazyAbort();
  timeStart: number | null = null;
  acknowledged = false;
  settled = false;
  /** Acknowledged when it started (not acksLate): counts against `-O fair`'s free slots. */
  ackedAtStart = false;
  /** The pool process that started it; null before (in the worker, or queued in a pool child). */
  workerPid: number | null = null;
  /** Epoch ms of the ETA, for held requests. */
  eta: number | null = null;
  timer: NodeJS.Timeout | undefined;
  timeLimit: number | null = null;
  softTimeLimit: number | null = null;
  wants: ReadonlySet<JobEvent[0]> = NO_EVENTS;
  /** Set by the worker: where reports from a child go. */
  onReport: ((request: Request, event: JobEvent) => void) | null = null;
  /** Set by the worker: told when the pool starts the request (see `accepted`). */
  onAccepted: ((request: Request) => void) | null = null;

  constructor(
    readonly delivery: Delivery,
    readonly message: TaskMessage,
    readonly task: AnyTask,
  ) {
    this.id = message.headers.id;
    this.name = message.headers.task;
  }

  get deliveryInfo(): DeliveryInfo {
    return this.delivery.info;
  }

  get raw(): RawMessage {
    return this.delivery.message;
  }

  /** Whether the pool started it (Celery's "accepted"): a job queued in a pool child has not. */
  get started(): boolean {
    return this.workerPid !== null;
  }

  /** The pool started it: at once in the async pool, when its child starts it in a process or thread pool. */
  accepted(pid: number): void {
    this.workerPid = pid;
    this.onAccepted?.(this);
  }

  report(...event: JobEvent): void {
    this.onReport?.(this, event);
  }
}

const NO_EVENTS: ReadonlySet<JobEvent[0]> = new Set();
