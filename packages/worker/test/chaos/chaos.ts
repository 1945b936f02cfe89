/**
 * The chaos harness (`npm run chaos`, and a short form in the worker's tests): acksLate tasks on
 * the process pool while three worker processes are SIGKILLed at random and restarted, a pool
 * child is SIGKILLed mid-task, the broker restarts, the result backend goes away for a while,
 * and the leading one of two beats is SIGKILLed. Every server is the run's own (free ports, own
 * directories); the shared test servers are never touched. At the end every task must have
 * exactly one SUCCESS result, and each duplicate execution must be explained by a kill.
 *
 * Brokers: Redis, RabbitMQ, SQS (a fauxqs of the run's own; fauxqs keeps messages in memory, so
 * the broker restart is skipped there: real SQS is never restarted by its user). Result backends:
 * Redis, or MongoDB (a FerretDB of the run's own, results read from `celery_taskmeta`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, PrivateFerretDB } from '@tq/testing/servers';
import { Redis } from 'ioredis';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '../../../..');
const SERVICES = join(ROOT, 'scripts/services.sh');

export type ChaosBroker = 'redis' | 'amqp' | 'sqs';
export type ChaosBackend = 'redis' | 'mongo';

export interface ChaosOptions {
  broker: ChaosBroker;
  /** Where results (and the beat's lease) go (default redis). */
  backend?: ChaosBackend;
  tasks: number;
  workers?: number;
  /** Seconds between worker kills: a random pause in [min, max]. */
  killEvery?: [min: number, max: number];
  /** Also restart the broker (never on SQS), take the backend away and kill a beat (default true). */
  brokerRestart?: boolean;
  backendOutage?: boolean;
  beats?: boolean;
  /** Task duration in ms: random in [min, max]. */
  taskMs?: [min: number, max: number];
  log?: (line: string) => void;
}

export interface ChaosResult {
  broker: string;
  backend: string;
  sent: number;
  completed: number;
  lost: number;
  duplicated: number;
  unexplained: number;
  explained: Record<string, number>;
  kills: number;
  restarts: number;
  seconds: number;
  beat: { sent: number; runsSentTwice: number; resent: number; takeoverSeconds: number | null; leaseSeconds: number } | null;
  backendOutageSeconds: number | null;
  brokerRestartSeconds: number | null;
  /** Workers that exited before they were ready (restarted again), e.g. started while the backend was down. */
  failedStarts: number;
  /** What this run did differently, for the table (e.g. the broker restart skipped on SQS). */
  notes: string[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`chaos: timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/**
 * A Redis of the caller's own, with an append-only file (a SIGTERM shutdown flushes it) so that
 * a restart loses nothing; `password` turns on `requirepass`.
 */
export class OwnRedis {
  private child: ChildProcess | null = null;
  constructor(
    readonly port: number,
    readonly dir: string,
    readonly password: string | null = null,
  ) {}

  async start(): Promise<void> {
    const auth = this.password ? ['--requirepass', this.password] : [];
    this.child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec', '--dir', this.dir, ...auth], { stdio: 'ignore' });
    await until(() => this.answers(), 20_000, `redis on ${this.port}`);
  }

  async answers(): Promise<boolean> {
    const client = new Redis({ port: this.port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, ...(this.password ? { password: this.password } : {}) });
    client.on('error', () => undefined);
    try {
      await client.connect();
      return (await client.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      client.disconnect();
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }
}

/** A RabbitMQ of the run's own, through scripts/services.sh with its own state directory and port. */
class OwnRabbit {
  constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  private run(...args: string[]): void {
    const result = spawnSync('bash', [SERVICES, ...args], { env: { ...process.env, TQ_SERVICES_DIR: this.dir, TQ_AMQP_PORT: String(this.port) }, encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`chaos: services.sh ${args.join(' ')} failed: ${result.stderr || result.stdout}`);
  }

  start(): void {
    this.run('up', 'rabbitmq');
  }

  restart(): void {
    this.run('restart-rabbitmq');
  }

  stop(): void {
    this.run('down', 'rabbitmq');
  }
}

const STATE = process.env['TQ_SERVICES_DIR'] ?? '/tmp/tq-services';

/** Is anything answering HTTP on this URL? */
async function httpOk(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(2000) })).ok;
  } catch {
    return false;
  }
}

/**
 * A fauxqs of the run's own, through the launcher scripts/services.sh writes (loopback only) on a
 * free port; null when that launcher is not there (then the shared emulator, under the run's prefix).
 */
class OwnFauxqs {
  private child: ChildProcess | null = null;
  constructor(readonly port: number) {}

  static launcher(): string | null {
    const file = join(STATE, 'fauxqs', 'launch.mjs');
    return existsSync(file) && existsSync(join(STATE, 'fauxqs', 'node_modules', 'fauxqs')) ? file : null;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(launcher: string): Promise<void> {
    this.child = spawn(process.execPath, [launcher], { cwd: dirname(launcher), env: { ...process.env, TQ_SQS_PORT: String(this.port), TQ_PID_FILE: '' }, stdio: 'ignore' });
    await until(() => httpOk(`${this.endpoint}/health`), 30_000, `fauxqs on ${this.port}`);
  }

  async stop(): Promise<void> {
    await stopChild(this.child);
    this.child = null;
  }
}

function stopChild(child: ChildProcess | null): Promise<void> {
  return new Promise((resolve) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** Delete every SQS queue and SNS topic under the run's prefix (worker, reply and pidbox queues included). */
async function deleteSqsUnder(endpoint: string, prefix: string): Promise<number> {
  const { SQSClient, ListQueuesCommand, DeleteQueueCommand } = await import('@aws-sdk/client-sqs');
  const { SNSClient, ListTopicsCommand, DeleteTopicCommand } = await import('@aws-sdk/client-sns');
  const config = { region: 'us-east-1', endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
  const sqs = new SQSClient(config);
  const sns = new SNSClient(config);
  let deleted = 0;
  try {
    let next: string | undefined;
    do {
      const page = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: prefix, ...(next ? { NextToken: next } : {}) }));
      for (const url of page.QueueUrls ?? []) {
        await sqs.send(new DeleteQueueCommand({ QueueUrl: url }));
        deleted++;
      }
      next = page.NextToken;
    } while (next);
    for (const topic of (await sns.send(new ListTopicsCommand({}))).Topics ?? []) {
      if (topic.TopicArn?.split(':').at(-1)?.startsWith(prefix)) await sns.send(new DeleteTopicCommand({ TopicArn: topic.TopicArn }));
    }
  } finally {
    sqs.destroy();
    sns.destroy();
  }
  return deleted;
}

/** Reads each task's state from the result backend: its stored status, or MISSING. */
interface ResultReader {
  statuses(ids: string[]): Promise<string[]>;
  close(): Promise<void>;
}

function redisReader(port: number, prefix: string): ResultReader {
  const client = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: null });
  client.on('error', () => undefined);
  return {
    async statuses(ids) {
      const out: string[] = [];
      for (let i = 0; i < ids.length; i += 1000) {
        const values = await client.mget(...ids.slice(i, i + 1000).map((id) => `${prefix}celery-task-meta-${id}`));
        for (const v of values) out.push(v ? ((JSON.parse(v) as { status: string }).status ?? 'NONE') : 'MISSING');
      }
      return out;
    },
    async close() {
      client.disconnect();
    },
  };
}

async function mongoReader(url: string): Promise<ResultReader> {
  const { MongoClient } = await import('mongodb');
  // A client of its own per attempt after a failure: it fails fast while the server is down for
  // the outage (the poll just tries again), and nothing of a dropped connection is reused.
  let client: InstanceType<typeof MongoClient> | null = null;
  return {
    async statuses(ids) {
      try {
        if (!client) {
          client = new MongoClient(url, { serverSelectionTimeoutMS: 2000 });
          await client.connect();
        }
        const collection = client.db().collection<{ _id: string; status: string }>('celery_taskmeta');
        const found = new Map<string, string>();
        for (let i = 0; i < ids.length; i += 1000) {
          for (const doc of await collection.find({ _id: { $in: ids.slice(i, i + 1000) } }, { projection: { status: 1 } }).toArray()) found.set(doc._id, doc.status ?? 'NONE');
        }
        return ids.map((id) => found.get(id) ?? 'MISSING');
      } catch (err) {
        void client?.close().catch(() => undefined);
        client = null;
        throw err;
      }
    },
    close: async () => {
      await client?.close();
    },
  };
}

interface Proc {
  child: ChildProcess;
  pid: number;
  out: string[];
  err: string[];
}

function tsxProcess(script: string, env: Record<string, string>): Proc {
  // Its own process group, so that clean-up can end the orphans a SIGKILLed worker leaves behind.
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions', '@tq/source', join(HERE, script)], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const proc: Proc = { child, pid: child.pid!, out: [], err: [] };
  let buffer = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop()!;
    proc.out.push(...lines);
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    proc.err.push(chunk.toString());
    if (proc.err.length > 2000) proc.err.shift();
  });
  return proc;
}

function killGroup(proc: Proc): void {
  try {
    process.kill(-proc.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

function childrenOf(pid: number): number[] {
  const result = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' });
  return result.stdout.split('\n').filter(Boolean).map(Number);
}

const rand = (min: number, max: number) => min + Math.random() * (max - min);

/** Every key under `prefix` on a Redis broker that holds `id` in a message: list and hash keys (queues, `unacked`). */
async function redisKeysHolding(port: number, prefix: string, ids: string[]): Promise<Map<string, string[]>> {
  const client = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  const found = new Map<string, string[]>(ids.map((id) => [id, []]));
  try {
    await client.connect();
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        const type = await client.type(key);
        const values = type === 'list' ? await client.lrange(key, 0, -1) : type === 'hash' ? await client.hvals(key) : [];
        for (const id of ids) if (values.some((v) => v.includes(id))) found.get(id)!.push(key.slice(prefix.length));
      }
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
  return found;
}

/**
 * What is known of each task that has no SUCCESS (the first 10): its stored status, its runs in
 * the ledger (start and end, seconds into the run, pid), where its message is on a Redis broker,
 * and what the workers logged about it. A loss is rare; this makes one run enough to see its cause.
 */
async function describeLost(lost: Array<{ id: string; status: string }>, ledgerLines: string[], procs: Proc[], started: number, brokerPort: number | null, prefix: string): Promise<string[]> {
  const shown = lost.slice(0, 10);
  let holding: Map<string, string[]> | null = null;
  let unlooked = 'message not looked up (not a Redis broker)';
  if (brokerPort !== null) {
    try {
      holding = await redisKeysHolding(brokerPort, prefix, shown.map((l) => l.id));
    } catch (err) {
      unlooked = `message not looked up (broker keys unreadable: ${(err as Error).message})`;
    }
  }
  const logged = procs.flatMap((p) => p.err.join('').split('\n').map((line) => `${p.pid}: ${line}`));
  return shown.map(({ id, status }) => {
    const runs = ledgerLines
      .filter((l) => l.startsWith(`S ${id} `) || l.startsWith(`E ${id} `))
      .map((l) => {
        const parts = l.split(' ');
        const at = Number(parts[parts.length - 1]);
        return `${parts[0]} pid ${parts[2]} at ${((at - started) / 1000).toFixed(1)}s`;
      });
    const where = holding ? `message on ${holding.get(id)!.join(', ') || 'no key'}` : unlooked;
    const said = logged.filter((line) => line.includes(id)).slice(0, 5);
    return `lost ${id}: result ${status}; runs: ${runs.join(', ') || 'none'}; ${where}${said.length ? `; logged: ${said.join(' | ')}` : ''}`;
  });
}

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const workersWanted = options.workers ?? 3;
  const [killMin, killMax] = options.killEvery ?? [2, 4];
  const [msMin, msMax] = options.taskMs ?? [2, 20];
  const backendKind = options.backend ?? 'redis';
  // The AWS SDK warns about Node 20 once per process (this one and every worker's).
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';
  const notes: string[] = [];
  // fauxqs keeps its queues in memory: a restart loses every message by design (SQS itself is never restarted by its user).
  const brokerRestart = options.brokerRestart !== false && options.broker !== 'sqs';
  if (options.broker === 'sqs' && options.brokerRestart !== false) notes.push('broker restart skipped (fauxqs keeps messages in memory)');
  // Servers' files on tmpfs where there is one: a restart keeps them, and no fsync waits on a disk.
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), `tq-chaos-${options.broker}-${backendKind}-`));
  const ledger = join(dir, 'ledger.log');
  writeFileSync(ledger, '');
  const queue = `chaos-${Math.random().toString(36).slice(2, 8)}`;
  const prefix = `${queue}:`;
  let backendRedis: OwnRedis | null = null;
  let ferret: PrivateFerretDB | null = null;
  let brokerRedis: OwnRedis | null = null;
  let rabbit: OwnRabbit | null = null;
  let fauxqs: OwnFauxqs | null = null;
  let sqsEndpoint: string | null = null;
  const procs: Proc[] = [];
  const killedWorkers = new Set<number>();
  const killedChildren = new Set<number>();
  let kills = 0;
  let restarts = 0;
  let brokerRestartWindow: [number, number] | null = null;
  let backendOutage: [number, number] | null = null;
  let beatKilledAt: number | null = null;
  const beats: Proc[] = [];
  const started = Date.now();
  let reader: ResultReader | null = null;
  let stopChaos = false;
  try {
    // Servers of our own.
    let backendUrl: string;
    if (backendKind === 'mongo') {
      ferret = new PrivateFerretDB({ dir: mkdtempSync(join(dir, 'ferretdb-')), database: 'chaos' });
      await ferret.start();
      backendUrl = ferret.url;
    } else {
      backendRedis = new OwnRedis(await freePort(), dir);
      await backendRedis.start();
      backendUrl = `redis://127.0.0.1:${backendRedis.port}/0`;
    }
    let brokerUrl: string;
    // SQS: queue and topic names under the run's own prefix; a killed worker's messages are visible again after 6 s.
    const sqsPrefix = `${queue}-`;
    if (options.broker === 'sqs') {
      const launcher = OwnFauxqs.launcher();
      if (launcher) {
        fauxqs = new OwnFauxqs(await freePort());
        await fauxqs.start(launcher);
        sqsEndpoint = fauxqs.endpoint;
      } else {
        sqsEndpoint = process.env['TQ_SQS_ENDPOINT'] ?? 'http://127.0.0.1:9324';
        notes.push(`shared SQS emulator ${sqsEndpoint} (no fauxqs launcher in ${STATE}), queues under ${sqsPrefix}`);
      }
      brokerUrl = `sqs://test:test@${new URL(sqsEndpoint).host}`;
    } else if (options.broker === 'redis') {
      const brokerDir = mkdtempSync(join(dir, 'broker-'));
      brokerRedis = new OwnRedis(await freePort(), brokerDir);
      await brokerRedis.start();
      brokerUrl = `redis://127.0.0.1:${brokerRedis.port}/0`;
    } else {
      rabbit = new OwnRabbit(await freePort(), mkdtempSync(join(dir, 'rabbit-')));
      rabbit.start();
      brokerUrl = `amqp://guest:guest@127.0.0.1:${rabbit.port}//`;
    }
    const brokerOptions: Record<string, unknown> =
      options.broker === 'sqs' ? { queueNamePrefix: sqsPrefix, visibilityTimeout: 6 } : { globalKeyprefix: prefix, visibilityTimeout: 6, unackedRestoreInterval: 1 };
    // MongoDB: the run's own database, nothing to prefix; the driver waits out the outage (30 s server selection).
    const backendOptions: Record<string, unknown> = backendKind === 'mongo' ? {} : { globalKeyprefix: prefix };
    const env = {
      TQ_CHAOS_BROKER: brokerUrl,
      TQ_CHAOS_BACKEND: backendUrl,
      TQ_CHAOS_QUEUE: queue,
      TQ_CHAOS_PREFIX: prefix,
      TQ_CHAOS_LEDGER: ledger,
      TQ_CHAOS_BROKER_OPTIONS: JSON.stringify(brokerOptions),
      TQ_CHAOS_BACKEND_OPTIONS: JSON.stringify(backendOptions),
    };
    Object.assign(process.env, env);
    log(`chaos on ${options.broker} with ${backendKind} results: ${options.tasks} acksLate tasks, ${workersWanted} process-pool workers (3 children each), a worker SIGKILLed every ${killMin}-${killMax}s; broker ${brokerUrl.replace(/:[^:@/]*@/, ':***@')}, backend ${backendUrl}; ledger ${ledger}`);

    // As a supervisor would: a worker that exits before it is ready is started again.
    let failedStarts = 0;
    const spawnWorker = async (): Promise<Proc> => {
      for (;;) {
        const proc = tsxProcess('chaos-worker.ts', { ...env, TQ_CHAOS_NODE: `chaos${procs.length}-${queue}@%h` });
        procs.push(proc);
        await until(() => proc.out.some((l) => l.startsWith('READY')) || proc.child.exitCode !== null, 60_000, 'a chaos worker to start');
        if (proc.out.some((l) => l.startsWith('READY'))) return proc;
        failedStarts++;
        log(`a worker failed to start (${proc.err.join('').split('\n').find((l) => l.includes('could not start'))?.replace(/^.*could not start: /, '') ?? `exit ${proc.child.exitCode}`}); starting it again`);
        await sleep(500);
      }
    };
    const live: Proc[] = [];
    for (let i = 0; i < workersWanted; i++) live.push(await spawnWorker());
    if (options.beats !== false) {
      for (let i = 0; i < 2; i++) beats.push(tsxProcess('chaos-beat.ts', env));
      await until(() => beats.every((b) => b.out.some((l) => l.startsWith('READY'))), 60_000, 'two beats to start');
    }

    // The client: a tq app in this process, sending every task up front.
    const { createApp, silentLogger } = await import('@tq/core');
    const app = createApp({
      main: 'chaos',
      broker: brokerUrl,
      // Results are read straight from the backend's keys at the end; the client needs no backend.
      backend: null,
      taskDefaultQueue: queue,
      logger: silentLogger,
      brokerTransportOptions: brokerOptions,
    });
    const ids: string[] = [];
    for (let i = 0; i < options.tasks; i += 500) {
      const batch = [];
      for (let j = i; j < Math.min(options.tasks, i + 500); j++) batch.push(app.sendTask('chaos.work', [j, Math.round(rand(msMin, msMax))], { ignoreResult: false }));
      for (const result of await Promise.all(batch)) ids.push(result.id);
    }
    await app.close();
    log(`sent ${ids.length} tasks in ${((Date.now() - started) / 1000).toFixed(1)}s`);

    reader = ferret ? await mongoReader(ferret.url) : redisReader(backendRedis!.port, prefix);
    const doneCount = (): number => readFileSync(ledger, 'utf8').split('\n').filter((l) => l.startsWith('E ')).length;

    // The chaos: kills on a timer; the one-off events at fractions of the work done.
    const killer = (async () => {
      while (!stopChaos) {
        await sleep(rand(killMin, killMax) * 1000);
        if (stopChaos) break;
        const victim = live.splice(Math.floor(Math.random() * live.length), 1)[0]!;
        killedWorkers.add(victim.pid);
        if (victim.child.exitCode === null && victim.child.signalCode === null) {
          process.kill(victim.pid, 'SIGKILL');
          kills++;
        } else log(`worker ${victim.pid} had exited by itself (${victim.child.exitCode ?? victim.child.signalCode}): ${victim.err.join('').slice(-2000)}`);
        live.push(await spawnWorker());
        restarts++;
      }
    })();
    const events = (async () => {
      const at = (fraction: number) => until(() => stopChaos || doneCount() >= options.tasks * fraction, 600_000, `${fraction * 100}% done`);
      // A pool child SIGKILLed while it runs a task.
      await at(0.2);
      const text = readFileSync(ledger, 'utf8').split('\n');
      const ended = new Set(text.filter((l) => l.startsWith('E ')).map((l) => l.split(' ')[1]));
      const running = text.filter((l) => l.startsWith('S ') && !ended.has(l.split(' ')[1])).map((l) => Number(l.split(' ')[2]));
      const childPids = new Set(live.flatMap((w) => childrenOf(w.pid)));
      const victim = running.reverse().find((pid) => childPids.has(pid));
      if (victim) {
        try {
          process.kill(victim, 'SIGKILL');
        } catch {
          // It finished and exited in the meantime.
        }
        killedChildren.add(victim);
        kills++;
        log(`killed pool child ${victim} mid-task`);
      }
      if (options.beats !== false) {
        await at(0.3);
        const leaderLine = beats.flatMap((b) => b.out.filter((l) => l.startsWith('LEADER')).map((l) => ({ b, at: Number(l.split(' ')[2]) }))).sort((x, y) => y.at - x.at)[0];
        if (leaderLine) {
          process.kill(leaderLine.b.pid, 'SIGKILL');
          beatKilledAt = Date.now();
          kills++;
          log(`killed the leading beat ${leaderLine.b.pid}`);
        }
      }
      if (brokerRestart) {
        await at(0.45);
        const begin = Date.now();
        if (brokerRedis) {
          await brokerRedis.stop();
          await brokerRedis.start();
        } else rabbit!.restart();
        brokerRestartWindow = [begin, Date.now()];
        restarts++;
        log(`restarted the broker (${((Date.now() - begin) / 1000).toFixed(1)}s)`);
      }
      if (options.backendOutage !== false) {
        await at(0.7);
        const begin = Date.now();
        const backendServer = ferret ?? backendRedis!;
        await backendServer.stop();
        await sleep(3000);
        await backendServer.start();
        backendOutage = [begin, Date.now()];
        restarts++;
        log(`result backend was down for ${((Date.now() - begin) / 1000).toFixed(1)}s`);
      }
    })();

    // Done when every task has a result in the backend (or nothing moves for a long while).
    const statuses = (): Promise<string[]> => reader!.statuses(ids);
    let last = -1;
    let lastChange = Date.now();
    for (;;) {
      await sleep(1000);
      let done = 0;
      try {
        done = (await statuses()).filter((s) => s === 'SUCCESS').length;
      } catch (err) {
        // The backend is down for the outage; a backend that never answers again ends the run.
        if (Date.now() - lastChange > 60_000) throw new Error(`chaos: cannot read results for 60s (${doneCount()} runs ended in the ledger): ${(err as Error).message}`);
        continue;
      }
      if (done !== last) {
        last = done;
        lastChange = Date.now();
        log(`  ${done}/${ids.length} SUCCESS, ${kills} kills, ${restarts} restarts, ${((Date.now() - started) / 1000).toFixed(0)}s`);
      }
      if (done === ids.length) break;
      if (Date.now() - lastChange > 60_000) {
        log(`no progress for 60s (${doneCount()} runs ended in the ledger): counting what is there`);
        break;
      }
    }
    stopChaos = true;
    await killer;
    await events;
    const seconds = (Date.now() - started) / 1000;

    // The accounting.
    const final = await statuses();
    const completed = final.filter((s) => s === 'SUCCESS').length;
    const lines = readFileSync(ledger, 'utf8').split('\n').filter(Boolean);
    const lost = ids.flatMap((id, i) => (final[i] === 'SUCCESS' ? [] : [{ id, status: final[i]! }]));
    if (lost.length > 0) notes.push(...(await describeLost(lost, lines, [...procs, ...beats], started, brokerRedis?.port ?? null, prefix)));
    const starts = new Map<string, Array<{ pid: number; ppid: number; at: number }>>();
    for (const line of lines) {
      if (!line.startsWith('S ')) continue;
      const [, id, pid, ppid, at] = line.split(' ');
      const list = starts.get(id!) ?? [];
      list.push({ pid: Number(pid), ppid: Number(ppid), at: Number(at) });
      starts.set(id!, list);
    }
    const explained: Record<string, number> = {};
    let duplicated = 0;
    let unexplained = 0;
    for (const [id, runs] of starts) {
      for (const earlier of runs.slice(0, -1)) {
        duplicated++;
        let why: string | null = null;
        if (killedChildren.has(earlier.pid)) why = 'pool child SIGKILLed';
        else if (killedWorkers.has(earlier.ppid)) why = 'worker SIGKILLed';
        else if (brokerRestartWindow && earlier.at <= (brokerRestartWindow as [number, number])[1] + 10_000) why = 'broker restart';
        if (why) explained[why] = (explained[why] ?? 0) + 1;
        else {
          unexplained++;
          log(`unexplained duplicate of ${id}: ${JSON.stringify(runs)}`);
        }
      }
    }
    let beat: ChaosResult['beat'] = null;
    if (options.beats !== false) {
      const sent = beats.flatMap((b) => b.out.filter((l) => l.startsWith('SENT ')).map((l) => JSON.parse(l.slice(5)) as { taskId: string; due: number; resent: boolean; pid: number; at: number }));
      const idsByDue = new Map<number, Set<string>>();
      for (const s of sent) idsByDue.set(s.due, (idsByDue.get(s.due) ?? new Set()).add(s.taskId));
      const sendsById = new Map<string, number>();
      for (const s of sent) sendsById.set(s.taskId, (sendsById.get(s.taskId) ?? 0) + 1);
      // A run is sent twice if two different messages carry it, or the same one goes out twice without being a re-send of a claim.
      const runsSentTwice = [...idsByDue.values()].filter((set) => set.size > 1).length + [...sendsById.entries()].filter(([id, n]) => n > 1 && !sent.some((s) => s.taskId === id && s.resent)).length;
      const killedAt = beatKilledAt as number | null;
      const after = killedAt === null ? [] : sent.filter((s) => s.at > killedAt).sort((a, b) => a.at - b.at);
      beat = {
        sent: sent.length,
        runsSentTwice,
        resent: sent.filter((s) => s.resent).length,
        takeoverSeconds: killedAt !== null && after[0] ? (after[0].at - killedAt) / 1000 : null,
        leaseSeconds: 3,
      };
    }
    const outage = backendOutage as [number, number] | null;
    const restartWindow = brokerRestartWindow as [number, number] | null;
    return {
      broker: options.broker,
      backend: backendKind,
      sent: ids.length,
      completed,
      lost: ids.length - completed,
      duplicated,
      unexplained,
      explained,
      kills,
      restarts,
      seconds,
      beat,
      backendOutageSeconds: outage ? (outage[1] - outage[0]) / 1000 : null,
      brokerRestartSeconds: restartWindow ? (restartWindow[1] - restartWindow[0]) / 1000 : null,
      failedStarts,
      notes,
    };
  } finally {
    stopChaos = true;
    await reader?.close().catch(() => undefined);
    for (const proc of [...procs, ...beats]) killGroup(proc);
    if (sqsEndpoint) {
      try {
        log(`deleted ${await deleteSqsUnder(sqsEndpoint, `${queue}-`)} SQS queues under ${queue}-`);
      } catch (err) {
        log(`could not delete the run's SQS queues: ${(err as Error).message}`);
      }
    }
    await fauxqs?.stop();
    await brokerRedis?.stop();
    await backendRedis?.stop();
    await ferret?.stop();
    try {
      rabbit?.stop();
    } catch (err) {
      log(`could not stop the run's RabbitMQ: ${(err as Error).message}`);
    }
    if (existsSync(dir) && !process.env['TQ_CHAOS_KEEP']) rmSync(dir, { recursive: true, force: true });
  }
}

/** The table `npm run chaos` prints. */
export function chaosTable(results: ChaosResult[]): string {
  const rows = [
    ['broker', 'backend', 'sent', 'completed', 'lost', 'duplicated', 'kills', 'restarts', 'time'],
    ...results.map((r) => [r.broker, r.backend, r.sent, r.completed, r.lost, `${r.duplicated}${r.unexplained ? ` (${r.unexplained} unexplained)` : ''}`, r.kills, r.restarts, `${r.seconds.toFixed(1)}s`].map(String)),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) => `| ${row.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  const out = [line(rows[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)];
  for (const r of results) {
    for (const note of r.notes) out.push(`${r.broker}/${r.backend}: ${note}`);
    out.push(`${r.broker}/${r.backend}: duplicates by cause ${JSON.stringify(r.explained)}; broker restart ${r.brokerRestartSeconds ?? '-'}s; backend outage ${r.backendOutageSeconds ?? '-'}s; worker starts that failed (and were retried) ${r.failedStarts}`);
    if (r.beat) out.push(`${r.broker}/${r.backend}: beat sent ${r.beat.sent} runs (${r.beat.resent} re-sends of a claimed run), runs sent twice: ${r.beat.runsSentTwice}, takeover after the leader's SIGKILL: ${r.beat.takeoverSeconds ?? '-'}s (lease ${r.beat.leaseSeconds}s)`);
  }
  return out.join('\n');
}
