/** Beat: the periodic schedule's entries with their last and next run. */
import { Loading, Section, Time } from '../components/bits.tsx';
import { ago, formatNumber } from '../format.ts';
import type { BeatEntry } from '../types.ts';
import { useApi } from '../use-api.ts';

export function Beat() {
  const entries = useApi<BeatEntry[]>('api/ui/beat', {}, 10_000);
  if (!entries.data) return <div class="page"><Loading error={entries.error} what="the beat schedule" /></div>;
  return (
    <div class="page">
      <Section title="Periodic tasks">
        <table class="grid" data-testid="beat-table">
          <thead>
            <tr>
              <th>Entry</th>
              <th>Task</th>
              <th>Schedule</th>
              <th>Last run</th>
              <th>Next run</th>
              <th class="num">Runs</th>
            </tr>
          </thead>
          <tbody>
            {entries.data.length === 0 && <tr><td colSpan={6} class="note">No beat schedule found. Entries appear here when beat runs with a schedule the monitor can read.</td></tr>}
            {entries.data.map((e) => (
              <tr key={e.name} data-entry={e.name}>
                <td>{e.name}</td>
                <td class="mono">{e.task}</td>
                <td class="mono">{e.schedule}</td>
                <td class="nowrap"><Time value={e.lastRunAt} /></td>
                <td class="nowrap"><Time value={e.nextRunAt} /> <span class="dim">{e.nextRunAt ? `(${ago(e.nextRunAt)})` : ''}</span></td>
                <td class="num">{formatNumber(e.totalRunCount)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
    </div>
  );
}
