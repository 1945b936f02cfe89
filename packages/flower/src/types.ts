/**
 * The JSON shapes of tq's UI API (the contract the web UI codes against) and the monitor's
 * options. Times are epoch seconds; args, kwargs and result are the strings the events carry.
 */

export interface TaskJson {
  uuid: string;
  name: string | null;
  state: string;
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
  eta: string | null;
  expires: string | null;
  parentId: string | null;
  rootId: string | null;
  children: string[];
}

export interface WorkerPoolJson {
  implementation: string | null;
  maxConcurrency: number | null;
  processes: number[];
}

export interface WorkerJson {
  hostname: string;
  online: boolean;
  lastHeartbeat: number | null;
  active: number;
  processed: number;
  succeeded: number;
  failed: number;
  retried: number;
  loadavg: number[];
  swIdent: string | null;
  swVer: string | null;
  pool: WorkerPoolJson;
  queues: string[];
  registered: string[];
  stats: Record<string, unknown> | null;
  conf: Record<string, unknown> | null;
  /** tq's cluster-wide flow control as this worker reports it (`inspect limits`); null on workers without it. */
  limits: Record<string, unknown> | null;
}

export interface Totals {
  active: number;
  processed: number;
  succeeded: number;
  failed: number;
  retried: number;
  revoked: number;
}

export interface Retention {
  /** Most task records kept (memory and store). Default 100 000, as Flower's `max_tasks`. */
  maxTasks?: number;
  /** Records older than this are dropped (default: no age bound). */
  maxAgeSeconds?: number | null;
}

export interface HistoryOptions {
  /** `'memory'` (default), a `redis://` URL or a `mongodb://` URL. */
  store?: string;
  retention?: Retention;
  /** Key prefix (Redis) or collection name (MongoDB) of the records (default `tq-flower`). */
  key?: string;
}

export type Role = 'admin' | 'read-only';

export interface MonitorUser {
  username: string;
  password: string;
  role?: Role;
}

export interface MonitorOptions {
  /** URL prefix the monitor is mounted under (`/flower`); default none. */
  prefix?: string;
  /** Basic auth users; without it the monitor is open (only bind it to loopback then). */
  auth?: { users: MonitorUser[] };
  /** Refuse every action (Flower's `--read_only`). */
  readOnly?: boolean;
  history?: HistoryOptions;
  /** Seconds between inspect polls of the workers (default 10). */
  inspectInterval?: number;
  /** Seconds inspect waits for replies (Flower's `inspect_timeout`, default 1). */
  inspectTimeout?: number;
  /** Seconds between queue-length samples (default 10). */
  queueSampleInterval?: number;
  /** Broadcast `enable_events` every 5 s so workers started without -E send task events (default true). */
  enableEvents?: boolean;
  /** Hide workers offline for longer than this many seconds (Flower's `purge_offline_workers`). */
  purgeOfflineWorkers?: number | null;
  /** Milliseconds over which the live stream coalesces updates (default 250). */
  streamInterval?: number;
}
