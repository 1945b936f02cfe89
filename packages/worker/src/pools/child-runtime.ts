/**
 * What runs inside a pool child (a process or a thread): load the app module, give it proxies of
 * the worker's broker and backend, and run the jobs the worker sends — one at a time — through
 * the same TaskExecutor the in-process pools use, so outcomes, stored results, retries, chains,
 * callbacks and hooks are the same in every pool. The soft time limit is enforced here; the hard
 * limit by the worker, which kills the child.
 */
import { getHeapStatistics } from 'node:v8';
import {
  LazyAbort,
  NotRegistered,
  TaskExecutor,
  tracebackOf,
  type App,
  type ExecutorHooks,
  type LogLevel,
  type Logger,
  type Outcome,
  type TaskContext,
} from '@tq/core';
import { decodeTaskMessage, type RawMessage } from '@tq/protocol';
import { loadApp } from '../cli/load-app.js';
import type { JobEvent } from './pool.js';
import {
  EVENT_BITS,
  Outbox,
  SUMMARY_OPTIONS,
  packRaw,
  unpackRaw,
  cloneableFields,
  decodeError,
  encodeError,
  encodeEvent,
  encodeOutcome,
  type ChildInit,
  type FromChild,
  type TaskSummary,
  type ToChild,
} from './ipc.js';
import { ProxyBackend, ProxyBroker, installProxies } from './transport-proxy.js';

export interface ParentChannel {
  kind: 'process' | 'thread';
  post(batch: FromChild[]): void;
  onMessage(listener: (batch: ToChild[]) => void): void;
  /** End this child (process.exit in a process, the thread's end in a thread). */
  exit(code: number): void;
}

type RunMessage = Extract<ToChild, { t: 'run' }>;

interface Job {
  seq: number;
  /** EVENT_BITS of the events the worker listens to. */
  wants: number;
}

export function runChild(channel: ParentChannel): void {
  const outbox = new Outbox<FromChild>(
    (batch) => channel.post(batch),
    (err, message) => process.stderr.write(`[tq child] could not send ${message.t} to the worker: ${(err as Error).message}\n`),
  );
  const calls = new Map<number, { resolve: (value: unknown) => void; reject: (error: unknown) => void }>();
  let nextCall = 0;
  let app: App | null = null;
  let executor: TaskExecutor | null = null;
  let busy = false;
  let exiting = false;
  /** Jobs the worker sent, waiting for the one in hand to finish; run in order. */
  const queue: RunMessage[] = [];
  let wants = 0;
  /** Above maxMemoryPerChild after a task: start nothing more (the worker replaces this child). */
  let holding = false;
  let draining = false;
  /** Jobs by task id, for the executor's hooks. */
  const jobs = new Map<string, Job>();

  const call = (target: 'broker' | 'backend', method: string, args: unknown): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const id = ++nextCall;
      calls.set(id, { resolve, reject });
      outbox.post({ t: 'call', call: id, target, method, args: target === 'broker' && method === 'publish' ? packPublishArgs(args, channel.kind === 'process') : args });
    });
  const cast = (target: 'broker' | 'backend', method: string, args: unknown, id?: string): void =>
    outbox.post({ t: 'cast', target, method, args, ...(id === undefined ? {} : { id }) });

  const emit = (context: TaskContext, event: JobEvent) => {
    const job = jobs.get(context.id);
    if (job && job.wants & EVENT_BITS[event[0]]) outbox.post({ t: 'event', job: job.seq, event: encodeEvent(event) });
  };
  const hooks: ExecutorHooks = {
    started: (context) => emit(context, ['started']),
    succeeded: (context, result, runtime) => emit(context, ['succeeded', result, runtime]),
    failed: (context, error, traceback, runtime) => emit(context, ['failed', error, traceback, runtime]),
    retried: (context, error, traceback) => emit(context, ['retried', error, traceback]),
    rejected: (context, requeue) => emit(context, ['rejected', requeue]),
  };

  let maxMemory: number | null = null;
  // A process reports its resident set; a thread shares it, so it reports its own isolate's heap
  // and the memory held outside it (buffers).
  const memory = (): number => {
    if (maxMemory === null) return 0;
    if (channel.kind === 'process') return Math.round(process.memoryUsage.rss() / 1024);
    const heap = getHeapStatistics();
    return Math.round((heap.used_heap_size + heap.external_memory) / 1024);
  };

  async function init(data: ChildInit): Promise<void> {
    maxMemory = data.maxMemory;
    try {
      const loaded = await loadApp(data.appModule);
      const levels = new Set<LogLevel>(data.logLevels);
      const log = (level: LogLevel) => (message: string, fields?: Record<string, unknown>) => {
        if (levels.has(level)) outbox.post({ t: 'log', level, message, ...(fields ? { fields: cloneableFields(fields)! } : {}) });
      };
      const logger: Logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error'), enabled: (level) => levels.has(level) };
      // Everything the child's app logs goes to the worker's logger (one output, one format).
      Object.defineProperty(loaded, 'logger', { value: logger, configurable: true, writable: true });
      installProxies(loaded, new ProxyBroker(data.broker, call), data.backend ? new ProxyBackend(data.backend, call, cast) : null);
      app = loaded;
      executor = new TaskExecutor(loaded, { hostname: data.hostname, logger, hooks, pid: process.pid });
      outbox.post({ t: 'ready', pid: process.pid, tasks: summarize(loaded) });
    } catch (err) {
      outbox.post({ t: 'fatal', error: encodeError(err) });
      outbox.flush();
      channel.exit(1);
    }
  }

  async function run(message: RunMessage): Promise<void> {
    busy = true;
    let outcome: Outcome;
    let taskId: string | null = null;
    try {
      // The worker checked the message's size against its own limit before sending it here.
      const decoded = decodeTaskMessage(unpackRaw(message.raw), { maxBodySize: Infinity });
      taskId = decoded.headers.id;
      jobs.set(taskId, { seq: message.job, wants: message.wants ?? 0 });
      const task = app!.tasks.get(decoded.headers.task);
      if (task) {
        outcome = await executor!.execute(task, decoded, { deliveryInfo: message.info, abort: new LazyAbort(), softTimeLimit: message.soft });
      } else {
        // The worker knows the task but this child's code does not (it changed under autoreload).
        const error = new NotRegistered(decoded.headers.task);
        const h = decoded.headers;
        await executor!.markFailure({ id: h.id, name: h.task, group: h.group, groupIndex: h.group_index, chord: decoded.embed.chord, chain: decoded.embed.chain, errbacks: decoded.embed.errbacks, rootId: h.root_id }, error, null);
        outcome = { state: 'FAILURE', error, traceback: null, runtime: 0, expected: false };
      }
    } catch (err) {
      outcome = { state: 'FAILURE', error: err, traceback: tracebackOf(err), runtime: 0, expected: false };
    }
    if (taskId) jobs.delete(taskId);
    busy = false;
    const used = memory();
    outbox.post({ t: 'done', job: message.job, outcome: encodeOutcome(outcome), memory: used });
    if (exiting) leave();
    else if (maxMemory !== null && used > maxMemory && !draining) holding = true;
    else next();
  }

  function next(): void {
    if (queue.length > 0) {
      // The worker learns this outcome before the next job runs: a job that blocks this child's
      // event loop (or crashes it) must not hold back the result of the one before.
      outbox.flush();
      void run(queue.shift()!);
    }
  }

  function leave(): void {
    outbox.flush();
    channel.exit(0);
  }

  channel.onMessage((batch) => {
    for (const message of batch) {
      switch (message.t) {
        case 'init':
          void init(message.init);
          break;
        case 'run':
          // The mask comes with the first job after it changed, and holds for the jobs after it.
          if (message.wants === undefined) message.wants = wants;
          else wants = message.wants;
          if (busy || holding) queue.push(message);
          else void run(message);
          break;
        case 'drain':
          draining = true;
          if (holding) {
            holding = false;
            if (!busy) next();
          }
          break;
        case 'cancel': {
          const i = queue.findIndex((m) => m.job === message.job);
          if (i !== -1) {
            queue.splice(i, 1);
            outbox.post({ t: 'returned', job: message.job });
          }
          break;
        }
        case 'reply': {
          const pending = calls.get(message.call);
          if (!pending) break;
          calls.delete(message.call);
          if (message.error) pending.reject(decodeError(message.error));
          else pending.resolve(message.value);
          break;
        }
        case 'exit':
          exiting = true;
          for (const queued of queue.splice(0)) outbox.post({ t: 'returned', job: queued.job });
          if (!busy) leave();
          break;
      }
    }
  });
}

function packPublishArgs(args: unknown, json: boolean): unknown {
  const [message, ...rest] = args as [RawMessage, ...unknown[]];
  return [packRaw(message, json), ...rest];
}

function summarize(app: App): TaskSummary[] {
  return [...app.tasks.values()].map((task) => {
    const options: Record<string, unknown> = {};
    const resolved = task.options as unknown as Record<string, unknown>;
    for (const key of SUMMARY_OPTIONS) if (resolved[key] !== undefined) options[key] = resolved[key];
    return { name: task.name, options };
  });
}
