/** Turning what users write in `beatSchedule[name].schedule` into a Schedule. */
import type { Duration } from '../duration.js';
import { ConfigurationError } from '../errors.js';
import { Crontab } from './crontab.js';
import { IntervalSchedule, isSchedule, type Schedule } from './schedule.js';

/**
 * A Schedule from a schedule object, a number of seconds, a duration string (`'10s'`) or a
 * five-field cron string (`'0 9 * * mon-fri'`). Throws a ConfigurationError saying what was wrong.
 */
export function toSchedule(value: Schedule | Duration): Schedule {
  if (isSchedule(value)) return value;
  if (typeof value === 'number') return new IntervalSchedule(value);
  if (typeof value === 'string') {
    if (value.trim().split(/\s+/).length === 5) return Crontab.fromString(value);
    return new IntervalSchedule(value);
  }
  throw new ConfigurationError(
    `a schedule must be seconds, a duration ('30s'), a cron string ('*/5 * * * *'), schedule(), crontab() or solar(); got ${typeof value === 'object' ? JSON.stringify(value) : String(value)}`,
  );
}
