/**
 * Real Python Celery for interoperability tests: run a snippet against the interop app
 * (`python/interop_app.py`), or start a Celery worker from it, on whatever broker the test uses.
 * Python is Debian's `/usr/bin/python3` with `python3-celery` (override with TQ_PYTHON).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PYTHON_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'python');

export function pythonExecutable(): string {
  return process.env['TQ_PYTHON'] ?? '/usr/bin/python3';
}

export interface PythonEnv {
  brokerUrl: string;
  backendUrl?: string | null;
  queue?: string;
  /** The interpreter (default `pythonExecutable()`), e.g. TQ_PYTHON_VENV for the SQS peer. */
  python?: string;
  /** Directories searched before `python/` (an adapter's own app module). */
  pythonPath?: string[];
  /** The module `celery -A` loads (default `interop_app`). */
  appModule?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
}

function envFor(options: PythonEnv): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...options.env,
    PYTHONPATH: [...(options.pythonPath ?? []), PYTHON_DIR].join(':'),
    PYTHONUNBUFFERED: '1',
    TQ_BROKER_URL: options.brokerUrl,
    TQ_BACKEND_URL: options.backendUrl ?? '',
    TQ_QUEUE: options.queue ?? 'celery',
  };
}

/**
 * Run Python code with `from interop_app import app` available; resolves with stdout. The last
 * line the code prints is usually JSON for the test to parse. Rejects with stderr on failure.
 */
export function runPython(code: string, options: PythonEnv & { timeout?: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(options.python ?? pythonExecutable(), ['-c', code], { env: envFor(options), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeout ?? 60_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`python exited with ${code ?? signal}:\n${stderr || stdout}`));
    });
  });
}

/** The last non-empty line of Python's output, parsed as JSON. */
export function lastJson<T = unknown>(stdout: string): T {
  const line = stdout.trim().split('\n').filter(Boolean).at(-1) ?? 'null';
  return JSON.parse(line) as T;
}

export interface PythonWorker {
  readonly nodename: string;
  readonly process: ChildProcess;
  /** Everything the worker logged so far. */
  output(): string;
  /** Warm shutdown (SIGTERM), then SIGKILL after `timeout` ms. */
  stop(timeout?: number): Promise<void>;
}

export interface PythonWorkerOptions extends PythonEnv {
  /** Node name (`-n`); default a unique `py-<random>@%h`. */
  nodename?: string;
  queues?: string[];
  concurrency?: number;
  /**
   * Execution pool (`-P`); default `threads`, which starts fastest. Celery 5.2's threads pool
   * loses task events: pool threads append to the event buffer while the main thread publishes
   * and then clears it, so a test that reads a Python worker's task events needs `prefork`
   * (Celery's default, where the main process sends every event).
   */
  pool?: 'threads' | 'prefork' | 'solo';
  /** Send task events (`-E`). */
  events?: boolean;
  /** Milliseconds to wait for "ready" (default 60 000). */
  readyTimeout?: number;
}

/** Start `celery -A interop_app worker` and resolve once it reports ready. */
export function startPythonWorker(options: PythonWorkerOptions): Promise<PythonWorker> {
  const name = options.nodename ?? `py-${Math.random().toString(36).slice(2, 8)}@%h`;
  const args = [
    '-m', 'celery', '-A', options.appModule ?? 'interop_app', 'worker',
    '--loglevel', 'INFO',
    '-P', options.pool ?? 'threads',
    '-c', String(options.concurrency ?? 4),
    '-n', name,
    '--without-gossip', '--without-mingle', '--without-heartbeat',
    '-Q', (options.queues ?? [options.queue ?? 'celery']).join(','),
  ];
  if (options.events) args.push('-E');
  const child = spawn(options.python ?? pythonExecutable(), args, { env: envFor(options), stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the Python worker did not become ready in time:\n${log}`));
    }, options.readyTimeout ?? 60_000);
    const onData = (chunk: Buffer) => {
      log += chunk.toString();
      const m = /(\S+@\S+) ready\./.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve({
          nodename: m[1]!,
          process: child,
          output: () => log,
          stop: (timeout = 15_000) =>
            new Promise<void>((done) => {
              if (child.exitCode !== null || child.signalCode !== null) return done();
              const kill = setTimeout(() => child.kill('SIGKILL'), timeout);
              child.once('exit', () => {
                clearTimeout(kill);
                done();
              });
              child.kill('SIGTERM');
            }),
        });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the Python worker exited (${code ?? signal}) before it was ready:\n${log}`));
    });
  });
}
