/**
 * RabbitMQ: tq against Python Celery on the same RabbitMQ, rpc:// results, in one table like the
 * Redis suite's: concurrency 8, 64 and 200 on both sides, single-call and bulk publishing, every
 * result awaited the side's fastest documented way (tq: `AsyncResult.get()` per task; Celery:
 * `ResultSet.join_native()` / `GroupResult.join_native()`), the ratio per row, CPU per task and
 * peak RSS. Repeated TQ_BENCH_REPEAT times (default 1), sides interleaved.
 *
 * - tq: one Node process per row, the producer and one worker (async pool, concurrency C,
 *   prefetchMultiplier M) in it; single = `delay` ×N at once, bulk = `applyAsyncMany(N)`.
 * - Celery: a worker process (`-P threads -c C --prefetch-multiplier M`) and a client process;
 *   single = `add.delay` in a loop (Celery's calls are synchronous), bulk = one
 *   `group(...).apply_async()` (Celery's way to send many, over one producer).
 *
 * M is Celery's default, 4, on both sides: with 1, Celery 5.2.6's worker stalls here (measured:
 * 994 of 1000 results after 30 s at c=8, threads or gevent alike), which would be no comparison.
 *
 * Env: TQ_AMQP_URL (default amqp://guest:guest@127.0.0.1:5672//), TQ_BENCH_AMQP_TASKS (5000),
 * TQ_PYTHON (/usr/bin/python3), TQ_BENCH_REPEAT, TQ_BENCH_CONCURRENCY (8,64,200).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApp, silentLogger, type Broker } from '@tq/core';
import { Worker } from '@tq/worker';
import { heading, line, median, n0, n2, peakRssMb, rate, spread, spreadOf, table } from '../report.js';

const TOTAL = Number(process.env['TQ_BENCH_AMQP_TASKS'] ?? 5000);
const WARMUP = Math.min(500, TOTAL);
const PREFETCH_MULTIPLIER = Number(process.env['TQ_BENCH_PREFETCH_MULTIPLIER'] ?? 4);
const REPEAT = Math.max(1, Number(process.env['TQ_BENCH_REPEAT'] ?? 1));
const CONCURRENCIES = (process.env['TQ_BENCH_CONCURRENCY'] ?? '8,64,200').split(',').map(Number);
const URL = process.env['TQ_AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672//';
const PYTHON = process.env['TQ_PYTHON'] ?? '/usr/bin/python3';
const PY_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'packages', 'testing', 'python');
const JOB = 'TQ_BENCH_AMQP_JOB';
/** Seconds the Celery client waits for a batch of results before the row is reported as failed. */
const JOIN_TIMEOUT = Math.max(60, TOTAL / 100);

type Mode = 'single' | 'bulk';

interface Row {
  rate: number;
  publishRate: number;
  /** CPU µs per task: the tq process; for Celery, client + worker. */
  cpuUs: number;
  rssMb: number;
}

/** Remove a bench queue and the direct exchange of the same name that Celery's routing declares. */
async function deleteQueue(broker: Broker, name: string): Promise<void> {
  const amqp = broker as Broker & { deleteQueue?(name: string): Promise<number>; deleteExchange?(name: string): Promise<void> };
  await amqp.deleteQueue?.(name);
  await amqp.deleteExchange?.(name);
}

// -- tq (in a child process per row) -------------------------------------------------------------

async function runTq(concurrency: number, mode: Mode, queue: string): Promise<Row> {
  const app = createApp({ broker: URL, backend: 'rpc://', taskDefaultQueue: queue, logger: silentLogger });
  const add = app.task('bench.add', (x: number, y: number) => x + y);
  const publish = (n: number) => {
    const list = Array.from({ length: n }, (_, i): [number, number] => [i, i]);
    return mode === 'bulk' ? add.applyAsyncMany(list) : Promise.all(list.map((a) => add.delay(...a)));
  };
  const worker = new Worker(app, { concurrency, prefetchMultiplier: PREFETCH_MULTIPLIER, logger: silentLogger, mingle: false });
  try {
    await worker.start();
    await Promise.all((await publish(WARMUP)).map((r) => r.get()));
    const cpu = process.cpuUsage();
    const start = performance.now();
    const results = await publish(TOTAL);
    const published = performance.now();
    const values = await Promise.all(results.map((r) => r.get()));
    const done = performance.now();
    const used = process.cpuUsage(cpu);
    if (values[TOTAL - 1] !== (TOTAL - 1) * 2) throw new Error('wrong tq result');
    return { rate: rate(TOTAL, done - start), publishRate: rate(TOTAL, published - start), cpuUs: (used.user + used.system) / TOTAL, rssMb: peakRssMb() };
  } finally {
    await worker.stop();
    await deleteQueue(await app.getBroker(), queue).catch(() => undefined);
    await app.close();
  }
}

function tqRow(concurrency: number, mode: Mode, queue: string): Row {
  const result = spawnSync(process.execPath, process.argv.slice(1), { env: { ...process.env, [JOB]: JSON.stringify({ concurrency, mode, queue }) }, encoding: 'utf8', maxBuffer: 1 << 24 });
  const last = (result.stdout ?? '').trim().split('\n').filter(Boolean).at(-1) ?? '';
  if (result.status !== 0 || !last.startsWith('{')) throw new Error(`tq c=${concurrency} ${mode} failed (exit ${result.status ?? result.signal}):\n${result.stdout}\n${result.stderr}`);
  return JSON.parse(last) as Row;
}

// -- Python Celery ---------------------------------------------------------------------------------

function spawnPython(args: string[], env: NodeJS.ProcessEnv): { pid: number | undefined; done: Promise<string>; stop(): void } {
  const child = spawn(PYTHON, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const collect = (chunk: Buffer) => {
    out += chunk.toString();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const done = new Promise<string>((resolve, reject) => {
    child.on('close', (code, signal) => (code === 0 || signal === 'SIGTERM' ? resolve(out) : reject(new Error(`python exited with ${code ?? signal}:\n${out.slice(-3000)}`))));
  });
  return { pid: child.pid, done, stop: () => child.kill('SIGTERM') };
}

/** CPU seconds (user + system) a process has used so far, from /proc (null where there is none). */
function processCpuSeconds(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

function peakRssOfProcess(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return hwm ? Math.round(Number(hwm) / 1024) : null;
  } catch {
    return null;
  }
}

const CLIENT = `
import json, os, resource, time
from celery import group
from celery.result import ResultSet
from interop_app import add
n, warm, mode = int(os.environ['TQ_BENCH_TASKS']), int(os.environ['TQ_BENCH_WARMUP']), os.environ['TQ_BENCH_MODE']
def publish(k):
    if mode == 'bulk':
        return group(add.s(i, i) for i in range(k)).apply_async()
    return ResultSet([add.delay(i, i) for i in range(k)])
from celery.exceptions import TimeoutError
timeout = float(os.environ['TQ_BENCH_JOIN_TIMEOUT'])
def join(rs, what):
    try:
        return rs.join_native(timeout=timeout)
    except TimeoutError:
        raise SystemExit('%s: %d of %d results after %gs (join_native timed out)' % (what, rs.completed_count(), len(rs.results), timeout))
join(publish(warm), 'warm-up')
c0 = time.process_time()
t0 = time.perf_counter()
results = publish(n)
t1 = time.perf_counter()
values = join(results, 'measured run')
t2 = time.perf_counter()
assert values[-1] == (n - 1) * 2
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(json.dumps({"publish": t1 - t0, "total": t2 - t0, "cpu": time.process_time() - c0, "rss": rss}))
`;

async function pythonRow(concurrency: number, mode: Mode, queue: string): Promise<Row & { rssWorkerMb: number | null }> {
  const env = { ...process.env, PYTHONPATH: PY_DIR, PYTHONUNBUFFERED: '1', TQ_BROKER_URL: URL, TQ_BACKEND_URL: 'rpc://', TQ_QUEUE: queue, TQ_BENCH_TASKS: String(TOTAL), TQ_BENCH_WARMUP: String(WARMUP), TQ_BENCH_MODE: mode, TQ_BENCH_JOIN_TIMEOUT: String(JOIN_TIMEOUT) };
  const node = `bench-${process.pid}-${concurrency}-${mode}@${hostname()}`;
  const worker = spawnPython(
    ['-m', 'celery', '-A', 'interop_app', 'worker', '--loglevel', 'WARNING', '-P', 'threads', '-c', String(concurrency), '--prefetch-multiplier', String(PREFETCH_MULTIPLIER),
      '-n', node, '--without-gossip', '--without-mingle', '--without-heartbeat', '-Q', queue],
    env,
  );
  // A worker that dies early is reported by the row (its client times out), not as an unhandled rejection.
  worker.done.catch(() => undefined);
  try {
    // Readiness: `inspect ping` answered by this node (the worker logs nothing at WARNING).
    let ready = false;
    for (let i = 0; i < 60 && !ready; i++) {
      const out = await spawnPython(['-m', 'celery', '-A', 'interop_app', 'inspect', 'ping', '-d', node, '--timeout', '1'], env).done.catch(() => '');
      ready = out.includes('pong');
    }
    if (!ready) throw new Error(`the Celery worker ${node} did not answer a ping`);
    const workerCpuBefore = processCpuSeconds(worker.pid) ?? 0;
    const out = await spawnPython(['-c', CLIENT], env).done;
    const workerCpu = (processCpuSeconds(worker.pid) ?? 0) - workerCpuBefore;
    const rssWorkerMb = peakRssOfProcess(worker.pid);
    const figures = JSON.parse(out.trim().split('\n').filter(Boolean).at(-1)!) as { publish: number; total: number; cpu: number; rss: number };
    return {
      rate: rate(TOTAL, figures.total * 1000),
      publishRate: rate(TOTAL, figures.publish * 1000),
      // The worker's CPU includes its warm-up share; the client's is the measured phase only.
      cpuUs: ((figures.cpu + workerCpu * (TOTAL / (TOTAL + WARMUP))) * 1e6) / TOTAL,
      rssMb: figures.rss,
      rssWorkerMb,
    };
  } finally {
    worker.stop();
    await worker.done.catch(() => undefined);
  }
}

// -- the table ---------------------------------------------------------------------------------

export async function run(): Promise<void> {
  const job = process.env[JOB];
  if (job) {
    const { concurrency, mode, queue } = JSON.parse(job) as { concurrency: number; mode: Mode; queue: string };
    process.stdout.write(`${JSON.stringify(await runTq(concurrency, mode, queue))}\n`);
    return;
  }
  const havePython = existsSync(PYTHON) && existsSync(join(PY_DIR, 'interop_app.py'));
  const pyVersion = havePython ? spawnSync(PYTHON, ['-c', 'import celery, kombu, sys; print(celery.__version__, kombu.__version__, sys.version.split()[0])'], { encoding: 'utf8' }).stdout.trim().split(' ') : [];
  heading(`RabbitMQ: tq vs Python Celery, like for like — ${TOTAL.toLocaleString('en-US')} no-op tasks per row, ${REPEAT} repeat(s), median (min–max)`);
  line('RabbitMQ', URL.replace(/(\/\/[^:/@]*:)[^@/]*@/, '$1***@'));
  line('task', 'add(x, y) → x + y, results over rpc:// (reply queue), awaited for every task');
  line('concurrency', `${CONCURRENCIES.join(', ')} on both sides, prefetch multiplier ${PREFETCH_MULTIPLIER} on both (Celery's default)`);
  line('tq', `node ${process.version}, one process per row: producer + worker (async pool, concurrency C), AsyncResult.get() per task; single = delay() ×N at once, bulk = applyAsyncMany(N)`);
  line('Celery', havePython ? `Celery ${pyVersion[0]}, kombu ${pyVersion[1]}, Python ${pyVersion[2]}: worker -P threads -c C, a client process; single = add.delay() loop, bulk = group(...).apply_async(); join_native()` : `not measured (${PYTHON} or interop_app.py not found)`);
  line('columns', 'cpu = CPU µs/task (tq: its one process; Celery: client + worker); RSS = peak MB (Celery: client / worker)');

  const suffix = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const tqRuns = new Map<string, Row[]>();
  const pyRuns = new Map<string, Array<Row & { rssWorkerMb: number | null }>>();
  const pyFailures: string[] = [];
  const cleanup = createApp({ broker: URL, logger: silentLogger });
  try {
    for (let rep = 0; rep < REPEAT; rep++) {
      for (const concurrency of CONCURRENCIES) {
        for (const mode of ['single', 'bulk'] as const) {
          const key = `${concurrency} ${mode}`;
          tqRuns.set(key, [...(tqRuns.get(key) ?? []), tqRow(concurrency, mode, `tq-bench-amqp-${suffix}`)]);
          if (!havePython) continue;
          const pyQueue = `tq-bench-py-${suffix}-${concurrency}-${mode}`;
          try {
            pyRuns.set(key, [...(pyRuns.get(key) ?? []), await pythonRow(concurrency, mode, pyQueue)]);
          } catch (err) {
            // Reported under the table; the row shows n/a rather than a figure.
            pyFailures.push(`c=${concurrency} ${mode}: ${(err as Error).message.split('\n').filter(Boolean).slice(-1)[0] ?? 'failed'}`);
          } finally {
            await deleteQueue(await cleanup.getBroker(), pyQueue).catch(() => undefined);
          }
        }
      }
    }
  } finally {
    await cleanup.close();
  }

  heading('end to end (publish → every result awaited)');
  const rows: string[][] = [];
  for (const concurrency of CONCURRENCIES) {
    for (const mode of ['single', 'bulk'] as const) {
      const key = `${concurrency} ${mode}`;
      const tq = tqRuns.get(key)!;
      const py = pyRuns.get(key) ?? [];
      const ratios = py.length === tq.length ? tq.map((r, i) => r.rate / py[i]!.rate) : py.length ? [median(tq.map((r) => r.rate)) / median(py.map((r) => r.rate))] : [];
      rows.push([
        `c=${concurrency} ${mode}`,
        spread(tq, (r) => r.rate, n0),
        py.length ? spread(py, (r) => r.rate, n0) : 'n/a',
        ratios.length ? `${spreadOf(ratios, n2)}×` : 'n/a',
        spread(tq, (r) => r.publishRate, n0),
        py.length ? spread(py, (r) => r.publishRate, n0) : 'n/a',
        `${n0(median(tq.map((r) => r.cpuUs)))} / ${py.length ? n0(median(py.map((r) => r.cpuUs))) : 'n/a'}`,
        `${Math.max(...tq.map((r) => r.rssMb))} / ${py.length ? `${Math.max(...py.map((r) => r.rssMb))} / ${Math.max(...py.map((r) => r.rssWorkerMb ?? 0))}` : 'n/a'}`,
      ]);
    }
  }
  table(['row', 'tq tasks/s', 'Celery tasks/s', 'tq/Celery', 'tq publish/s', 'Celery publish/s', 'cpu µs tq/Celery', 'peak RSS MB tq / Celery'], rows);
  for (const failure of pyFailures) line('Celery run failed', failure);
}
