/**
 * The process and thread pools: task bodies run in children — child processes (like Celery's
 * prefork) or worker_threads — one task per child at a time. Each child imports the app module
 * and runs jobs through the same executor as the in-process pools, talking to the broker and
 * backend through the worker (transport-proxy.ts). The worker keeps consuming, prefetch, ETA,
 * rate limits, revokes and acknowledgements. With `workerPoolWindow` above 1 a busy child also
 * holds jobs queued behind the one it runs; a queued job moves to a child that becomes free.
 *
 * The pool enforces what only it can: the hard time limit (the child is killed and replaced and
 * the task fails with TimeLimitExceeded), terminate (the child is killed with the signal; a thread
 * is stopped), a crashed child (its task fails with WorkerLostError, or is requeued with
 * `rejectOnWorkerLost` + `acksLate`; the jobs queued behind it run elsewhere), and replacing a
 * child after `maxTasksPerChild` tasks or when it is above `maxMemoryPerChild` after a task.
 * See docs/pools.md.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker as Thread } from 'node:worker_threads';
import {
  ConfigurationError,
  Reject,
  TimeLimitExceeded,
  WorkerLostError,
  type App,
  type LogLevel,
  type Outcome,
} from '@tq/core';
import { formatKiB } from '../size.js';
import {
  Outbox,
  eventMask,
  packRaw,
  decodeError,
  decodeEvent,
  decodeOutcome,
  encodeError,
  type ChildInit,
  type FromChild,
  type TaskSummary,
  type ToChild,
} from './ipc.js';
import type { Pool, PoolJob, PoolOptions } from './pool.js';
import { TransportServer } from './transport-proxy.js';

export interface ChildPoolOptions extends PoolOptions {
  app: App;
  /** `path[:export]` of the app module, absolute. */
  appModule: string;
  hostname: string;
  maxTasksPerChild: number | null;
  /** KiB. */
  maxMemoryPerChild: number | null;
  /** Node options for child processes (default: this process's). */
  execArgv?: string[];
  /** Tasks a restarted generation of children registers. */
  onTasks(tasks: TaskSummary[]): void;
  /** The jobs a child may hold (the worker's `poolWindow`; a `-O fair` worker passes 1), over the app's `workerPoolWindow`. */
  window?: number;
}

/** How to start and talk to one child. */
interface Transport {
  readonly pid: number;
  send(batch: ToChild[]): void;
  kill(signal: NodeJS.Signals): void;
}

/** Jobs a child holds by default (the app setting `workerPoolWindow`): only the one it runs (docs/pools.md says why). */
const DEFAULT_WINDOW = 1;

interface HeldJob {
  job: PoolJob;
  seq: number;
  /** When the child started it (performance.now()); 0 while it is queued in the child. */
  startedAt: number;
  resolve(outcome: Outcome): void;
  hardTimer: NodeJS.Timeout | undefined;
  /** A written-behind result store for this job failed. */
  storeError?: unknown;
  /** The worker ended it (terminate, cold shutdown) before it started: its outcome, and the signal to kill with should it start. */
  killed?: { reason: Error; signal: NodeJS.Signals };
  /** Asked back from its child, to run in a free one. */
  recalled?: boolean;
  /** Revoked (not terminated) while queued in its child: ends with this when it is back unstarted, runs if its child started it. */
  withdrawn?: Error;
}

type ChildState = 'starting' | 'ready' | 'exiting' | 'dead';

class Child {
  state: ChildState = 'starting';
  pid = 0;
  tasksRun = 0;
  /** Jobs given to it, not yet done, in the order it runs them: the first runs, the others are queued. */
  readonly jobs: HeldJob[] = [];
  /** Jobs given to it in all (for maxTasksPerChild). */
  assigned = 0;
  /** The events mask it was last sent. */
  wants = -1;
  /** Why the worker killed it (the running job's outcome), if it did. */
  killReason: Error | null = null;
  /** Leave once the running job is done. */
  retire = false;
  /** A result store written behind is being written; what the child sent after it waits in `afterStores`. */
  private storing = false;
  private readonly afterStores: Array<() => Promise<void> | void> = [];
  readonly outbox: Outbox<ToChild>;
  /** Resolves when the child has exited. */
  readonly gone: Promise<void>;
  markGone!: () => void;
  ready!: Promise<void>;
  resolveReady!: () => void;
  rejectReady!: (error: Error) => void;

  constructor(
    readonly transport: Transport,
    readonly generation: number,
  ) {
    this.outbox = new Outbox<ToChild>((batch) => transport.send(batch));
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => undefined);
    this.gone = new Promise((resolve) => (this.markGone = resolve));
  }

  /**
   * Act on what the child sent once the result stores it sent before are written. A step that
   * returns a promise (a store) holds back the steps after it until it settles, so stores are
   * written one at a time, in order, and nothing overtakes a stored state.
   */
  inOrder(step: () => Promise<void> | void): void {
    if (this.storing || this.afterStores.length > 0) this.afterStores.push(step);
    else this.take(step);
  }

  private take(step: () => Promise<void> | void): void {
    const writing = step();
    if (writing) {
      this.storing = true;
      writing.then(this.resume, this.resume);
    }
  }

  private readonly resume = (): void => {
    this.storing = false;
    while (!this.storing && this.afterStores.length > 0) this.take(this.afterStores.shift()!);
  };
}

const here = import.meta.url;
/** Running from TypeScript sources (tests, `tsx`): children start from the sources too. */
const SOURCE_MODE = here.endsWith('.ts');
const EXT = SOURCE_MODE ? '.ts' : '.js';

/** tsx's loader (for `--import`) and API (for threads), found beside this package; null when it is not installed. */
function resolveTsx(entry: 'loader' | 'api'): string | null {
  try {
    return import.meta.resolve(entry === 'loader' ? 'tsx' : 'tsx/esm/api');
  } catch {
    // Some runners (vitest) have no import.meta.resolve: find tsx's files through its package.json.
  }
  try {
    const dir = dirname(createRequire(here).resolve('tsx/package.json'));
    return pathToFileURL(join(dir, entry === 'loader' ? 'dist/loader.mjs' : 'dist/esm/api/index.mjs')).href;
  } catch {
    return null;
  }
}

/** Node options for a child process: the worker's (or the configured ones), plus what running from sources needs. */
function processExecArgv(configured: string[] | undefined): string[] {
  const argv = [...(configured ?? process.execArgv)];
  if (SOURCE_MODE) {
    const hasTsx = argv.some((a, i) => /tsx/.test(a) && (a.startsWith('--import') || argv[i - 1] === '--import' || a.startsWith('--loader') || argv[i - 1] === '--loader'));
    const tsx = resolveTsx('loader');
    if (!hasTsx && tsx) argv.push('--import', tsx);
    if (!argv.some((a) => a.includes('@tq/source'))) argv.push('--conditions=@tq/source');
  }
  return argv;
}

/** A thread starts from a tiny script that registers TypeScript support first when needed. */
const THREAD_BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
(async () => {
  if (workerData.tsxApi) (await import(workerData.tsxApi)).register();
  await import(workerData.entry);
})().catch((err) => {
  process.stderr.write('[tq thread] could not start: ' + (err && err.stack || err) + '\\n');
  process.exit(1);
});
`;

function threadExecArgv(configured: string[] | undefined): string[] | undefined {
  // Module-loading flags (--import, --loader, --require) do not apply to threads: the bootstrap
  // loads TypeScript support itself. The rest is passed on.
  const source = configured ?? (SOURCE_MODE ? [] : undefined);
  if (source === undefined) return undefined;
  const out: string[] = [];
  for (let i = 0; i < source.length; i++) {
    const a = source[i]!;
    if (/^--(import|loader|experimental-loader|require)$/.test(a) || a === '-r') {
      i++;
      continue;
    }
    if (/^--(import|loader|experimental-loader|require)=/.test(a)) continue;
    out.push(a);
  }
  if (SOURCE_MODE && !out.some((a) => a.includes('@tq/source'))) out.push('--conditions=@tq/source');
  return out;
}

export class ChildPool implements Pool {
  readonly stopsAtTimeLimit = true;
  concurrency: number;
  private readonly window: number;
  private readonly children = new Set<Child>();
  /** Jobs waiting for a child: handed back by one that left or died before starting them. */
  private readonly pending: HeldJob[] = [];
  private readonly server: TransportServer;
  private generation = 0;
  private seq = 0;
  private stopping = false;
  private init: ChildInit | null = null;
  private failures = 0;
  private respawnTimer: NodeJS.Timeout | null = null;
  private warnedTasks = false;
  /** Within `start()` (its caller reports a child that cannot start). */
  private starting = false;
  /** Queued jobs asked back for free children and not yet returned. */
  private recalling = 0;
  private balancing = false;

  constructor(
    readonly kind: 'process' | 'thread',
    private readonly options: ChildPoolOptions,
  ) {
    this.concurrency = options.concurrency;
    // Jobs a child may hold: the one it runs and, behind it, up to `window − 1` queued to start the
    // moment it is done; 1 gives a child a job only when it is free (docs/pools.md).
    const window: unknown = options.window ?? options.app.conf.raw.workerPoolWindow ?? DEFAULT_WINDOW;
    if (typeof window !== 'number' || !Number.isInteger(window) || window < 1) {
      throw new ConfigurationError(`the pool window (poolWindow / workerPoolWindow, the jobs a pool child holds) must be an integer ≥ 1, got ${JSON.stringify(window)}`);
    }
    this.window = window;
    this.server = new TransportServer(options.app);
  }

  get running(): number {
    let n = 0;
    for (const child of this.children) if (child.jobs.length > 0) n++;
    return n;
  }

  get free(): number {
    let n = -this.pending.length;
    for (const child of this.children) n += this.slots(child);
    return Math.max(0, n);
  }

  /** Jobs a child can take now: its window, and no more than it may run before maxTasksPerChild replaces it. */
  private slots(child: Child): number {
    if (child.state !== 'ready' || child.retire) return 0;
    const max = this.options.maxTasksPerChild;
    const slots = this.window - child.jobs.length;
    return max === null ? slots : Math.min(slots, max - child.assigned);
  }

  /** Children that are or will be available (not leaving). */
  private get live(): number {
    let n = 0;
    for (const child of this.children) if (child.state !== 'exiting' && child.state !== 'dead' && !child.retire) n++;
    return n;
  }

  async start(): Promise<void> {
    const { broker, backend } = await this.server.describe();
    const logger = this.options.logger;
    const logLevels = (['debug', 'info', 'warn', 'error'] as LogLevel[]).filter((level) => logger.enabled?.(level) ?? true);
    this.init = { appModule: this.options.appModule, hostname: this.options.hostname, kind: this.kind, broker, backend, logLevels, maxMemory: this.options.maxMemoryPerChild };
    this.starting = true;
    const started = Array.from({ length: this.concurrency }, () => this.spawn());
    try {
      await Promise.all(started.map((child) => child.ready));
    } catch (err) {
      this.stopping = true;
      for (const child of this.children) this.terminate(child, 'SIGKILL');
      throw err;
    } finally {
      this.starting = false;
    }
  }

  private spawn(): Child {
    const child = this.kind === 'process' ? this.spawnProcess() : this.spawnThread();
    this.children.add(child);
    child.outbox.post({ t: 'init', init: this.init! });
    return child;
  }

  private spawnProcess(): Child {
    const entry = fileURLToPath(new URL(`./process-child${EXT}`, here));
    const proc: ChildProcess = fork(entry, [], {
      execArgv: processExecArgv(this.options.execArgv),
      serialization: 'json',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const child = new Child(
      {
        get pid() {
          return proc.pid ?? 0;
        },
        send: (batch) => {
          if (proc.connected) proc.send(batch);
        },
        kill: (signal) => {
          proc.kill(signal);
        },
      },
      this.generation,
    );
    child.pid = proc.pid ?? 0;
    proc.on('message', (batch) => this.receive(child, batch as FromChild[]));
    proc.once('exit', (code, signal) => this.exited(child, code, signal));
    proc.on('error', (err) => this.options.logger.error(`pool child ${child.pid}: ${err.message}`));
    return child;
  }

  private spawnThread(): Child {
    const entry = new URL(`./thread-child${EXT}`, here).href;
    const execArgv = threadExecArgv(this.options.execArgv);
    const thread = new Thread(THREAD_BOOTSTRAP, {
      eval: true,
      workerData: { entry, tsxApi: SOURCE_MODE ? resolveTsx('api') : null },
      ...(execArgv ? { execArgv } : {}),
    });
    const child = new Child(
      {
        pid: process.pid,
        send: (batch) => thread.postMessage(batch),
        kill: () => void thread.terminate(),
      },
      this.generation,
    );
    child.pid = process.pid;
    thread.on('message', (batch: FromChild[]) => this.receive(child, batch));
    thread.on('error', (err) => this.options.logger.error(`pool thread ${thread.threadId}: ${err.stack ?? err.message}`));
    thread.once('exit', (code) => this.exited(child, code, null));
    return child;
  }

  private receive(child: Child, batch: FromChild[]): void {
    for (const message of batch) {
      switch (message.t) {
        case 'ready':
          this.ready(child, message.pid, message.tasks);
          break;
        case 'fatal': {
          const error = decodeError(message.error);
          const failure = new ConfigurationError(`a ${this.kind} pool child could not load the app module ${this.options.appModule}: ${error.message.replace(/^\[tq\] /, '')}`, { cause: error });
          if (this.init && !this.starting) this.options.logger.error(failure.message);
          child.rejectReady(failure);
          break;
        }
        case 'event': {
          const held = child.jobs[0]?.seq === message.job ? child.jobs[0] : child.jobs.find((h) => h.seq === message.job);
          if (held) held.job.report(...decodeEvent(message.event));
          break;
        }
        case 'done':
          child.inOrder(() => this.done(child, message.job, message.outcome, message.memory));
          break;
        case 'returned':
          // In order with the outcomes (which wait for the stores written behind).
          child.inOrder(() => this.returned(child, message.job));
          break;
        case 'call':
          child.inOrder(() => {
            this.server.call(message.target, message.method, message.args).then(
              (value) => child.outbox.post({ t: 'reply', call: message.call, value }),
              (err: unknown) => child.outbox.post({ t: 'reply', call: message.call, error: encodeError(err) }),
            );
          });
          break;
        case 'cast':
          if (message.target === 'backend' && message.method === 'store') child.inOrder(() => this.writeBehind(child, message.args as string, message.id));
          else this.server.cast(message.target, message.method, message.args);
          break;
        case 'log': {
          const logger = this.options.logger;
          logger[message.level](message.message, message.fields);
          break;
        }
      }
    }
  }

  private writeBehind(child: Child, args: string, taskId: string | undefined): Promise<void> {
    return this.server.store(args).catch((err: unknown) => {
      this.options.logger.error(`could not store the state of task ${taskId ?? '?'}: ${(err as Error).message}`);
      const held = child.jobs.find((h) => h.job.message.headers.id === taskId);
      if (held) held.storeError ??= err;
    });
  }

  private ready(child: Child, pid: number, tasks: TaskSummary[]): void {
    if (child.state !== 'starting') return;
    child.pid = pid;
    this.failures = 0;
    child.resolveReady();
    if (child.generation > 0) this.options.onTasks(tasks);
    else if (!this.warnedTasks) {
      const missing = tasks.map((t) => t.name).filter((name) => !this.options.app.tasks.has(name));
      if (missing.length > 0) {
        this.warnedTasks = true;
        this.options.logger.warn(`the app module ${this.options.appModule} registers tasks the worker's app does not know (${missing.slice(0, 10).join(', ')}): messages for them are rejected; pass the app that module exports`);
      }
    }
    if (this.stopping || child.retire) {
      this.leave(child);
      return;
    }
    if (this.live > this.concurrency) {
      // The pool shrank while this child was starting.
      this.leave(child);
      return;
    }
    child.state = 'ready';
    this.placePending();
    this.options.onFree();
    this.balanceSoon();
  }

  async run(job: PoolJob): Promise<Outcome> {
    const child = this.pick();
    if (!child) throw new Error(`the ${this.kind} pool has no free child (the worker runs jobs only in free slots)`);
    return new Promise<Outcome>((resolve) => this.assign(child, { job, seq: ++this.seq, startedAt: 0, resolve, hardTimer: undefined }));
  }

  /** The child with the fewest jobs among those that can take one (a free one if any). */
  private pick(): Child | null {
    let best: Child | null = null;
    for (const child of this.children) {
      if (this.slots(child) > 0 && (!best || child.jobs.length < best.jobs.length)) best = child;
    }
    return best;
  }

  private assign(child: Child, held: HeldJob): void {
    child.jobs.push(held);
    child.assigned++;
    const { job } = held;
    const wants = eventMask(job.wants);
    const raw = packRaw(job.raw, this.kind === 'process');
    if (wants === child.wants) child.outbox.post({ t: 'run', job: held.seq, raw, info: job.deliveryInfo, soft: job.softTimeLimit });
    else {
      child.wants = wants;
      child.outbox.post({ t: 'run', job: held.seq, raw, info: job.deliveryInfo, soft: job.softTimeLimit, wants });
    }
    if (child.jobs.length === 1) this.begin(child, held);
  }

  /** A job came first in its child: the child runs it now, so its hard time limit starts. */
  private begin(child: Child, held: HeldJob): void {
    held.startedAt = performance.now();
    held.job.accepted(child.pid);
    if (held.recalled) {
      // Asked back too late: the child started it.
      held.recalled = false;
      this.recalling--;
    }
    if (held.killed) {
      this.killChild(child, held.killed.reason, held.killed.signal);
      return;
    }
    // Revoked too late: the child started it, and a plain revoke does not stop a running task.
    held.withdrawn = undefined;
    const { job } = held;
    if (job.timeLimit) {
      const limit = job.timeLimit;
      held.hardTimer = setTimeout(() => {
        this.options.logger.error(`Hard time limit (${limit}s) exceeded for ${job.task.name}[${job.message.headers.id}]`);
        this.killChild(child, new TimeLimitExceeded(limit), 'SIGKILL');
      }, limit * 1000);
    }
  }

  /** Give jobs handed back by other children to children that can take them, oldest first. */
  private placePending(): void {
    while (this.pending.length > 0) {
      const child = this.pick();
      if (!child) return;
      this.assign(child, this.pending.shift()!);
    }
  }

  /** A job that had not started is back from its child: run it elsewhere, or end it as the worker asked. */
  private reassign(held: HeldJob): void {
    if (held.recalled) {
      held.recalled = false;
      this.recalling--;
    }
    const ended = held.killed?.reason ?? held.withdrawn;
    if (ended) {
      this.end(held, ended);
      return;
    }
    if (this.stopping) {
      // No child is replaced now: any child still running its jobs takes it, window or not;
      // with none left it goes back to the queue (it never started, so it was not acknowledged).
      const child = this.pick() ?? [...this.children].find((c) => c.state === 'ready');
      if (child) this.assign(child, held);
      else this.end(held, new Reject('the pool stopped before the task started', true));
      return;
    }
    this.pending.push(held);
    this.placePending();
    this.replenish();
  }

  /** Record the outcome of a job the worker ended, or that could not run, as the executor does for a killed child's job. */
  private end(held: HeldJob, reason: Error): void {
    clearTimeout(held.hardTimer);
    const { job } = held;
    const runtime = held.startedAt ? (performance.now() - held.startedAt) / 1000 : 0;
    void this.options.executor
      .interrupted(job.task, job.message, reason, { deliveryInfo: job.deliveryInfo, runtime })
      .then(held.resolve, (err: unknown) => held.resolve({ state: 'FAILURE', error: err, traceback: null, runtime, expected: false }));
  }

  private returned(child: Child, seq: number): void {
    const i = child.jobs.findIndex((h) => h.seq === seq);
    if (i === -1) return;
    // The first job too, from a child that held it (above maxMemoryPerChild, see `done`).
    const held = child.jobs.splice(i, 1)[0]!;
    clearTimeout(held.hardTimer);
    held.startedAt = 0;
    child.assigned--;
    this.reassign(held);
  }

  private done(child: Child, seq: number, wire: Parameters<typeof decodeOutcome>[0], memory: number): void {
    const held = child.jobs[0];
    if (!held || held.seq !== seq) return;
    clearTimeout(held.hardTimer);
    child.jobs.shift();
    child.tasksRun++;
    const { maxTasksPerChild, maxMemoryPerChild, logger } = this.options;
    // Above its memory bound, a child starts nothing more and waits to be replaced; shutting down
    // (no child is replaced), it runs what it holds (told so by `drain`).
    const holds = maxMemoryPerChild !== null && memory > maxMemoryPerChild && !this.stopping;
    if (child.state === 'ready' && !child.retire && !this.stopping) {
      if (maxTasksPerChild !== null && child.tasksRun >= maxTasksPerChild) {
        logger.info(`replacing pool child ${child.pid}: it ran ${child.tasksRun} task(s) (maxTasksPerChild)`);
        child.retire = true;
      } else if (holds) {
        logger.warn(`replacing pool child ${child.pid}: it uses ${formatKiB(memory)}, above maxMemoryPerChild ${formatKiB(maxMemoryPerChild)}`);
        child.retire = true;
      }
    }
    const next = child.jobs[0];
    if (next && !holds) this.begin(child, next);
    if (child.state === 'ready') {
      this.placePending();
      if (child.retire || this.live > this.concurrency || (this.stopping && child.jobs.length === 0)) this.leave(child);
    }
    let outcome = decodeOutcome(wire);
    if (held.storeError !== undefined && outcome.state !== 'REJECTED' && outcome.state !== 'IGNORED') {
      const error = held.storeError;
      // The child's result never reached the backend: an acksLate task met by an outage runs again rather than being lost.
      const { task, message, deliveryInfo } = held.job;
      outcome = this.options.executor.unrecorded(task, message, error, { deliveryInfo, runtime: outcome.runtime }) ?? {
        state: 'FAILURE',
        error,
        traceback: error instanceof Error ? (error.stack ?? null) : null,
        runtime: outcome.runtime,
        expected: false,
      };
    }
    held.resolve(outcome);
    if (child.jobs.length === 0) this.balanceSoon();
    this.replenish();
  }

  /**
   * Once the worker has given out what it had (after this turn), ask jobs queued in busy children
   * back for the free ones, so that no job waits behind a long task while a child is free.
   */
  private balanceSoon(): void {
    if (this.window === 1 || this.balancing || this.stopping) return;
    this.balancing = true;
    setImmediate(() => {
      this.balancing = false;
      let free = -this.recalling;
      for (const child of this.children) if (child.jobs.length === 0 && this.slots(child) > 0) free++;
      if (free <= 0) return;
      for (const child of this.children) {
        for (let i = child.jobs.length - 1; i >= 1 && free > 0; i--) {
          const held = child.jobs[i]!;
          if (held.recalled || held.killed) continue;
          held.recalled = true;
          this.recalling++;
          free--;
          child.outbox.post({ t: 'cancel', job: held.seq });
        }
      }
    });
  }

  /** Ask a child to exit: it hands back the jobs it has not started and finishes the one in hand. */
  private leave(child: Child): void {
    child.retire = true;
    if (child.state === 'exiting' || child.state === 'dead') return;
    // Shutting down, nobody else would take its queued jobs: it runs them first.
    if (this.stopping && child.jobs.length > 0) return;
    child.state = 'exiting';
    child.outbox.post({ t: 'exit' });
  }

  private killChild(child: Child, reason: Error, signal: NodeJS.Signals): void {
    if (child.state === 'dead') return;
    if (child.jobs.length > 0 && !child.killReason) child.killReason = reason;
    this.terminate(child, signal);
  }

  private terminate(child: Child, signal: NodeJS.Signals): void {
    child.retire = true;
    child.state = 'exiting';
    try {
      child.transport.kill(signal);
    } catch (err) {
      this.options.logger.warn(`could not signal pool child ${child.pid}: ${(err as Error).message}`);
    }
  }

  private exited(child: Child, code: number | null, signal: NodeJS.Signals | null): void {
    const wasStarting = child.state === 'starting';
    child.state = 'dead';
    // Its jobs are settled after the outcomes and hand-backs it sent before it exited (they wait for
    // its stores, which may hang while the backend is down); its replacement does not wait for them.
    if (!wasStarting) this.replenish();
    child.inOrder(() => this.lost(child, wasStarting, code, signal));
  }

  private lost(child: Child, wasStarting: boolean, code: number | null, signal: NodeJS.Signals | null): void {
    child.markGone();
    this.children.delete(child);
    const how = signal ? `signal ${signal}` : `exitcode ${code ?? 0}`;
    if (wasStarting) {
      child.rejectReady(new ConfigurationError(`a ${this.kind} pool child exited (${how}) before it was ready; see its output above`));
      if (!this.stopping) {
        this.failures++;
        this.options.logger.error(`a ${this.kind} pool child exited (${how}) while starting`);
      }
    }
    const [running, ...queued] = child.jobs.splice(0);
    if (running) {
      const { job } = running;
      let reason = child.killReason;
      if (!reason) {
        this.options.logger.error(`${this.kind === 'process' ? `Process ${child.pid}` : 'The thread'} running ${job.task.name}[${job.message.headers.id}] exited prematurely: ${how}`);
        reason =
          job.task.options.acksLate && job.task.options.rejectOnWorkerLost
            ? new Reject(`the ${this.kind === 'process' ? 'process' : 'thread'} running the task exited (${how}); requeued (rejectOnWorkerLost)`, true)
            : new WorkerLostError(`Worker exited prematurely: ${how} Job: ${running.seq}.`);
      }
      this.end(running, reason);
    }
    // A child runs its jobs in order: those behind the one it ran never started.
    for (const held of queued) this.reassign(held);
    this.replenish();
  }

  /** Start children until the pool is at its size again (with a back-off when children keep dying while starting). */
  private replenish(): void {
    if (this.stopping || this.respawnTimer) return;
    const missing = this.concurrency - this.live;
    if (missing <= 0) return;
    const delay = this.failures === 0 ? 0 : Math.min(10_000, 250 * 2 ** (this.failures - 1));
    if (delay === 0) {
      for (let n = 0; n < missing; n++) this.spawn();
      return;
    }
    this.respawnTimer = setTimeout(() => {
      this.respawnTimer = null;
      this.replenish();
    }, delay);
    this.respawnTimer.unref();
  }

  withdraw(job: PoolJob, reason: Error): void {
    const waiting = this.pending.findIndex((h) => h.job === job);
    if (waiting !== -1) {
      this.end(this.pending.splice(waiting, 1)[0]!, reason);
      return;
    }
    for (const child of this.children) {
      const i = child.jobs.findIndex((h) => h.job === job);
      if (i === -1) continue;
      const held = child.jobs[i]!;
      // The first job runs, unless its child is above maxMemoryPerChild and holds it unstarted.
      if (i === 0 && held.startedAt !== 0) return;
      if (!held.killed && !held.withdrawn) {
        held.withdrawn = reason;
        if (!held.recalled) child.outbox.post({ t: 'cancel', job: held.seq });
      }
      return;
    }
  }

  kill(job: PoolJob, reason: Error, signal: NodeJS.Signals = 'SIGTERM'): void {
    const sig = this.kind === 'thread' ? 'SIGKILL' : signal;
    const waiting = this.pending.findIndex((h) => h.job === job);
    if (waiting !== -1) {
      this.end(this.pending.splice(waiting, 1)[0]!, reason);
      return;
    }
    for (const child of this.children) {
      const i = child.jobs.findIndex((h) => h.job === job);
      if (i === -1) continue;
      const held = child.jobs[i]!;
      if (i === 0) this.killChild(child, reason, sig);
      else if (!held.killed) {
        // Queued in the child: it hands the job back unstarted, or, if it started it meanwhile, is killed when its turn comes.
        held.killed = { reason, signal: sig };
        if (!held.recalled) child.outbox.post({ t: 'cancel', job: held.seq });
      }
      return;
    }
  }

  grow(n: number): void {
    this.concurrency += n;
    this.replenish();
  }

  shrink(n: number): void {
    this.concurrency = Math.max(0, this.concurrency - n);
    let excess = this.live - this.concurrency;
    // Idle children go first; busy ones leave after their task.
    const leaving = [...this.children].filter((c) => !c.retire && c.state !== 'exiting' && c.state !== 'dead').sort((a, b) => a.jobs.length - b.jobs.length);
    for (const child of leaving) {
      if (excess <= 0) break;
      this.leave(child);
      excess--;
    }
  }

  async restart(): Promise<void> {
    this.generation++;
    // New code deserves a fresh start, even after children that kept failing with the old.
    this.failures = 0;
    if (this.respawnTimer) clearTimeout(this.respawnTimer);
    this.respawnTimer = null;
    this.options.logger.info(`restarting the ${this.kind} pool: new children load the app module again; running tasks finish in the old ones`);
    for (const child of [...this.children]) this.leave(child);
    this.replenish();
  }

  drain(): void {
    this.stopping = true;
    if (this.respawnTimer) clearTimeout(this.respawnTimer);
    this.respawnTimer = null;
    for (const child of [...this.children]) {
      if (child.state === 'starting') this.terminate(child, 'SIGKILL');
      else if (child.state !== 'dead') child.outbox.post({ t: 'drain' });
    }
  }

  info(): Record<string, unknown> {
    const pids = [...this.children].filter((c) => c.state !== 'dead').map((c) => c.pid);
    return {
      implementation: `tq.pools:${this.kind}`,
      'max-concurrency': this.concurrency,
      processes: this.kind === 'process' ? pids : [process.pid],
      ...(this.kind === 'thread' ? { threads: pids.length } : {}),
      'max-tasks-per-child': this.options.maxTasksPerChild ?? 'N/A',
      'max-memory-per-child': this.options.maxMemoryPerChild ?? 'N/A',
      'put-guarded-by-semaphore': false,
      timeouts: [0, 0],
    };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.respawnTimer) clearTimeout(this.respawnTimer);
    this.respawnTimer = null;
    const exits = [...this.children].map((child) => child.gone);
    for (const child of [...this.children]) {
      if (child.jobs.length > 0) this.killChild(child, new WorkerLostError('the pool stopped while the task ran'), 'SIGKILL');
      else this.leave(child);
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([Promise.all(exits).then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), 5000)))]);
    clearTimeout(timer);
    if (timedOut) {
      for (const child of this.children) if (child.state !== 'dead') this.terminate(child, 'SIGKILL');
      await Promise.race([Promise.all(exits), new Promise((resolve) => setTimeout(resolve, 2000))]);
    }
    // Never started, so never acknowledged: back to the queue.
    for (const held of this.pending.splice(0)) this.end(held, new Reject('the pool stopped before the task started', true));
  }
}
