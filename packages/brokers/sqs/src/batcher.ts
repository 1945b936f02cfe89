/**
 * Requests of one kind to one queue, collected for a moment and sent as SQS batch calls of up to
 * ten entries (SendMessageBatch, DeleteMessageBatch, ChangeMessageVisibilityBatch): fewer round
 * trips, and fewer billed requests on AWS. Each entry's promise settles with its own outcome,
 * since a batch call can fail some entries and not others.
 */

export const SQS_BATCH_LIMIT = 10;
/** SendMessageBatch's limit on the sum of the bodies (AWS: 1 MiB; 256 KiB keeps older limits safe). */
const BATCH_BYTES = 256 * 1024;

interface Pending<T> {
  entry: T;
  size: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** Sends one batch; resolves to one outcome per entry (null: done). */
export type BatchSender<T> = (key: string, entries: T[]) => Promise<Array<Error | null>>;

export class Batcher<T> {
  private readonly pending = new Map<string, { items: Array<Pending<T>>; bytes: number; cancel: () => void }>();
  private readonly inflight = new Set<Promise<void>>();

  /** `window`: milliseconds to wait for more entries; 0 waits for the rest of this event-loop turn. */
  constructor(
    private readonly send: BatchSender<T>,
    private readonly window = 0,
  ) {}

  add(key: string, entry: T, size = 0): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let batch = this.pending.get(key);
      if (batch && batch.bytes + size > BATCH_BYTES) {
        this.flush(key);
        batch = undefined;
      }
      if (!batch) {
        let cancel: () => void;
        if (this.window > 0) {
          const timer = setTimeout(() => this.flush(key), this.window);
          cancel = () => clearTimeout(timer);
        } else {
          const immediate = setImmediate(() => this.flush(key));
          cancel = () => clearImmediate(immediate);
        }
        batch = { items: [], bytes: 0, cancel };
        this.pending.set(key, batch);
      }
      batch.items.push({ entry, size, resolve, reject });
      batch.bytes += size;
      if (batch.items.length >= SQS_BATCH_LIMIT) this.flush(key);
    });
  }

  private flush(key: string): void {
    const batch = this.pending.get(key);
    if (!batch) return;
    this.pending.delete(key);
    batch.cancel();
    const items = batch.items;
    const done: Promise<void> = this.send(
      key,
      items.map((i) => i.entry),
    ).then(
      (outcomes) => {
        items.forEach((item, i) => {
          const outcome = outcomes[i];
          if (outcome) item.reject(outcome);
          else item.resolve();
        });
      },
      (err: unknown) => {
        for (const item of items) item.reject(err as Error);
      },
    );
    this.inflight.add(done);
    void done.finally(() => this.inflight.delete(done));
  }

  /** Send everything collected and wait for every call in flight. */
  async drain(): Promise<void> {
    for (const key of [...this.pending.keys()]) this.flush(key);
    await Promise.allSettled([...this.inflight]);
  }
}
