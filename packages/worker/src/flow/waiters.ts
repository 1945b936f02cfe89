/**
 * Requests waiting for something the flow store grants (a token, a lease): one FIFO queue per
 * store key, drained by one loop per key, so a busy key never delays another. Waiting requests
 * hold no pool slot; the worker raises its prefetch by `waiting` (as for ETA tasks).
 */
import { flowKey, type FlowKeyFn, type FlowStore, type Logger } from '@tq/core';
import type { Request } from '../request.js';

/**
 * The store key a request waits under: `<kind>:<task>`, or `<kind>:<task>:<key>` when the task
 * has a key function (`option` names it in the error a throwing key function gives).
 */
export function limitKey(request: Request, kind: 'rate' | 'conc', keyFn: FlowKeyFn | null, option: string): string {
  if (!keyFn) return `${kind}:${request.name}`;
  const { args, kwargs } = request.message;
  return `${kind}:${request.name}:${flowKey(keyFn, args, kwargs, `${request.name} ${option}`)}`;
}

export abstract class FlowWaiters {
  /** Requests waiting, over all keys. */
  waiting = 0;
  private readonly queues = new Map<string, Request[]>();
  private readonly wakers = new Map<string, () => void>();
  private stopped = false;

  constructor(
    protected readonly store: () => FlowStore,
    protected readonly logger: Logger,
    private readonly release: (request: Request) => void,
    private readonly changed: () => void,
  ) {}

  /** Queue a request under `key`; it is released when the store grants it. */
  wait(key: string, request: Request): void {
    let queue = this.queues.get(key);
    const idle = !queue;
    if (!queue) this.queues.set(key, (queue = []));
    queue.push(request);
    this.waiting++;
    this.changed();
    if (idle) void this.loop(key, queue);
  }

  /** Try a key's queue again now (something was freed locally). */
  wake(key: string): void {
    this.wakers.get(key)?.();
  }

  /** Grant what the store allows from the head of `queue`; resolves with ms to wait, 0 to go on. */
  protected abstract grant(key: string, queue: Request[]): Promise<number>;

  protected releaseHead(queue: Request[]): void {
    // Drained (shutdown) while the store answered: nothing left to release.
    if (queue.length === 0) return;
    const request = queue.shift()!;
    this.waiting--;
    this.release(request);
  }

  private async loop(key: string, queue: Request[]): Promise<void> {
    while (!this.stopped && queue.length > 0) {
      let waitMs: number;
      try {
        waitMs = await this.grant(key, queue);
      } catch (err) {
        this.logger.warn(`[tq] flow control: the flow store failed (${(err as Error).message}); retrying in 1 s`);
        waitMs = 1000;
      }
      this.changed();
      if (waitMs > 0 && queue.length > 0 && !this.stopped) await this.sleep(key, waitMs);
    }
    if (this.queues.get(key) === queue) this.queues.delete(key);
  }

  private sleep(key: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakers.delete(key);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakers.set(key, done);
    });
  }

  /** Every waiting request, removed (shutdown gives them back to the broker). */
  drain(): Request[] {
    const all: Request[] = [];
    for (const queue of this.queues.values()) all.push(...queue.splice(0));
    this.waiting = 0;
    for (const wake of [...this.wakers.values()]) wake();
    return all;
  }

  *requests(): IterableIterator<Request> {
    for (const queue of this.queues.values()) yield* queue;
  }

  /** Waiting requests per key (for inspect). */
  waitingByKey(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [key, queue] of this.queues) out[key] = queue.length;
    return out;
  }

  stop(): void {
    this.stopped = true;
    for (const wake of [...this.wakers.values()]) wake();
  }
}
