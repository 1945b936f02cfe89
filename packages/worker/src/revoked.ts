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

  /**
   * The set as Celery's LimitedSet `_data`, which `hello` replies carry: `{id: [timestamp, id]}`.
   * Timestamps are never integral, as Python's receiver insists on floats.
   */
  toCeleryData(): Record<string, [number, string]> {
    const data: Record<string, [number, string]> = {};
    for (const [id, seconds] of this.toJSON()) data[id] = [Number.isInteger(seconds) ? seconds + 0.001 : seconds, id];
    return data;
  }

  /**
   * Merge revokes received from another worker (`hello`): `{id: timestamp}` or `{id: [timestamp, id]}`.
   * Python workers send monotonic clock readings, which are not times: those count from now.
   */
  mergeCeleryData(data: unknown): number {
    if (typeof data !== 'object' || data === null || Array.isArray(data)) return 0;
    const now = this.now() / 1000;
    let merged = 0;
    for (const [id, value] of Object.entries(data as Record<string, unknown>)) {
      const raw = Array.isArray(value) ? value[0] : value;
      const seconds = typeof raw === 'number' && raw > 1e9 ? Math.min(raw, now) : now;
      if (!this.has(id)) merged++;
      this.merge([[id, seconds]]);
    }
    return merged;
  }

  private purge(): void {
    const cutoff = this.now() - this.maxAge;
    for (const [id, at] of this.entries) {
      if (this.entries.size > this.maxSize || at < cutoff) this.entries.delete(id);
      else break;
    }
  }
}
