/**
 * Deployment shapes on Redis servers this file starts itself (so it can stop them at will): a
 * Unix socket URL, Redis Sentinel with a master name, a clear error for a server that is not
 * there, and an outage long enough for commands to fail: the producer's retry policy carries a
 * publish through it and an idle worker resumes on its own; an acksLate task whose result cannot
 * be stored while the result backend is away goes back to its queue and is stored once it is back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, isTqError, silentLogger, type Delivery } from '@tq/core';
import { Collector, conformanceMessage, createTestCertificates, freePort, uniqueName, waitFor, type TestCertificates } from '@tq/testing';
import { createResultMeta, decodeTaskMessage } from '@tq/protocol';
import { Worker } from '@tq/worker';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBackend } from '../src/redis-backend.js';
import { RedisBroker } from '../src/redis-broker.js';
import { answers, stopProcess } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'tq-redis-'));
const socket = join(dir, 'redis.sock');
const children: ChildProcess[] = [];
let port = 0;
let sentinelPort = 0;
let tlsPort = 0;
let certs: TestCertificates;
let server: ChildProcess | null = null;

function spawnRedis(args: string[]): ChildProcess {
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  children.push(child);
  return child;
}

function startServer(): ChildProcess {
  return spawnRedis(['--port', String(port), '--bind', '127.0.0.1', '--unixsocket', socket, '--unixsocketperm', '700', '--save', '', '--appendonly', 'no', '--dir', dir]);
}

const stop = stopProcess;

beforeAll(async () => {
  port = await freePort();
  sentinelPort = await freePort();
  server = startServer();
  await waitFor(() => answers({ port }), { timeout: 20_000, message: 'the test Redis to answer' });
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(conf, `port ${sentinelPort}\nbind 127.0.0.1\ndir ${dir}\nsentinel monitor tqmaster 127.0.0.1 ${port} 1\nsentinel down-after-milliseconds tqmaster 60000\n`);
  spawnRedis([conf, '--sentinel']);
  await waitFor(() => answers({ port: sentinelPort }, ['SENTINEL', 'get-master-addr-by-name', 'tqmaster']), { timeout: 20_000, message: 'the sentinel to answer' });
  // A TLS server with a certificate from a throw-away CA, valid for 127.0.0.1.
  certs = createTestCertificates(dir);
  tlsPort = await freePort();
  spawnRedis(['--port', '0', '--tls-port', String(tlsPort), '--bind', '127.0.0.1', '--tls-cert-file', certs.certFile, '--tls-key-file', certs.keyFile, '--tls-ca-cert-file', certs.caFile, '--tls-auth-clients', 'no', '--save', '', '--appendonly', 'no', '--dir', dir]);
  await waitFor(() => answers({ port: tlsPort, tls: { ca: certs.ca } } as never), { timeout: 20_000, message: 'the TLS Redis to answer' });
}, 60_000);

afterAll(async () => {
  await Promise.all(children.map((c) => stop(c)));
  rmSync(dir, { recursive: true, force: true });
});

describe('deployment shapes', () => {
  it('works over a Unix socket (redis+socket:// with virtual_host)', async () => {
    const url = `redis+socket://${socket}?virtual_host=3`;
    const broker = new RedisBroker(url);
    const backend = new RedisBackend(url);
    try {
      const q = uniqueName('sock');
      await broker.publish(conformanceMessage(1), { exchange: '', routingKey: q }, { declare: [{ name: q }] });
      const got = new Collector<Delivery>();
      await broker.consume([{ name: q }], (d) => {
        got.push(d);
        void d.ack();
      }, { prefetch: 1 });
      expect(decodeTaskMessage((await got.atLeast(1))[0]!.message).headers.id).toBe('msg-1');
      const raw = new Redis({ path: socket, db: 3 });
      expect(await raw.exists(q)).toBe(0);
      expect(await raw.smembers(`_kombu.binding.${q}`)).toEqual([`${q}\x06\x16\x06\x16${q}`]);
      raw.disconnect();
      backend.onTaskCall('sock-result');
      const waiting = backend.waitFor('sock-result', { timeout: 5 });
      await backend.store(createResultMeta({ taskId: 'sock-result', status: 'SUCCESS', result: 'ok', dateDone: new Date() }));
      expect((await waiting).result).toBe('ok');
    } finally {
      await broker.close();
      await backend.close();
    }
  });

  it('speaks TLS with rediss:// and verifies the server against ssl_ca_certs', async () => {
    const good = new RedisBroker(`rediss://127.0.0.1:${tlsPort}/0?ssl_cert_reqs=CERT_REQUIRED&ssl_ca_certs=${encodeURIComponent(certs.caFile)}`);
    try {
      const q = uniqueName('tls');
      await good.publish(conformanceMessage(3), { exchange: '', routingKey: q }, { declare: [{ name: q }] });
      expect(await good.queueLength(q)).toBe(1);
    } finally {
      await good.close();
    }
    // Without the CA the self-signed chain is refused, and the error says so.
    const untrusted = new RedisBroker(`rediss://127.0.0.1:${tlsPort}/0`);
    const error = (await untrusted.connect().catch((e: unknown) => e)) as Error & { retryable: boolean };
    expect(error.message).toMatch(/cannot connect to rediss:\/\/127\.0\.0\.1:\d+\/0: .*certificate.*Check the TLS options: ssl_ca_certs/i);
    expect(error.retryable).toBe(false);
  });

  it('finds the master through Redis Sentinel with masterName (Celery: master_name)', async () => {
    const url = `sentinel://127.0.0.1:${sentinelPort};sentinel://127.0.0.1:${await freePort()}/4`;
    expect(() => new RedisBroker(url)).toThrow(/masterName/);
    const broker = new RedisBroker(url, { master_name: 'tqmaster' } as never);
    try {
      const q = uniqueName('sentinel');
      await broker.publish(conformanceMessage(2), { exchange: '', routingKey: q }, { declare: [{ name: q }] });
      expect(await broker.queueLength(q)).toBe(1);
      const raw = new Redis({ port, db: 4 });
      expect(await raw.llen(q)).toBe(1);
      raw.disconnect();
      const app = createApp({ broker: url, backend: url, brokerTransportOptions: { master_name: 'tqmaster' }, resultBackendTransportOptions: { master_name: 'tqmaster' }, logger: silentLogger });
      expect((await app.getBroker()).name).toBe('redis');
      await app.close();
    } finally {
      await broker.close();
    }
  });

  it('says clearly when nothing listens, and marks it retryable', async () => {
    const closed = await freePort();
    const broker = new RedisBroker(`redis://:secret@127.0.0.1:${closed}/0`);
    const error = await broker.connect().catch((e: unknown) => e);
    expect(isTqError(error, 'BROKER_ERROR')).toBe(true);
    expect((error as Error).message).toBe(`[tq] [broker-redis] cannot connect to redis://:***@127.0.0.1:${closed}/0: ECONNREFUSED. Is Redis running?`);
    expect((error as { retryable: boolean }).retryable).toBe(true);
    const backend = new RedisBackend(`redis://127.0.0.1:${closed}/1`);
    expect(String(await backend.connect().catch((e: unknown) => (e as Error).message))).toMatch(/result backend cannot connect to redis:\/\/127\.0\.0\.1:\d+\/1: ECONNREFUSED\. Is Redis running\?/);
  });

  it('carries a publish through an outage with the retry policy; an idle worker resumes', { timeout: 60_000 }, async () => {
    const url = `redis://127.0.0.1:${port}/5`;
    const lines: string[] = [];
    const log = (m: string, f?: Record<string, unknown>) => lines.push(`${m} ${JSON.stringify(f ?? {})}`);
    const app = createApp({
      broker: url,
      backend: url,
      brokerTransportOptions: { maxRetriesPerRequest: 2 },
      taskPublishRetryPolicy: { maxRetries: 20, intervalStart: 0.2, intervalStep: 0.2, intervalMax: 0.5 },
      logger: { debug: log, info: log, warn: log, error: log },
      taskDefaultQueue: uniqueName('outage'),
    });
    app.task('o.add', (x: number, y: number) => x + y);
    const worker = new Worker(app, { concurrency: 2, logger: silentLogger, mingle: false });
    expect(lines.some((l) => l.includes('Is Redis running?'))).toBe(false);
    try {
      await worker.start();
      expect(await (await app.sendTask('o.add', [1, 1])).get({ timeout: 10 })).toBe(2);
      await stop(server);
      // Down for a while: commands fail after two reconnect attempts; the producer retries them.
      const sending = app.sendTask<number>('o.add', [2, 3]);
      // The outage lasts until the publish has failed and been retried at least once.
      await waitFor(() => lines.some((l) => l.includes('failed, retrying')), { timeout: 20_000, message: 'a publish retry' });
      server = startServer();
      const result = await sending;
      expect(await result.get({ timeout: 20 })).toBe(5);
      expect(await (await app.sendTask('o.add', [4, 5])).get({ timeout: 20 })).toBe(9);
      expect(lines.find((l) => l.includes('failed, retrying'))).toMatch(/Is Redis running\?/);
    } finally {
      await worker.stop({ timeout: 5 });
      await app.close();
      await waitFor(() => answers({ port }), { timeout: 20_000 });
    }
  });

  it('requeues an acksLate task whose result cannot be stored while the backend is away, and stores it once the backend is back', { timeout: 60_000 }, async () => {
    const backendPort = await freePort();
    const startBackend = () => spawnRedis(['--port', String(backendPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir]);
    let backendServer = startBackend();
    await waitFor(() => answers({ port: backendPort }), { timeout: 20_000, message: 'the backend Redis to answer' });
    const lines: string[] = [];
    const log = (m: string) => lines.push(m);
    const logger = { debug: log, info: log, warn: log, error: log };
    const app = createApp({
      broker: `redis://127.0.0.1:${port}/6`,
      backend: `redis://127.0.0.1:${backendPort}/0`,
      // Stores fail after one reconnect attempt, well inside the outage.
      resultBackendTransportOptions: { maxRetriesPerRequest: 1 },
      logger,
      taskDefaultQueue: uniqueName('unrecorded'),
    });
    app.task({ name: 'u.double', acksLate: true }, (x: number) => x * 2);
    const worker = new Worker(app, { concurrency: 2, logger, mingle: false });
    try {
      await worker.start();
      expect(await (await app.sendTask<number>('u.double', [1])).get({ timeout: 10 })).toBe(2);
      await stop(backendServer);
      const results = await Promise.all([2, 3, 4].map((x) => app.sendTask<number>('u.double', [x])));
      // Each ran, could not store its SUCCESS, and went back to the queue rather than being acknowledged unrecorded.
      const requeued = (id: string) => lines.some((l) => l.includes(`[${id}] requeued: its outcome could not be recorded`));
      await waitFor(() => results.every((r) => requeued(r.id)), { timeout: 20_000, message: 'each task requeued' });
      backendServer = startBackend();
      expect(await Promise.all(results.map((r) => r.get({ timeout: 20 })))).toEqual([4, 6, 8]);
      for (const r of results) expect(await r.state()).toBe('SUCCESS');
    } finally {
      await worker.stop({ timeout: 5 });
      await app.close();
      await stop(backendServer);
    }
  });
});
