/**
 * RabbitMQ restarted in the middle of a run: a client keeps publishing and a worker keeps
 * running acks-late tasks while the server goes away and comes back. Every task published is
 * run (at least once: a task whose ack was lost with the connection runs again), no publish is
 * lost silently, and both sides reconnect on their own.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApp, silentLogger } from '@tq/core';
import { uniqueName, waitFor } from '@tq/testing';
import { Worker } from '@tq/worker';
import { expect, it } from 'vitest';
import type { AmqpBroker } from '../src/index.js';
import { AMQP_URL, rabbitTestFile } from './helpers.js';

const SERVICES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'scripts', 'services.sh');

const created = rabbitTestFile();

function restartRabbit(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [SERVICES, 'restart-rabbitmq'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`restart-rabbitmq exited with ${code}:\n${out}`))));
  });
}

it('loses nothing when RabbitMQ restarts during a run (acks late), and reconnects both sides', async () => {
  const queue = uniqueName('tq-amqp-restart');
  created.queues.add(queue);
  created.exchanges.add(queue);
  const options = { broker: AMQP_URL, backend: null, logger: silentLogger, taskDefaultQueue: queue, brokerTransportOptions: { maxReconnectDelay: 1000 } };
  const client = createApp(options);
  const server = createApp(options);
  const ran = new Map<number, number>();
  server.task({ name: 'restart.work', acksLate: true }, async (n: number) => {
    // A little work, so that some tasks are running (unacknowledged) when the server goes.
    await new Promise((resolve) => setTimeout(resolve, 5));
    ran.set(n, (ran.get(n) ?? 0) + 1);
  });
  const worker = new Worker(server, { queues: [queue], concurrency: 4, prefetchMultiplier: 2, logger: silentLogger });
  await worker.start();
  const events: string[] = [];
  for (const [name, app] of [['client', client], ['worker', server]] as const) {
    const broker = (await app.getBroker()) as AmqpBroker;
    broker.on('disconnected', () => events.push(`${name} disconnected`));
    broker.on('connected', () => events.push(`${name} connected`));
  }

  // A client that will not wait for the connection: its publish during the outage fails, loudly.
  const impatient = createApp({ ...options, taskPublishRetry: false, brokerTransportOptions: { operationTimeout: 200, maxReconnectDelay: 1000 } });
  const impatientBroker = (await impatient.getBroker()) as AmqpBroker;
  let impatientError: unknown = null;
  impatientBroker.on('disconnected', () => {
    impatient.sendTask('restart.work', [-1]).catch((err: unknown) => (impatientError = err));
  });

  const total = 300;
  const published: number[] = [];
  const failed: unknown[] = [];
  let restart: Promise<void> | null = null;
  for (let n = 0; n < total; n++) {
    if (n === 100) restart = restartRabbit();
    try {
      await client.sendTask('restart.work', [n]);
      published.push(n);
    } catch (err) {
      failed.push(err);
    }
    // Keep publishing through the outage, at a pace that spreads the run across it.
    if (n >= 100 && restart && events.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await restart;
  // Publishes during the outage waited for the reconnect (or failed loudly, never silently).
  for (const err of failed) expect(String(err)).toMatch(/\[tq\] \[broker-amqp\]/);
  expect(published.length + failed.length).toBe(total);
  expect(failed.length).toBe(0);
  await waitFor(() => published.every((n) => ran.has(n)), {
    timeout: 60_000,
    interval: 50,
    message: `every published task to run (ran ${ran.size} of ${published.length})`,
  });
  expect(events).toEqual(expect.arrayContaining(['client disconnected', 'client connected', 'worker disconnected', 'worker connected']));
  await waitFor(() => impatientError, { message: 'the impatient publish to fail' });
  expect(String(impatientError)).toMatch(/\[tq\] \[broker-amqp\] cannot publish: not connected to amqp:\/\/guest:\*\*\*@.*still reconnecting after 200 ms\. Is RabbitMQ running\?/);
  expect((impatientError as { retryable?: boolean }).retryable).toBe(true);
  await impatient.close();
  await worker.stop();
  await server.close();
  await client.close();
}, 180_000);
