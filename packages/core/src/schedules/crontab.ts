/**
 * Crontab schedules, as Celery's `crontab(minute, hour, day_of_week, day_of_month,
 * month_of_year)`: five fields with `*`, numbers, names (`mon`, `jan`), ranges (`1-5`,
 * wrapping `fri-mon`), steps (`*\/15`, `0-30/10`, `5/15`) and lists (`1,15,30-45`).
 *
 * Rules (Celery's where Celery has one):
 * - A day must match day of month **and** month **and** day of week (Celery's AND, not Vixie
 *   cron's OR of day of month and day of week).
 * - Day of week: 0 = Sunday … 6 = Saturday; 7 is accepted as Sunday (a cron habit Celery rejects).
 * - Times are wall-clock times in the schedule's time zone (its own `timezone`, else the app's).
 * - DST, spring forward: a wall time that does not exist that night (02:30 in Europe/Berlin on
 *   the last Sunday of March) is skipped; the entry runs at its next matching time.
 * - DST, fall back: a wall time that happens twice (02:30 on the last Sunday of October) runs
 *   once, at its first occurrence; the repeated hour does not run again.
 */
import { ConfigurationError } from '../errors.js';
import type { Schedule } from './schedule.js';
import { instantsOf, wallMs, wallTime } from './timezone.js';

export type CronField = string | number | readonly number[];

export interface CrontabFields {
  /** 0–59. Default `*`. */
  minute?: CronField;
  /** 0–23. Default `*`. */
  hour?: CronField;
  /** 0–6 from Sunday, or names (`mon-fri`). Default `*`. */
  dayOfWeek?: CronField;
  /** 1–31. Default `*`. */
  dayOfMonth?: CronField;
  /** 1–12, or names (`jan`, `mar-may`). Default `*`. */
  monthOfYear?: CronField;
  /** IANA time zone for this entry; default: the app's `timezone`. */
  timezone?: string;
}

const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const DAY_FULL = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
const MONTH_NAMES = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const MONTH_FULL = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'];

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: (word: string) => number | undefined;
}

const FIELDS: Record<'minute' | 'hour' | 'dayOfWeek' | 'dayOfMonth' | 'monthOfYear', FieldSpec> = {
  minute: { name: 'minute', min: 0, max: 59 },
  hour: { name: 'hour', min: 0, max: 23 },
  dayOfWeek: {
    name: 'day_of_week',
    min: 0,
    max: 6,
    names: (w) => {
      const i = DAY_NAMES.indexOf(w) !== -1 ? DAY_NAMES.indexOf(w) : DAY_FULL.indexOf(w);
      return i === -1 ? undefined : i;
    },
  },
  dayOfMonth: { name: 'day_of_month', min: 1, max: 31 },
  monthOfYear: {
    name: 'month_of_year',
    min: 1,
    max: 12,
    names: (w) => {
      const i = MONTH_NAMES.indexOf(w) !== -1 ? MONTH_NAMES.indexOf(w) : MONTH_FULL.indexOf(w);
      return i === -1 ? undefined : i + 1;
    },
  },
};

function invalid(spec: FieldSpec, value: unknown, why: string): ConfigurationError {
  return new ConfigurationError(`invalid crontab ${spec.name} ${JSON.stringify(value)}: ${why}`);
}

function number(spec: FieldSpec, token: string, whole: unknown): number {
  let n: number | undefined;
  if (/^\d+$/.test(token)) n = Number(token);
  else if (spec.names) n = spec.names(token.toLowerCase());
  if (n === undefined) throw invalid(spec, whole, `${JSON.stringify(token)} is not a number${spec.names ? ' or a name' : ''}`);
  if (spec === FIELDS.dayOfWeek && n === 7) n = 0;
  if (n < spec.min || n > spec.max) throw invalid(spec, whole, `${n} is outside ${spec.min}-${spec.max}`);
  return n;
}

function range(spec: FieldSpec, from: number, to: number): number[] {
  const out: number[] = [];
  if (to >= from) for (let i = from; i <= to; i++) out.push(i);
  else {
    // Wraps around the end, as Celery's `fri-mon`.
    for (let i = from; i <= spec.max; i++) out.push(i);
    for (let i = spec.min; i <= to; i++) out.push(i);
  }
  return out;
}

/** Expand one field into the sorted set of values it matches. */
export function parseCronField(field: keyof typeof FIELDS, value: CronField | undefined): number[] {
  const spec = FIELDS[field];
  const set = new Set<number>();
  if (value === undefined || value === null) value = '*';
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw invalid(spec, value, 'not an integer');
    set.add(number(spec, String(value), value));
  } else if (Array.isArray(value)) {
    if (value.length === 0) throw invalid(spec, value, 'an empty list matches nothing');
    for (const v of value) {
      if (typeof v !== 'number' || !Number.isInteger(v)) throw invalid(spec, value, `${JSON.stringify(v)} is not an integer`);
      set.add(number(spec, String(v), value));
    }
  } else if (typeof value === 'string') {
    const text = value.trim();
    if (text === '') throw invalid(spec, value, 'empty');
    for (const part of text.split(',')) {
      if (part === '') throw invalid(spec, value, 'empty list item');
      const [base, stepText, extra] = part.split('/');
      if (extra !== undefined) throw invalid(spec, value, `${JSON.stringify(part)} has two steps`);
      let step = 1;
      if (stepText !== undefined) {
        if (!/^\d+$/.test(stepText) || Number(stepText) === 0) throw invalid(spec, value, `step ${JSON.stringify(stepText)} must be a positive integer`);
        step = Number(stepText);
      }
      let values: number[];
      if (base === '*') values = range(spec, spec.min, spec.max);
      else if (base!.includes('-')) {
        const [a, b, more] = base!.split('-');
        if (more !== undefined || !a || !b) throw invalid(spec, value, `${JSON.stringify(base)} is not a range`);
        values = range(spec, number(spec, a, value), number(spec, b, value));
      } else {
        const start = number(spec, base!, value);
        // `5/15` means from 5 to the end in steps of 15 (a cron habit); a lone `5` is just 5.
        values = stepText === undefined ? [start] : range(spec, start, spec.max);
      }
      values.forEach((v, i) => {
        if (i % step === 0) set.add(v);
      });
    }
  } else {
    throw invalid(spec, value, 'must be a string, an integer or a list of integers');
  }
  return [...set].sort((a, b) => a - b);
}

const DAY_MS = 86_400_000;
/** Every combination of month, day and weekday recurs within 28 years (the Gregorian weekday cycle, leap days included). */
const SEARCH_DAYS = 366 * 29;

export class Crontab implements Schedule {
  readonly kind = 'crontab';
  readonly minutes: readonly number[];
  readonly hours: readonly number[];
  readonly daysOfWeek: readonly number[];
  readonly daysOfMonth: readonly number[];
  readonly monthsOfYear: readonly number[];
  readonly timezone: string | undefined;
  private readonly source: { minute: string; hour: string; dayOfMonth: string; monthOfYear: string; dayOfWeek: string };

  constructor(fields: CrontabFields = {}) {
    this.minutes = parseCronField('minute', fields.minute);
    this.hours = parseCronField('hour', fields.hour);
    this.daysOfWeek = parseCronField('dayOfWeek', fields.dayOfWeek);
    this.daysOfMonth = parseCronField('dayOfMonth', fields.dayOfMonth);
    this.monthsOfYear = parseCronField('monthOfYear', fields.monthOfYear);
    this.timezone = fields.timezone;
    const text = (v: CronField | undefined) => (v === undefined ? '*' : Array.isArray(v) ? v.join(',') : String(v));
    this.source = {
      minute: text(fields.minute),
      hour: text(fields.hour),
      dayOfMonth: text(fields.dayOfMonth),
      monthOfYear: text(fields.monthOfYear),
      dayOfWeek: text(fields.dayOfWeek),
    };
    if (!this.canEverMatch()) {
      throw new ConfigurationError(`crontab ${this.expression()} can never run: no month has day ${this.daysOfMonth.join(',')}`);
    }
  }

  /** `crontab('*\/5 * * * *')`: minute hour day-of-month month day-of-week, as in a crontab file. */
  static fromString(expression: string, timezone?: string): Crontab {
    const parts = expression.trim().split(/\s+/);
    if (parts.length !== 5) {
      throw new ConfigurationError(`invalid crontab ${JSON.stringify(expression)}: expected five fields (minute hour day-of-month month day-of-week)`);
    }
    const [minute, hour, dayOfMonth, monthOfYear, dayOfWeek] = parts as [string, string, string, string, string];
    return new Crontab({ minute, hour, dayOfMonth, monthOfYear, dayOfWeek, ...(timezone ? { timezone } : {}) });
  }

  private canEverMatch(): boolean {
    const longest = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    return this.monthsOfYear.some((m) => this.daysOfMonth.some((d) => d <= longest[m - 1]!));
  }

  /** The five fields as written, in crontab-file order. */
  expression(): string {
    const s = this.source;
    return `${s.minute} ${s.hour} ${s.dayOfMonth} ${s.monthOfYear} ${s.dayOfWeek}`;
  }

  definition(timeZone: string): string {
    // The expanded sets, so `mon-fri` and `1-5` are the same definition.
    const tz = this.timezone ?? timeZone;
    return `crontab:${this.minutes.join(',')} ${this.hours.join(',')} ${this.daysOfMonth.join(',')} ${this.monthsOfYear.join(',')} ${this.daysOfWeek.join(',')}@${tz}`;
  }

  private dayMatches(dayMs: number): boolean {
    const d = new Date(dayMs);
    return (
      this.monthsOfYear.includes(d.getUTCMonth() + 1) && this.daysOfMonth.includes(d.getUTCDate()) && this.daysOfWeek.includes(d.getUTCDay())
    );
  }

  next(last: number, timeZone: string): number | null {
    const tz = this.timezone ?? timeZone;
    const w = wallTime(last, tz);
    // Wall times are compared as naive UTC milliseconds, at minute resolution.
    const lastWall = wallMs({ ...w, second: 0 });
    let day = Date.UTC(w.year, w.month - 1, w.day);
    for (let i = 0; i < SEARCH_DAYS; i++, day += DAY_MS) {
      if (!this.dayMatches(day)) continue;
      const d = new Date(day);
      for (const hour of this.hours) {
        if (day + hour * 3_600_000 + 59 * 60_000 <= lastWall) continue;
        for (const minute of this.minutes) {
          const wall = day + hour * 3_600_000 + minute * 60_000;
          if (wall <= lastWall) continue;
          const instants = instantsOf(
            { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour, minute, second: 0 },
            tz,
          );
          // None: the time falls in a spring-forward gap and is skipped. Two: it happens twice
          // and runs at the first occurrence that is after the last run.
          const at = instants.find((t) => t > last);
          if (at !== undefined) return at;
        }
      }
    }
    return null;
  }

  toString(): string {
    return `<crontab: ${this.expression()}${this.timezone ? ` ${this.timezone}` : ''}>`;
  }
}

/**
 * A crontab schedule: `crontab({ minute: 0, hour: 9, dayOfWeek: 'mon-fri' })` or
 * `crontab('0 9 * * mon-fri')`. Fields default to `*` (so `crontab()` runs every minute).
 */
export function crontab(fields?: CrontabFields | string, timezone?: string): Crontab {
  return typeof fields === 'string' ? Crontab.fromString(fields, timezone) : new Crontab(fields);
}
