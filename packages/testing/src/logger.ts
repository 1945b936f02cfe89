/** A logger for tests: keeps every line, so a test can check (or wait for) what was said. */
import type { Logger } from '@tq/core';

export interface RecordedLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
}

export function recordingLogger(): Logger & { lines: RecordedLine[] } {
  const lines: RecordedLine[] = [];
  const log = (level: RecordedLine['level']) => (message: string) => void lines.push({ level, message });
  return { lines, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error'), enabled: () => true };
}
