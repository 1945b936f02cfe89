/**
 * The one logging interface tq writes through. Replace it with your own (pino, winston, …) via
 * `createApp({ logger })`; the default prints human-readable lines to stderr.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** Whether a level would be written; lets hot paths skip building lines nobody prints. */
  enabled?(level: LogLevel): boolean;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function isLogLevel(value: string): value is LogLevel {
  return value in RANK;
}

/** `[2026-11-23 23:00:48,436: INFO/tq] message key=value`, in the spirit of Celery's log lines. */
export function formatLine(level: LogLevel, name: string, message: string, fields?: Record<string, unknown>): string {
  const now = new Date().toISOString().replace('T', ' ').replace('Z', '').replace('.', ',');
  const extra = fields
    ? Object.entries(fields)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => ` ${k}=${typeof v === 'string' ? v : safeJson(v)}`)
        .join('')
    : '';
  return `[${now}: ${level.toUpperCase()}/${name}] ${message}${extra}`;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

export interface ConsoleLoggerOptions {
  level?: LogLevel;
  name?: string;
  /** Where lines go; default: process.stderr. */
  write?: (line: string) => void;
}

export function createConsoleLogger(options: ConsoleLoggerOptions = {}): Logger & { level: LogLevel } {
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const name = options.name ?? 'tq';
  const logger = {
    level: options.level ?? 'warn',
    debug: (m: string, f?: Record<string, unknown>) => emit('debug', m, f),
    info: (m: string, f?: Record<string, unknown>) => emit('info', m, f),
    warn: (m: string, f?: Record<string, unknown>) => emit('warn', m, f),
    error: (m: string, f?: Record<string, unknown>) => emit('error', m, f),
    enabled: (level: LogLevel) => RANK[level] >= RANK[logger.level],
  };
  function emit(level: LogLevel, message: string, fields?: Record<string, unknown>): void {
    if (RANK[level] >= RANK[logger.level]) write(formatLine(level, name, message, fields));
  }
  return logger;
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {}, enabled: () => false };
