/**
 * Memory sizes for `--max-memory-per-child`: a bare number is KiB, as in Celery; a unit may be
 * given (`512K`, `200MB`, `1.5GiB`; K/M/G are powers of 1024 whichever way they are spelled).
 */
import { ConfigurationError } from '@tq/core';

const UNITS: Record<string, number> = { '': 1, k: 1, m: 1024, g: 1024 * 1024, t: 1024 * 1024 * 1024 };

/** A size in KiB. */
export function parseMemorySize(value: number | string, what = 'size'): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value <= 0) throw new ConfigurationError(`${what} must be a positive size in KiB (or like '200MB'), got ${value}`);
    return value;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(value);
  if (!m || Number(m[1]) <= 0) throw new ConfigurationError(`${what} must be a size in KiB like 200000, or with a unit like 512KB, 200MB, 1GB; got ${JSON.stringify(value)}`);
  return Number(m[1]) * UNITS[m[2]!.toLowerCase()]!;
}

/** `204800` → `200 MiB`, for logs. */
export function formatKiB(kib: number): string {
  if (kib >= 1024 * 1024) return `${(kib / 1024 / 1024).toFixed(1)} GiB`;
  if (kib >= 1024) return `${(kib / 1024).toFixed(1)} MiB`;
  return `${Math.round(kib)} KiB`;
}
