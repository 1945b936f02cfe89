/**
 * App configuration: Celery's settings in camelCase, with Celery's defaults. Durations are in
 * seconds (or strings with a unit, see duration.ts).
 */
import type { SerializerName } from '@tq/protocol';
import type { Broker, QueueDeclaration } from './broker.js';
import { type Duration, toSecondsOrNull } from './duration.js';
import { ConfigurationError } from './errors.js';
import type { FlowStore } from './flow.js';
import type { Logger } from './logger.js';
import type { ResultBackend } from './result-backend.js';
import type { TaskRoutes } from './routing.js';

/** Celery's `retry_policy` for publishing: how often to retry a publish the broker refused. */
export interface PublishRetryPolicy {
  /** Give up after this many retries (default 3). */
  maxRetries?: number;
  /** Seconds before the first retry (default 0). */
  intervalStart?: number;
  /** Seconds added per retry (default 0.2). */
  intervalStep?: number;
  /** Longest wait between retries in seconds (default 1). */
  intervalMax?: number;
}

export interface AppConfig {
  /** The app's name, as Celery's `main`; prefixes auto-generated task names. */
  main?: string;
  /** A URL (`memory://`, `redis://…`, `amqp://…`, `sqs://…`) or a Broker object. Default `memory://`. */
  broker?: string | Broker;
  /** A URL or a ResultBackend object; `null` disables results. Default: `memory://` when the broker is memory, else none. */
  backend?: string | ResultBackend | null;
  /** Options passed to the broker adapter (Celery's `broker_transport_options`). */
  brokerTransportOptions?: Record<string, unknown>;
  /** Options passed to the backend adapter. */
  resultBackendTransportOptions?: Record<string, unknown>;
  /**
   * More URL schemes, or other packages for the built-in ones: scheme → the package that
   * exports `createBroker`/`createBackend` for it, e.g. `{ kafka: 'tq-broker-kafka' }`.
   */
  transports?: Record<string, string>;
  /**
   * A starting worker keeps trying to reach a broker that is down (waiting 2 s, 4 s, … up to
   * 30 s between attempts) instead of exiting: Celery's `broker_connection_retry_on_startup`.
   * Default true. Errors that retrying cannot fix (a wrong password, a refused vhost) still end
   * the start at once.
   */
  brokerConnectionRetryOnStartup?: boolean;
  /** Retries (after the first attempt) a starting worker makes before it gives up; 0 or null = no limit (Celery: 100). */
  brokerConnectionMaxRetries?: number | null;

  taskDefaultQueue?: string;
  taskDefaultExchange?: string;
  taskDefaultExchangeType?: 'direct' | 'topic' | 'fanout';
  taskDefaultRoutingKey?: string;
  taskDefaultPriority?: number | null;
  taskQueueMaxPriority?: number | null;
  taskQueues?: QueueDeclaration[];
  taskCreateMissingQueues?: boolean;
  taskRoutes?: TaskRoutes;

  taskSerializer?: SerializerName;
  taskCompression?: string | null;
  resultSerializer?: 'json';
  /** Keep results this long (default 1 day); null keeps them forever. */
  resultExpires?: Duration | null;
  /** Store name, args, kwargs, worker, retries and queue with each result (Celery's `result_extended`). */
  resultExtended?: boolean;

  taskIgnoreResult?: boolean;
  taskStoreErrorsEvenIfIgnored?: boolean;
  taskTrackStarted?: boolean;
  taskAcksLate?: boolean;
  taskAcksOnFailureOrTimeout?: boolean;
  taskRejectOnWorkerLost?: boolean;
  taskTimeLimit?: Duration | null;
  taskSoftTimeLimit?: Duration | null;
  taskDefaultRateLimit?: string | number | null;
  taskPublishRetry?: boolean;
  taskPublishRetryPolicy?: PublishRetryPolicy;
  taskSendSentEvent?: boolean;
  taskInheritParentPriority?: boolean;
  /** Run tasks in the caller instead of sending them (for your unit tests). */
  taskAlwaysEager?: boolean;
  /** With eager mode, a task's error is thrown by `applyAsync` itself. */
  taskEagerPropagates?: boolean;
  /** With eager mode, store results in the backend too. */
  taskStoreEagerResult?: boolean;
  /** Arguments and kwargs text in headers is cut to this many characters (Celery: 1024). */
  argsreprMaxsize?: number;

  /** Time zone for crontab schedules and display (Celery's `timezone`, default UTC). */
  timezone?: string;
  /** Periodic tasks for `tq beat`, as Celery's `beat_schedule`. */
  beatSchedule?: Record<string, unknown>;
  /** Replace tq's logger. */
  logger?: Logger;
  /**
   * Jobs a process/thread pool child may hold: the one it runs and up to `n − 1` queued behind it
   * (default 1: a child gets a job only when it is free). The worker's `poolWindow` overrides it.
   */
  workerPoolWindow?: number;
  /** Allow the `pool_restart` control command (Celery's `worker_pool_restarts`). */
  workerPoolRestarts?: boolean;
  /**
   * Where cluster-wide flow control keeps its state (global rate and concurrency limits,
   * deduplication): a Redis URL or a FlowStore. Default: the result backend's Redis, else the
   * broker's (docs/flow-control.md).
   */
  flowStore?: string | FlowStore | null;
  /** Key prefix of the flow store (default `tq:flow:`). */
  flowStorePrefix?: string;
  /** Longest an `'active'` dedup claim is kept, should no worker free it (default 1 day). */
  flowDedupMaxAge?: Duration;
  /** How long a concurrency lease lives without being renewed (default 10 s). */
  flowLeaseTtl?: Duration;
  /** Seconds the last chord part waits to join a header that has groups among its members (Celery's `result_chord_join_timeout`, default 3). */
  resultChordJoinTimeout?: number;
  /** Extra settings that adapters, the worker or plugins read (Celery keeps unknown settings too). */
  [setting: string]: unknown;
}

export interface ResolvedConfig {
  main: string;
  taskDefaultQueue: string;
  taskDefaultExchange: string;
  taskDefaultExchangeType: 'direct' | 'topic' | 'fanout';
  taskDefaultRoutingKey: string;
  taskDefaultPriority: number | null;
  taskQueueMaxPriority: number | null;
  taskQueues: QueueDeclaration[];
  taskCreateMissingQueues: boolean;
  brokerConnectionRetryOnStartup: boolean;
  /** 0 = no limit. */
  brokerConnectionMaxRetries: number;
  taskSerializer: SerializerName;
  taskCompression: string | null;
  resultExpires: number | null;
  resultExtended: boolean;
  taskIgnoreResult: boolean;
  taskStoreErrorsEvenIfIgnored: boolean;
  taskTrackStarted: boolean;
  taskAcksLate: boolean;
  taskAcksOnFailureOrTimeout: boolean;
  taskRejectOnWorkerLost: boolean;
  taskTimeLimit: number | null;
  taskSoftTimeLimit: number | null;
  taskDefaultRateLimit: string | number | null;
  taskPublishRetry: boolean;
  taskPublishRetryPolicy: Required<PublishRetryPolicy>;
  taskSendSentEvent: boolean;
  taskInheritParentPriority: boolean;
  taskAlwaysEager: boolean;
  taskEagerPropagates: boolean;
  taskStoreEagerResult: boolean;
  argsreprMaxsize: number;
  timezone: string;
  beatSchedule: Record<string, unknown>;
  raw: AppConfig;
}

export const DEFAULT_PUBLISH_RETRY_POLICY: Required<PublishRetryPolicy> = {
  maxRetries: 3,
  intervalStart: 0,
  intervalStep: 0.2,
  intervalMax: 1,
};

/**
 * Transport URLs from the environment win over the ones in code, as Celery's
 * `CELERY_BROKER_URL` / `CELERY_RESULT_BACKEND` do, so one build runs against any broker:
 * `TQ_BROKER_URL` and `TQ_RESULT_BACKEND` (the CLI's `-b` / `--result-backend` set them).
 * Broker or backend objects passed in code are kept: they are wiring, not settings. tq does not
 * read Celery's variables, so a shell set up for a Python project cannot redirect tq apps.
 */
export function withEnvironment(config: AppConfig, env: NodeJS.ProcessEnv = process.env): AppConfig {
  const broker = env['TQ_BROKER_URL'] || undefined;
  const backend = env['TQ_RESULT_BACKEND'] || undefined;
  if (!broker && !backend) return config;
  const next = { ...config };
  if (broker && (next.broker === undefined || typeof next.broker === 'string')) next.broker = broker;
  if (backend && (next.backend === undefined || next.backend === null || typeof next.backend === 'string')) next.backend = backend;
  return next;
}

export function resolveConfig(config: AppConfig): ResolvedConfig {
  const queue = config.taskDefaultQueue ?? 'celery';
  const serializer = config.taskSerializer ?? 'json';
  if (serializer !== 'json' && serializer !== 'msgpack') {
    throw new ConfigurationError(`taskSerializer must be 'json' or 'msgpack', got ${JSON.stringify(serializer)} (tq never uses pickle or yaml)`);
  }
  if (config.resultSerializer !== undefined && config.resultSerializer !== 'json') {
    throw new ConfigurationError(`resultSerializer must be 'json', got ${JSON.stringify(config.resultSerializer)}`);
  }
  const maxRetries = config.brokerConnectionMaxRetries ?? 0;
  if (config.brokerConnectionMaxRetries !== undefined && (!Number.isInteger(maxRetries) || maxRetries < 0)) {
    throw new ConfigurationError(`brokerConnectionMaxRetries must be a whole number ≥ 0 or null, got ${JSON.stringify(config.brokerConnectionMaxRetries)}`);
  }
  if (config.timezone !== undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: config.timezone });
    } catch {
      throw new ConfigurationError(`timezone ${JSON.stringify(config.timezone)} is not a known IANA time zone`);
    }
  }
  return {
    main: config.main ?? '__main__',
    taskDefaultQueue: queue,
    taskDefaultExchange: config.taskDefaultExchange ?? queue,
    taskDefaultExchangeType: config.taskDefaultExchangeType ?? 'direct',
    taskDefaultRoutingKey: config.taskDefaultRoutingKey ?? queue,
    taskDefaultPriority: config.taskDefaultPriority ?? null,
    taskQueueMaxPriority: config.taskQueueMaxPriority ?? null,
    taskQueues: config.taskQueues ?? [],
    taskCreateMissingQueues: config.taskCreateMissingQueues ?? true,
    brokerConnectionRetryOnStartup: config.brokerConnectionRetryOnStartup ?? true,
    brokerConnectionMaxRetries: config.brokerConnectionMaxRetries === undefined ? 100 : maxRetries,
    taskSerializer: serializer,
    taskCompression: config.taskCompression ?? null,
    resultExpires: config.resultExpires === null ? null : (toSecondsOrNull(config.resultExpires, 'resultExpires') ?? 86400),
    resultExtended: config.resultExtended ?? false,
    taskIgnoreResult: config.taskIgnoreResult ?? false,
    taskStoreErrorsEvenIfIgnored: config.taskStoreErrorsEvenIfIgnored ?? false,
    taskTrackStarted: config.taskTrackStarted ?? false,
    taskAcksLate: config.taskAcksLate ?? false,
    taskAcksOnFailureOrTimeout: config.taskAcksOnFailureOrTimeout ?? true,
    taskRejectOnWorkerLost: config.taskRejectOnWorkerLost ?? false,
    taskTimeLimit: toSecondsOrNull(config.taskTimeLimit, 'taskTimeLimit'),
    taskSoftTimeLimit: toSecondsOrNull(config.taskSoftTimeLimit, 'taskSoftTimeLimit'),
    taskDefaultRateLimit: config.taskDefaultRateLimit ?? null,
    taskPublishRetry: config.taskPublishRetry ?? true,
    taskPublishRetryPolicy: { ...DEFAULT_PUBLISH_RETRY_POLICY, ...(config.taskPublishRetryPolicy ?? {}) },
    taskSendSentEvent: config.taskSendSentEvent ?? false,
    taskInheritParentPriority: config.taskInheritParentPriority ?? false,
    taskAlwaysEager: config.taskAlwaysEager ?? false,
    taskEagerPropagates: config.taskEagerPropagates ?? false,
    taskStoreEagerResult: config.taskStoreEagerResult ?? false,
    argsreprMaxsize: config.argsreprMaxsize ?? 1024,
    timezone: config.timezone ?? 'UTC',
    beatSchedule: config.beatSchedule ?? {},
    raw: config,
  };
}
