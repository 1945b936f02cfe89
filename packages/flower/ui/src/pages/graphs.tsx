/**
 * Graphs: tasks succeeded/failed per minute, runtime and wait-time percentiles, and queue
 * depth over time, from api/ui/stats (re-read every 15 s).
 */
import { useMemo, useState } from 'preact/hooks';
import { Loading, Section } from '../components/bits.tsx';
import { TimeChart } from '../components/chart.tsx';
import { formatDuration } from '../format.ts';
import type { Percentiles, Stats } from '../types.ts';
import { useApi } from '../use-api.ts';

const PALETTE = ['#1570ef', '#ee46bc', '#f79009', '#12b76a', '#7a5af8', '#06aed4', '#f04438', '#667085'];
const RANGES = [15, 60, 360, 1440];

function useStats(minutes: number) {
  return useApi<Stats>('api/ui/stats', { minutes }, 15_000);
}

/** Succeeded and failed counts per minute, with empty minutes filled in as zeros. */
function throughputSeries(stats: Stats, minutes: number) {
  const byMinute = new Map(stats.throughput.map((p) => [Math.floor(p.t / 60) * 60, p]));
  const end = Math.floor(Date.now() / 60_000) * 60;
  const x: number[] = [];
  // An empty minute is null, not 0: no zero-height stub is drawn, and the legend shows "--".
  const ok: Array<number | null> = [];
  const bad: Array<number | null> = [];
  for (let t = end - (minutes - 1) * 60; t <= end; t += 60) {
    x.push(t);
    ok.push(byMinute.get(t)?.succeeded || null);
    bad.push(byMinute.get(t)?.failed || null);
  }
  return { x, ys: [ok, bad] };
}

export function ThroughputPanel({ minutes }: { minutes: number }) {
  const stats = useStats(minutes);
  const data = useMemo(() => (stats.data ? throughputSeries(stats.data, minutes) : null), [stats.data, minutes]);
  return (
    <Section title={`Throughput, last ${minutes} min`}>
      {data ? (
        <TimeChart x={data.x} ys={data.ys} yLabel="tasks / min" series={[{ label: 'succeeded', color: '#12b76a', bars: 'left' }, { label: 'failed', color: '#f04438', bars: 'right' }]} />
      ) : (
        <Loading error={stats.error} what="throughput" />
      )}
    </Section>
  );
}

function PercentileBars({ title, value }: { title: string; value: Percentiles }) {
  const max = Math.max(value.p50 ?? 0, value.p90 ?? 0, value.p99 ?? 0) || 1;
  return (
    <div class="percentiles" data-testid={title}>
      <h3>{title}</h3>
      {(['p50', 'p90', 'p99'] as const).map((key) => (
        <div class="pbar" key={key}>
          <span class="pbar-key">{key}</span>
          <span class="pbar-track"><span class="pbar-fill" style={{ width: `${((value[key] ?? 0) / max) * 100}%` }} /></span>
          <span class="pbar-value">{formatDuration(value[key])}</span>
        </div>
      ))}
    </div>
  );
}

export function Graphs() {
  const [minutes, setMinutes] = useState(60);
  const stats = useStats(minutes);
  const depth = useMemo(() => {
    if (!stats.data) return null;
    const queues = [...new Set(stats.data.queueDepth.map((p) => p.queue))].sort();
    const times = [...new Set(stats.data.queueDepth.map((p) => p.t))].sort((a, b) => a - b);
    const index = new Map(stats.data.queueDepth.map((p) => [`${p.queue}@${p.t}`, p.depth]));
    return { queues, x: times, ys: queues.map((q) => times.map((t) => index.get(`${q}@${t}`) ?? null)) };
  }, [stats.data]);

  return (
    <div class="page">
      <div class="toolbar">
        <span class="dim">Range</span>
        <div class="pills">
          {RANGES.map((m) => (
            <button type="button" key={m} class={`pill ${m === minutes ? 'pill-on' : ''}`} onClick={() => setMinutes(m)}>
              {m < 60 ? `${m} min` : `${m / 60} h`}
            </button>
          ))}
        </div>
      </div>
      <ThroughputPanel minutes={minutes} />
      <Section title="Latency">
        {stats.data ? (
          <div class="split">
            <PercentileBars title="Runtime (started → finished)" value={stats.data.runtime} />
            <PercentileBars title="Wait time (received → started)" value={stats.data.wait} />
          </div>
        ) : (
          <Loading error={stats.error} what="percentiles" />
        )}
      </Section>
      <Section title="Queue depth">
        {depth === null ? (
          <Loading error={stats.error} what="queue depth" />
        ) : depth.queues.length === 0 ? (
          <p class="note">No queue has been sampled in this range yet.</p>
        ) : (
          <TimeChart x={depth.x} ys={depth.ys} xRange={[Date.now() / 1000 - minutes * 60, Date.now() / 1000]} yLabel="messages" series={depth.queues.map((q, i) => ({ label: q, color: PALETTE[i % PALETTE.length] ?? '#667085' }))} />
        )}
      </Section>
    </div>
  );
}
