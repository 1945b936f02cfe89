/**
 * RabbitMQ broker + rpc:// results, async pool: 20,000 no-op tasks published at once, one tq
 * worker, every result's `get` resolved; enqueue and end-to-end rates and peak RSS. In the same
 * run, Python Celery's end-to-end rate on the same RabbitMQ (a Python client publishing 20,000
 * `py.add` and joining their rpc:// results, one Python worker), and the ratio. Target: tq ≥ 5×
 * Python Celery end to end.
 *
 * Env: TQ_AMQP_URL (default amqp://guest:guest@127.0.0.1:5672//), TQ_BENCH_TASKS (20000),
 * TQ_PYTHON (/usr/bin/python3), TQ_BENCH_PY_POOL (`prefork` or `threads`), TQ_BENCH_PY_CONCURRENCY.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApp, silentLogger, type App, type Broker, type Task } from '@tq/core';
import { Worker } from '@tq/worker';
import { heading, line, peakRssMb, perSecond } from '../report.js';

const TOTAL = Number(process.env['TQ_BENCH_TASKS'] ?? 20_000);
const URL = process.env['TQ_AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672//';
const PYTHON = process.env['TQ_PYTHON'] ?? '/usr/bin/python3';
const PY_POOL = process.env['TQ_BENCH_PY_POOL'] ?? 'prefork';
const PY_CONCURRENCY = Number(process.env['TQ_BENCH_PY_CONCURRENCY'] ?? (PY_POOL === 'threads' ? 8 : 2));
const PY_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'packages', 'testing', 'python');

/** Remove a bench queue and the direct exchange of the same name that Celery's routing declares. */
async function deleteQueue(broker: Broker, name: string): Promise<void> {
  const amqp = broker as Broker & { deleteQueue?(name: string): Promise<number>; deleteExchange?(name: string): Promise<void> };
  await amqp.deleteQueue?.(name);
  await amqp.deleteExchange?.(name);
}

const APP_OPTIONS = { broker: URL, backend: 'rpc://', logger: silentLogger };

function registerTasks(app: App): Task<[number, number], number> {
  return app.task('bench.add', (x: number, y: number) => x + y);
}

/** The worker side in its own process (as Celery's client and worker are): started by `tq()`. */
async function workerProcess(queue: string): Promise<void> {
  const app = createApp({ ...APP_OPTIONS, taskDefaultQueue: queue });
  registerTasks(app);
  const worker = new Worker(app, { concurrency: 100, logger: silentLogger });
  await worker.start();
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => {
    process.stdin.on('end', resolve);
    process.stdin.on('close', resolve);
    process.stdin.resume();
  });
  const cpu = process.cpuUsage();
  await worker.stop();
  await app.close();
  process.stdout.write(`${JSON.stringify({ rssMb: peakRssMb(), cpuUs: cpu.user + cpu.system })}\n`);
}

function startWorkerProcess(queue: string): { ready: Promise<void>; stop(): Promise<{ rssMb: number; cpuUs: number }> } {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--worker', queue], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  let onReady!: () => void;
  let onFail!: (error: Error) => void;
  const ready = new Promise<void>((resolve, reject) => {
    onReady = resolve;
    onFail = reject;
  });
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    if (out.includes('ready\n')) onReady();
  });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  child.on('close', (code) => onFail(new Error(`the tq worker process exited with ${code}`)));
  return {
    ready,
    stop: async () => {
      child.stdin!.end();
      await exited;
      const last = out.trim().split('\n').at(-1) ?? '{}';
      return JSON.parse(last) as { rssMb: number; cpuUs: number };
    },
  };
}

async function tq(queue: string): Promise<number> {
  heading(`amqp broker + rpc:// backend, ${TOTAL.toLocaleString('en-US')} no-op tasks: a tq client process and a tq worker process (async pool, concurrency 100) (${URL.replace(/(\/\/[^:/@]*:)[^@/]*@/, '$1***@')})`);
  const worker = startWorkerProcess(queue);
  const app = createApp({ ...APP_OPTIONS, taskDefaultQueue: queue });
  const add = registerTasks(app);
  await app.getBackend();
  await worker.ready;

  // Warm up the JIT and the connection so the figures describe steady state.
  await Promise.all((await Promise.all(Array.from({ length: 2000 }, (_, i) => add.delay(i, i)))).map((r) => r.get()));

  const cpu = process.cpuUsage();
  const start = performance.now();
  const results = await Promise.all(Array.from({ length: TOTAL }, (_, i) => add.delay(i, i)));
  const published = performance.now();
  const values = await Promise.all(results.map((r) => r.get()));
  const done = performance.now();
  const used = process.cpuUsage(cpu);
  if (values[TOTAL - 1] !== (TOTAL - 1) * 2) throw new Error('wrong result');
  const workerStats = await worker.stop();

  perSecond('enqueue (delay, all at once, confirmed)', TOTAL, published - start);
  const e2e = perSecond('end to end (publish → get resolved)', TOTAL, done - start);
  line('client CPU', `${Math.round((used.user + used.system) / TOTAL)} µs per task`);
  line('peak RSS', `client ${peakRssMb()} MB, worker ${workerStats.rssMb} MB`);
  await deleteQueue(await app.getBroker(), queue);
  await app.close();
  return e2e;
}

function spawnPython(args: string[], env: NodeJS.ProcessEnv, onLine?: (line: string) => void): { done: Promise<string>; stop(): void } {
  const child = spawn(PYTHON, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const collect = (chunk: Buffer) => {
    const text = chunk.toString();
    out += text;
    if (onLine) for (const l of text.split('\n')) onLine(l);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const done = new Promise<string>((resolve, reject) => {
    child.on('close', (code, signal) => (code === 0 || signal === 'SIGTERM' ? resolve(out) : reject(new Error(`python exited with ${code ?? signal}:\n${out.slice(-3000)}`))));
  });
  return { done, stop: () => child.kill('SIGTERM') };
}

const CLIENT = `
import json, time
from celery.result import ResultSet
from interop_app import app, add
n = int(__import__('os').environ['TQ_BENCH_TASKS'])
warm = [add.delay(i, i) for i in range(500)]
ResultSet(warm).join_native(timeout=120)
t0 = time.perf_counter()
results = [add.delay(i, i) for i in range(n)]
t1 = time.perf_counter()
values = ResultSet(results).join_native(timeout=600)
t2 = time.perf_counter()
assert values[-1] == (n - 1) * 2
print(json.dumps({"publish": t1 - t0, "total": t2 - t0}))
`;

async function python(queue: string): Promise<number | null> {
  if (!existsSync(PYTHON) || !existsSync(join(PY_DIR, 'interop_app.py'))) {
    line('Python Celery', `skipped (${PYTHON} or interop_app.py not found)`);
    return null;
  }
  heading(`Python Celery (${PYTHON}), same RabbitMQ, rpc:// results, worker -P ${PY_POOL} -c ${PY_CONCURRENCY} --prefetch-multiplier 64, ${TOTAL.toLocaleString('en-US')} py.add`);
  const env = { ...process.env, PYTHONPATH: PY_DIR, PYTHONUNBUFFERED: '1', TQ_BROKER_URL: URL, TQ_BACKEND_URL: 'rpc://', TQ_QUEUE: queue, TQ_BENCH_TASKS: String(TOTAL) };
  let ready!: () => void;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  const worker = spawnPython(
    ['-m', 'celery', '-A', 'interop_app', 'worker', '--loglevel', 'WARNING', '-P', PY_POOL, '-c', String(PY_CONCURRENCY), '--prefetch-multiplier', '64',
      '-n', `bench-${process.pid}@%h`, '--without-gossip', '--without-mingle', '--without-heartbeat', '-Q', queue],
    { ...env },
  );
  // Readiness: `inspect ping` answered by this node (the worker logs nothing at WARNING).
  void (async () => {
    for (let i = 0; i < 120; i++) {
      const out = await spawnPython(['-m', 'celery', '-A', 'interop_app', 'inspect', 'ping', '-d', `bench-${process.pid}@${(await import('node:os')).hostname()}`, '--timeout', '1'], env).done.catch(() => '');
      if (out.includes('pong')) return ready();
    }
  })();
  await isReady;
  const out = await spawnPython(['-c', CLIENT], env).done;
  worker.stop();
  await worker.done.catch(() => undefined);
  const figures = JSON.parse(out.trim().split('\n').filter(Boolean).at(-1)!) as { publish: number; total: number };
  perSecond('enqueue (apply_async loop)', TOTAL, figures.publish * 1000);
  return perSecond('end to end (publish → join_native)', TOTAL, figures.total * 1000);
}

export async function run(): Promise<void> {
  const suffix = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const tqRate = await tq(`tq-bench-amqp-${suffix}`);
  const pyQueue = `tq-bench-py-${suffix}`;
  let pyRate: number | null = null;
  try {
    pyRate = await python(pyQueue);
  } finally {
    const cleanup = createApp({ broker: URL, logger: silentLogger });
    await deleteQueue(await cleanup.getBroker(), pyQueue).catch(() => undefined);
    await cleanup.close();
  }
  heading('tq vs Python Celery on RabbitMQ, end to end');
  if (pyRate === null) {
    line('ratio', 'n/a (Python Celery not measured)');
    return;
  }
  const ratio = tqRate / pyRate;
  line('tq / Python Celery', `${ratio.toFixed(1)}× (${tqRate.toLocaleString('en-US')} vs ${pyRate.toLocaleString('en-US')} tasks/s)`);
  line('target ≥ 5× Python Celery end to end', ratio >= 5 ? 'met' : 'NOT met');
}

if (process.argv[2] === '--worker' && process.argv[1] === fileURLToPath(import.meta.url)) {
  await workerProcess(process.argv[3]!);
  process.exit(0);
}
