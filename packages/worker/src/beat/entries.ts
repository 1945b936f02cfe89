/**
 * Reading `beatSchedule`: every entry is checked at start-up and problems are reported by entry
 * name, all at once. An invalid entry (no task, a bad crontab, a schedule that never runs) stops
 * beat from starting, as a bad `crontab()` stops Celery's. A task name this app does not
 * register is only a warning: beat sends by name, and the workers may have tasks the beat
 * process does not import. An app that registers no tasks at all is taken as a pure sender and
 * gets no such warnings.
 */
import { createHash } from 'node:crypto';
import { toSchedule, type App, type ApplyOptions, type Schedule } from '@tq/core';

export interface BeatEntry {
  readonly name: string;
  readonly task: string;
  readonly schedule: Schedule;
  readonly args: unknown[];
  readonly kwargs: Record<string, unknown>;
  readonly options: ApplyOptions;
  /** Hash of the schedule definition (with its time zone): a change restarts the entry. */
  readonly hash: string;
}

export interface PreparedSchedule {
  entries: BeatEntry[];
  /** `"name": what is wrong`, one per bad entry. */
  errors: string[];
  warnings: string[];
}

const KNOWN_KEYS = new Set(['task', 'schedule', 'args', 'kwargs', 'options', 'relative']);

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function scheduleHash(schedule: Schedule, timeZone: string): string {
  return createHash('sha1').update(schedule.definition(timeZone)).digest('hex').slice(0, 16);
}

/** Check and prepare every entry of a `beatSchedule`. `now` checks that schedules can still run. */
export function prepareEntries(app: App, schedule: unknown, timeZone: string, now: number): PreparedSchedule {
  const entries: BeatEntry[] = [];
  const errors: string[] = [];
  const warnings: string[] = [];
  if (!isPlainObject(schedule)) {
    return { entries, errors: [`beatSchedule must be an object of entries by name, got ${Array.isArray(schedule) ? 'an array' : typeof schedule}`], warnings };
  }
  for (const [name, raw] of Object.entries(schedule)) {
    const label = JSON.stringify(name);
    if (!isPlainObject(raw)) {
      errors.push(`${label}: an entry must be an object { task, schedule, args?, kwargs?, options? }`);
      continue;
    }
    const problems: string[] = [];
    const task = raw['task'];
    if (typeof task !== 'string' || task.trim() === '') problems.push('no task name (task: "proj.tasks.name")');
    let parsed: Schedule | null = null;
    if (raw['schedule'] === undefined) problems.push('no schedule');
    else {
      try {
        parsed = toSchedule(raw['schedule'] as Schedule);
        if (parsed.next(now, timeZone) === null) problems.push(`schedule ${String(parsed)} never runs again`);
      } catch (err) {
        problems.push((err as Error).message.replace(/^\[tq\] /, ''));
      }
    }
    const args = raw['args'] ?? [];
    if (!Array.isArray(args)) problems.push('args must be an array');
    const kwargs = raw['kwargs'] ?? {};
    if (!isPlainObject(kwargs)) problems.push('kwargs must be an object');
    const options = raw['options'] ?? {};
    if (!isPlainObject(options)) problems.push('options must be an object');
    if (problems.length > 0) {
      errors.push(`${label}: ${problems.join('; ')}`);
      continue;
    }
    for (const key of Object.keys(raw)) {
      if (!KNOWN_KEYS.has(key)) warnings.push(`${label}: unknown key ${JSON.stringify(key)} is ignored`);
    }
    if (raw['relative']) warnings.push(`${label}: relative is not supported; the interval counts from the last run`);
    if (app.tasks.size > 0 && !app.tasks.has(task as string)) {
      warnings.push(`${label}: task ${task as string} is not registered in this app; beat sends it by name, so a worker must have it`);
    }
    entries.push({
      name,
      task: task as string,
      schedule: parsed!,
      args: args as unknown[],
      kwargs: kwargs as Record<string, unknown>,
      options: options as ApplyOptions,
      hash: scheduleHash(parsed!, timeZone),
    });
  }
  return { entries, errors, warnings };
}
