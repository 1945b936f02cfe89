/**
 * SQS (fauxqs): 5,000 no-op tasks end to end, tq vs Python Celery on the same emulator in the
 * same run, results in Redis on both sides, and the SQS/SNS API calls each side made per task
 * (on AWS every call is billed; fewer is cheaper).
 *
 * - tq: a client process publishing every `add` at once (`delay`), a tq worker process (async
 *   pool, concurrency 100), every `get` resolved. Calls: the SDK calls of both processes.
 * - Python Celery 5.2.6 / kombu 5.2.4 with boto3 (TQ_PYTHON_VENV): the same with `py.add`, a
 *   client looping `delay` then joining, one worker (`-P threads`, prefetch multiplier 64).
 *   kombu consumes through boto3 here (see packages/brokers/sqs/test/python/sqs_interop_app.py).
 *   Calls: every botocore call of both processes.
 *
 * Targets (issue 10): tq ≥ 5× Python Celery end to end, ≤ 1 API call per task.
 * Env: TQ_SQS_ENDPOINT (http://127.0.0.1:9324), TQ_REDIS_URL, TQ_PYTHON_VENV, TQ_BENCH_TASKS
 * (5000), TQ_BENCH_PY_CONCURRENCY (8).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApp, silentLogger, type App, type Task } from '@tq/core';
import { Worker } from '@tq/worker';
import { Redis } from 'ioredis';
import { requireRedis } from '../redis-server.js';
import { heading, line, peakRssMb, perSecond } from '../report.js';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

const TOTAL = Number(process.env['TQ_BENCH_TASKS'] ?? 5000);
const ENDPOINT = new URL(process.env['TQ_SQS_ENDPOINT'] ?? 'http://127.0.0.1:9324');
const URL_ = `sqs://bench:bench@${ENDPOINT.host}`;
const REDIS = `${(process.env['TQ_REDIS_URL'] ?? 'redis://127.0.0.1:6379').replace(/\/\d*$/, '')}/${process.env['TQ_BENCH_REDIS_DB'] ?? 14}`;
const PYTHON = process.env['TQ_PYTHON_VENV'] ?? '/tmp/tq-services/pyvenv/bin/python';
const PY_CONCURRENCY = Number(process.env['TQ_BENCH_PY_CONCURRENCY'] ?? 8);
const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const PY_PATH = [join(REPO, 'packages', 'brokers', 'sqs', 'test', 'python'), join(REPO, 'packages', 'testing', 'python')];

/** Each run has its own queue-name prefix and Redis key prefix. */
function appOptions(prefix: string) {
  return {
    broker: URL_,
    backend: REDIS,
    brokerTransportOptions: { queueNamePrefix: prefix },
    resultBackendTransportOptions: { globalKeyprefix: prefix },
    taskDefaultQueue: 'bench',
    logger: silentLogger,
  };
}

function registerTasks(app: App): Task<[number, number], number> {
  return app.task('bench.add', (x: number, y: number) => x + y);
}

async function apiCalls(app: App): Promise<number> {
  return ((await app.getBroker()) as unknown as { apiCalls: number }).apiCalls;
}

/** The tq worker in its own process; prints its API calls when stdin closes. */
async function workerProcess(prefix: string): Promise<void> {
  const app = createApp(appOptions(prefix));
  registerTasks(app);
  const worker = new Worker(app, { concurrency: 100, logger: silentLogger, mingle: false });
  await worker.start();
  process.stdout.write('ready\n');
  const before = await apiCalls(app);
  await new Promise<void>((resolve) => {
    process.stdin.on('end', resolve);
    process.stdin.on('close', resolve);
    process.stdin.resume();
  });
  const calls = (await apiCalls(app)) - before;
  await worker.stop();
  await app.close();
  process.stdout.write(`${JSON.stringify({ rssMb: peakRssMb(), calls })}\n`);
}

function child(command: string, args: string[], env: NodeJS.ProcessEnv, stdin: 'pipe' | 'ignore' = 'ignore') {
  const proc = spawn(command, args, { env, stdio: [stdin, 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  proc.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const done = new Promise<string>((resolve, reject) => {
    proc.on('close', (code, signal) => (code === 0 || signal === 'SIGTERM' ? resolve(out) : reject(new Error(`${command} exited with ${code ?? signal}:\n${out.slice(-3000)}`))));
  });
  return { proc, done, output: () => out };
}

async function until(check: () => boolean, what: string, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function tq(prefix: string): Promise<{ rate: number; calls: number }> {
  heading(`tq: a client process and a worker process (async pool, concurrency 100), ${TOTAL.toLocaleString('en-US')} no-op tasks, results in Redis`);
  const worker = child(process.execPath, [fileURLToPath(import.meta.url), '--worker', prefix], process.env, 'pipe');
  const app = createApp(appOptions(prefix));
  const add = registerTasks(app);
  await app.getBackend();
  await until(() => worker.output().includes('ready\n'), 'the tq worker');
  // Warm up the JIT, connections and queue URLs so the figures describe steady state.
  await Promise.all((await Promise.all(Array.from({ length: 500 }, (_, i) => add.delay(i, i)))).map((r) => r.get()));
  const before = await apiCalls(app);
  const start = performance.now();
  const results = await Promise.all(Array.from({ length: TOTAL }, (_, i) => add.delay(i, i)));
  const published = performance.now();
  const values = await Promise.all(results.map((r) => r.get()));
  const done = performance.now();
  if (values[TOTAL - 1] !== (TOTAL - 1) * 2) throw new Error('wrong result');
  const clientCalls = (await apiCalls(app)) - before;
  worker.proc.stdin!.end();
  const stats = JSON.parse((await worker.done).trim().split('\n').at(-1)!) as { rssMb: number; calls: number };
  perSecond('enqueue (delay, all at once)', TOTAL, published - start);
  const rate = perSecond('end to end (publish → get resolved)', TOTAL, done - start);
  const calls = (clientCalls + stats.calls) / TOTAL;
  line('SQS/SNS API calls per task', `${calls.toFixed(2)} (client ${clientCalls}, worker ${stats.calls}; includes the worker's idle polls until it stopped)`);
  line('peak RSS', `client ${peakRssMb()} MB, worker ${stats.rssMb} MB`);
  await app.close();
  return { rate, calls };
}

const CLIENT = `
import json, os, time
from celery.result import ResultSet
from sqs_interop_app import app, add
n = int(os.environ['TQ_BENCH_TASKS'])
ResultSet([add.delay(i, i) for i in range(200)]).join_native(timeout=300)
t0 = time.perf_counter()
results = [add.delay(i, i) for i in range(n)]
t1 = time.perf_counter()
values = ResultSet(results).join_native(timeout=900)
t2 = time.perf_counter()
assert values[-1] == (n - 1) * 2
print(json.dumps({"publish": t1 - t0, "total": t2 - t0}))
`;

async function python(prefix: string): Promise<{ rate: number; calls: number } | null> {
  if (!existsSync(PYTHON)) {
    line('Python Celery', `skipped (${PYTHON} not found; run scripts/services.sh up python)`);
    return null;
  }
  heading(`Python Celery 5.2 (${PYTHON}), same fauxqs, results in Redis, worker -P threads -c ${PY_CONCURRENCY} --prefetch-multiplier 64, ${TOTAL.toLocaleString('en-US')} py.add`);
  const callsFile = join(tmpdir(), `tq-bench-sqs-calls-${process.pid}`);
  rmSync(callsFile, { force: true });
  const env = {
    ...process.env,
    PYTHONPATH: PY_PATH.join(':'),
    PYTHONUNBUFFERED: '1',
    TQ_BROKER_URL: URL_,
    TQ_BACKEND_URL: REDIS,
    TQ_QUEUE: `${prefix}py`,
    TQ_BENCH_TASKS: String(TOTAL),
    TQ_SQS_OPTIONS: JSON.stringify({ region: 'us-east-1', is_secure: false }),
    TQ_SQS_CALLS_FILE: callsFile,
  };
  const worker = child(PYTHON, ['-m', 'celery', '-A', 'sqs_interop_app', 'worker', '--loglevel', 'INFO', '-P', 'threads', '-c', String(PY_CONCURRENCY), '--prefetch-multiplier', '64', '-n', `bench-${process.pid}@%h`, '--without-gossip', '--without-mingle', '--without-heartbeat', '-Q', `${prefix}py`], env);
  try {
    await until(() => / ready\./.test(worker.output()), 'the Python worker');
    const out = await child(PYTHON, ['-c', CLIENT], env).done;
    const figures = JSON.parse(out.trim().split('\n').filter(Boolean).at(-1)!) as { publish: number; total: number };
    worker.proc.kill('SIGTERM');
    await worker.done.catch(() => undefined);
    perSecond('enqueue (delay loop)', TOTAL, figures.publish * 1000);
    const rate = perSecond('end to end (publish → join_native)', TOTAL, figures.total * 1000);
    const total = readFileSync(callsFile, 'utf8').trim().split('\n').map(Number).reduce((a, b) => a + b, 0);
    const calls = total / TOTAL;
    line('SQS API calls per task', `${calls.toFixed(2)} (client and worker, warm-up of 200 and start-up included)`);
    return { rate, calls };
  } finally {
    worker.proc.kill('SIGTERM');
    rmSync(callsFile, { force: true });
  }
}

/** Delete the run's queues (tq's and Python's), SNS topics and results (its own Redis db, TQ_BENCH_REDIS_DB). */
async function cleanUp(prefix: string): Promise<void> {
  const { SQSClient, ListQueuesCommand, DeleteQueueCommand } = await import('@aws-sdk/client-sqs');
  const sqs = new SQSClient({ region: 'us-east-1', endpoint: ENDPOINT.origin, credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
  const page = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: prefix }));
  for (const url of page.QueueUrls ?? []) await sqs.send(new DeleteQueueCommand({ QueueUrl: url })).catch(() => undefined);
  sqs.destroy();
  const { SNSClient, ListTopicsCommand, DeleteTopicCommand } = await import('@aws-sdk/client-sns');
  const sns = new SNSClient({ region: 'us-east-1', endpoint: ENDPOINT.origin, credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
  for (const topic of (await sns.send(new ListTopicsCommand({}))).Topics ?? []) {
    if (topic.TopicArn?.split(':').at(-1)?.startsWith(prefix)) await sns.send(new DeleteTopicCommand({ TopicArn: topic.TopicArn })).catch(() => undefined);
  }
  sns.destroy();
  const redis = new Redis(REDIS);
  try {
    for (const pattern of [`${prefix}*`, 'celery-task-meta-*']) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 2000);
        cursor = next;
        if (keys.length > 0) await redis.unlink(...keys);
      } while (cursor !== '0');
    }
  } finally {
    redis.disconnect();
  }
}

export async function run(): Promise<void> {
  await requireRedis(REDIS);
  const prefix = `tqbench-${process.pid}-${Math.random().toString(36).slice(2, 6)}-`;
  heading(`SQS on ${ENDPOINT.origin} (fauxqs), ${TOTAL.toLocaleString('en-US')} no-op tasks, tq vs Python Celery, results in Redis (${REDIS}); long polling 10 s on both sides (kombu's default)`);
  let tqFigures: { rate: number; calls: number };
  let py: { rate: number; calls: number } | null = null;
  try {
    tqFigures = await tq(prefix);
    py = await python(prefix);
  } finally {
    await cleanUp(prefix).catch(() => undefined);
  }
  heading('tq vs Python Celery on SQS, end to end');
  line('target: ≤ 1 API call per task (tq)', tqFigures.calls <= 1 ? `met (${tqFigures.calls.toFixed(2)})` : `NOT met (${tqFigures.calls.toFixed(2)})`);
  if (!py) {
    line('ratio', 'n/a (Python Celery not measured)');
    return;
  }
  const ratio = tqFigures.rate / py.rate;
  line('tq / Python Celery', `${ratio.toFixed(1)}× (${tqFigures.rate.toLocaleString('en-US')} vs ${py.rate.toLocaleString('en-US')} tasks/s)`);
  line('API calls per task, tq vs Python Celery', `${tqFigures.calls.toFixed(2)} vs ${py.calls.toFixed(2)}`);
  line('target: tq ≥ 5× Python Celery end to end', ratio >= 5 ? 'met' : 'NOT met');
}

if (process.argv[2] === '--worker' && process.argv[1] === fileURLToPath(import.meta.url)) {
  await workerProcess(process.argv[3]!);
  process.exit(0);
}
