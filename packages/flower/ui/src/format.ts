/** Display helpers: times in the browser's zone (UTC in the tooltip), durations, sizes. */

/** `2026-12-03 01:24:31.551` in the browser's zone; `compact` drops the date when it is today. */
export function formatTime(epochSeconds: number | string | null | undefined, compact = false): string {
  const date = toDate(epochSeconds);
  if (!date) return '—';
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  const time = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
  if (compact && date.toDateString() === new Date().toDateString()) return time;
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${time}`;
}

export function utcTitle(epochSeconds: number | string | null | undefined): string | undefined {
  return toDate(epochSeconds)?.toISOString();
}

function toDate(value: number | string | null | undefined): Date | null {
  if (value === null || value === undefined || value === '') return null;
  const date = typeof value === 'number' ? new Date(value * 1000) : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** "4s ago", "3m ago", "2h ago" (or "in 5m" for the future). */
export function ago(epochSeconds: number | string | null | undefined, now = Date.now() / 1000): string {
  const date = toDate(epochSeconds);
  if (!date) return 'never';
  const delta = now - date.getTime() / 1000;
  const abs = Math.abs(delta);
  const text = abs < 60 ? `${Math.round(abs)}s` : abs < 3600 ? `${Math.round(abs / 60)}m` : abs < 86400 ? `${Math.round(abs / 3600)}h` : `${Math.round(abs / 86400)}d`;
  return delta >= 0 ? `${text} ago` : `in ${text}`;
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return '—';
  if (seconds < 1) return `${(seconds * 1000).toFixed(seconds < 0.01 ? 2 : 1)} ms`;
  if (seconds < 120) return `${seconds.toFixed(3)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export function formatNumber(value: number | null | undefined): string {
  return value === null || value === undefined ? '—' : value.toLocaleString('en-US');
}

/** epoch seconds → the value of an <input type="datetime-local"> (local time), and back. */
export function toLocalInput(epochSeconds: number | null): string {
  if (epochSeconds === null) return '';
  const date = new Date(epochSeconds * 1000 - new Date().getTimezoneOffset() * 60_000);
  return date.toISOString().slice(0, 16);
}

export function fromLocalInput(value: string): number | null {
  if (!value) return null;
  const time = new Date(value).getTime();
  return Number.isNaN(time) ? null : Math.floor(time / 1000);
}
