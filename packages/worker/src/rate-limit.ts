/**
 * Rate limits per task type, as Celery applies them in the consumer: a token bucket per task
 * name (capacity 1, refilled at the task's rate), per worker. A request without a token waits in
 * its bucket's queue — in order, without holding a pool slot — and is released when the next
 * token is due, so a rate-limited task type never blocks other types. Changing a task's
 * `rateLimit` (the `rate_limit` control command) takes effect at once.
 */
import { parseRateLimit } from '@tq/core';
import type { Request } from './request.js';

/** Celery's (kombu's) TokenBucket. */
export class TokenBucket {
  private tokens: number;
  private timestamp: number;

  constructor(
    readonly fillRate: number,
    readonly capacity = 1,
    private readonly now: () => number = performance.now.bind(performance),
  ) {
    this.tokens = capacity;
    this.timestamp = now();
  }

  /** Take `n` tokens if there are that many. */
  canConsume(n = 1): boolean {
    if (n <= this.refill()) {
      this.tokens -= n;
      return true;
    }
    return false;
  }

  /** Seconds until `n` tokens are available. */
  expectedTime(n = 1): number {
    const tokens = this.refill();
    return Math.max(0, (n - tokens) / this.fillRate);
  }

  private refill(): number {
    const now = this.now();
    if (this.tokens < this.capacity) {
      this.tokens = Math.min(this.capacity, this.tokens + (this.fillRate * (now - this.timestamp)) / 1000);
    }
    this.timestamp = now;
    return this.tokens;
  }
}

interface Bucket {
  source: string | number;
  bucket: TokenBucket;
  waiting: Request[];
  timer: NodeJS.Timeout | null;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  /** Requests waiting for a token, over all buckets. */
  waiting = 0;

  /**
   * @param release hands a request that got its token back to the worker
   * @param changed called when the number of waiting requests changes (the worker's prefetch depends on it)
   */
  constructor(
    private readonly release: (request: Request) => void,
    private readonly changed: () => void,
  ) {}

  /** True when the request may run now; otherwise it waits here and is released later. */
  admit(request: Request): boolean {
    const source = request.task.options.rateLimit;
    if (source === null || source === 0 || source === '') return true;
    const bucket = this.bucketFor(request.name, source);
    if (!bucket) return true;
    if (bucket.waiting.length === 0 && bucket.bucket.canConsume(1)) return true;
    bucket.waiting.push(request);
    this.waiting++;
    this.changed();
    this.schedule(bucket);
    return false;
  }

  private bucketFor(name: string, source: string | number): Bucket | null {
    let bucket = this.buckets.get(name);
    if (bucket && bucket.source === source) return bucket;
    const rate = parseRateLimit(source);
    if (rate <= 0) return null;
    const waiting = bucket?.waiting ?? [];
    if (bucket?.timer) clearTimeout(bucket.timer);
    bucket = { source, bucket: new TokenBucket(rate), waiting, timer: null };
    this.buckets.set(name, bucket);
    return bucket;
  }

  private schedule(bucket: Bucket): void {
    if (bucket.timer) return;
    const drain = () => {
      bucket.timer = null;
      while (bucket.waiting.length > 0) {
        if (!bucket.bucket.canConsume(1)) {
          bucket.timer = setTimeout(drain, Math.max(1, Math.ceil(bucket.bucket.expectedTime(1) * 1000)));
          return;
        }
        this.waiting--;
        this.release(bucket.waiting.shift()!);
      }
      this.changed();
    };
    bucket.timer = setTimeout(drain, Math.max(1, Math.ceil(bucket.bucket.expectedTime(1) * 1000)));
  }

  /**
   * A task's rate limit changed: its bucket is rebuilt at the new rate (Celery's
   * `reset_rate_limits`); with no limit, the waiting requests go at once.
   */
  reset(name: string, source: string | number | null): void {
    const bucket = this.buckets.get(name);
    if (!bucket) return;
    if (bucket.timer) clearTimeout(bucket.timer);
    this.buckets.delete(name);
    const waiting = bucket.waiting;
    if (waiting.length === 0) return;
    const rate = parseRateLimit(source);
    if (rate <= 0) {
      this.waiting -= waiting.length;
      for (const request of waiting) this.release(request);
      this.changed();
      return;
    }
    const fresh: Bucket = { source: source!, bucket: new TokenBucket(rate), waiting, timer: null };
    this.buckets.set(name, fresh);
    this.schedule(fresh);
  }

  /** Every waiting request, removed (for shutdown, to give them back to the broker). */
  drain(): Request[] {
    const all: Request[] = [];
    for (const bucket of this.buckets.values()) {
      if (bucket.timer) clearTimeout(bucket.timer);
      bucket.timer = null;
      all.push(...bucket.waiting.splice(0));
    }
    this.waiting = 0;
    return all;
  }

  /** Waiting requests (inspect `reserved` lists them). */
  *requests(): IterableIterator<Request> {
    for (const bucket of this.buckets.values()) yield* bucket.waiting;
  }

  stop(): void {
    for (const bucket of this.buckets.values()) {
      if (bucket.timer) clearTimeout(bucket.timer);
      bucket.timer = null;
    }
  }
}
