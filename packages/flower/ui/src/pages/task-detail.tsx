/**
 * One task: its state, arguments, result or traceback, times, worker and relatives, the
 * workflow it belongs to drawn as a graph, and the revoke / terminate / retry actions.
 */
import { useCallback } from 'preact/hooks';
import { ActionButton } from '../components/actions.tsx';
import { Loading, Section, StateBadge, Time } from '../components/bits.tsx';
import { WorkflowGraph } from '../components/workflow-graph.tsx';
import { formatDuration } from '../format.ts';
import { useLive } from '../live.ts';
import { href } from '../route.ts';
import type { TaskGraph, TaskJson } from '../types.ts';
import { useApi, useThrottled } from '../use-api.ts';

const FINISHED = new Set(['SUCCESS', 'FAILURE', 'REVOKED', 'REJECTED']);

function CopyButton({ text }: { text: string }) {
  return (
    <button type="button" class="btn btn-small btn-ghost" title="Copy to clipboard" onClick={() => void navigator.clipboard?.writeText(text)}>
      Copy
    </button>
  );
}

function TaskLink({ id }: { id: string | null }) {
  if (!id) return <span class="dim">—</span>;
  return (
    <a class="mono" href={href('task', id)}>
      {id}
    </a>
  );
}

function Code({ label, text, testId }: { label: string; text: string | null; testId: string }) {
  return (
    <div class="code-block">
      <div class="code-head">
        <span>{label}</span>
        {text ? <CopyButton text={text} /> : null}
      </div>
      <pre data-testid={testId}>{text ?? '—'}</pre>
    </div>
  );
}

export function TaskDetail({ id }: { id: string }) {
  const task = useApi<TaskJson>(`api/ui/tasks/${encodeURIComponent(id)}`);
  const graph = useApi<TaskGraph>(`api/ui/tasks/${encodeURIComponent(id)}/graph`);
  const reloadGraph = useThrottled(graph.reload, 1000);
  useLive(
    'task',
    useCallback(
      (event: TaskJson) => {
        if (event.uuid === id) task.reload();
        // Any task of the same workflow changes the graph's colours.
        if (graph.data?.nodes.some((n) => n.id === event.uuid) || event.rootId === graph.data?.rootId) reloadGraph();
      },
      [id, task.reload, graph.data, reloadGraph]
    )
  );

  if (!task.data) {
    return (
      <div class="page">
        <Loading error={task.error?.startsWith('404') ? 'this task is not in the history (yet)' : task.error} what={`task ${id}`} />
      </div>
    );
  }
  const t = task.data;
  const running = !FINISHED.has(t.state);
  const finished = t.succeeded ?? t.failed ?? t.revoked;

  return (
    <div class="page">
      <div class="title-row">
        <div>
          <h1 class="task-name">{t.name ?? 'unknown task'}</h1>
          <div class="mono dim uuid">
            {t.uuid} <CopyButton text={t.uuid} />
          </div>
        </div>
        <StateBadge state={t.state} />
        <div class="spacer" />
        <div class="button-row">
          {running && (
            <ActionButton
              label="Revoke"
              request={{
                title: 'Revoke task',
                description: (
                  <>
                    Revoke <b>{t.name}</b> <code>{t.uuid}</code>? Workers will discard it if it has not started yet.
                  </>
                ),
                path: `api/task/revoke/${encodeURIComponent(t.uuid)}`,
                params: { terminate: false },
                confirmLabel: 'Revoke',
                danger: true,
                onDone: task.reload,
              }}
            />
          )}
          {running && (
            <ActionButton
              label="Terminate"
              request={{
                title: 'Terminate task',
                description: (
                  <>
                    Revoke <b>{t.name}</b> <code>{t.uuid}</code> and terminate it if it is running (SIGTERM to its pool process)?
                  </>
                ),
                path: `api/task/revoke/${encodeURIComponent(t.uuid)}`,
                params: { terminate: true },
                confirmLabel: 'Terminate',
                danger: true,
                onDone: task.reload,
              }}
            />
          )}
          {(t.state === 'FAILURE' || t.state === 'REVOKED') && (
            <ActionButton
              label="Retry"
              request={{
                title: 'Retry task',
                description: (
                  <>
                    Send <b>{t.name}</b> again with the same arguments, as a new task?
                  </>
                ),
                path: `api/ui/tasks/${encodeURIComponent(t.uuid)}/retry`,
                confirmLabel: 'Retry',
                success: (reply) => `Sent again as ${(reply as { taskId?: string }).taskId ?? 'a new task'}`,
                onDone: (reply) => {
                  const next = (reply as { taskId?: string }).taskId;
                  if (next) location.hash = href('task', next);
                },
              }}
            />
          )}
        </div>
      </div>

      <div class="detail-grid">
        <Section title="Arguments">
          <Code label="args" text={t.args} testId="task-args" />
          <Code label="kwargs" text={t.kwargs} testId="task-kwargs" />
        </Section>
        <Section title="Outcome">
          {t.state === 'FAILURE' || t.exception ? (
            <>
              <Code label="exception" text={t.exception} testId="task-exception" />
              <Code label="traceback" text={t.traceback} testId="task-traceback" />
            </>
          ) : (
            <Code label="result" text={t.result} testId="task-result" />
          )}
        </Section>
      </div>

      <div class="detail-grid">
        <Section title="Times">
          <table class="kv">
            <tbody>
              <tr>
                <th>Received</th>
                <td>
                  <Time value={t.received} />
                </td>
              </tr>
              <tr>
                <th>Started</th>
                <td>
                  <Time value={t.started} />
                </td>
              </tr>
              <tr>
                <th>{t.failed ? 'Failed' : t.revoked ? 'Revoked' : 'Succeeded'}</th>
                <td>
                  <Time value={finished} />
                </td>
              </tr>
              {t.retried ? (
                <tr>
                  <th>Last retry</th>
                  <td>
                    <Time value={t.retried} />
                  </td>
                </tr>
              ) : null}
              <tr>
                <th>Runtime</th>
                <td data-testid="task-runtime">{formatDuration(t.runtime)}</td>
              </tr>
              <tr>
                <th>Wait</th>
                <td>{t.received && t.started ? formatDuration(t.started - t.received) : '—'}</td>
              </tr>
              <tr>
                <th>ETA</th>
                <td>
                  <Time value={t.eta} />
                </td>
              </tr>
              <tr>
                <th>Expires</th>
                <td>
                  <Time value={t.expires} />
                </td>
              </tr>
            </tbody>
          </table>
        </Section>
        <Section title="Execution">
          <table class="kv">
            <tbody>
              <tr>
                <th>Worker</th>
                <td>{t.worker ? <a href={href('workers', t.worker)}>{t.worker}</a> : <span class="dim">—</span>}</td>
              </tr>
              <tr>
                <th>Retries</th>
                <td>{t.retries ?? 0}</td>
              </tr>
              <tr>
                <th>Parent</th>
                <td>
                  <TaskLink id={t.parentId} />
                </td>
              </tr>
              <tr>
                <th>Root</th>
                <td>
                  <TaskLink id={t.rootId} />
                </td>
              </tr>
              <tr>
                <th>Children</th>
                <td>
                  {t.children.length === 0 ? (
                    <span class="dim">—</span>
                  ) : (
                    <ul class="plain">
                      {t.children.map((child) => (
                        <li key={child}>
                          <TaskLink id={child} />
                        </li>
                      ))}
                    </ul>
                  )}
                </td>
              </tr>
            </tbody>
          </table>
        </Section>
      </div>

      <Section title="Workflow">
        {graph.data ? (
          graph.data.nodes.length > 1 ? (
            <WorkflowGraph graph={graph.data} current={t.uuid} />
          ) : (
            <p class="note">This task is not part of a chain, group or chord.</p>
          )
        ) : (
          <Loading error={graph.error} what="the workflow" />
        )}
      </Section>
    </div>
  );
}
