/** Small shared pieces: state badges, cards, key/value tables, loading and error notes. */
import type { ComponentChildren } from 'preact';
import { ago, formatTime, utcTitle } from '../format.ts';

const STATE_CLASS: Record<string, string> = {
  SUCCESS: 'ok',
  FAILURE: 'bad',
  REVOKED: 'muted',
  REJECTED: 'bad',
  RETRY: 'warn',
  STARTED: 'info',
  RECEIVED: 'info-light',
  PENDING: 'muted',
};

export function StateBadge({ state }: { state: string }) {
  return <span class={`badge badge-${STATE_CLASS[state] ?? 'muted'}`} data-state={state}>{state}</span>;
}

export function OnlineBadge({ online }: { online: boolean }) {
  return <span class={`badge ${online ? 'badge-ok' : 'badge-bad'}`} data-status={online ? 'online' : 'offline'}>{online ? 'Online' : 'Offline'}</span>;
}

export function Card({ label, value, tone, hint }: { label: string; value: ComponentChildren; tone?: string; hint?: string }) {
  return (
    <div class={`card ${tone ? `card-${tone}` : ''}`} data-card={label}>
      <div class="card-label">{label}</div>
      <div class="card-value">{value}</div>
      {hint && <div class="card-hint">{hint}</div>}
    </div>
  );
}

export function Time({ value, compact }: { value: number | string | null | undefined; compact?: boolean }) {
  if (value === null || value === undefined) return <span class="dim">—</span>;
  return <time title={`${formatTime(value)} · ${utcTitle(value) ?? ''} · ${ago(value)}`}>{formatTime(value, compact)}</time>;
}

export function Loading({ error, what }: { error: string | null; what: string }) {
  return error ? <p class="note note-error">Could not load {what}: {error}</p> : <p class="note">Loading {what}…</p>;
}

/** An object as a two-column table; nested objects are shown as JSON text (escaped by Preact). */
export function KeyValues({ value, empty = 'Nothing reported.' }: { value: Record<string, unknown> | null | undefined; empty?: string }) {
  const entries = value ? Object.entries(value) : [];
  if (entries.length === 0) return <p class="note">{empty}</p>;
  return (
    <table class="kv">
      <tbody>
        {entries.map(([key, item]) => (
          <tr key={key}>
            <th>{key}</th>
            <td>{typeof item === 'object' && item !== null ? <pre class="inline">{JSON.stringify(item, null, 2)}</pre> : String(item)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function Section({ title, children, actions }: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <section class="panel">
      <header class="panel-head">
        <h2>{title}</h2>
        {actions && <div class="panel-actions">{actions}</div>}
      </header>
      {children}
    </section>
  );
}
