/**
 * The worker's events (Celery's consumer `Events` and `Heart` steps): worker-online, a
 * worker-heartbeat every 2 s and worker-offline always (monitors need them to see the worker),
 * and the task events — task-received, -started, -succeeded, -failed, -retried, -rejected,
 * -revoked — when task events are on (`-E`, or `enable_events` at run time). Task events are
 * batched under `task.multi`, as Celery's workers send them.
 *
 *   new Worker(app, { steps: [eventsStep({ taskEvents: true })] });
 *
 * It also answers the `enable_events`, `disable_events` and `heartbeat` remote-control commands.
 * On a broker without fanout (SQS) events are unavailable: the step says so and does nothing.
 */
import { loadavg, type } from 'node:os';
import { EventDispatcher, systemClock, type Clock } from '@tq/core';
import { exceptionRepr, pyRepr } from '@tq/protocol';
import type { Bootstep } from '../bootsteps.js';
import type { RequestInfo } from '../request-info.js';
import type { Worker } from '../worker.js';

/** tq's version, reported as `sw_ver`. */
export const TQ_VERSION = '0.1.0';

export interface EventsStepOptions {
  /** Send task events (Celery's `-E` / `worker_send_task_events`). Default true. */
  taskEvents?: boolean;
  /** Seconds between heartbeats (Celery: 2). */
  heartbeatInterval?: number;
  /** Send no heartbeats (Celery's `--without-heartbeat`); online/offline are still sent. */
  withoutHeartbeat?: boolean;
  /** Publish a task batch once this many events wait (Celery: 24). */
  bufferLimit?: number;
  /**
   * `sw_ident`, `sw_ver`, `sw_sys` of worker events. Default `py-celery` (the value Celery's
   * tools expect from a worker; nothing in Celery or Flower requires it), tq's version, and the
   * OS as Python's `platform.system()` names it.
   */
  software?: { ident?: string; ver?: string; sys?: string };
  /** Time for heartbeats and timestamps (tests pass a ManualClock). */
  clock?: Clock;
  /** Celery's `resultrepr_maxsize`: the result text in task-succeeded is cut to this length (1024). */
  resultReprMaxsize?: number;
}

/** Python's `platform.system()` for this OS. */
function platformSystem(): string {
  const os = type();
  return os === 'Windows_NT' ? 'Windows' : os;
}

/** Celery's `load_average()`: each value rounded up to two decimals. */
function loadAverage(): number[] {
  return loadavg().map((l) => Math.ceil(l * 100) / 100);
}

/** What the step exposes for tests and for the worker's own status (e.g. `stats`). */
export interface EventsController {
  readonly dispatcher: EventDispatcher | null;
  /** Whether task events are being sent. */
  readonly taskEvents: boolean;
  enableTaskEvents(): boolean;
  disableTaskEvents(): boolean;
  /** Send a heartbeat now. */
  heartbeat(): Promise<void>;
}

export type EventsStep = Bootstep<Worker> & EventsController;

/**
 * A bootstep that sends the worker's events. Add it once per worker; the worker's `-E` / `events`
 * option sets `taskEvents`.
 */
export function eventsStep(options: EventsStepOptions = {}): EventsStep {
  const clock = options.clock ?? systemClock;
  const interval = options.heartbeatInterval ?? 2;
  const software = {
    sw_ident: options.software?.ident ?? 'py-celery',
    sw_ver: options.software?.ver ?? TQ_VERSION,
    sw_sys: options.software?.sys ?? platformSystem(),
  };
  const maxsize = options.resultReprMaxsize ?? 1024;
  let dispatcher: EventDispatcher | null = null;
  let worker: Worker | null = null;
  let stopHeart: AbortController | null = null;
  let heartLoop: Promise<void> | null = null;
  const unsubscribe: Array<() => void> = [];

  const workerFields = () => {
    let processed = 0;
    for (const n of worker!.totals.values()) processed += n;
    // Started ones only, as `inspect active` lists them (not jobs queued in a pool child).
    return { freq: interval, active: worker!.running().length, processed, loadavg: loadAverage(), ...software };
  };

  const sendWorker = (type: 'worker-online' | 'worker-heartbeat' | 'worker-offline') => dispatcher?.send(type, workerFields()) ?? Promise.resolve();

  /** Whether task events go out now; checked before any event's fields are built (most workers send none). */
  const sendsTasks = () => dispatcher?.sends('task') === true;
  const task = (type: string, request: RequestInfo, fields: Record<string, unknown> = {}) => {
    if (sendsTasks()) void dispatcher!.send(type, { uuid: request.id, ...fields });
  };

  const step: EventsStep = {
    name: 'events',

    get dispatcher() {
      return dispatcher;
    },

    get taskEvents() {
      return dispatcher?.sends('task') ?? false;
    },

    enableTaskEvents() {
      return dispatcher?.enableGroup('task') ?? false;
    },

    disableTaskEvents() {
      return dispatcher?.disableGroup('task') ?? false;
    },

    heartbeat() {
      return sendWorker('worker-heartbeat');
    },

    async start(w: Worker) {
      worker = w;
      const app = w.app;
      registerControl(w, step);
      const broker = await app.getBroker();
      if (!broker.capabilities.fanout) {
        const message = `the ${broker.name} broker has no fanout exchanges: events are unavailable (no heartbeats or task events; monitors will not see ${w.hostname})`;
        if (options.taskEvents ?? true) w.logger.warn(message);
        else w.logger.info(message);
        return;
      }
      dispatcher = new EventDispatcher(app, {
        hostname: w.hostname,
        groups: (options.taskEvents ?? true) ? null : ['worker'],
        bufferGroups: ['task'],
        bufferLimit: options.bufferLimit ?? 24,
        now: () => clock.now(),
        logger: w.logger,
      });
      const hooks = w.hooks;
      const received = (r: RequestInfo) => {
        if (!sendsTasks()) return;
        const h = r.message.headers;
        task('task-received', r, {
          name: r.name,
          args: h.argsrepr,
          kwargs: h.kwargsrepr,
          root_id: h.root_id,
          parent_id: h.parent_id,
          retries: h.retries ?? 0,
          eta: h.eta,
          expires: h.expires,
          ...canvasFields(r),
        });
      };
      unsubscribe.push(
        hooks.on('received', received),
        hooks.on('started', (r) => task('task-started', r)),
        hooks.on('succeeded', (r, result, runtime) => sendsTasks() && task('task-succeeded', r, { result: pyRepr(result, { maxlen: maxsize }), runtime })),
        hooks.on('failed', (r, error, traceback) => sendsTasks() && task('task-failed', r, { exception: exceptionRepr(error), traceback })),
        hooks.on('retried', (r, error, traceback) => sendsTasks() && task('task-retried', r, { exception: exceptionRepr(error), traceback })),
        hooks.on('rejected', (r, requeue) => sendsTasks() && task('task-rejected', r, { requeue })),
        hooks.on('revoked', (r, d) => sendsTasks() && task('task-revoked', r, { terminated: d.terminated, signum: d.signum, expired: d.expired })),
      );
      await sendWorker('worker-online');
      // Requests the worker accepted before this step started (when it starts after the
      // consumer) got no events yet: announce them now, so monitors see every task.
      const early = w as Worker & { scheduled?: () => RequestInfo[]; reserved?: () => RequestInfo[] };
      for (const r of [...(early.scheduled?.() ?? []), ...(early.reserved?.() ?? [])]) received(r);
      for (const r of w.active.values()) {
        received(r);
        // A job queued in a pool child too: it was handed over before this step listened, so
        // its child was not asked to report its start.
        task('task-started', r);
      }
      if (!options.withoutHeartbeat) {
        const stop = (stopHeart = new AbortController());
        heartLoop = (async () => {
          for (;;) {
            await clock.sleep(interval * 1000, stop.signal);
            if (stop.signal.aborted) return;
            await sendWorker('worker-heartbeat');
          }
        })();
      }
    },

    async stop() {
      for (const off of unsubscribe.splice(0)) off();
      stopHeart?.abort();
      await heartLoop;
      heartLoop = null;
      stopHeart = null;
      if (dispatcher) {
        await dispatcher.flush();
        await sendWorker('worker-offline');
        await dispatcher.close();
      }
      dispatcher = null;
    },
  };
  return step;
}

/** Celery's `enable_events`, `disable_events` and `heartbeat` commands, with Celery's replies. */
function registerControl(worker: Worker, events: EventsController): void {
  worker.pidbox.register('enable_events', () => {
    if (!events.dispatcher) return { error: 'event dispatcher unavailable' };
    if (events.enableTaskEvents()) {
      worker.logger.info('Events of group {task} enabled by remote.');
      return { ok: 'task events enabled' };
    }
    return { ok: 'task events already enabled' };
  });
  worker.pidbox.register('disable_events', () => {
    if (!events.dispatcher) return { error: 'event dispatcher unavailable' };
    if (events.disableTaskEvents()) {
      worker.logger.info('Events of group {task} disabled by remote.');
      return { ok: 'task events disabled' };
    }
    return { ok: 'task events already disabled' };
  });
  worker.pidbox.register('heartbeat', async () => {
    worker.logger.debug('Heartbeat requested by remote.');
    await events.heartbeat();
    return null;
  });
}

/**
 * Where a task sits in a workflow, from its message (not in Celery's task-received, which
 * monitors ignore when unknown): its group, the chord body it feeds, the next task of its chain
 * and its link callbacks, by task id. A top-level chord's header and body share no parent or
 * root id, so without these a monitor cannot draw it. Only fields that apply are added.
 */
function canvasFields(r: RequestInfo): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const idOf = (sig: unknown): string | null => {
    const id = (sig as { options?: { task_id?: unknown } } | null)?.options?.task_id;
    return typeof id === 'string' ? id : null;
  };
  const { embed, headers } = r.message;
  if (typeof headers.group === 'string') out['group'] = headers.group;
  const chord = idOf(embed.chord);
  if (chord) out['chord'] = chord;
  // Celery keeps the rest of a chain reversed: the next task is the last element.
  const next = embed.chain?.length ? idOf(embed.chain[embed.chain.length - 1]) : null;
  if (next) out['chain_next'] = next;
  const callbacks = (embed.callbacks ?? []).map(idOf).filter((id): id is string => id !== null);
  if (callbacks.length) out['callbacks'] = callbacks;
  return out;
}
