/**
 * The Redis flow store's rules, against real Redis: buckets refill at their rate and never
 * exceed their burst, leases are bounded and a renewal never brings back one that expired,
 * claims are held by one id and freed only by it; the running counts follow the server's clock,
 * and an outage is logged once and survived.
 */
import { randomUUID } from 'node:crypto';
import { recordingLogger, waitFor } from '@tq/testing';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { RedisFlowStore } from '../src/index.js';
import { PrivateRedis } from './helpers.js';

const URL = `${(process.env['TQ_REDIS_URL'] ?? 'redis://127.0.0.1:6379').replace(/\/\d*$/, '')}/10`;
const prefix = `tqflowstore:${randomUUID().slice(0, 8)}:`;
const store = new RedisFlowStore(URL, { prefix });
const redis = new Redis(URL);

afterAll(async () => {
  await store.close();
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

describe('the Redis flow store', () => {
  it('grants at most the burst at once, then tokens at the rate, with the wait until the next', async () => {
    const first = await store.takeTokens('rate:t', 10, 3, 5);
    expect(first.granted).toBe(3);
    expect(first.waitMs).toBeGreaterThan(0);
    expect(first.waitMs).toBeLessThanOrEqual(100);
    // Concurrent takers share the bucket: never more than what refilled.
    const started = Date.now();
    const takes = await Promise.all(Array.from({ length: 20 }, () => store.takeTokens('rate:t', 10, 3, 1)));
    const elapsed = Date.now() - started;
    expect(takes.reduce((n, t) => n + t.granted, 0)).toBeLessThanOrEqual(1 + Math.ceil(elapsed / 100));
  });

  it('holds at most limit leases, and a lease that expired is not renewed back', async () => {
    const got = await store.acquireLeases('conc:t', ['h1', 'h2', 'h3'], 2, 200);
    expect(got.granted).toBe(2);
    expect(got.retryMs).toBeGreaterThan(0);
    // Asking again for a held lease extends it and takes no new slot.
    expect((await store.acquireLeases('conc:t', ['h1'], 2, 200)).granted).toBe(1);
    await store.releaseLease('conc:t', 'h2');
    expect((await store.acquireLeases('conc:t', ['h3'], 2, 50)).granted).toBe(1);
    const deadline = Date.now() + 2000;
    while ((await store.acquireLeases('conc:t', ['h4'], 2, 5000)).granted === 0) {
      if (Date.now() > deadline) throw new Error('h3 never expired');
    }
    await store.renewLeases([{ key: 'conc:t', holder: 'h3' }], 5000);
    expect(await redis.zscore(`${prefix}conc:t`, 'h3')).toBeNull();
    expect((await store.snapshot()).running['t']).toBe(2);
    // Leases expire by the server's clock: a worker whose clock is an hour ahead counts them alike.
    const skewed = vi.spyOn(Date, 'now').mockReturnValue(Date.now() + 3_600_000);
    try {
      expect((await store.snapshot()).running['t']).toBe(2);
    } finally {
      skewed.mockRestore();
    }
  });

  it('lets one id hold a claim, counts the refused ones, and frees it only for that id', async () => {
    expect(await store.claim('dedup:t:k', 'id1', 30, 't')).toEqual({ claimed: true, holder: 'id1' });
    expect(await store.claim('dedup:t:k', 'id2', 30, 't')).toEqual({ claimed: false, holder: 'id1' });
    await store.unclaim('dedup:t:k', 'id2');
    expect(await store.claim('dedup:t:k', 'id3', 30, 't')).toEqual({ claimed: false, holder: 'id1' });
    await store.unclaim('dedup:t:k', 'id1');
    expect((await store.claim('dedup:t:k', 'id4', 30, 't')).claimed).toBe(true);
    // Handed over only from the holder; the refusal that led to it is not counted.
    expect(await store.claim('dedup:t:k', 'id5', 30, 't')).toEqual({ claimed: false, holder: 'id4' });
    expect(await store.reclaim('dedup:t:k', 'id1', 'id5', 30, 't')).toBe(false);
    expect(await store.reclaim('dedup:t:k', 'id4', 'id5', 30, 't')).toBe(true);
    expect(await redis.get(`${prefix}dedup:t:k`)).toBe('id5');
    // Freed meanwhile: taken all the same.
    await store.unclaim('dedup:t:k', 'id5');
    expect(await store.reclaim('dedup:t:k', 'id5', 'id6', 30, 't')).toBe(true);
    expect(await redis.get(`${prefix}dedup:t:k`)).toBe('id6');
    const snapshot = await store.snapshot();
    // Three refusals (id2, id3, id5), two followed by a takeover (uncounted each).
    expect(snapshot.deduped['t']).toBe(1);
    expect(snapshot.claimed).toBe(1);
  });

  it('reports every bucket and lease of many tasks, over several SCAN pages', async () => {
    const many = new RedisFlowStore(URL, { prefix: `${prefix}many:` });
    try {
      await Promise.all(Array.from({ length: 600 }, (_, i) => many.takeTokens(`rate:r${i}`, 1, 5, 2)));
      await Promise.all(Array.from({ length: 600 }, (_, i) => many.acquireLeases(`conc:c${i}`, ['a', 'b', 'c'].slice(0, 1 + (i % 3)), 5, 5000)));
      const snapshot = await many.snapshot();
      expect(Object.keys(snapshot.tokens)).toHaveLength(600);
      expect(snapshot.tokens['r599']).toBe(3);
      expect(Object.keys(snapshot.running)).toHaveLength(600);
      expect(snapshot.running['c0']).toBe(1);
      expect(snapshot.running['c599']).toBe(3);
    } finally {
      await many.close();
    }
  });
});

describe('the Redis flow store across a Redis restart', () => {
  it('logs the outage once and its end, and grants again once Redis is back', async () => {
    const server = new PrivateRedis();
    await server.start();
    const logger = recordingLogger();
    const own = new RedisFlowStore(`${server.url}/0`, { prefix, logger });
    try {
      expect((await own.takeTokens('rate:r', 100, 5, 1)).granted).toBe(1);
      await server.stop();
      const lostLines = () => logger.lines.filter((l) => /flow store lost the connection to redis:\/\/127\.0\.0\.1:\d+\/0: ECONNREFUSED/.test(l.message));
      // Asked while Redis is down: the call waits for the connection instead of failing.
      const during = own.takeTokens('rate:r', 100, 5, 5);
      await waitFor(() => lostLines().length > 0, { message: 'the outage to be logged' });
      await server.start();
      // The bucket is gone with the restart: a full burst again, once the connection is back.
      expect((await during).granted).toBe(5);
      const lost = lostLines();
      expect(lost).toHaveLength(1);
      expect(lost[0]!.level).toBe('warn');
      expect(logger.lines.filter((l) => /flow store reconnected to/.test(l.message))).toHaveLength(1);
      // Used again after close: a new connection, whose outages are logged too.
      await own.close();
      expect((await own.takeTokens('rate:r2', 100, 5, 1)).granted).toBe(1);
      await server.stop();
      const again = own.takeTokens('rate:r2', 100, 5, 1);
      await waitFor(() => lostLines().length === 2, { message: 'the second outage to be logged' });
      await server.start();
      expect((await again).granted).toBe(1);
    } finally {
      await own.close();
      await server.close();
    }
  });
});
