/** The JSON shapes of the monitor's UI API (api/ui/*), as the server sends them. */

export interface Session {
  csrfToken: string;
  readOnly: boolean;
  /** The logged-in user (basic auth), or null when the monitor has no users. */
  user: { username: string; role: 'admin' | 'read-only' } | null;
  version: string;
}

export interface WorkerJson {
  hostname: string;
  online: boolean;
  /** Epoch seconds of the last heartbeat or event. */
  lastHeartbeat: number | null;
  active: number;
  processed: number;
  succeeded: number;
  failed: number;
  retried: number;
  loadavg: number[];
  swIdent: string | null;
  swVer: string | null;
  pool: { implementation: string | null; maxConcurrency: number | null; processes: number[] };
  queues: string[];
  registered: string[];
  stats: Record<string, unknown> | null;
  conf: Record<string, unknown> | null;
}

export interface Totals {
  active: number;
  processed: number;
  succeeded: number;
  failed: number;
  retried: number;
  revoked: number;
}

export interface Overview {
  workers: WorkerJson[];
  totals: Totals;
  history: { store: string; stored: number | null; retention: { maxTasks?: number; maxAgeSeconds?: number | null } | null; memoryBytes: number };
}

export type TaskState = 'PENDING' | 'RECEIVED' | 'STARTED' | 'SUCCESS' | 'FAILURE' | 'RETRY' | 'REVOKED' | 'REJECTED' | string;

export interface TaskJson {
  uuid: string;
  name: string | null;
  state: TaskState;
  args: string | null;
  kwargs: string | null;
  result: string | null;
  exception: string | null;
  traceback: string | null;
  worker: string | null;
  received: number | null;
  started: number | null;
  succeeded: number | null;
  failed: number | null;
  retried: number | null;
  revoked: number | null;
  timestamp: number | null;
  runtime: number | null;
  retries: number | null;
  eta: string | number | null;
  expires: string | number | null;
  parentId: string | null;
  rootId: string | null;
  children: string[];
}

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
