/**
 * Shared settings for the integration tests: the Redis URL (TQ_REDIS_URL, default loopback), a db
 * number of our own per concern, and unique key prefixes so concurrent runs never collide. Every
 * file removes the keys it created.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from '@tq/testing';
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, afterEach, beforeAll } from 'vitest';

const BASE = (process.env['TQ_REDIS_URL'] ?? 'redis://127.0.0.1:6379').replace(/\/\d*$/, '');

/** Our databases: 7 for Python interop, 8 for the broker, 9 for the result backend. */
/**
 * Each test file that cleans whole key patterns has its own db, so one file's clean-up never
 * deletes another's results, bindings or unacked messages while it runs.
 */
export const DB = { pythonClient: 7, pythonWorker: 6, broker: 8, backend: 9 } as const;

export function redisUrl(db: number): string {
  return `${BASE}/${db}`;
}

export function uniquePrefix(name: string): string {
  return `tqtest:${name}:${Math.random().toString(36).slice(2, 10)}:`;
}

/** A plain ioredis client on a db, for reading raw keys. */
export function rawClient(db: number): Redis {
  return new Redis(redisUrl(db), { lazyConnect: false, maxRetriesPerRequest: 20 });
}

/** Delete every key under a prefix in a db. */
export async function deleteKeys(db: number, pattern: string): Promise<number> {
  const client = rawClient(db);
  try {
    let cursor = '0';
    let removed = 0;
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) removed += await client.del(...keys);
    } while (cursor !== '0');
    return removed;
  } finally {
    client.disconnect();
  }
}

/**
 * A test file's own keys on one database: a unique prefix, a plain client for reading what was
 * written (`raw`, from the first test on), brokers or backends given to `track` closed after each
 * test, and every key under the prefix deleted after the file.
 */
export function testKeyspace(db: number, name: string) {
  const prefix = uniquePrefix(name);
  const opened: Array<{ close(): Promise<void> }> = [];
  let raw: Redis | null = null;
  beforeAll(() => {
    raw = rawClient(db);
  });
  afterEach(async () => {
    for (const transport of opened.splice(0)) await transport.close();
  });
  afterAll(async () => {
    raw?.disconnect();
    await deleteKeys(db, `${prefix}*`);
  });
  return {
    prefix,
    get raw(): Redis {
      if (!raw) throw new Error('the raw client opens before the first test');
      return raw;
    },
    track<T extends { close(): Promise<void> }>(transport: T): T {
      opened.push(transport);
      return transport;
    },
  };
}

/**
 * Interop tests use their own db without a key prefix (Python's app has none): remove what Celery and tq
 * leave there — results, bindings, ack-emulation keys, reply queues — plus the test's queues.
 */
export async function cleanInterop(db: number, queue: string): Promise<void> {
  for (const pattern of [`*${queue}*`, 'celery-task-meta-*', 'celery-taskset-meta-*', '_kombu.binding.*', 'unacked*', '*.reply.celery.pidbox*']) {
    await deleteKeys(db, pattern);
  }
}


/** Whether a Redis answers a command (PING by default) right now. */
export async function answers(options: RedisOptions, command: string[] = ['PING']): Promise<boolean> {
  const client = new Redis({ ...options, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.call(command[0]!, ...command.slice(1));
    return true;
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

export function stopProcess(child: ChildProcess | null): Promise<void> {
  return new Promise((resolve) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/**
 * A Redis server of this test's own (loopback, no persistence, like the shared one), which the
 * test may stop and start again on the same port without disturbing anyone else.
 */
export class PrivateRedis {
  readonly dir = mkdtempSync(join(tmpdir(), 'tq-redis-'));
  port = 0;
  private child: ChildProcess | null = null;

  /** `args`: extra redis-server options, e.g. `['--requirepass', 'secret']`. */
  constructor(private readonly args: string[] = []) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (!this.port) this.port = await freePort();
    this.child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, ...this.args], { stdio: 'ignore' });
    const password = this.args.includes('--requirepass') ? this.args[this.args.indexOf('--requirepass') + 1] : undefined;
    await waitFor(() => answers({ port: this.port, ...(password ? { password } : {}) }), { timeout: 20_000, message: `the private Redis on port ${this.port} to answer` });
  }

  async stop(): Promise<void> {
    await stopProcess(this.child);
    this.child = null;
  }

  /** Stop and start again on the same port: every connection drops, every key is gone. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
