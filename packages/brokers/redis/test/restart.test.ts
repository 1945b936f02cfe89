/**
 * A Redis restart in the middle of a run. By default the restarted server is one this file starts
 * itself, so that the rest of the suite (other packages use the shared Redis too) is not
 * disturbed; with TQ_REDIS_RESTART_SHARED=1 it is the shared server, restarted with
 * `scripts/services.sh restart-redis`. Neither keeps data across a restart. Publishers sent while the server is down get through once it
 * is back, a busy consumer and an idle one both resume by themselves (Celery's reported failure
 * is a worker that stays silently idle), broadcasts and result waits survive, and every message
 * is consumed exactly once.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Delivery } from '@tq/core';
import { Collector, conformanceMessage, uniqueName, waitFor } from '@tq/testing';
import { createResultMeta, decodeTaskMessage } from '@tq/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBackend } from '../src/redis-backend.js';
import { RedisBroker } from '../src/redis-broker.js';
import { DB, deleteKeys, PrivateRedis, redisUrl, uniquePrefix } from './helpers.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const prefix = uniquePrefix('restart');
const idOf = (d: Delivery) => decodeTaskMessage(d.message).headers.id;

const SHARED = process.env['TQ_REDIS_RESTART_SHARED'] === '1';
const privateRedis = SHARED ? null : new PrivateRedis();

/** Whether scripts/services.sh started the Redis on the test URL (only then can it restart it). */
function ownSharedRedis(): boolean {
  const pid = join(process.env['TQ_SERVICES_DIR'] ?? '/tmp/tq-services', 'redis', 'redis.pid');
  return existsSync(pid);
}

function restartSharedRedis(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(ROOT, 'scripts', 'services.sh'), 'restart-redis'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`restart-redis exited with ${code}:\n${output}`))));
  });
}

function url(db: number): string {
  return privateRedis ? `${privateRedis.url}/${db}` : redisUrl(db);
}

function restartRedis(): Promise<void> {
  return privateRedis ? privateRedis.restart() : restartSharedRedis();
}

beforeAll(async () => {
  await privateRedis?.start();
});

afterAll(async () => {
  if (privateRedis) {
    await privateRedis.close();
  } else {
    await deleteKeys(DB.broker, `${prefix}*`);
    await deleteKeys(DB.backend, `${prefix}*`);
  }
});

describe('Redis restart', () => {
  it('publishers retry, consumers and subscribers resume, nothing is lost or doubled', { timeout: 120_000 }, async (ctx) => {
    // A shared Redis this repository's script did not start (a developer's own) is not restarted.
    if (SHARED && !ownSharedRedis()) return ctx.skip();
    const consumerSide = new RedisBroker(url(DB.broker), { globalKeyprefix: prefix });
    const producer = new RedisBroker(url(DB.broker), { globalKeyprefix: prefix });
    const backend = new RedisBackend(url(DB.backend), { globalKeyprefix: prefix });
    const resultWriter = new RedisBackend(url(DB.backend), { globalKeyprefix: prefix });
    try {
      const busy = uniqueName('busy');
      const idle = uniqueName('idle');
      const counts = new Map<string, number>();
      const held: Delivery[] = [];
      const busyGot = new Collector<string>();
      await consumerSide.consume([{ name: busy }], (d) => {
        const id = idOf(d);
        counts.set(id, (counts.get(id) ?? 0) + 1);
        busyGot.push(id);
        // Hold the first two across the restart; ack the rest at once.
        if (held.length < 2) held.push(d);
        else void d.ack();
      }, { prefetch: 10 });
      const idleGot = new Collector<string>();
      await consumerSide.consume([{ name: idle }], (d) => {
        idleGot.push(idOf(d));
        void d.ack();
      }, { prefetch: 10 });
      const broadcasts = new Collector<string>();
      await consumerSide.subscribe('tq.restart.fanout', '', (m) => broadcasts.push(decodeTaskMessage(m).headers.id), { exchangeType: 'fanout' });
      const taskId = uniqueName('result');
      backend.onTaskCall(taskId);
      const waiting = backend.waitFor(taskId, { timeout: 60 });

      // Before: 10 messages, all delivered.
      for (let i = 0; i < 10; i++) await producer.publish(conformanceMessage(i), { exchange: '', routingKey: busy }, { declare: [{ name: busy }] });
      await busyGot.atLeast(10, 10_000);

      const down = new Promise<void>((resolve) => producer.on('disconnected', () => resolve()));
      const restarted = restartRedis();
      await down;
      // While the server is down: these wait for the reconnection, then go through.
      const duringDown = Array.from({ length: 10 }, (_, i) => producer.publish(conformanceMessage(100 + i), { exchange: '', routingKey: busy }));
      await restarted;
      await Promise.all(duringDown);

      // After: more for the busy consumer, some for the one that was idle all along, a broadcast, the result.
      for (let i = 200; i < 210; i++) await producer.publish(conformanceMessage(i), { exchange: '', routingKey: busy });
      for (let i = 300; i < 305; i++) await producer.publish(conformanceMessage(i), { exchange: '', routingKey: idle });
      await waitFor(async () => {
        await producer.publish(conformanceMessage(400), { exchange: 'tq.restart.fanout', routingKey: '', exchangeType: 'fanout' });
        return broadcasts.items.length > 0;
      }, { timeout: 20_000, interval: 200, message: 'a broadcast after the restart' });
      await resultWriter.store(createResultMeta({ taskId, status: 'SUCCESS', result: 42, dateDone: new Date() }));

      expect((await waiting).result).toBe(42);
      expect(await idleGot.atLeast(5, 20_000)).toEqual(['msg-300', 'msg-301', 'msg-302', 'msg-303', 'msg-304']);
      await busyGot.atLeast(30, 20_000);
      const expected = [...Array.from({ length: 10 }, (_, i) => `msg-${i}`), ...Array.from({ length: 10 }, (_, i) => `msg-${100 + i}`), ...Array.from({ length: 10 }, (_, i) => `msg-${200 + i}`)];
      expect([...counts.keys()].sort()).toEqual(expected.sort());
      expect([...counts.values()].every((n) => n === 1)).toBe(true);
      // Deliveries held across the restart can still be settled.
      for (const d of held) await d.ack();
      expect(await consumerSide.queueLength(busy)).toBe(0);
    } finally {
      await Promise.allSettled([consumerSide.close(), producer.close(), backend.close(), resultWriter.close()]);
    }
  });
});
