/**
 * Waiting for results by polling, for servers without change streams (FerretDB, a standalone
 * mongod): every awaited id is re-read on its own schedule, first at once (a result stored before
 * the wait began resolves it), then after a backoff that doubles from `backoffStart` up to the
 * caller's `interval` (Celery's 0.5 s). All ids due at the same moment go in one `$in` query per
 * thousand, so ten thousand waiting results cost a few queries per round, not ten thousand.
 * Results this process stores itself wake their waiters directly, without a round trip, and
 * are kept for a minute (at most 20,000) for a `waitFor` that comes after the store (a worker
 * and a client in one process), as the Redis backend keeps results pushed before anyone waited.
 */
import { BackendError, TimeoutError, type Logger, type WaitOptions } from '@tq/core';
import type { ResultMeta } from '@tq/protocol';

/** Ready results among `ids` (absent: not ready yet), each decoded on demand (it may throw). */
export type ReadReady = (ids: string[]) => Promise<Map<string, () => ResultMeta>>;

interface Waiter {
  resolve(meta: ResultMeta): void;
  reject(error: unknown): void;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

interface Watch {
  waiters: Waiter[];
  /** ms until the next re-read after this one. */
  delay: number;
  /** Largest delay (the smallest `interval` among its waiters). */
  max: number;
  /** performance.now() of the next re-read. */
  due: number;
}

const CHUNK = 1000;
const EARLY_TTL = 60_000;
const EARLY_MAX = 20_000;

export class ResultWaiter {
  private readonly watches = new Map<string, Watch>();
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private polling = false;
  private closed = false;
  /** Ready results this process stored that nobody waited for yet, oldest first. */
  private readonly early = new Map<string, { decode: () => ResultMeta; at: number }>();

  constructor(
    private readonly read: ReadReady,
    private readonly logger: Logger,
    private readonly backoffStart: number,
  ) {}

  wait(taskId: string, options: WaitOptions = {}): Promise<ResultMeta> {
    if (this.closed) return Promise.reject(new BackendError('[tq] [backend-mongo] the result backend is closed', { retryable: false }));
    const early = this.early.get(taskId);
    if (early) {
      this.early.delete(taskId);
      if (performance.now() - early.at < EARLY_TTL) {
        try {
          return Promise.resolve(early.decode());
        } catch (err) {
          return Promise.reject(err);
        }
      }
    }
    return new Promise<ResultMeta>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, timer: undefined, signal: options.signal, onAbort: undefined };
      const settle = (): boolean => this.remove(taskId, waiter);
      waiter.resolve = (meta) => settle() && resolve(meta);
      waiter.reject = (error) => settle() && reject(error);
      // Aborted already: rejected before any timer or watch is set up.
      if (options.signal?.aborted) return reject(options.signal.reason ?? new Error('aborted'));
      if (options.timeout !== undefined && options.timeout !== null) {
        const seconds = options.timeout;
        waiter.timer = setTimeout(() => waiter.reject(new TimeoutError(`the result of task ${taskId} was not ready within ${seconds}s`)), Math.max(0, seconds * 1000));
      }
      if (options.signal) {
        waiter.onAbort = () => waiter.reject(options.signal?.reason ?? new Error('aborted'));
        options.signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      const max = Math.max(this.backoffStart, (options.interval ?? 0.5) * 1000);
      const now = performance.now();
      const watch = this.watches.get(taskId);
      if (watch) {
        watch.waiters.push(waiter);
        watch.max = Math.min(watch.max, max);
        watch.due = now;
      } else {
        this.watches.set(taskId, { waiters: [waiter], delay: this.backoffStart, max, due: now });
      }
      this.schedule(now);
    });
  }

  /** A result this process stored: wake its waiters without reading it back. */
  notify(taskId: string, meta: () => ResultMeta): void {
    const watch = this.watches.get(taskId);
    if (watch) {
      for (const waiter of [...watch.waiters]) waiter.resolve(meta());
      return;
    }
    const now = performance.now();
    this.early.delete(taskId);
    this.early.set(taskId, { decode: meta, at: now });
    for (const [id, entry] of this.early) {
      if (this.early.size <= EARLY_MAX && now - entry.at < EARLY_TTL) break;
      this.early.delete(id);
    }
  }

  /** Drop what this process remembers of a result (it was forgotten, or replaced elsewhere). */
  drop(taskId: string): void {
    this.early.delete(taskId);
  }

  /** Re-read this id now (its stored state is not the one this process tried to write). */
  poke(taskId: string): void {
    const watch = this.watches.get(taskId);
    if (!watch) return;
    watch.due = performance.now();
    this.schedule(watch.due);
  }

  /** Results being waited for. */
  get size(): number {
    let n = 0;
    for (const watch of this.watches.values()) n += watch.waiters.length;
    return n;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const error = new BackendError('[tq] [backend-mongo] the result backend was closed while a result was awaited', { retryable: false });
    for (const watch of [...this.watches.values()]) for (const waiter of [...watch.waiters]) waiter.reject(error);
    this.watches.clear();
    this.early.clear();
  }

  private remove(taskId: string, waiter: Waiter): boolean {
    const watch = this.watches.get(taskId);
    const i = watch ? watch.waiters.indexOf(waiter) : -1;
    if (!watch || i === -1) return false;
    watch.waiters.splice(i, 1);
    if (watch.waiters.length === 0) this.watches.delete(taskId);
    if (waiter.timer) clearTimeout(waiter.timer);
    if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort);
    return true;
  }

  private schedule(at: number): void {
    if (this.closed || this.polling || at >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => void this.poll(), Math.max(0, at - performance.now()));
  }

  private async poll(): Promise<void> {
    this.timer = null;
    this.timerAt = Infinity;
    this.polling = true;
    try {
      const now = performance.now();
      const due: string[] = [];
      for (const [id, watch] of this.watches) if (watch.due <= now + 1) due.push(id);
      const chunks: string[][] = [];
      for (let i = 0; i < due.length; i += CHUNK) chunks.push(due.slice(i, i + CHUNK));
      await Promise.all(chunks.map((ids) => this.check(ids)));
    } finally {
      this.polling = false;
    }
    let next = Infinity;
    for (const watch of this.watches.values()) if (watch.due < next) next = watch.due;
    if (next !== Infinity) this.schedule(next);
  }

  private async check(ids: string[]): Promise<void> {
    let found: Map<string, () => ResultMeta>;
    try {
      found = await this.read(ids);
    } catch (err) {
      // The server is down or restarting: keep waiting, and read again after the backoff.
      this.logger.debug(`[backend-mongo] reading ${ids.length} awaited result(s) failed, retrying: ${(err as Error).message}`);
      found = new Map();
    }
    const now = performance.now();
    for (const id of ids) {
      const watch = this.watches.get(id);
      if (!watch) continue;
      const decode = found.get(id);
      if (decode === undefined) {
        watch.due = now + watch.delay;
        watch.delay = Math.min(watch.max, watch.delay * 2);
        continue;
      }
      // Each waiter gets its own copy: callers never share objects.
      for (const waiter of [...watch.waiters]) {
        let meta: ResultMeta;
        try {
          meta = decode();
        } catch (err) {
          waiter.reject(err);
          continue;
        }
        waiter.resolve(meta);
      }
    }
  }
}
