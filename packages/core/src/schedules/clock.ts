/**
 * Wall time for schedulers and heartbeats, injectable so that tests drive beat and event
 * heartbeats through hours of schedule in milliseconds. `systemClock` is real time;
 * `ManualClock` only moves when a test advances it.
 */

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /**
   * Resolve after `ms` milliseconds of this clock's time, or as soon as `signal` aborts (it
   * resolves then too: sleepers check their own state after waking).
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Real time (`Date.now`, `setTimeout`); the timers do not keep the process alive on their own. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep(ms, signal) {
    return new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const timer = setTimeout(done, Math.max(0, Math.min(ms, 2 ** 31 - 1)));
      timer.unref?.();
      function done() {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    });
  },
};

interface Sleeper {
  at: number;
  seq: number;
  resolve: () => void;
}

export interface AdvanceOptions {
  /**
   * Real milliseconds to wait, after waking a sleeper, for the woken loop to finish its work and
   * sleep again (default 5000). A loop that never sleeps again (it stopped) costs this wait.
   */
  settleTimeout?: number;
}

/**
 * A clock for tests: time stands still until `advance`/`advanceTo` moves it. Advancing wakes the
 * due sleepers one at a time, in time order, and waits for each woken loop to go back to sleep
 * before moving on, so a beat loop that sends, writes its state and sleeps again is observed
 * step by step, whatever I/O it does in between.
 *
 *   const clock = new ManualClock('2026-03-29T00:00:00Z');
 *   const beat = new Beat(app, { clock });
 *   await beat.start();
 *   await clock.advance(60_000);   // one minute of beat, in a few real milliseconds
 */
export class ManualClock implements Clock {
  private time: number;
  private sleepers: Sleeper[] = [];
  private seq = 0;

  constructor(start: number | Date | string = Date.now()) {
    this.time = typeof start === 'number' ? start : new Date(start).getTime();
    if (!Number.isFinite(this.time)) throw new TypeError(`ManualClock: invalid start time ${String(start)}`);
  }

  now(): number {
    return this.time;
  }

  /** Sleepers waiting on this clock (loops currently asleep). */
  get pending(): number {
    return this.sleepers.length;
  }

  /** When the earliest sleeper wakes, or null. */
  get nextWakeup(): number | null {
    return this.sleepers[0]?.at ?? null;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const sleeper: Sleeper = {
        at: this.time + Math.max(0, ms),
        seq: this.seq++,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.remove(sleeper);
        sleeper.resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.insert(sleeper);
    });
  }

  private insert(sleeper: Sleeper): void {
    let i = this.sleepers.length;
    while (i > 0 && (this.sleepers[i - 1]!.at > sleeper.at || (this.sleepers[i - 1]!.at === sleeper.at && this.sleepers[i - 1]!.seq > sleeper.seq))) i--;
    this.sleepers.splice(i, 0, sleeper);
  }

  private remove(sleeper: Sleeper): void {
    const i = this.sleepers.indexOf(sleeper);
    if (i !== -1) this.sleepers.splice(i, 1);
  }

  /** Move time forward by `ms`, waking every sleeper due on the way (see the class comment). */
  advance(ms: number, options: AdvanceOptions = {}): Promise<void> {
    return this.advanceTo(this.time + ms, options);
  }

  /** Move time forward to `target`, waking every sleeper due on the way. */
  async advanceTo(target: number | Date | string, options: AdvanceOptions = {}): Promise<void> {
    const end = typeof target === 'number' ? target : new Date(target).getTime();
    if (end < this.time) throw new RangeError(`ManualClock cannot go back in time (${new Date(end).toISOString()} < ${new Date(this.time).toISOString()})`);
    // Let loops that were just started (or just woken by the caller) reach their sleep first.
    await this.settle(0, options.settleTimeout ?? 5000);
    for (let guard = 0; ; guard++) {
      if (guard > 1_000_000) throw new Error('ManualClock: a loop keeps sleeping 0 ms; it never yields');
      const next = this.sleepers[0];
      if (!next || next.at > end) break;
      this.time = Math.max(this.time, next.at);
      const before = this.sleepers.length;
      this.sleepers.shift();
      next.resolve();
      await this.settle(before, options.settleTimeout ?? 5000);
    }
    this.time = end;
  }

  /**
   * Wait (in real time, yielding to I/O) until at least `count` sleepers are registered again,
   * or until nothing has changed for a while when `count` is 0.
   */
  private async settle(count: number, timeout: number): Promise<void> {
    const deadline = Date.now() + timeout;
    let quietRounds = 0;
    let last = this.sleepers.length;
    while (Date.now() < deadline) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (count > 0 && this.sleepers.length >= count) return;
      if (this.sleepers.length !== last) {
        last = this.sleepers.length;
        quietRounds = 0;
      } else if (count === 0 && ++quietRounds >= 20) return;
    }
  }
}
