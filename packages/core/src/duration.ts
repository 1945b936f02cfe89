/**
 * Durations as Celery takes them: seconds, fractions allowed, and for convenience strings with
 * a unit (`'500ms'`, `'10s'`, `'5m'`, `'2h'`, `'1d'`).
 */
import { ConfigurationError } from './errors.js';

export type Duration = number | `${number}${'ms' | 's' | 'm' | 'h' | 'd'}` | (string & {});

const UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

/** Seconds in a duration. Throws ConfigurationError naming `what` for anything else. */
export function toSeconds(value: Duration, what = 'duration'): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new ConfigurationError(`${what} must be a finite number of seconds, got ${value}`);
    return value;
  }
  const m = /^\s*(-?\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(String(value));
  if (!m) throw new ConfigurationError(`${what} must be seconds or a string like '500ms', '10s', '5m', '2h', got ${JSON.stringify(value)}`);
  return Number(m[1]) * UNITS[m[2] ?? 's']!;
}

export function toSecondsOrNull(value: Duration | null | undefined, what?: string): number | null {
  return value === null || value === undefined ? null : toSeconds(value, what);
}
