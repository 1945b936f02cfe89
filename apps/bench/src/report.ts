/** Printing benchmark figures: one readable line per measurement, and peak memory. */

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
