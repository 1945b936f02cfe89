/**
 * The worker's side of cluster-wide flow control (see @tq/core's flow.ts): a request of a task
 * with a global rate limit first waits for a token, then, with a concurrency limit, for a
 * lease; then it goes on as any other request. When it finished for good, its lease is freed
 * and its dedup claim (mode `'active'`) released. Tasks without flow options never come here.
 */
import { getFlowStore, leaseTtl, releaseDedup, type App, type FlowSnapshot, type FlowStore, type Logger, type Outcome } from '@tq/core';
import type { Request } from '../request.js';
import { ConcurrencyLimiter } from './concurrency.js';
import { GlobalRateLimiter } from './global-rate-limit.js';

export interface FlowInfo extends FlowSnapshot {
  /** Requests this worker holds waiting for a token / a lease, by key. */
  waiting: { rate: Record<string, number>; concurrency: Record<string, number> };
  /** Leases this worker holds. */
  held: number;
}

export class FlowControl {
  private store: FlowStore | null = null;
  readonly rate: GlobalRateLimiter;
  readonly concurrency: ConcurrencyLimiter;

  constructor(
    private readonly app: App,
    hostname: string,
    private readonly logger: Logger,
    release: (request: Request) => void,
    changed: () => void,
  ) {
    const store = () => this.store!;
    this.concurrency = new ConcurrencyLimiter(store, logger, release, changed, hostname, leaseTtl(app) * 1000);
    this.rate = new GlobalRateLimiter(store, logger, (request) => this.afterRate(request, release), changed);
  }

  /** Does any registered task use the flow store? */
  private needed(): boolean {
    for (const task of this.app.tasks.values()) {
      const flow = task.options.flow;
      if (flow && (flow.rate || flow.concurrency || flow.dedup)) return true;
    }
    return false;
  }

  async start(): Promise<void> {
    if (!this.needed()) return;
    this.store = await getFlowStore(this.app);
    this.concurrency.startRenewing();
  }

  get waiting(): number {
    return this.rate.waiting + this.concurrency.waiting;
  }

  /** True when the request waits here (it is released later); false when it may go on now. */
  admit(request: Request): boolean {
    if (!this.store) return false;
    const bucket = GlobalRateLimiter.bucketOf(request);
    if (bucket) {
      this.rate.wait(bucket, request);
      return true;
    }
    return this.needsLease(request);
  }

  private afterRate(request: Request, release: (request: Request) => void): void {
    if (!this.needsLease(request)) release(request);
  }

  private needsLease(request: Request): boolean {
    const key = ConcurrencyLimiter.keyOf(request);
    if (!key) return false;
    this.concurrency.wait(key, request);
    return true;
  }

  /** The request ended on this worker (`outcome` null: it was discarded before it ran). */
  finished(request: Request, outcome: Outcome | null): void {
    if (!this.store || !request.task.options.flow) return;
    this.concurrency.free(request);
    const again = outcome !== null && (outcome.state === 'RETRY' || (outcome.state === 'REJECTED' && outcome.requeue));
    if (!again && request.task.options.flow.dedup) {
      releaseDedup(this.app, request.task, request.id, request.message.args, request.message.kwargs).catch((err: unknown) =>
        this.logger.warn(`[tq] flow control: could not release the dedup claim of ${request.id}: ${(err as Error).message}`),
      );
    }
  }

  drain(): Request[] {
    return [...this.rate.drain(), ...this.concurrency.drain()];
  }

  *requests(): IterableIterator<Request> {
    yield* this.rate.requests();
    yield* this.concurrency.requests();
  }

  /** What `tq inspect limits` shows: the store's view plus this worker's waiting requests. */
  async info(): Promise<FlowInfo | null> {
    if (!this.store) return null;
    return {
      ...(await this.store.snapshot()),
      waiting: { rate: this.rate.waitingByKey(), concurrency: this.concurrency.waitingByKey() },
      held: this.concurrency.leases.size,
    };
  }

  async stop(): Promise<void> {
    this.rate.stop();
    this.concurrency.stop();
    await this.concurrency.stopRenewing();
  }
}
