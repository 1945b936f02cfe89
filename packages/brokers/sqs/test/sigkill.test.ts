/**
 * A tq worker SIGKILLed while it holds acksLate messages (it extends their visibility while it
 * lives): once it is gone the messages come back after the visibility timeout, flagged as
 * redelivered, and another worker runs them.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createApp, silentLogger } from '@tq/core';
import { uniqueName, waitFor } from '@tq/testing';
import { Worker } from '@tq/worker';
import { afterAll, describe, expect, it } from 'vitest';
import { RESULTS, SQS_URL, testPrefix } from './helpers.js';

const prefix = testPrefix('kill');
const queue = uniqueName('kill');
const FIXTURE = fileURLToPath(new URL('./fixtures/held-worker.ts', import.meta.url));
const cleanups: Array<() => Promise<void>> = [];

afterAll(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe('a tq worker killed while holding messages', () => {
  it('gives them back after the visibility timeout, and another worker runs them', { timeout: 60_000 }, async () => {
    const app = createApp({ broker: SQS_URL, backend: RESULTS.tq, brokerTransportOptions: { queueNamePrefix: prefix, visibilityTimeout: 2, waitTimeSeconds: 1 }, resultBackendTransportOptions: { globalKeyprefix: prefix }, taskDefaultQueue: queue, logger: silentLogger });
    cleanups.push(() => app.close());
    const results = await Promise.all([1, 2, 3].map((n) => app.sendTask<string>('k.hold', [], { taskId: `${queue}-${n}` })));

    const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=@tq/source', FIXTURE, SQS_URL, prefix, queue, RESULTS.tq], { stdio: ['ignore', 'pipe', 'inherit'] });
    cleanups.push(async () => void child.kill('SIGKILL'));
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await waitFor(() => results.every((r) => out.includes(`started ${r.id}`)), { timeout: 30_000, message: 'the child worker to start all three tasks' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;

    const redelivered: boolean[] = [];
    app.task({ name: 'k.hold', bind: true }, (request) => {
      redelivered.push(request.deliveryInfo.redelivered);
      return 'ran again';
    });
    const worker = new Worker(app, { queues: [queue], concurrency: 10, logger: silentLogger, mingle: false, hostname: `again-${queue}@%h` });
    await worker.start();
    cleanups.unshift(() => worker.stop({ timeout: 10 }));
    expect(await Promise.all(results.map((r) => r.get({ timeout: 20 })))).toEqual(['ran again', 'ran again', 'ran again']);
    expect(redelivered).toEqual([true, true, true]);
  });
});
