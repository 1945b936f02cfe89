/**
 * Global and per-key rate limits (tq's own): one token bucket per task (or per task and key) in
 * the flow store, shared by every worker. Requests over the limit wait here, in order per
 * bucket, without a pool slot and without being re-published; one script call per bucket grants
 * as many tokens as are due to the requests waiting, so a limit far above the offered rate costs
 * one round trip per grant batch.
 */
import type { Request } from '../request.js';
import { FlowWaiters, limitKey } from './waiters.js';

export class GlobalRateLimiter extends FlowWaiters {
  /** The bucket a request draws from, or null when its task has no global rate limit. */
  static bucketOf(request: Request): string | null {
    const flow = request.task.options.flow;
    return flow?.rate ? limitKey(request, 'rate', flow.rateKey, 'rateLimitKey') : null;
  }

  /** One grant round for a bucket: returns ms to wait before the next when requests are left. */
  protected async grant(key: string, queue: Request[]): Promise<number> {
    const flow = queue[0]!.task.options.flow!;
    const want = Math.min(queue.length, flow.burst);
    const { granted, waitMs } = await this.store().takeTokens(key, flow.rate!, flow.burst, want);
    for (let i = 0; i < granted && queue.length > 0; i++) this.releaseHead(queue);
    return granted < want ? waitMs : 0;
  }
}
