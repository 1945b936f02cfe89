/**
 * The process and thread pools: task bodies run in children — child processes (like Celery's
 * prefork) or worker_threads — one task per child at a time. Each child imports the app module
 * and runs jobs through the same executor as the in-process pools, talking to the broker and
 * backend through the worker (transport-proxy.ts). The worker keeps consuming, prefetch, ETA,
 * rate limits, revokes and acknowledgements.
 *
 * The pool enforces what only it can: the hard time limit (the child is killed and replaced and
 * the task fails with TimeLimitExceeded), terminate (the child is killed with the signal; a thread
 * is stopped), a crashed child (its task fails with WorkerLostError, or is requeued with
 * `rejectOnWorkerLost` + `acksLate`), and replacing a child after `maxTasksPerChild` tasks or when
 * it is above `maxMemoryPerChild` after a task. See docs/pools.md.
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
}

/** How to start and talk to one child. */
interface Transport {
  readonly pid: number;
  send(batch: ToChild[]): void;
  kill(signal: NodeJS.Signals): void;
}

interface RunningJob {
  job: PoolJob;
  seq: number;
  startedAt: number;
  resolve(outcome: Outcome): void;
  hardTimer: NodeJS.Timeout | undefined;
  /** A written-behind result store for this job failed. */
  storeError?: unknown;
}

type ChildState = 'starting' | 'idle' | 'busy' | 'exiting' | 'dead';

class Child {
  state: ChildState = 'starting';
  pid = 0;
  tasksRun = 0;
  running: RunningJob | null = null;
  /** Why the worker killed it (the running job's outcome), if it did. */
  killReason: Error | null = null;
  /** Leave once the running job is done. */
  retire = false;
  /** Result stores written behind, in order; everything else the child asks waits for them. */
  writes: Promise<void> = Promise.resolve();
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
  private readonly children = new Set<Child>();
  private readonly idle: Child[] = [];
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

  constructor(
    readonly kind: 'process' | 'thread',
    private readonly options: ChildPoolOptions,
  ) {
    this.concurrency = options.concurrency;
    this.server = new TransportServer(options.app);
  }

  get running(): number {
    let n = 0;
    for (const child of this.children) if (child.running) n++;
    return n;
  }

  get free(): number {
    return Math.max(0, Math.min(this.idle.length, this.concurrency - this.running));
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
    this.init = { appModule: this.options.appModule, hostname: this.options.hostname, kind: this.kind, broker, backend, logLevels, measureMemory: this.options.maxMemoryPerChild !== null };
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
          const running = child.running;
          if (running && running.seq === message.job) running.job.report(...decodeEvent(message.event));
          break;
        }
        case 'done':
          void child.writes.then(() => this.done(child, message.job, message.outcome, message.memory));
          break;
        case 'call':
          child.writes
            .then(() => this.server.call(message.target, message.method, message.args))
            .then(
              (value) => child.outbox.post({ t: 'reply', call: message.call, value }),
              (err: unknown) => child.outbox.post({ t: 'reply', call: message.call, error: encodeError(err) }),
            );
          break;
        case 'cast':
          if (message.target === 'backend' && message.method === 'store') this.writeBehind(child, message.args, message.id);
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

  private writeBehind(child: Child, args: unknown, taskId: string | undefined): void {
    child.writes = child.writes.then(
      () =>
        this.server.call('backend', 'store', args).then(
          () => undefined,
          (err: unknown) => {
            this.options.logger.error(`could not store the state of task ${taskId ?? '?'}: ${(err as Error).message}`);
            const running = child.running;
            if (running && running.job.message.headers.id === taskId) running.storeError ??= err;
          },
        ),
    );
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
    child.state = 'idle';
    this.idle.push(child);
    this.options.onFree();
  }

  async run(job: PoolJob): Promise<Outcome> {
    const child = this.idle.pop();
    if (!child) throw new Error(`the ${this.kind} pool has no free child (the worker runs jobs only in free slots)`);
    child.state = 'busy';
    const seq = ++this.seq;
    job.accepted(child.pid);
    return new Promise<Outcome>((resolve) => {
      const running: RunningJob = { job, seq, startedAt: performance.now(), resolve, hardTimer: undefined };
      child.running = running;
      if (job.timeLimit) {
        const limit = job.timeLimit;
        running.hardTimer = setTimeout(() => {
          this.options.logger.error(`Hard time limit (${limit}s) exceeded for ${job.task.name}[${job.message.headers.id}]`);
          this.killChild(child, new TimeLimitExceeded(limit), 'SIGKILL');
        }, limit * 1000);
      }
      child.outbox.post({ t: 'run', job: seq, raw: packRaw(job.raw, this.kind === 'process'), info: job.deliveryInfo, soft: job.softTimeLimit, wants: [...job.wants] });
    });
  }

  private done(child: Child, seq: number, wire: Parameters<typeof decodeOutcome>[0], memory: number): void {
    const running = child.running;
    if (!running || running.seq !== seq) return;
    clearTimeout(running.hardTimer);
    child.running = null;
    child.tasksRun++;
    const { maxTasksPerChild, maxMemoryPerChild, logger } = this.options;
    if (child.state === 'busy') {
      if (maxTasksPerChild !== null && child.tasksRun >= maxTasksPerChild) {
        logger.info(`replacing pool child ${child.pid}: it ran ${child.tasksRun} task(s) (maxTasksPerChild)`);
        child.retire = true;
      } else if (maxMemoryPerChild !== null && memory > maxMemoryPerChild) {
        logger.warn(`replacing pool child ${child.pid}: it uses ${formatKiB(memory)}, above maxMemoryPerChild ${formatKiB(maxMemoryPerChild)}`);
        child.retire = true;
      }
      if (child.retire || this.stopping || this.live > this.concurrency) this.leave(child);
      else {
        child.state = 'idle';
        this.idle.push(child);
      }
    }
    let outcome = decodeOutcome(wire);
    if (running.storeError !== undefined && outcome.state !== 'REJECTED' && outcome.state !== 'IGNORED') {
      const error = running.storeError;
      outcome = { state: 'FAILURE', error, traceback: error instanceof Error ? (error.stack ?? null) : null, runtime: outcome.runtime, expected: false };
    }
    running.resolve(outcome);
    this.replenish();
  }

  /** Ask a child to exit once idle (it finishes the job in hand first). */
  private leave(child: Child): void {
    child.retire = true;
    const i = this.idle.indexOf(child);
    if (i !== -1) this.idle.splice(i, 1);
    if (child.running || child.state === 'exiting' || child.state === 'dead') return;
    child.state = 'exiting';
    child.outbox.post({ t: 'exit' });
  }

  private killChild(child: Child, reason: Error, signal: NodeJS.Signals): void {
    if (child.state === 'dead') return;
    if (child.running && !child.killReason) child.killReason = reason;
    this.terminate(child, signal);
  }

  private terminate(child: Child, signal: NodeJS.Signals): void {
    const i = this.idle.indexOf(child);
    if (i !== -1) this.idle.splice(i, 1);
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
    child.markGone();
    this.children.delete(child);
    const i = this.idle.indexOf(child);
    if (i !== -1) this.idle.splice(i, 1);
    const how = signal ? `signal ${signal}` : `exitcode ${code ?? 0}`;
    if (wasStarting) {
      child.rejectReady(new ConfigurationError(`a ${this.kind} pool child exited (${how}) before it was ready; see its output above`));
      if (!this.stopping) {
        this.failures++;
        this.options.logger.error(`a ${this.kind} pool child exited (${how}) while starting`);
      }
    }
    const running = child.running;
    if (running) {
      child.running = null;
      clearTimeout(running.hardTimer);
      const { job } = running;
      let reason = child.killReason;
      if (!reason) {
        this.options.logger.error(`${this.kind === 'process' ? `Process ${child.pid}` : 'The thread'} running ${job.task.name}[${job.message.headers.id}] exited prematurely: ${how}`);
        reason =
          job.task.options.acksLate && job.task.options.rejectOnWorkerLost
            ? new Reject(`the ${this.kind === 'process' ? 'process' : 'thread'} running the task exited (${how}); requeued (rejectOnWorkerLost)`, true)
            : new WorkerLostError(`Worker exited prematurely: ${how} Job: ${running.seq}.`);
      }
      const runtime = (performance.now() - running.startedAt) / 1000;
      void this.options.executor
        .interrupted(job.task, job.message, reason, { deliveryInfo: job.deliveryInfo, runtime })
        .then(running.resolve, (err: unknown) => running.resolve({ state: 'FAILURE', error: err, traceback: null, runtime, expected: false }));
    }
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

  kill(job: PoolJob, reason: Error, signal: NodeJS.Signals = 'SIGTERM'): void {
    for (const child of this.children) {
      if (child.running?.job === job) {
        this.killChild(child, reason, this.kind === 'thread' ? 'SIGKILL' : signal);
        return;
      }
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
    for (const child of [...this.idle]) {
      if (excess <= 0) break;
      this.leave(child);
      excess--;
    }
    for (const child of this.children) {
      if (excess <= 0) break;
      if (child.retire || child.state === 'exiting' || child.state === 'dead') continue;
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
    for (const child of [...this.children]) if (child.state === 'starting') this.terminate(child, 'SIGKILL');
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
      if (child.running) this.killChild(child, new WorkerLostError('the pool stopped while the task ran'), 'SIGKILL');
      else this.leave(child);
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([Promise.all(exits).then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), 5000)))]);
    clearTimeout(timer);
    if (timedOut) {
      for (const child of this.children) if (child.state !== 'dead') this.terminate(child, 'SIGKILL');
      await Promise.race([Promise.all(exits), new Promise((resolve) => setTimeout(resolve, 2000))]);
    }
  }
}
