/**
 * Waiting in tests without sleeping: poll a condition until a deadline, or collect events until
 * a count is reached. A failure says what was awaited and what was seen.
 */

export interface WaitOptions {
  /** Milliseconds before giving up (default 10 000). */
  timeout?: number;
  /** Milliseconds between checks (default 10). */
  interval?: number;
  /** Describes the condition in the failure message. */
  message?: string;
}

/** Resolve with the first truthy value of `check`, or throw after the timeout. */
export async function waitFor<T>(check: () => T | Promise<T>, options: WaitOptions = {}): Promise<NonNullable<T>> {
  const timeout = options.timeout ?? 10_000;
  const interval = options.interval ?? 10;
  const deadline = Date.now() + timeout;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout}ms waiting for ${options.message ?? 'a condition'} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/** A list that resolves waiters when it reaches a length. */
export class Collector<T> {
  readonly items: T[] = [];
  private waiters: Array<{ count: number; resolve: () => void }> = [];

  push = (item: T): void => {
    this.items.push(item);
    this.waiters = this.waiters.filter((w) => {
      if (this.items.length >= w.count) {
        w.resolve();
        return false;
      }
      return true;
    });
  };

  /** Resolve once at least `count` items arrived; reject after `timeout` ms. */
  async atLeast(count: number, timeout = 10_000): Promise<T[]> {
    if (this.items.length >= count) return this.items;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => this.waiters.push({ count, resolve })),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeout}ms: got ${this.items.length} of ${count} items`)), timeout);
      }),
    ]).finally(() => clearTimeout(timer));
    return this.items;
  }
}

/** A unique name for a test's queue, exchange or key. */
export function uniqueName(prefix = 'tq-test'): string {
  return `${prefix}-${Math.random().toString(36).slice(2, 10)}`;
}
