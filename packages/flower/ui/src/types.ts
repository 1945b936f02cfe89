/**
 * The JSON shapes of the monitor's UI API (api/ui/*). Tasks, workers and totals are the server's
 * own declarations (types only, nothing of the server is bundled); the rest are the UI's view.
 */
import type { TaskJson, Totals, WorkerJson } from '../../src/types.ts';

export type { TaskJson, Totals, WorkerJson };

export interface Session {
  csrfToken: string;
  readOnly: boolean;
  /** The logged-in user (basic auth), or null when the monitor has no users. */
  user: { username: string; role: 'admin' | 'read-only' } | null;
  version: string;
}

export interface Overview {
  workers: WorkerJson[];
  totals: Totals;
  history: { store: string; stored: number | null; retention: { maxTasks?: number; maxAgeSeconds?: number | null } | null; memoryBytes: number };
}

export type TaskState = 'PENDING' | 'RECEIVED' | 'STARTED' | 'SUCCESS' | 'FAILURE' | 'RETRY' | 'REVOKED' | 'REJECTED' | string;

export interface TaskPage {
  total: number;
  tasks: TaskJson[];
}

export type GraphNodeKind = 'task' | 'group' | 'chord-body';
export type GraphEdgeKind = 'chain' | 'group' | 'chord' | 'callback';

export interface TaskGraph {
  rootId: string;
  nodes: Array<{ id: string; name: string | null; state: TaskState; kind: GraphNodeKind }>;
  edges: Array<{ from: string; to: string; kind: GraphEdgeKind }>;
}

export interface QueueJson {
  name: string;
  messages: number | null;
  broker: string;
}

export interface BeatEntry {
  name: string;
  task: string;
  schedule: string;
  lastRunAt: number | string | null;
  nextRunAt: number | string | null;
  totalRunCount: number;
}

export interface Percentiles {
  p50: number | null;
  p90: number | null;
  p99: number | null;
}

export interface Stats {
  throughput: Array<{ t: number; succeeded: number; failed: number }>;
  runtime: Percentiles;
  wait: Percentiles;
  queueDepth: Array<{ t: number; queue: string; depth: number }>;
}
