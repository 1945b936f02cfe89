/**
 * Global and per-key concurrency limits (tq's own): at most N requests of a task (or of a task
 * and key) running at once across the cluster. A request holds a lease in the flow store from
 * before it runs until it finished; the worker renews its leases every third of their TTL
 * (`flowLeaseTtl`, default 10 s), so the leases of a worker that died (SIGKILL, lost host) expire
 * and their slots come back without anyone cleaning up.
 */
import type { FlowStore, Logger } from '@tq/core';
import type { Request } from '../request.js';
import { FlowWaiters, limitKey } from './waiters.js';

/** Longest wait between two tries at a full key: a lease freed by another worker is noticed this soon. */
const POLL_MS = 50;
/** Leases asked for in one script call. */
const MAX_PER_CALL = 64;

export class ConcurrencyLimiter extends FlowWaiters {
  /** Leases held by this worker, by request. */
  readonly leases = new Map<Request, { key: string; holder: string }>();
  private renewTimer: NodeJS.Timeout | null = null;

  constructor(
    store: () => FlowStore,
    logger: Logger,
    release: (request: Request) => void,
    changed: () => void,
    private readonly hostname: string,
    private readonly ttlMs: number,
  ) {
    super(store, logger, release, changed);
  }

  static keyOf(request: Request): string | null {
    const flow = request.task.options.flow;
    return flow?.concurrency ? limitKey(request, 'conc', flow.concurrencyKey, 'concurrencyKey') : null;
  }

  protected async grant(key: string, queue: Request[]): Promise<number> {
    const limit = queue[0]!.task.options.flow!.concurrency!;
    const heads = queue.slice(0, Math.min(limit, MAX_PER_CALL));
    const holders = heads.map((request) => `${this.hostname}/${request.id}`);
    const { granted, retryMs } = await this.store().acquireLeases(key, holders, limit, this.ttlMs);
    for (let i = 0; i < granted; i++) {
      this.leases.set(heads[i]!, { key, holder: holders[i]! });
      this.releaseHead(queue);
    }
    return granted < heads.length ? Math.min(POLL_MS, retryMs) : 0;
  }

  /** The request finished (or will not run): its lease goes back at once. */
  free(request: Request): void {
    const lease = this.leases.get(request);
    if (!lease) return;
    this.leases.delete(request);
    this.store()
      .releaseLease(lease.key, lease.holder)
      .then(
        () => this.wake(lease.key),
        (err: unknown) => this.logger.warn(`[tq] flow control: could not free the lease of ${request.id} (it expires by itself): ${(err as Error).message}`),
      );
  }

  startRenewing(): void {
    this.renewTimer = setInterval(() => {
      this.store()
        .renewLeases([...this.leases.values()], this.ttlMs)
        .catch((err: unknown) => this.logger.warn(`[tq] flow control: could not renew leases: ${(err as Error).message}`));
    }, this.ttlMs / 3);
    this.renewTimer.unref();
  }

  async stopRenewing(): Promise<void> {
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.renewTimer = null;
    const leases = [...this.leases.values()];
    this.leases.clear();
    await Promise.all(leases.map((l) => this.store().releaseLease(l.key, l.holder).catch(() => undefined)));
  }
}
