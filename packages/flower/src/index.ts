/**
 * @tq/flower: tq's monitor — a live web UI, Flower's REST API and Prometheus metrics for tq and
 * Python Celery workers, with durable task history.
 *
 *   import { serveMonitor } from '@tq/flower';
 *   const { url } = await serveMonitor(app, { port: 5555 });
 */
export { createMonitor, type Monitor } from './monitor.js';
export { serveMonitor, isLoopback, type ServeOptions, type ServedMonitor } from './serve.js';
export { MonitorEngine, type QueueJson } from './engine.js';
export { parseBasicAuth, type AuthUser } from './auth.js';
export { parseSearch, SearchError, type Searchable } from './search.js';
export { parsePyLiteral } from './py-literal.js';
export { workflowGraph, type WorkflowGraph, type GraphNode, type GraphEdge } from './graph.js';
export type { HistoryStore, StoredTask } from './history/history-store.js';
export type { StatsJson, Percentiles } from './stats.js';
export type { BeatEntryJson } from './beat.js';
export type { TaskJson, WorkerJson, WorkerPoolJson, Totals, Retention, HistoryOptions, MonitorOptions, MonitorUser, Role } from './types.js';
export { VERSION } from './version.js';
