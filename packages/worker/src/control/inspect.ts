/**
 * Inspect commands: read-only answers about a worker, in Celery's reply shapes (see
 * celery/worker/control.py). Flower polls `stats`, `active_queues`, `registered`, `scheduled`,
 * `active`, `reserved`, `revoked` and `conf`.
 */
import { arch, hostname as osHostname, platform, release } from 'node:os';
import type { App, QueueDeclaration } from '@tq/core';
import { requestDict } from '../request-info.js';
import type { Worker } from '../worker.js';
import { commandsOf } from './meta.js';

export const INSPECT_COMMANDS = commandsOf('inspect');

const VERSION = '0.1.0';

/** Celery's `DEFAULT_TASK_INFO_ITEMS`. */
const DEFAULT_TASK_INFO_ITEMS = ['exchange', 'routing_key', 'rate_limit'];

export function registerInspectCommands(worker: Worker): void {
  const { pidbox, app } = worker;
  pidbox.register('ping', () => ({ ok: 'pong' }));
  // As in Celery, active means started by the pool: a job queued in a pool child is reserved.
  pidbox.register('active', (args) => worker.running().map((r) => requestDict(r, worker.hostname, args['safe'] === true)));
  pidbox.register('reserved', () => [...worker.queuedInPool(), ...worker.reserved()].map((r) => requestDict(r, worker.hostname)));
  pidbox.register('scheduled', () =>
    worker.scheduled().map((r) => ({
      eta: r.message.headers.eta,
      // Celery's timer priority for ETA entries.
      priority: 6,
      request: requestDict(r, worker.hostname),
    })),
  );
  pidbox.register('revoked', () => worker.revoked.ids());
  pidbox.register('registered', (args) => registered(app, args));
  pidbox.register('stats', () => stats(worker));
  pidbox.register('active_queues', () => worker.queues.map(queueDict));
  pidbox.register('query_task', (args) => {
    const raw = args['ids'];
    const ids = (Array.isArray(raw) ? raw.flat() : [raw]).filter((id): id is string => typeof id === 'string');
    const found: Record<string, [string, Record<string, unknown>]> = {};
    for (const id of ids) {
      const hit = worker.find(id);
      if (hit) found[id] = [hit.state, requestDict(hit.request, worker.hostname)];
    }
    return found;
  });
  pidbox.register('conf', (args) => conf(app, args['with_defaults'] === true));
  pidbox.register('report', () => ({ ok: report(worker) }));
  pidbox.register('clock', () => ({ clock: app.clock.current }));
  pidbox.register('hello', (args) => {
    const from = args['from_node'];
    if (from === worker.hostname) return null;
    worker.logger.info(`sync with ${String(from)}`);
    const merged = worker.revoked.mergeCeleryData(args['revoked']);
    if (merged > 0) worker.statedb?.changed();
    return { revoked: worker.revoked.toCeleryData(), clock: app.clock.forward() };
  });
}

/** Celery's `registered`: `name [attr=value …]` for each task (built-in `celery.*` ones only with `builtins`). */
function registered(app: App, args: Record<string, unknown>): string[] {
  const items = Array.isArray(args['taskinfoitems']) && args['taskinfoitems'].length > 0 ? (args['taskinfoitems'] as unknown[]).map(String) : DEFAULT_TASK_INFO_ITEMS;
  const names = [...app.tasks.keys()].filter((name) => args['builtins'] === true || !name.startsWith('celery.')).sort();
  return names.map((name) => {
    const options = app.tasks.get(name)!.options as unknown as Record<string, unknown>;
    const fields = items
      .map((item) => [item, options[camel(item)]] as const)
      .filter(([, value]) => value !== null && value !== undefined)
      .map(([item, value]) => `${item}=${pyStr(value)}`);
    return fields.length ? `${name} [${fields.join(' ')}]` : name;
  });
}

function camel(name: string): string {
  return name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Python's `str()` of a simple value. */
function pyStr(value: unknown): string {
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'string' || typeof value === 'number') return String(value);
  return JSON.stringify(value);
}

function stats(worker: Worker): Record<string, unknown> {
  const out: Record<string, unknown> = {
    total: Object.fromEntries(worker.totals),
    pid: process.pid,
    clock: String(worker.app.clock.current),
    uptime: Math.round((Date.now() - worker.startedAt) / 1000),
    pool: worker.pool.info(),
  };
  if (worker.autoscaler) out['autoscaler'] = worker.autoscaler.info();
  out['broker'] = brokerInfo(worker.app, worker.broker?.name ?? 'memory');
  out['prefetch_count'] = worker.prefetchCount();
  out['rusage'] = rusage();
  return out;
}

/** Celery's `Connection.info()` (without the password). */
function brokerInfo(app: App, transport: string): Record<string, unknown> {
  const spec = app.config.broker;
  const info: Record<string, unknown> = {
    hostname: 'localhost',
    userid: null,
    virtual_host: '/',
    port: null,
    insist: false,
    ssl: false,
    transport,
    connect_timeout: 4,
    transport_options: {},
    login_method: null,
    uri_prefix: null,
    heartbeat: 120.0,
    failover_strategy: 'round-robin',
    alternates: [],
  };
  if (typeof spec === 'string') {
    try {
      const url = new URL(spec);
      info['hostname'] = url.hostname || 'localhost';
      info['userid'] = url.username ? decodeURIComponent(url.username) : null;
      info['virtual_host'] = url.pathname.length > 1 ? decodeURIComponent(url.pathname.slice(1)) : '/';
      info['port'] = url.port ? Number(url.port) : null;
      info['ssl'] = /s:$/.test(url.protocol) && url.protocol !== 'sqs:';
    } catch {
      // memory:// and other opaque URLs keep the defaults.
    }
  }
  return info;
}

function rusage(): Record<string, number> {
  const r = process.resourceUsage();
  return {
    utime: r.userCPUTime / 1e6,
    stime: r.systemCPUTime / 1e6,
    maxrss: r.maxRSS,
    ixrss: r.sharedMemorySize,
    idrss: r.unsharedDataSize,
    isrss: r.unsharedStackSize,
    minflt: r.minorPageFault,
    majflt: r.majorPageFault,
    nswap: r.swappedOut,
    inblock: r.fsRead,
    oublock: r.fsWrite,
    msgsnd: r.ipcSent,
    msgrcv: r.ipcReceived,
    nsignals: r.signalsCount,
    nvcsw: r.voluntaryContextSwitches,
    nivcsw: r.involuntaryContextSwitches,
  };
}

/** kombu's `Queue.as_dict(recurse=True)` for a queue the worker consumes. */
export function queueDict(queue: QueueDeclaration): Record<string, unknown> {
  const binding = queue.bindings?.[0];
  const exchange = binding
    ? { name: binding.exchange, type: binding.exchangeType ?? 'direct', arguments: null, durable: true, passive: false, auto_delete: false, delivery_mode: null, no_declare: false }
    : { name: '', type: 'direct', arguments: null, durable: true, passive: false, auto_delete: false, delivery_mode: null, no_declare: false };
  return {
    name: queue.name,
    exchange,
    routing_key: binding?.routingKey ?? queue.name,
    queue_arguments: queue.arguments ?? null,
    binding_arguments: null,
    consumer_arguments: null,
    durable: queue.durable ?? true,
    exclusive: queue.exclusive ?? false,
    auto_delete: queue.autoDelete ?? false,
    no_ack: false,
    alias: null,
    bindings: (queue.bindings ?? []).slice(1).map((b) => ({ exchange: b.exchange, routing_key: b.routingKey, arguments: null })),
    no_declare: null,
    expires: queue.expires === undefined ? null : queue.expires / 1000,
    message_ttl: queue.messageTtl === undefined ? null : queue.messageTtl / 1000,
    max_length: null,
    max_length_bytes: null,
    max_priority: queue.maxPriority ?? null,
  };
}

/** Setting names whose values are secrets, TLS ones included (`key`, `keyfile`, `passphrase`, `pfx`). */
const SECRET = /pass(word|phrase|wd)|secret|token|credential|private|pfx|key(file)?$/i;

/**
 * A string with every URL password masked, wherever it sits (failover lists, sentinel URLs,
 * `?password=` query parameters). Unlike a URL parser this also catches a password holding an
 * unescaped `/` or `:`, which would otherwise leak its tail.
 */
export function maskSecrets(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/@\s;,]*:)[^@\s;,]*@/gi, '$1***@').replace(/([?&](?:password|passwd|pass|secret|token)=)[^&\s;,]*/gi, '$1***');
}

/**
 * Celery's `conf` (`app.conf.table(with_defaults)`): settings by their Celery names, only those
 * the app set unless `with_defaults`; URLs without passwords, secrets masked, functions named.
 */
function conf(app: App, withDefaults: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const source: Record<string, unknown> = withDefaults ? { ...(app.conf as unknown as Record<string, unknown>), ...app.config } : { ...app.config };
  delete source['raw'];
  delete source['logger'];
  for (const [key, value] of Object.entries(source)) {
    if (value === undefined) continue;
    if (key === 'broker') out['broker_url'] = typeof value === 'string' ? maskSecrets(value) : `<${(value as { name?: string }).name ?? 'custom'} broker>`;
    else if (key === 'backend') out['result_backend'] = typeof value === 'string' ? maskSecrets(value) : value === null ? null : `<${(value as { name?: string }).name ?? 'custom'} backend>`;
    else out[snake(key)] = SECRET.test(key) ? '********' : jsonSafe(value, 0);
  }
  return out;
}

function jsonSafe(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return maskSecrets(value);
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'function') return `<function ${value.name || 'anonymous'}>`;
  if (value instanceof RegExp) return `re.compile(${JSON.stringify(value.source)})`;
  if (value instanceof Date) return value.toISOString();
  if (depth > 5) return '…';
  if (Array.isArray(value)) return value.map((v) => jsonSafe(v, depth + 1));
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = SECRET.test(k) ? '********' : jsonSafe(v, depth + 1);
    return out;
  }
  return String(value);
}

/** Celery's `bugreport()` for tq. */
function report(worker: Worker): string {
  const app = worker.app;
  const transport = worker.broker?.name ?? 'memory';
  const backend = app.backendIfReady()?.name ?? (app.config.backend === null ? 'disabled' : 'memory');
  return [
    `software -> tq:${VERSION} node:${process.version} v8:${process.versions.v8}`,
    `platform -> system:${platform()} arch:${arch()} kernel version:${release()} host:${osHostname()}`,
    `worker -> ${worker.hostname} pool:${worker.pool.kind} concurrency:${worker.pool.concurrency}`,
    `settings -> transport:${transport} results:${backend}`,
    '',
    ...Object.entries(conf(app, false)).map(([k, v]) => `${k}: ${typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v)}`),
  ].join('\n');
}
