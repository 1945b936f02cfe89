/** Printing benchmark figures: one readable line per measurement, tables of repeated runs, peak memory. */
import { createRequire } from 'node:module';

export function rate(count: number, ms: number): number {
  return Math.round(count / (ms / 1000));
}

export function line(label: string, value: string): void {
  process.stdout.write(`  ${label.padEnd(44)} ${value}\n`);
}

export function perSecond(label: string, count: number, ms: number): number {
  const r = rate(count, ms);
  line(label, `${r.toLocaleString('en-US')} tasks/s  (${count.toLocaleString('en-US')} in ${(ms / 1000).toFixed(2)} s)`);
  return r;
}

/** Peak resident memory of this process so far, in MB (the OS's max RSS). */
export function peakRssMb(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

export function heading(text: string): void {
  process.stdout.write(`\n${text}\n`);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

export const n0 = (x: number): string => Math.round(x).toLocaleString('en-US');
export const n1 = (x: number): string => x.toFixed(1);
export const n2 = (x: number): string => x.toFixed(2);

/** "median (min–max)" over repeated runs; the value alone for one run. */
export function spreadOf(xs: number[], fmt: (x: number) => string): string {
  if (xs.length === 1) return fmt(xs[0]!);
  return `${fmt(median(xs))} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})`;
}

export function spread<T>(runs: T[], pick: (run: T) => number, fmt: (x: number) => string): string {
  return spreadOf(runs.map(pick), fmt);
}

/** A plain-text table: the first column left-aligned, the others right-aligned. */
export function table(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (cells: string[]) => `  ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')}`;
  process.stdout.write(`${fmt(header)}\n${fmt(widths.map((w) => '-'.repeat(w)))}\n`);
  for (const row of rows) process.stdout.write(`${fmt(row)}\n`);
}

/** The installed version of a package (for the settings printed above a comparison). */
export function packageVersion(pkg: string): string {
  try {
    return (createRequire(import.meta.url)(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return '?';
  }
}
