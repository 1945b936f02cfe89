/**
 * Dashboard: cards with the cluster's totals and a table of workers with heartbeat liveness,
 * updated live from the event stream (worker rows and totals) and re-read every 10 s.
 */
import { useCallback, useEffect, useState } from 'preact/hooks';
import { Card, Loading, OnlineBadge, Section } from '../components/bits.tsx';
import { ago, formatBytes, formatDuration, formatNumber } from '../format.ts';
import { useLive } from '../live.ts';
import { href } from '../route.ts';
import type { Overview, Totals, WorkerJson } from '../types.ts';
import { useApi } from '../use-api.ts';
import { ThroughputPanel } from './graphs.tsx';

/** Re-render every second so "last heartbeat 4s ago" keeps counting between events. */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(() => Date.now() / 1000);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now() / 1000), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

function retentionText(retention: Overview['history']['retention']): string {
  if (!retention) return '';
  const parts = [retention.maxTasks ? `at most ${formatNumber(retention.maxTasks)}` : null, retention.maxAgeSeconds ? `for ${formatDuration(retention.maxAgeSeconds)}` : null].filter(Boolean);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

export function Dashboard() {
  const overview = useApi<Overview>('api/ui/overview', {}, 10_000);
  const [workers, setWorkers] = useState<Map<string, WorkerJson>>(new Map());
  const [totals, setTotals] = useState<Totals | null>(null);
  const now = useNow();

  useEffect(() => {
    if (!overview.data) return;
    setWorkers(new Map(overview.data.workers.map((w) => [w.hostname, w])));
    setTotals(overview.data.totals);
  }, [overview.data]);

  useLive('worker', useCallback((worker: WorkerJson) => setWorkers((map) => new Map(map).set(worker.hostname, worker)), []));
  useLive('stats', useCallback((event: { totals: Totals }) => setTotals(event.totals), []));

  if (!overview.data || !totals) return <Loading error={overview.error} what="the overview" />;
  const list = [...workers.values()].sort((a, b) => Number(b.online) - Number(a.online) || a.hostname.localeCompare(b.hostname));
  const online = list.filter((w) => w.online).length;
  const history = overview.data.history;

  return (
    <div class="page">
      <div class="cards">
        <Card label="Workers online" value={<span data-testid="online-count">{online} / {list.length}</span>} tone={online > 0 ? 'ok' : 'bad'} />
        <Card label="Active" value={formatNumber(totals.active)} tone="info" />
        <Card label="Processed" value={formatNumber(totals.processed)} />
        <Card label="Succeeded" value={formatNumber(totals.succeeded)} tone="ok" />
        <Card label="Failed" value={formatNumber(totals.failed)} tone={totals.failed > 0 ? 'bad' : undefined} />
        <Card label="Retried" value={formatNumber(totals.retried)} tone={totals.retried > 0 ? 'warn' : undefined} />
        <Card label="Revoked" value={formatNumber(totals.revoked)} />
      </div>

      <Section title="Workers">
        {list.length === 0 ? (
          <p class="note">No worker has been seen yet. Workers appear here when they send their first event (start them with events enabled, e.g. <code>tq worker -E</code> or <code>celery worker -E</code>).</p>
        ) : (
          <table class="grid" data-testid="workers-table">
            <thead>
              <tr>
                <th>Worker</th>
                <th>Status</th>
                <th>Last heartbeat</th>
                <th class="num">Active</th>
                <th class="num">Processed</th>
                <th class="num">Succeeded</th>
                <th class="num">Failed</th>
                <th class="num">Retried</th>
                <th>Load average</th>
                <th>Software</th>
              </tr>
            </thead>
            <tbody>
              {list.map((w) => (
                <tr key={w.hostname} data-worker={w.hostname} class={w.online ? '' : 'row-offline'}>
                  <td><a href={href('workers', w.hostname)}>{w.hostname}</a></td>
                  <td><OnlineBadge online={w.online} /></td>
                  <td class="dim">{ago(w.lastHeartbeat, now)}</td>
                  <td class="num">{formatNumber(w.active)}</td>
                  <td class="num">{formatNumber(w.processed)}</td>
                  <td class="num">{formatNumber(w.succeeded)}</td>
                  <td class="num">{formatNumber(w.failed)}</td>
                  <td class="num">{formatNumber(w.retried)}</td>
                  <td class="mono">{w.loadavg.length ? w.loadavg.map((l) => l.toFixed(2)).join('  ') : '—'}</td>
                  <td class="dim">{w.swIdent} {w.swVer}</td>
                </tr>
              ))}
            </tbody>
            <tfoot>
              <tr>
                <th>Total</th>
                <th>{online} online</th>
                <th />
                <th class="num">{formatNumber(list.reduce((s, w) => s + w.active, 0))}</th>
                <th class="num">{formatNumber(list.reduce((s, w) => s + w.processed, 0))}</th>
                <th class="num">{formatNumber(list.reduce((s, w) => s + w.succeeded, 0))}</th>
                <th class="num">{formatNumber(list.reduce((s, w) => s + w.failed, 0))}</th>
                <th class="num">{formatNumber(list.reduce((s, w) => s + w.retried, 0))}</th>
                <th colSpan={2} />
              </tr>
            </tfoot>
          </table>
        )}
      </Section>

      <ThroughputPanel minutes={60} />

      <p class="footnote">
        History: <b>{history.store}</b> store, {formatNumber(history.stored)} tasks kept{retentionText(history.retention)}, {formatBytes(history.memoryBytes)} in memory.
      </p>
    </div>
  );
}
