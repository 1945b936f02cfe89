/**
 * Shared pieces of the monitor's integration tests: service URLs from the environment, an app
 * and a real tq worker on a test's own queue and key prefix, a monitor driven through its fetch
 * handler (or a real HTTP server), and clean-up of everything a test started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApp, type App, type AppConfig } from '@tq/core';
import { uniqueName, waitFor } from '@tq/testing';
import { Worker, type WorkerOptions } from '@tq/worker';
import { Redis } from 'ioredis';
import { createMonitor, type Monitor, type MonitorOptions, type TaskJson } from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
export const FIXTURE = join(here, 'fixtures', 'app.ts');
const CLI = join(here, '..', '..', 'worker', 'src', 'cli', 'run.ts');

export const REDIS_BASE = (process.env['TQ_REDIS_URL'] ?? 'redis://127.0.0.1:6379').replace(/\/\d*$/, '');
export const AMQP_URL = process.env['TQ_AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672//';
/** The monitor's tests use Redis dbs 11 (brokers), 12 (results) and 13 (history). */
export const DB = { broker: 11, backend: 12, history: 13 } as const;
export const redisUrl = (db: number) => `${REDIS_BASE}/${db}`;

export interface Transport {
  name: string;
  broker: string;
  backend: string;
  brokerTransportOptions?: (prefix: string) => Record<string, unknown>;
}

export const REDIS: Transport = { name: 'redis', broker: redisUrl(DB.broker), backend: redisUrl(DB.backend) };
export const RABBITMQ: Transport = { name: 'rabbitmq', broker: AMQP_URL, backend: redisUrl(DB.backend) };
const SQS_ENDPOINT = new URL(process.env['TQ_SQS_ENDPOINT'] ?? 'http://127.0.0.1:9324');
/** fauxqs takes any credentials; queue names get a per-test prefix (SQS allows letters, digits, - and _). */
export const SQS: Transport = {
  name: 'sqs',
  broker: `sqs://test:test@${SQS_ENDPOINT.host}`,
  backend: redisUrl(DB.backend),
  brokerTransportOptions: (prefix) => ({ queueNamePrefix: `${prefix.replace(/[^A-Za-z0-9_-]/g, '-')}`, waitTimeSeconds: 1 }),
};

export interface Cluster {
  queue: string;
  prefix: string;
  config: AppConfig;
  /** The app the monitor and test clients use (tasks registered, like the worker's). */
  client: App;
  monitor: Monitor;
  workers: Worker[];
  startWorker(options?: WorkerOptions): Promise<Worker>;
  /** A `tq worker` child process on this cluster's queue (to kill it). */
  spawnWorker(nodename: string): ChildProcess;
  get(path: string, init?: RequestInit): Promise<Response>;
  getJson<T = any>(path: string): Promise<T>;
  post(path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  csrf(): Promise<string>;
  close(): Promise<void>;
}

export function registerTasks(app: App): void {
  app.task('flower.add', (x: number, y: number) => x + y);
  app.task('flower.fail', (value: string) => {
    throw new Error(`bad value ${value}`);
  });
  app.task('flower.echo', (value: unknown, options?: { tag?: string }) => ({ value, tag: options?.tag ?? null }));
  app.task('flower.sleep', async (seconds: number) => {
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    return seconds;
  });
  app.task('flower.xsum', (values: number[]) => values.reduce((a, b) => a + b, 0));
}

export async function startCluster(transport: Transport, options: MonitorOptions & { auth?: MonitorOptions['auth'] } = {}): Promise<Cluster> {
  const queue = uniqueName(`flower-${transport.name}`);
  const prefix = `tqtest:flower:${queue}:`;
  const transportOptions = transport.brokerTransportOptions
    ? { brokerTransportOptions: transport.brokerTransportOptions(prefix) }
    : transport.broker.startsWith('redis')
      ? { brokerTransportOptions: { globalKeyprefix: prefix } }
      : {};
  const config: AppConfig = {
    main: 'flowertest',
    broker: transport.broker,
    backend: transport.backend,
    taskDefaultQueue: queue,
    resultBackendTransportOptions: { globalKeyprefix: prefix },
    resultExtended: true,
    ...transportOptions,
  };
  const client = createApp(config);
  registerTasks(client);
  const monitor = createMonitor(client, { inspectInterval: 1, queueSampleInterval: 1, streamInterval: 50, ...options });
  await monitor.start();
  const workers: Worker[] = [];
  const apps: App[] = [];
  const children: ChildProcess[] = [];
  let csrf: string | null = null;
  const auth: Record<string, string> = options.auth?.users[0] ? { Authorization: `Basic ${Buffer.from(`${options.auth.users[0].username}:${options.auth.users[0].password}`).toString('base64')}` } : {};
  const url = (path: string) => `http://monitor.test${monitor.prefix}${path}`;
  const cluster: Cluster = {
    queue,
    prefix,
    config,
    client,
    monitor,
    workers,
    async startWorker(workerOptions = {}) {
      const app = createApp(config);
      registerTasks(app);
      apps.push(app);
      const worker = new Worker(app, { queues: [queue], concurrency: 4, mingle: false, events: true, hostname: `${uniqueName('w')}@test`, ...workerOptions });
      await worker.start();
      workers.push(worker);
      return worker;
    },
    spawnWorker(nodename) {
      const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=@tq/source', CLI, 'worker', '-A', FIXTURE, '-n', nodename, '-Q', queue, '-E', '--loglevel', 'warn'], {
        env: { ...process.env, FLOWER_TEST_BROKER: transport.broker, FLOWER_TEST_BACKEND: transport.backend, FLOWER_TEST_QUEUE: queue, FLOWER_TEST_PREFIX: prefix },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      return child;
    },
    get: (path, init = {}) => monitor.fetch(new Request(url(path), { ...init, headers: { ...auth, ...((init.headers as Record<string, string>) ?? {}) } })),
    async getJson<T>(path: string) {
      const res = await cluster.get(path);
      if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
      return (await res.json()) as T;
    },
    async csrf() {
      csrf ??= ((await cluster.getJson('/api/ui/session')) as { csrfToken: string }).csrfToken;
      return csrf;
    },
    async post(path, body, headers = {}) {
      const token = await cluster.csrf();
      return monitor.fetch(
        new Request(url(path), {
          method: 'POST',
          headers: { ...auth, 'X-CSRF-Token': token, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        }),
      );
    },
    async close() {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await Promise.all(workers.map((w) => w.stop({ timeout: 5 }).catch(() => undefined)));
      await monitor.close();
      await Promise.all(apps.map((a) => a.close()));
      // The test's queue, and on Redis every key under its prefix (bindings, results).
      const broker = (await client.getBroker()) as Awaited<ReturnType<App['getBroker']>> & { deleteQueue?(queue: string): Promise<void> };
      await broker.purge?.(queue).catch(() => undefined);
      await broker.deleteQueue?.(queue).catch(() => undefined);
      await client.close();
      for (const url of new Set([transport.broker, transport.backend].filter((u) => u.startsWith('redis')))) await deleteKeys(url, `${prefix}*`);
    },
  };
  return cluster;
}

/** Delete every key matching a pattern in one Redis db. */
export async function deleteKeys(url: string, pattern: string): Promise<void> {
  const raw = new Redis(url);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await raw.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await raw.del(...keys);
    } while (cursor !== '0');
  } finally {
    raw.disconnect();
  }
}

/** Wait until the monitor lists a task in a state. */
export function waitForTask(cluster: Cluster, id: string, state: string, timeout = 15_000): Promise<TaskJson> {
  return waitFor(
    async () => {
      const res = await cluster.get(`/api/ui/tasks/${id}`);
      if (res.status !== 200) return null;
      const task = (await res.json()) as TaskJson;
      return task.state === state ? task : null;
    },
    { timeout, message: `task ${id} in state ${state}` },
  );
}
