/**
 * Two real `tq beat` processes sharing their state and lease in Redis (127.0.0.1:6379 db 13, or
 * TQ_REDIS_URL's host with db 13): the leader is killed with SIGKILL, the other takes over within
 * one lease period, and every run is sent once. State and lease live in @tq/broker-redis's
 * RedisBackend (getValue / compareAndSet). Redis must be running (scripts/services.sh up redis).
 */
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, startCli, type CliProcess } from './cli-helpers.js';

const base = new URL(process.env['TQ_REDIS_URL'] ?? 'redis://127.0.0.1:6379/0');
base.pathname = '/13';
const url = base.toString();
const KEY_PREFIX = 'tq-beat:beatredis:';

let redis: Redis | null = null;

beforeAll(async () => {
  redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 1000, retryStrategy: () => null });
  await redis.connect();
  const keys = await redis.keys(`${KEY_PREFIX}*`);
  if (keys.length) await redis.del(...keys);
});

afterAll(async () => {
  if (redis?.status === 'ready') {
    const keys = await redis.keys(`${KEY_PREFIX}*`);
    if (keys.length) await redis.del(...keys);
  }
  redis?.disconnect();
});

/** Task ids a beat process logged as sent (`fixture.tick sent. id-><id>`), with when we saw them. */
function sentIds(cli: CliProcess): string[] {
  return [...cli.output().matchAll(/fixture\.tick sent\. id->(\S+)/g)].map((m) => m[1]!);
}

const LEASE_TTL = 2;

describe('beat failover across processes (Redis)', () => {
  it('one of two beat processes sends; when it is killed the other takes over and no run is lost or repeated', async () => {
    const env = { TQ_BEAT_REDIS_URL: url };
    const args = ['beat', '-A', join(FIXTURES, 'beat-redis-app.ts'), '--store', 'backend', '--lease-ttl', String(LEASE_TTL), '--loglevel', 'debug'];
    const a = startCli(args, env);
    let b: CliProcess | null = null;
    try {
      await a.waitFor(/acquired the lease tq-beat:beatredis:lease/);
      b = startCli(args, env);
      await b.waitFor(/\. state -> the redis result backend \(lease 2s/);
      await a.waitFor(/(fixture\.tick sent\. id->\S+[^]*){3}/);
      expect(b.output()).not.toMatch(/acquired the lease/);
      expect(sentIds(b)).toEqual([]);

      a.child.kill('SIGKILL');
      const killedAt = Date.now();
      await a.exited;
      const fromA = sentIds(a);
      await b.waitFor(/acquired the lease tq-beat:beatredis:lease/, 10_000);
      const tookOver = Date.now() - killedAt;
      // The lease expires at most LEASE_TTL after A's last renewal; B tries every LEASE_TTL/10.
      expect(tookOver).toBeLessThan((LEASE_TTL + LEASE_TTL / 10) * 1000 + 1500);
      await b.waitFor(/(fixture\.tick sent\. id->\S+[^]*){3}/);
      b.child.kill('SIGTERM');
      expect(await b.exited).toBe(0);

      const fromB = sentIds(b);
      const all = [...fromA, ...fromB];
      const record = JSON.parse((await redis!.get(`${KEY_PREFIX}entry:tick`))!) as { totalRunCount: number; pending: unknown };
      // Every claimed run was sent (none lost)…
      expect(record.pending).toBeNull();
      expect(new Set(all).size).toBe(record.totalRunCount);
      // …and at most the one run A may have published just before being killed (between its
      // publish and its "done") was sent again by B, with the same task id.
      expect(all.length - new Set(all).size).toBeLessThanOrEqual(1);
      // B released the lease when it stopped.
      expect(await redis!.get(`${KEY_PREFIX}lease`)).toBeNull();
    } finally {
      if (a.child.exitCode === null) a.child.kill('SIGKILL');
      if (b && b.child.exitCode === null) b.child.kill('SIGKILL');
    }
  });
});
