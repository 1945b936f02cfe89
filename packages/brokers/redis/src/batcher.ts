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
  private pending = new Map<string, Chunk<T>[]>();
  private scheduled = false;
  private readonly inFlight = new Set<Promise<void>>();

  /**
   * @param flush sends one batch for a key; its rejection rejects every caller in the batch.
   * @param maxBatch items per command at most; more are split into several commands.
   */
  constructor(
    private readonly flush: (key: string, items: T[]) => Promise<unknown>,
    private readonly maxBatch = 1000,
  ) {}

  add(key: string, item: T): Promise<void> {
    let chunks = this.pending.get(key);
    if (!chunks) {
      chunks = [chunk<T>()];
      this.pending.set(key, chunks);
    }
    let last = chunks[chunks.length - 1]!;
    if (last.items.length >= this.maxBatch) {
      last = chunk<T>();
      chunks.push(last);
    }
    last.items.push(item);
    if (!this.scheduled) {
      this.scheduled = true;
      // setImmediate, not a microtask: every caller of this turn (and their async chains) joins.
      setImmediate(() => this.run());
    }
    return last.promise;
  }

  private run(): void {
    this.scheduled = false;
    const batches = this.pending;
    this.pending = new Map();
    for (const [key, chunks] of batches) {
      for (const c of chunks) {
        let done: Promise<void>;
        try {
          done = this.flush(key, c.items).then(c.resolve, c.reject);
        } catch (err) {
          c.reject(err);
          continue;
        }
        this.inFlight.add(done);
        void done.finally(() => this.inFlight.delete(done));
      }
    }
  }

  /**
   * Take the first batch waiting under `key`, to send it with another command (a pop carries the
   * acks): `done` settles its callers with that command's outcome. Null when nothing waits.
   */
  take(key: string): { items: T[]; done: (err?: unknown) => void } | null {
    const chunks = this.pending.get(key);
    const first = chunks?.shift();
    if (!chunks || !first) return null;
    if (chunks.length === 0) this.pending.delete(key);
    let settled!: () => void;
    const sent = new Promise<void>((resolve) => (settled = resolve));
    this.inFlight.add(sent);
    return {
      items: first.items,
      done: (err?: unknown) => {
        if (err === undefined) first.resolve();
        else first.reject(err);
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
    for (const chunks of this.pending.values()) for (const c of chunks) n += c.items.length;
    return n;
  }
}
