/**
 * The ids of revoked tasks a worker remembers (Celery's LimitedSet): bounded in size and age so
 * that a long-running worker does not grow without end. Oldest entries go first.
 */

export interface RevokedSetOptions {
  /** Most ids kept (Celery: 50,000). */
  maxSize?: number;
  /** Seconds an id is kept (Celery: 3 hours). */
  maxAge?: number;
  now?: () => number;
}

export class RevokedSet {
  /** id → time added (ms); Map keeps insertion order, so the oldest is first. */
  private readonly entries = new Map<string, number>();
  private readonly maxSize: number;
  private readonly maxAge: number;
  private readonly now: () => number;

  constructor(options: RevokedSetOptions = {}) {
    this.maxSize = options.maxSize ?? 50_000;
    this.maxAge = (options.maxAge ?? 3 * 3600) * 1000;
    this.now = options.now ?? Date.now;
  }

  add(id: string, at = this.now()): void {
    this.entries.delete(id);
    this.entries.set(id, at);
    this.purge();
  }

  has(id: string): boolean {
    const at = this.entries.get(id);
    if (at === undefined) return false;
    if (this.now() - at > this.maxAge) {
      this.entries.delete(id);
      return false;
    }
    return true;
  }

  delete(id: string): void {
    this.entries.delete(id);
  }

  get size(): number {
    return this.entries.size;
  }

  ids(): string[] {
    this.purge();
    return [...this.entries.keys()];
  }

  /** `[id, addedAt seconds]` pairs, for persistence and for `hello` replies. */
  toJSON(): Array<[string, number]> {
    this.purge();
    return [...this.entries].map(([id, at]) => [id, at / 1000]);
  }

  /** Merge pairs from another worker or from disk; ids already known keep the newer time. */
  merge(pairs: Iterable<[string, number]>): void {
    for (const [id, seconds] of pairs) {
      const at = seconds * 1000;
      const known = this.entries.get(id);
      if (known === undefined || known < at) this.add(id, at);
    }
  }

  private purge(): void {
    const cutoff = this.now() - this.maxAge;
    for (const [id, at] of this.entries) {
      if (this.entries.size > this.maxSize || at < cutoff) this.entries.delete(id);
      else break;
    }
  }
}
