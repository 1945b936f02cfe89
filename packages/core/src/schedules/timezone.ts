/**
 * Wall-clock time in an IANA time zone, through Intl (no time-zone database of our own).
 * Crontab and solar schedules think in wall time; beat records instants. Converting a wall time
 * back to an instant has three outcomes around DST changes, and schedules pick their rule:
 * one instant (the usual case), none (a spring-forward gap: 02:30 does not exist that night in
 * Europe/Berlin) or two (a fall-back overlap: 02:30 happens twice).
 */
import { ConfigurationError } from '../errors.js';

/** A wall-clock time: the calendar fields a clock on the wall shows. Months are 1–12. */
export interface WallTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** 0 = Sunday … 6 = Saturday. */
  weekday: number;
}

const formats = new Map<string, Intl.DateTimeFormat>();

function format(timeZone: string): Intl.DateTimeFormat {
  let f = formats.get(timeZone);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
        weekday: 'short',
        era: 'short',
      });
    } catch {
      throw new ConfigurationError(`${JSON.stringify(timeZone)} is not a known IANA time zone (e.g. 'UTC', 'Europe/Berlin', 'America/New_York')`);
    }
    formats.set(timeZone, f);
  }
  return f;
}

/** Throw a ConfigurationError unless `timeZone` is a time zone Intl knows. */
export function assertTimeZone(timeZone: string): void {
  format(timeZone);
}

const WEEKDAYS: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

/** The wall time at instant `ms` in `timeZone`. */
export function wallTime(ms: number, timeZone: string): WallTime {
  if (timeZone === 'UTC' || timeZone === 'Etc/UTC') {
    const d = new Date(ms);
    return {
      year: d.getUTCFullYear(),
      month: d.getUTCMonth() + 1,
      day: d.getUTCDate(),
      hour: d.getUTCHours(),
      minute: d.getUTCMinutes(),
      second: d.getUTCSeconds(),
      weekday: d.getUTCDay(),
    };
  }
  const out: WallTime = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0, weekday: 0 };
  let bc = false;
  for (const part of format(timeZone).formatToParts(new Date(ms))) {
    switch (part.type) {
      case 'year':
        out.year = Number(part.value);
        break;
      case 'month':
        out.month = Number(part.value);
        break;
      case 'day':
        out.day = Number(part.value);
        break;
      case 'hour':
        out.hour = Number(part.value);
        break;
      case 'minute':
        out.minute = Number(part.value);
        break;
      case 'second':
        out.second = Number(part.value);
        break;
      case 'weekday':
        out.weekday = WEEKDAYS[part.value] ?? 0;
        break;
      case 'era':
        bc = part.value === 'BC' || part.value === 'B';
        break;
      default:
        break;
    }
  }
  if (bc) out.year = 1 - out.year;
  return out;
}

/** The wall time as if it were UTC, in ms: a number to compare and step wall times with. */
export function wallMs(wall: Pick<WallTime, 'year' | 'month' | 'day' | 'hour' | 'minute' | 'second'>): number {
  return Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute, wall.second);
}

/** The offset of `timeZone` from UTC at instant `ms`, in ms (east positive: Berlin in summer is +7 200 000). */
export function zoneOffset(ms: number, timeZone: string): number {
  const seconds = Math.floor(ms / 1000) * 1000;
  return wallMs(wallTime(seconds, timeZone)) - seconds;
}

/**
 * Every instant at which the wall clock in `timeZone` shows `wall` (seconds included), earliest
 * first: none in a spring-forward gap, two in a fall-back overlap, otherwise one.
 */
export function instantsOf(wall: Pick<WallTime, 'year' | 'month' | 'day' | 'hour' | 'minute' | 'second'>, timeZone: string): number[] {
  const local = wallMs(wall);
  // The offsets in force a day either side cover any single transition around this wall time.
  const offsets = new Set([zoneOffset(local - 86_400_000, timeZone), zoneOffset(local, timeZone), zoneOffset(local + 86_400_000, timeZone)]);
  const out: number[] = [];
  for (const offset of offsets) {
    const candidate = local - offset;
    if (wallMs(wallTime(candidate, timeZone)) === local && !out.includes(candidate)) out.push(candidate);
  }
  return out.sort((a, b) => a - b);
}

/** Python's `utcoffset()` convention for a zone: whole hours **west** of UTC at `ms`. */
export function hoursWest(ms: number, timeZone: string): number {
  return Math.floor(-zoneOffset(ms, timeZone) / 3_600_000);
}
