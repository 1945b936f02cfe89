/**
 * Tasks: a server-side paged, sorted and filtered table. The filters live in the URL fragment
 * (`#/tasks?state=FAILURE&worker=...`) so a view can be bookmarked or shared; the table
 * refreshes when task events arrive.
 */
import { useCallback, useEffect, useState } from 'preact/hooks';
import { Loading, StateBadge, Time } from '../components/bits.tsx';
import { formatDuration, formatNumber, fromLocalInput, toLocalInput } from '../format.ts';
import { useLive } from '../live.ts';
import { href, type Route } from '../route.ts';
import type { TaskJson, TaskPage } from '../types.ts';
import { useApi, useThrottled } from '../use-api.ts';

const STATES = ['', 'RECEIVED', 'STARTED', 'SUCCESS', 'FAILURE', 'RETRY', 'REVOKED'];
const SIZES = [25, 50, 100];
type SortKey = 'received' | 'started' | 'succeeded' | 'runtime' | 'name' | 'state';

const COLUMNS: Array<{ key: SortKey | null; label: string; num?: boolean }> = [
  { key: 'name', label: 'Name' },
  { key: null, label: 'UUID' },
  { key: 'state', label: 'State' },
  { key: null, label: 'Args' },
  { key: null, label: 'Kwargs' },
  { key: null, label: 'Result' },
  { key: 'received', label: 'Received' },
  { key: 'started', label: 'Started' },
  { key: 'runtime', label: 'Runtime', num: true },
  { key: null, label: 'Worker' },
];

function go(query: URLSearchParams, changes: Record<string, string | null>): void {
  const next = new URLSearchParams(query);
  for (const [key, value] of Object.entries(changes)) {
    if (value === null || value === '') next.delete(key);
    else next.set(key, value);
  }
  // A new filter or sort starts again at the first page.
  if (!('offset' in changes)) next.delete('offset');
  const qs = next.toString();
  location.hash = `#/tasks${qs ? `?${qs}` : ''}`;
}

function clip(text: string | null, max = 40): string {
  if (text === null || text === undefined) return '';
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function Tasks({ route }: { route: Route }) {
  const q = route.query;
  const offset = Number(q.get('offset') ?? 0) || 0;
  const limit = Number(q.get('limit') ?? 25) || 25;
  const sort = (q.get('sort') ?? 'received') as SortKey;
  const dir = q.get('dir') === 'asc' ? 'asc' : 'desc';
  const params = {
    offset,
    limit,
    sort,
    dir,
    state: q.get('state'),
    name: q.get('name'),
    worker: q.get('worker'),
    from: q.get('from'),
    to: q.get('to'),
    search: q.get('search'),
  };
  const page = useApi<TaskPage>('api/ui/tasks', params);
  const [rows, setRows] = useState<TaskJson[]>([]);
  const [draft, setDraft] = useState({ search: '', name: '', worker: '' });

  useEffect(() => setDraft({ search: q.get('search') ?? '', name: q.get('name') ?? '', worker: q.get('worker') ?? '' }), [route]);
  useEffect(() => setRows(page.data?.tasks ?? []), [page.data]);

  const reload = useThrottled(page.reload, 1000);
  useLive(
    'task',
    useCallback(
      (task: TaskJson) => {
        // Rows on screen change in place at once; new tasks arrive with the next (throttled) read.
        setRows((list) => (list.some((t) => t.uuid === task.uuid) ? list.map((t) => (t.uuid === task.uuid ? task : t)) : list));
        reload();
      },
      [reload],
    ),
  );

  const applyText = (event: Event) => {
    event.preventDefault();
    go(q, { search: draft.search.trim(), name: draft.name.trim(), worker: draft.worker.trim() });
  };
  const sortBy = (key: SortKey) => go(q, { sort: key, dir: sort === key && dir === 'desc' ? 'asc' : 'desc' });
  const total = page.data?.total ?? 0;
  const filtered = ['state', 'name', 'worker', 'from', 'to', 'search'].some((k) => q.get(k));

  return (
    <div class="page">
      <form class="filters" onSubmit={applyText}>
        <div class="pills" role="group" aria-label="State">
          {STATES.map((s) => (
            <button type="button" key={s || 'all'} data-filter-state={s || 'ALL'} class={`pill ${(q.get('state') ?? '') === s ? 'pill-on' : ''}`} onClick={() => go(q, { state: s })}>
              {s ? s.charAt(0) + s.slice(1).toLowerCase() : 'All'}
            </button>
          ))}
        </div>
        <input class="search" type="search" name="search" placeholder='Search: name:tasks.add state:FAILURE args:42 "a phrase" OR …' value={draft.search} onInput={(e) => setDraft({ ...draft, search: e.currentTarget.value })} aria-label="Search" />
        <input type="text" name="name" placeholder="Task name" value={draft.name} onInput={(e) => setDraft({ ...draft, name: e.currentTarget.value })} aria-label="Task name" />
        <input type="text" name="worker" placeholder="Worker" value={draft.worker} onInput={(e) => setDraft({ ...draft, worker: e.currentTarget.value })} aria-label="Worker" />
        <label class="field">
          <span>From</span>
          <input type="datetime-local" value={toLocalInput(q.get('from') ? Number(q.get('from')) : null)} onChange={(e) => go(q, { from: String(fromLocalInput(e.currentTarget.value) ?? '') })} />
        </label>
        <label class="field">
          <span>To</span>
          <input type="datetime-local" value={toLocalInput(q.get('to') ? Number(q.get('to')) : null)} onChange={(e) => go(q, { to: String(fromLocalInput(e.currentTarget.value) ?? '') })} />
        </label>
        <button type="submit" class="btn btn-primary">Apply</button>
        {filtered && (
          <button type="button" class="btn" onClick={() => (location.hash = '#/tasks')}>
            Clear
          </button>
        )}
      </form>

      {page.error && <p class="note note-error" data-testid="tasks-error">{page.error}</p>}
      {!page.data ? (
        !page.error && <Loading error={null} what="tasks" />
      ) : (
        <>
          <div class="table-scroll">
            <table class="grid tasks" data-testid="tasks-table">
              <thead>
                <tr>
                  {COLUMNS.map((c) => (
                    <th key={c.label} class={c.num ? 'num' : ''}>
                      {c.key ? (
                        <button type="button" class="sort" onClick={() => sortBy(c.key as SortKey)} aria-sort={sort === c.key ? (dir === 'asc' ? 'ascending' : 'descending') : undefined}>
                          {c.label}
                          <span class="sort-mark">{sort === c.key ? (dir === 'asc' ? '▲' : '▼') : ''}</span>
                        </button>
                      ) : (
                        c.label
                      )}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {rows.length === 0 && (
                  <tr>
                    <td colSpan={COLUMNS.length} class="note">{filtered ? 'No task matches these filters.' : 'No task has been seen yet.'}</td>
                  </tr>
                )}
                {rows.map((t) => (
                  <tr key={t.uuid} data-task={t.uuid}>
                    <td>{t.name ?? <span class="dim">unknown</span>}</td>
                    <td class="mono"><a href={href('task', t.uuid)} title={t.uuid}>{t.uuid.slice(0, 8)}…</a></td>
                    <td><StateBadge state={t.state} /></td>
                    <td class="mono clip" title={t.args ?? ''}>{clip(t.args)}</td>
                    <td class="mono clip" title={t.kwargs ?? ''}>{clip(t.kwargs)}</td>
                    <td class="mono clip" title={t.result ?? t.exception ?? ''}>{clip(t.result ?? t.exception)}</td>
                    <td class="nowrap"><Time value={t.received} compact /></td>
                    <td class="nowrap"><Time value={t.started} compact /></td>
                    <td class="num nowrap">{formatDuration(t.runtime)}</td>
                    <td class="nowrap">{t.worker ? <a href={href('workers', t.worker)}>{t.worker}</a> : <span class="dim">—</span>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <div class="pager">
            <span class="dim" data-testid="tasks-total">
              {total === 0 ? 'No tasks' : `${formatNumber(offset + 1)}–${formatNumber(Math.min(offset + limit, total))} of ${formatNumber(total)}`}
            </span>
            <select aria-label="Page size" value={String(limit)} onChange={(e) => go(q, { limit: e.currentTarget.value })}>
              {SIZES.map((s) => (
                <option key={s} value={String(s)}>{s} per page</option>
              ))}
            </select>
            <button type="button" class="btn" disabled={offset === 0} onClick={() => go(q, { offset: String(Math.max(0, offset - limit)) })}>← Previous</button>
            <button type="button" class="btn" disabled={offset + limit >= total} onClick={() => go(q, { offset: String(offset + limit) })}>Next →</button>
          </div>
        </>
      )}
    </div>
  );
}
