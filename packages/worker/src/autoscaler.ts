/**
 * The autoscaler (`--autoscale max,min`), as Celery's: once a second it compares the requests
 * the worker holds for running (waiting for a slot or running) with the pool's size; it grows
 * the pool at once up to `max` under backlog, and shrinks it toward `min` only when no scale-up
 * happened for `keepalive` seconds. Busy slots leave after their task.
 */
import { ConfigurationError } from '@tq/core';
import type { Bootstep } from './bootsteps.js';
import type { Worker } from './worker.js';

export class Autoscaler {
  private timer: NodeJS.Timeout | null = null;
  private lastScaleUp: number | null = null;

  constructor(
    private readonly worker: Worker,
    public max: number,
    public min: number,
    /** Seconds without a scale-up before shrinking. */
    readonly keepalive: number,
    private readonly interval = 1000,
  ) {
    if (!(keepalive >= 0)) throw new ConfigurationError(`autoscaleKeepalive must be a number of seconds ≥ 0, got ${keepalive}`);
  }

  /** Requests the worker holds for running: waiting for a slot, for a rate-limit token, or running (Celery's `reserved_requests`). */
  get qty(): number {
    return this.worker.reserved().length + this.worker.active.size;
  }

  get processes(): number {
    return this.worker.pool.concurrency;
  }

  start(): void {
    this.timer = setInterval(() => this.maybeScale(), this.interval);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One decision, as Celery's `_maybe_scale`. */
  maybeScale(now = performance.now()): boolean {
    const procs = this.processes;
    const up = Math.min(this.qty, this.max);
    if (up > procs) {
      this.scaleUp(up - procs, now);
      return true;
    }
    const down = Math.max(this.qty, this.min);
    if (down < procs) return this.scaleDown(procs - down, now);
    return false;
  }

  private scaleUp(n: number, now: number): void {
    this.lastScaleUp = now;
    this.worker.logger.info(`Scaling up ${n} ${n === 1 ? 'slot' : 'slots'}.`);
    this.worker.growPool(n);
  }

  private scaleDown(n: number, now: number): boolean {
    if (this.lastScaleUp !== null && now - this.lastScaleUp <= this.keepalive * 1000) return false;
    this.worker.logger.info(`Scaling down ${n} ${n === 1 ? 'slot' : 'slots'}.`);
    this.worker.shrinkPool(n);
    return true;
  }

  /** The `autoscale` command: new bounds, applied at once. Returns them. */
  update(max: number | null, min: number | null): [max: number, min: number] {
    const newMax = max ?? this.max;
    const newMin = min ?? this.min;
    if (!Number.isInteger(newMax) || !Number.isInteger(newMin) || newMin < 0 || newMax < 1 || newMin > newMax) {
      throw new ConfigurationError(`autoscale needs integers max ≥ 1 and 0 ≤ min ≤ max, got max=${max} min=${min}`);
    }
    if (newMax < this.processes) this.worker.shrinkPool(this.processes - newMax);
    this.max = newMax;
    if (newMin > this.processes) this.worker.growPool(newMin - this.processes);
    this.min = newMin;
    this.worker.updatePrefetch();
    return [this.max, this.min];
  }

  info(): { max: number; min: number; current: number; qty: number } {
    return { max: this.max, min: this.min, current: this.processes, qty: this.qty };
  }
}

export function autoscalerStep(autoscaler: Autoscaler): Bootstep<Worker> {
  return { name: 'autoscaler', requires: ['pool', 'consumer'], start: () => autoscaler.start(), stop: () => autoscaler.stop() };
}
