/**
 * Coalescing of many small operations into one Redis command per event-loop turn: publishes to
 * the same list become one `LPUSH key v1 v2 …` (Redis keeps their order), acks become one
 * `ZREM`/`HDEL` of many tags, results one script call. Every caller in a batch shares the batch's
 * promise (it succeeds or fails as a whole), so a message costs no promise of its own.
 */

interface Chunk<T> {
  items: T[];
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

function chunk<T>(): Chunk<T> {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A batch nobody awaits (fire-and-forget acks) must not be an unhandled rejection.
  promise.catch(() => undefined);
  return { items: [], promise, resolve, reject };
}

export class Batcher<T> {
  private pending = new Map<string, Chunk<T>>();
  private scheduled = false;
  private readonly inFlight = new Set<Promise<void>>();

  /**
   * @param flush sends one batch for a key; its rejection rejects every caller in the batch.
   * @param maxBatch items per command at most: a batch that reaches it is sent at once, so a
   *   turn that adds many items does not hold them all until its end, and the server starts on
   *   the first batches while the rest are being made.
   */
  constructor(
    private readonly flush: (key: string, items: T[]) => Promise<unknown>,
    private readonly maxBatch = 1000,
  ) {}

  add(key: string, item: T): Promise<void> {
    let batch = this.pending.get(key);
    if (!batch) {
      batch = chunk<T>();
      this.pending.set(key, batch);
    }
    batch.items.push(item);
    if (batch.items.length >= this.maxBatch) {
      this.pending.delete(key);
      this.send(key, batch);
    } else if (!this.scheduled) {
      this.scheduled = true;
      // setImmediate, not a microtask: every caller of this turn (and their async chains) joins.
      setImmediate(() => this.run());
    }
    return batch.promise;
  }

  private send(key: string, batch: Chunk<T>): void {
    let done: Promise<void>;
    try {
      done = this.flush(key, batch.items).then(batch.resolve, batch.reject);
    } catch (err) {
      batch.reject(err);
      return;
    }
    this.inFlight.add(done);
    void done.finally(() => this.inFlight.delete(done));
  }

  private run(): void {
    this.scheduled = false;
    const batches = this.pending;
    this.pending = new Map();
    for (const [key, batch] of batches) this.send(key, batch);
  }

  /**
   * Take the batch waiting under `key`, to send it with another command (a pop carries the acks):
   * `done` settles its callers with that command's outcome. Null when nothing waits.
   */
  take(key: string): { items: T[]; done: (err?: unknown) => void } | null {
    const batch = this.pending.get(key);
    if (!batch) return null;
    this.pending.delete(key);
    let settled!: () => void;
    const sent = new Promise<void>((resolve) => (settled = resolve));
    this.inFlight.add(sent);
    return {
      items: batch.items,
      done: (err?: unknown) => {
        if (err === undefined) batch.resolve();
        else batch.reject(err);
        this.inFlight.delete(sent);
        settled();
      },
    };
  }

  /** Send what is waiting now and resolve once every batch sent so far has settled. */
  async drain(): Promise<void> {
    if (this.scheduled) this.run();
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  get size(): number {
    let n = 0;
    for (const batch of this.pending.values()) n += batch.items.length;
    return n;
  }
}
