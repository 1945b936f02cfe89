/**
 * Security of a worker on a real Redis of the test's own (with a password): `controlAllow`
 * refuses remote-control commands it does not list (a `shutdown` from the network leaves the
 * worker running), commands that are neither Celery's nor registered run nothing, and broker
 * passwords and TLS secrets never reach the logs or `inspect conf`, not even when the password
 * is wrong and the connection fails.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '@tq/core';
import { freePort, recordingLogger, waitFor } from '@tq/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Worker } from '../src/index.js';
import { OwnRedis } from './chaos/chaos.js';
import { onCleanup } from './helpers.js';

const PASSWORD = 'pw-9f2/x:q-SECRET';
const TLS_PASSPHRASE = 'tls-passphrase-SECRET';
const dir = mkdtempSync(join(tmpdir(), 'tq-security-'));
let redis: OwnRedis;
let port = 0;

beforeAll(async () => {
  port = await freePort();
  redis = new OwnRedis(port, dir, PASSWORD);
  await redis.start();
}, 30_000);

afterAll(async () => {
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function url(password: string): string {
  return `redis://:${encodeURIComponent(password)}@127.0.0.1:${port}/0`;
}

function leaks(text: string): string[] {
  return [PASSWORD, encodeURIComponent(PASSWORD), TLS_PASSPHRASE, 'wrong-SECRET'].filter((secret) => text.includes(secret));
}

async function start(options: { controlAllow?: string[]; password?: string } = {}) {
  const logger = recordingLogger();
  const app = createApp({
    broker: url(options.password ?? PASSWORD),
    backend: url(options.password ?? PASSWORD),
    logger,
    taskDefaultQueue: `security-${Math.random().toString(36).slice(2, 8)}`,
    brokerConnectionMaxRetries: 1,
    // Secrets among the transport options, as a user would pass them (unused: the server is plain TCP).
    brokerTransportOptions: { sentinelUrl: `redis://admin:${PASSWORD}@127.0.0.1:26379`, tlsOptions: { passphrase: TLS_PASSPHRASE, keyfile: '/etc/ssl/private/tq.key' } },
  });
  const worker = new Worker(app, { logger, mingle: false, hostname: `security-${Math.random().toString(36).slice(2, 8)}@test`, ...(options.controlAllow ? { controlAllow: options.controlAllow } : {}) });
  onCleanup(async () => {
    await worker.stop({ timeout: 2 });
    await app.close();
  });
  return { app, worker, logger };
}

describe('remote control is limited by controlAllow', () => {
  it('answers the allowed inspect commands and refuses shutdown from the network', async () => {
    const { app, worker, logger } = await start({ controlAllow: ['inspect'] });
    await worker.start();
    const to = { destination: [worker.hostname], timeout: 3, reply: true };
    await waitFor(async () => (await app.control.ping({ ...to, timeout: 1 })).length > 0, { timeout: 15_000, message: 'the worker to answer ping' });
    expect(await app.control.ping(to)).toEqual([{ [worker.hostname]: { ok: 'pong' } }]);
    expect(await app.control.shutdown(to)).toEqual([{ [worker.hostname]: { error: 'command shutdown is not allowed on this worker (controlAllow)' } }]);
    expect(await app.control.broadcast('pool_restart', {}, to)).toEqual([{ [worker.hostname]: { error: 'command pool_restart is not allowed on this worker (controlAllow)' } }]);
    expect(worker.state).toBe('running');
    expect(logger.lines.some((l) => l.level === 'warn' && l.message.includes('refused remote-control command "shutdown"'))).toBe(true);
  });

  it('runs nothing for a command that is neither Celery’s nor registered, and says so', async () => {
    const { app, worker, logger } = await start();
    await worker.start();
    const replies = await app.control.broadcast('exec_python', { code: 'import os; os.system("id")' }, { destination: [worker.hostname], timeout: 3, reply: true });
    expect(replies).toEqual([{ [worker.hostname]: { error: 'No such control command: exec_python' } }]);
    expect(logger.lines.some((l) => l.message.includes('ignored unknown remote-control command "exec_python"'))).toBe(true);
    expect(worker.state).toBe('running');
  });

  it('refuses an allow list that is not a list of names', () => {
    const app = createApp({ logger: recordingLogger() });
    onCleanup(() => app.close());
    expect(() => new Worker(app, { controlAllow: 'shutdown' as unknown as string[] })).toThrow(/controlAllow must be a list of command names/);
  });
});

describe('secrets stay out of logs and inspect conf', () => {
  it('masks the broker password and TLS secrets in inspect conf and report', async () => {
    const { app, worker, logger } = await start();
    await worker.start();
    const inspect = app.control.inspect({ destination: [worker.hostname], timeout: 3 });
    const conf = JSON.stringify(await inspect.conf());
    expect(conf).toContain('broker_url');
    expect(conf).toContain('127.0.0.1');
    expect(conf).toContain('***');
    expect(leaks(conf)).toEqual([]);
    expect(leaks(JSON.stringify(await inspect.report()))).toEqual([]);
    expect(leaks(JSON.stringify(await inspect.stats()))).toEqual([]);
    expect(leaks(logger.lines.map((l) => l.message).join('\n'))).toEqual([]);
  });

  it('keeps a wrong password out of the error and every log line when the connection fails', async () => {
    const { worker, logger } = await start({ password: 'wrong-SECRET' });
    const error = await worker.start().then(
      () => null,
      (err: unknown) => err as Error,
    );
    expect(error).not.toBeNull();
    expect(leaks(`${error!.message}\n${String(error!.stack)}`)).toEqual([]);
    const text = logger.lines.map((l) => l.message).join('\n');
    expect(text.length).toBeGreaterThan(0);
    expect(leaks(text)).toEqual([]);
  }, 30_000);
});
