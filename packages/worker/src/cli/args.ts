/**
 * Command-line parsing for the `tq` commands: Node's parseArgs with errors that say which
 * flags are valid, and shared flags (`-A`, `-b`, `--result-backend`, `--loglevel`).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigurationError, isLogLevel, type App, type LogLevel } from '@tq/core';

export type Options = NonNullable<ParseArgsConfig['options']>;

export const COMMON_OPTIONS: Options = {
  app: { type: 'string', short: 'A' },
  broker: { type: 'string', short: 'b' },
  'result-backend': { type: 'string' },
  loglevel: { type: 'string', short: 'l' },
  help: { type: 'boolean', short: 'h' },
};

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

export function parse(command: string, argv: string[], options: Options): Parsed {
  const all = { ...COMMON_OPTIONS, ...options };
  try {
    const { values, positionals } = parseArgs({ args: argv, options: all, allowPositionals: true, strict: true });
    applyTransportFlags(values as Parsed['values']);
    return { values: values as Parsed['values'], positionals };
  } catch (err) {
    throw new ConfigurationError(`tq ${command}: ${(err as Error).message.replace(/\. To specify .*$/s, '')}\nvalid options: ${describeOptions(all)}`);
  }
}

/**
 * `-b URL` and `--result-backend URL` go into the environment (TQ_BROKER_URL, TQ_RESULT_BACKEND)
 * before the app module loads, as Celery's CLI does with its variables: the app, and the
 * process or thread pool's children that load it again, all use them.
 */
function applyTransportFlags(values: Parsed['values']): void {
  if (typeof values['broker'] === 'string') process.env['TQ_BROKER_URL'] = values['broker'];
  if (typeof values['result-backend'] === 'string') process.env['TQ_RESULT_BACKEND'] = values['result-backend'];
}

export function describeOptions(options: Options): string {
  return Object.entries(options)
    .map(([name, o]) => `${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ' <value>' : ''}`)
    .join('  ');
}

export function loglevel(value: unknown, fallback: LogLevel = 'info'): LogLevel {
  if (value === undefined) return fallback;
  const level = String(value).toLowerCase().replace('warning', 'warn').replace('critical', 'error');
  if (!isLogLevel(level)) throw new ConfigurationError(`--loglevel must be one of debug, info, warn, error; got ${JSON.stringify(value)}`);
  return level;
}

/** Apply the log level to the app's logger when it is tq's console logger. */
export function applyLogLevel(app: App, level: LogLevel): void {
  const logger = app.logger as { level?: LogLevel };
  if (typeof logger.level === 'string') logger.level = level;
}

export function jsonOption<T>(value: unknown, name: string, check: (v: unknown) => v is T): T | undefined {
  if (value === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(String(value));
  } catch {
    throw new ConfigurationError(`--${name} must be JSON, got ${String(value)}`);
  }
  if (!check(parsed)) throw new ConfigurationError(`--${name} has the wrong shape: ${String(value)}`);
  return parsed;
}

export function numberOption(value: unknown, name: string, { integer = false, min = 0 } = {}): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    throw new ConfigurationError(`--${name} must be ${integer ? 'an integer' : 'a number'} ≥ ${min}, got ${String(value)}`);
  }
  return n;
}

export function listOption(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  const list = (Array.isArray(value) ? value : [value]).flatMap((v) => String(v).split(',')).map((s) => s.trim()).filter(Boolean);
  return list.length ? list : undefined;
}
