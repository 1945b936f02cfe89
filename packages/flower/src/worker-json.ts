/**
 * A worker as the UI sees it: liveness and load from its events, counts from its task events,
 * pool, queues, registered tasks, stats and configuration from the last inspect replies.
 * Configuration is masked: settings that look like secrets and passwords inside URLs never
 * leave the monitor.
 */
import { redactUrl, type EventWorker } from '@tq/core';
import type { WorkerInfo } from './inspector.js';
import type { WorkerJson } from './types.js';

export interface WorkerCounters {
  received: number;
  succeeded: number;
  failed: number;
  retried: number;
  revoked: number;
  /** Tasks started and not yet finished, from task events (the heartbeat's `active` wins when present). */
  running: number;
}

export function emptyCounters(): WorkerCounters {
  return { received: 0, succeeded: 0, failed: 0, retried: 0, revoked: 0, running: 0 };
}

const SECRET_KEY = /pass(word)?|secret|token|credential|private|api[_-]?key|auth|signing|access[_-]?key/i;

/** A copy with secret-looking settings replaced and URL passwords redacted. */
export function maskSecrets(value: unknown, key = '', depth = 0): unknown {
  if (depth > 8) return '…';
  if (typeof value === 'string') {
    if (key && SECRET_KEY.test(key)) return '********';
    return /:\/\//.test(value) ? redactUrl(value) : value;
  }
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v, key, depth + 1));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) && v !== null && typeof v !== 'object' && typeof v !== 'boolean' ? '********' : maskSecrets(v, k, depth + 1);
    return out;
  }
  return value;
}

function numberOr(value: unknown, fallback: number | null): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

export function workerJson(hostname: string, worker: EventWorker | undefined, info: WorkerInfo | undefined, counters: WorkerCounters | undefined): WorkerJson {
  const stats = info?.stats ?? null;
  const pool = (stats?.['pool'] ?? {}) as Record<string, unknown>;
  const c = counters ?? emptyCounters();
  const online = worker ? worker.alive : false;
  const processes = Array.isArray(pool['processes']) ? (pool['processes'] as unknown[]).filter((p): p is number => typeof p === 'number') : [];
  const implementation = typeof pool['implementation'] === 'string' ? pool['implementation'] : null;
  const total = stats?.['total'] && typeof stats['total'] === 'object' ? Object.values(stats['total'] as Record<string, number>).reduce((a, b) => a + (Number(b) || 0), 0) : 0;
  return {
    hostname,
    online,
    lastHeartbeat: worker?.lastHeartbeat ?? null,
    active: online ? (worker?.active ?? c.running) : 0,
    processed: Math.max(c.received, worker?.processed ?? 0, total),
    succeeded: c.succeeded,
    failed: c.failed,
    retried: c.retried,
    loadavg: worker?.loadavg ?? [],
    swIdent: worker?.swIdent ?? null,
    swVer: worker?.swVer ?? null,
    pool: { implementation, maxConcurrency: numberOr(pool['max-concurrency'], null), processes },
    queues: (info?.active_queues ?? []).map((q) => String(q['name'])),
    registered: (info?.registered ?? []).map((r) => String(r).split(' ')[0]!),
    stats: stats ? (maskSecrets(stats) as Record<string, unknown>) : null,
    conf: info?.conf ? (maskSecrets(info.conf) as Record<string, unknown>) : null,
    limits: flowLimits(info?.limits),
  };
}

/** The `inspect limits` reply when it carries flow control (not a Celery worker's error, not a tq worker without flow tasks). */
function flowLimits(reply: Record<string, unknown> | undefined): Record<string, unknown> | null {
  if (!reply || typeof reply !== 'object' || 'error' in reply || reply['enabled'] === false) return null;
  return reply;
}
