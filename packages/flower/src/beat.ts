/**
 * The beat page's data: the app's `beatSchedule` entries with their last run and run count as
 * beat keeps them in the result backend (`tq-beat:<app>:entry:<name>`, written by @tq/worker's
 * beat), and the next run from the schedule. Times are epoch seconds.
 */
import { toSchedule, type App, type Schedule } from '@tq/core';

export interface BeatEntryJson {
  name: string;
  task: string;
  schedule: string;
  lastRunAt: number | null;
  nextRunAt: number | null;
  totalRunCount: number;
}

interface StoredEntry {
  lastRunAt?: string;
  totalRunCount?: number;
}

export async function beatEntries(app: App, now = Date.now()): Promise<BeatEntryJson[]> {
  const schedule = app.conf.beatSchedule;
  const names = Object.keys(schedule ?? {});
  if (names.length === 0) return [];
  const backend = await app.getBackend().catch(() => null);
  const out: BeatEntryJson[] = [];
  for (const name of names) {
    const raw = schedule[name] as { task?: unknown; schedule?: unknown } | undefined;
    if (!raw || typeof raw !== 'object') continue;
    let parsed: Schedule | null = null;
    try {
      parsed = toSchedule(raw.schedule as Schedule);
    } catch {
      parsed = null;
    }
    let stored: StoredEntry | null = null;
    if (backend?.getValue) {
      const text = await backend.getValue(`tq-beat:${app.conf.main}:entry:${name}`).catch(() => null);
      if (text) {
        try {
          stored = JSON.parse(text) as StoredEntry;
        } catch {
          stored = null;
        }
      }
    }
    const last = stored?.lastRunAt ? Date.parse(stored.lastRunAt) : NaN;
    const next = parsed ? parsed.next(Number.isFinite(last) ? last : now, app.conf.timezone) : null;
    out.push({
      name,
      task: typeof raw.task === 'string' ? raw.task : '',
      schedule: parsed ? String(parsed) : 'invalid schedule',
      lastRunAt: Number.isFinite(last) ? last / 1000 : null,
      nextRunAt: next === null ? null : next / 1000,
      totalRunCount: typeof stored?.totalRunCount === 'number' ? stored.totalRunCount : 0,
    });
  }
  return out;
}
