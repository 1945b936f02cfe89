/**
 * One worker: pool, queues, tasks, limits, config and system tabs, and the remote-control
 * actions Flower offers (shutdown, pool restart, grow/shrink, autoscale, consumers, limits).
 */
import { useCallback, useState } from 'preact/hooks';
import { ActionButton, IfWritable } from '../components/actions.tsx';
import { KeyValues, Loading, OnlineBadge, Section } from '../components/bits.tsx';
import { ago, formatNumber } from '../format.ts';
import { useLive } from '../live.ts';
import { href } from '../route.ts';
import type { WorkerJson } from '../types.ts';
import { useApi, useThrottled } from '../use-api.ts';
import { useNow } from './dashboard.tsx';

const TABS = ['Pool', 'Queues', 'Tasks', 'Limits', 'Config', 'System', 'Other'] as const;
type Tab = (typeof TABS)[number];

function asRecord(value: unknown): Record<string, unknown> | null {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

/** Celery lists registered tasks as "name [rate_limit=…]"; the name is the first word. */
function taskName(entry: string): string {
  return entry.split(' ', 1)[0] ?? entry;
}

function workerPath(action: string, hostname: string): string {
  return `api/worker/${action}/${encodeURIComponent(hostname)}`;
}

function PoolTab({ worker, reload }: { worker: WorkerJson; reload: () => void }) {
  const [n, setN] = useState(1);
  const [min, setMin] = useState(1);
  const [chosenMax, setMax] = useState<number | null>(null);
  // Until the user picks one, the pool's current size (known once the worker answered inspect).
  const max = chosenMax ?? Math.max(1, worker.pool.maxConcurrency ?? 1);
  const pool = asRecord(worker.stats?.['pool']);
  return (
    <>
      <table class="kv">
        <tbody>
          <tr><th>Implementation</th><td>{worker.pool.implementation ?? "—"}</td></tr>
          <tr><th>Concurrency</th><td data-testid="pool-concurrency">{worker.pool.maxConcurrency ?? "—"}</td></tr>
          <tr><th>Processes</th><td class="mono">{worker.pool.processes.length ? worker.pool.processes.join(', ') : '—'}</td></tr>
          {worker.stats?.['pid'] !== undefined && <tr><th>PID</th><td>{String(worker.stats['pid'])}</td></tr>}
          {worker.stats?.['prefetch_count'] !== undefined && <tr><th>Prefetch count</th><td>{String(worker.stats['prefetch_count'])}</td></tr>}
          {pool?.['max-tasks-per-child'] !== undefined && <tr><th>Max tasks per child</th><td>{String(pool['max-tasks-per-child'])}</td></tr>}
          {pool?.['timeouts'] !== undefined && <tr><th>Timeouts (soft, hard)</th><td>{JSON.stringify(pool['timeouts'])}</td></tr>}
        </tbody>
      </table>
      <IfWritable>
        <div class="action-forms">
          <div class="action-form">
            <label>Processes <input type="number" min="1" value={n} onInput={(e) => setN(Number(e.currentTarget.value) || 1)} aria-label="Grow or shrink by" /></label>
            <ActionButton label="Grow" request={() => ({ title: 'Grow pool', description: <>Add {n} process(es) to <b>{worker.hostname}</b>'s pool?</>, path: workerPath('pool/grow', worker.hostname), params: { n }, onDone: reload })} />
            <ActionButton label="Shrink" request={() => ({ title: 'Shrink pool', description: <>Remove {n} process(es) from <b>{worker.hostname}</b>'s pool?</>, path: workerPath('pool/shrink', worker.hostname), params: { n }, onDone: reload })} />
          </div>
          <div class="action-form">
            <label>Min <input type="number" min="0" value={min} onInput={(e) => setMin(Number(e.currentTarget.value) || 0)} /></label>
            <label>Max <input type="number" min="1" value={max} onInput={(e) => setMax(Number(e.currentTarget.value) || 1)} /></label>
            <ActionButton label="Autoscale" request={() => ({ title: 'Autoscale pool', description: <>Let <b>{worker.hostname}</b> scale its pool between {min} and {max} processes?</>, path: workerPath('pool/autoscale', worker.hostname), params: { min, max }, onDone: reload })} />
          </div>
        </div>
      </IfWritable>
    </>
  );
}

function QueuesTab({ worker, reload }: { worker: WorkerJson; reload: () => void }) {
  const [queue, setQueue] = useState('');
  return (
    <>
      <table class="grid">
        <thead>
          <tr>
            <th>Queue</th>
            <IfWritable><th /></IfWritable>
          </tr>
        </thead>
        <tbody>
          {worker.queues.length === 0 && <tr><td class="note" colSpan={2}>This worker consumes no queue.</td></tr>}
          {worker.queues.map((name) => (
            <tr key={name} data-queue={name}>
              <td>{name}</td>
              <IfWritable>
                <td class="right">
                  <ActionButton small label="Cancel consumer" request={{ title: 'Cancel consumer', description: <>Stop <b>{worker.hostname}</b> consuming from <b>{name}</b>?</>, path: workerPath('queue/cancel-consumer', worker.hostname), params: { queue: name }, danger: true, onDone: reload }} />
                </td>
              </IfWritable>
            </tr>
          ))}
        </tbody>
      </table>
      <IfWritable>
        <div class="action-form">
          <label>Queue <input type="text" value={queue} placeholder="queue name" onInput={(e) => setQueue(e.currentTarget.value)} /></label>
          <ActionButton label="Add consumer" request={() => (queue.trim() ? { title: 'Add consumer', description: <>Make <b>{worker.hostname}</b> consume from <b>{queue.trim()}</b>?</>, path: workerPath('queue/add-consumer', worker.hostname), params: { queue: queue.trim() }, onDone: reload } : null)} />
        </div>
      </IfWritable>
    </>
  );
}

function TasksTab({ worker }: { worker: WorkerJson }) {
  const totals = asRecord(worker.stats?.['total']) ?? {};
  const names = [...new Set([...worker.registered.map(taskName), ...Object.keys(totals)])].sort();
  return (
    <>
      <p>
        <a href={href('tasks', null, { worker: worker.hostname })}>Tasks run by this worker →</a> · {worker.active} active now
      </p>
      <table class="grid">
        <thead>
          <tr><th>Registered task</th><th class="num">Processed</th></tr>
        </thead>
        <tbody>
          {names.length === 0 && <tr><td class="note" colSpan={2}>The worker has not reported its tasks.</td></tr>}
          {names.map((name) => (
            <tr key={name}>
              <td><a href={href('tasks', null, { worker: worker.hostname, name })}>{name}</a></td>
              <td class="num">{String(totals[name] ?? 0)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function LimitRow({ worker, name }: { worker: WorkerJson; name: string }) {
  const [rate, setRate] = useState('');
  const [soft, setSoft] = useState('');
  const [hard, setHard] = useState('');
  const params = { workername: worker.hostname };
  return (
    <tr data-limit-task={name}>
      <td>{name}</td>
      <td>
        <div class="inline-form">
          <input type="text" size={8} placeholder="10/m" value={rate} onInput={(e) => setRate(e.currentTarget.value)} aria-label={`Rate limit for ${name}`} />
          <ActionButton small label="Apply rate" request={() => ({ title: 'Set rate limit', description: <>Limit <b>{name}</b> on <b>{worker.hostname}</b> to <b>{rate || 'no limit'}</b>?</>, path: `api/task/rate-limit/${encodeURIComponent(name)}`, params: { ...params, ratelimit: rate.trim() } })} />
        </div>
      </td>
      <td>
        <div class="inline-form">
          <input type="number" min="0" step="any" placeholder="soft s" value={soft} onInput={(e) => setSoft(e.currentTarget.value)} aria-label={`Soft time limit for ${name}`} />
          <input type="number" min="0" step="any" placeholder="hard s" value={hard} onInput={(e) => setHard(e.currentTarget.value)} aria-label={`Hard time limit for ${name}`} />
          <ActionButton small label="Apply timeouts" request={() => ({ title: 'Set time limits', description: <>Set <b>{name}</b>'s time limits on <b>{worker.hostname}</b> to soft {soft || '—'} s, hard {hard || '—'} s?</>, path: `api/task/timeout/${encodeURIComponent(name)}`, params: { ...params, soft, hard } })} />
        </div>
      </td>
    </tr>
  );
}

/** tq's cluster-wide limits: tokens per bucket, leases per key, deduplicated calls (from the flow store). */
function FlowLimits({ worker }: { worker: WorkerJson }) {
  if (!worker.limits) return null;
  return (
    <div data-flow-limits>
      <h3>Cluster-wide flow control</h3>
      <KeyValues value={worker.limits} />
    </div>
  );
}

function LimitsTab({ worker }: { worker: WorkerJson }) {
  const names = worker.registered.map(taskName).sort();
  if (names.length === 0) return <p class="note">The worker has not reported its registered tasks.</p>;
  return (
    <>
    <FlowLimits worker={worker} />
    <table class="grid">
      <thead>
        <tr><th>Task</th><IfWritable><th>Rate limit</th><th>Time limits</th></IfWritable></tr>
      </thead>
      <tbody>
        {names.map((name) => <LimitRow key={name} worker={worker} name={name} />)}
      </tbody>
    </table>
    </>
  );
}

export function Worker({ hostname }: { hostname: string }) {
  const resource = useApi<WorkerJson>(`api/ui/workers/${encodeURIComponent(hostname)}`, {}, 10_000);
  const [live, setLive] = useState<WorkerJson | null>(null);
  const [tab, setTab] = useState<Tab>('Pool');
  const now = useNow();
  // The worker applies a control command, then its next inspect reply shows it: read again soon.
  const refresh = useThrottled(resource.reload, 1500);
  useLive('worker', useCallback((w: WorkerJson) => { if (w.hostname === hostname) setLive(w); }, [hostname]));

  // A live event is newer than the last read unless the read came later (its heartbeat says).
  const worker = live && resource.data && (live.lastHeartbeat ?? 0) >= (resource.data.lastHeartbeat ?? 0) ? { ...resource.data, ...live, stats: live.stats ?? resource.data.stats, conf: live.conf ?? resource.data.conf } : resource.data;
  if (!worker) return <div class="page"><Loading error={resource.error} what={`worker ${hostname}`} /></div>;
  const stats = worker.stats ?? {};
  const { total: _total, pool: _pool, rusage, ...other } = stats;

  return (
    <div class="page">
      <div class="title-row">
        <div>
          <h1>{worker.hostname}</h1>
          <div class="dim">{worker.swIdent} {worker.swVer} · last heartbeat {ago(worker.lastHeartbeat, now)} · load {worker.loadavg.map((l) => l.toFixed(2)).join(' ') || '—'}</div>
        </div>
        <OnlineBadge online={worker.online} />
        <div class="spacer" />
        <div class="button-row">
          <ActionButton label="Restart pool" request={{ title: 'Restart pool', description: <>Restart <b>{worker.hostname}</b>'s pool processes? Running tasks finish first.</>, path: workerPath('pool/restart', worker.hostname) }} />
          <ActionButton label="Shut down" request={{ title: 'Shut down worker', description: <>Shut down <b>{worker.hostname}</b>? It stops consuming and exits; something else must start it again.</>, path: workerPath('shutdown', worker.hostname), danger: true, confirmLabel: 'Shut down' }} />
        </div>
      </div>

      <div class="cards">
        <div class="card"><div class="card-label">Active</div><div class="card-value">{formatNumber(worker.active)}</div></div>
        <div class="card"><div class="card-label">Processed</div><div class="card-value">{formatNumber(worker.processed)}</div></div>
        <div class="card card-ok"><div class="card-label">Succeeded</div><div class="card-value">{formatNumber(worker.succeeded)}</div></div>
        <div class="card card-bad"><div class="card-label">Failed</div><div class="card-value">{formatNumber(worker.failed)}</div></div>
        <div class="card"><div class="card-label">Retried</div><div class="card-value">{formatNumber(worker.retried)}</div></div>
      </div>

      <Section title="Details">
        <nav class="tabs" role="tablist">
          {TABS.map((t) => (
            <button type="button" role="tab" key={t} aria-selected={t === tab} class={`tab ${t === tab ? 'tab-on' : ''}`} onClick={() => setTab(t)}>{t}</button>
          ))}
        </nav>
        <div class="tab-body">
          {tab === 'Pool' && <PoolTab worker={worker} reload={refresh} />}
          {tab === 'Queues' && <QueuesTab worker={worker} reload={refresh} />}
          {tab === 'Tasks' && <TasksTab worker={worker} />}
          {tab === 'Limits' && <LimitsTab worker={worker} />}
          {tab === 'Config' && <KeyValues value={worker.conf} empty="The worker has not reported its configuration." />}
          {tab === 'System' && <KeyValues value={asRecord(rusage)} empty="The worker has not reported resource usage." />}
          {tab === 'Other' && <KeyValues value={other} />}
        </div>
      </Section>
    </div>
  );
}
