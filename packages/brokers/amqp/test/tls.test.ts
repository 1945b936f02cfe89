/**
 * amqps:// end to end: TLS is terminated by a loopback forwarder in front of the real RabbitMQ
 * (as stunnel or a load balancer would), with a certificate from a throw-away CA. The client
 * verifies the server against `brokerTransportOptions.tls.ca`; without it the start fails at once
 * with a message that says where the certificates go.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, isTqError } from '@tq/core';
import { createTestCertificates, freePort, recordingLogger, TcpForwarder, uniqueName } from '@tq/testing';
import { Worker } from '@tq/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AMQP_URL, rabbitTestFile } from './helpers.js';

// Takes its turn with the other files: one of them restarts RabbitMQ.
rabbitTestFile();
const target = new URL(AMQP_URL);
const dir = mkdtempSync(join(tmpdir(), 'tq-amqps-'));
const certs = createTestCertificates(dir);
let forwarder: TcpForwarder;
let url: string;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  forwarder = new TcpForwarder(await freePort(), { host: target.hostname, port: Number(target.port || 5672) }, { cert: certs.cert, key: certs.key });
  await forwarder.listen();
  url = `amqps://${target.username}:${target.password}@127.0.0.1:${forwarder.port}/${target.pathname.slice(1)}`;
});

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  await forwarder?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('amqps://', () => {
  it('runs tasks over TLS, verifying the server against the configured CA', async () => {
    const queue = uniqueName('tq-amqps');
    const logger = recordingLogger();
    const app = createApp({
      broker: url,
      backend: 'rpc://',
      brokerTransportOptions: { tls: { ca: certs.ca } },
      taskDefaultQueue: queue,
      taskQueues: [{ name: queue, autoDelete: true }],
      logger,
    });
    cleanups.push(() => app.close());
    const mul = app.task('tls.mul', (x: number, y: number) => x * y);
    const worker = new Worker(app, { logger, mingle: false });
    cleanups.push(() => worker.stop({ timeout: 5 }));
    await worker.start();
    const results = await Promise.all([1, 2, 3].map((i) => mul.delay(i, 7)));
    expect(await Promise.all(results.map((r) => r.get({ timeout: 10 })))).toEqual([7, 14, 21]);
    expect(logger.lines.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('refuses a server it cannot verify, at once and with the fix in the message', async () => {
    const logger = recordingLogger();
    const app = createApp({ broker: url, backend: null, logger });
    cleanups.push(() => app.close());
    const error = await new Worker(app, { logger, mingle: false }).start().catch((e: unknown) => e);
    expect(isTqError(error, 'BROKER_ERROR')).toBe(true);
    expect((error as Error).message).toMatch(/^\[tq\] \[broker-amqp\] cannot connect to amqps:\/\/guest:\*\*\*@127\.0\.0\.1:\d+\/\/: TLS failed \(.*certificate.*\)\. Check the certificates given in brokerTransportOptions\.tls\.$/);
    expect((error as { retryable: boolean }).retryable).toBe(false);
    expect(logger.lines.some((l) => /Trying again/.test(l.message))).toBe(false);
  });
});
