/**
 * What a periodic task's `schedule` is: something that, given the last run, says when the next
 * run is due. Beat keeps the last run per entry; the schedule is pure arithmetic on time, so it
 * can be tested with plain numbers and a time zone.
 *
 * Values accepted in `beatSchedule[name].schedule`:
 * - a number of seconds, or a duration string (`'30s'`, `'5m'`): an interval (`schedule(…)`);
 * - a cron expression string with five fields (`'*\/15 9-17 * * mon-fri'`): a crontab;
 * - `schedule(seconds)`, `crontab({...})`, `solar(event, lat, lon)` objects.
 */
import type { ApplyOptions } from '../apply-options.js';
import { type Duration, toSeconds } from '../duration.js';
import { ConfigurationError } from '../errors.js';

export interface Schedule {
  /** `interval`, `crontab`, `solar`, or a custom kind. */
  readonly kind: string;
  /**
   * The definition as stable text (`interval:60`, `crontab:0 9 * * 1-5@Europe/Berlin`). Beat
   * stores a hash of it per entry: when it changes, the entry starts over from now.
   */
  definition(timeZone: string): string;
  /**
   * The first run strictly after `last` (epoch ms), or null when there is none (a crontab that
   * can never match). Beat runs an entry once `next(lastRun) <= now`; missed runs while beat
   * was down collapse into one, as in Celery.
   */
  next(last: number, timeZone: string): number | null;
  /** Human-readable, for logs (`every 30s`, `<crontab: 0 9 * * mon-fri>`). */
  toString(): string;
}

export function isSchedule(value: unknown): value is Schedule {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Schedule).next === 'function' &&
    typeof (value as Schedule).definition === 'function' &&
    typeof (value as Schedule).kind === 'string'
  );
}

/** One periodic task, as in Celery's `beat_schedule`. */
export interface BeatEntryDefinition {
  /** The task name; it is sent by name, so it need not be registered where beat runs. */
  task: string;
  /** Seconds, a duration (`'5m'`), a five-field cron string, or `schedule()`/`crontab()`/`solar()`. */
  schedule: Schedule | Duration;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  /** Call options (queue, priority, expires, …) as for `applyAsync`. */
  options?: ApplyOptions;
}

/** `beatSchedule`: periodic tasks by entry name. */
export type BeatSchedule = Record<string, BeatEntryDefinition>;

/** A fixed interval: run every `seconds` after the last run (Celery's `schedule(run_every)`). */
export class IntervalSchedule implements Schedule {
  readonly kind = 'interval';
  readonly seconds: number;

  constructor(every: Duration) {
    const seconds = toSeconds(every, 'schedule interval');
    if (!(seconds > 0)) throw new ConfigurationError(`a schedule interval must be more than 0 seconds, got ${JSON.stringify(every)}`);
    this.seconds = seconds;
  }

  definition(): string {
    return `interval:${this.seconds}`;
  }

  next(last: number): number {
    return last + this.seconds * 1000;
  }

  toString(): string {
    return `every ${humanSeconds(this.seconds)}`;
  }
}

/** Run every `every` seconds (or `'10s'`, `'5m'`, …), as Celery's `schedule(run_every)`. */
export function schedule(every: Duration): IntervalSchedule {
  return new IntervalSchedule(every);
}

export function humanSeconds(seconds: number): string {
  if (seconds % 86400 === 0) return `${seconds / 86400}d`;
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}
