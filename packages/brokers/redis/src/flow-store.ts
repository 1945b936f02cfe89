/**
 * tq's flow store on Redis: the shared state behind global/per-key rate limits, concurrency
 * leases, deduplication claims and their counters (see @tq/core's flow.ts). Each grant is one
 * Lua script, so it is atomic across every worker, and every time comes from the server's clock
 * (`TIME`), so workers with skewed clocks still share one bucket.
 *
 * Keys, under a prefix (default `tq:flow:`): `rate:<task>[:<key>]` a hash {t: tokens, ts: ms};
 * `conc:<task>[:<key>]` a sorted set holder → lease expiry (ms); `dedup:<task>:<key>` the id of
 * the call that claimed it; `stats` a hash of dropped duplicates per task. None of these are
 * Celery keys; a task without flow options never touches them.
 */
import { silentLogger, type FlowSnapshot, type FlowStore, type Logger } from '@tq/core';
import type { Redis } from 'ioredis';
import { backendError, createConnection, LazyConnection, watchOutages } from './connection.js';
import { parseRedisUrl } from './url.js';

const NOW = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000`;

/** KEYS[1] bucket; ARGV rate/s, burst, want → {granted, wait ms}. */
const TAKE = `${NOW}
local rate, burst, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens, ts = tonumber(b[1]), tonumber(b[2])
if tokens == nil or ts == nil then tokens = burst ts = now end
if now > ts then tokens = math.min(burst, tokens + (now - ts) * rate / 1000) end
local granted = math.min(want, math.floor(tokens))
tokens = tokens - granted
local wait = 0
if granted < want then wait = math.max(1, math.ceil((1 - tokens) * 1000 / rate)) end
redis.call('HSET', KEYS[1], 't', string.format('%.6f', tokens), 'ts', string.format('%.3f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 60000)
return {granted, wait}`;

/** KEYS[1] lease set; ARGV limit, ttl ms, holders… → {granted count, retry ms}: holders get leases in order while any is free. */
const ACQUIRE = `${NOW}
now = math.floor(now)
local limit, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local held = redis.call('ZCARD', KEYS[1])
local granted = 0
for i = 3, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('ZADD', KEYS[1], now + ttl, ARGV[i])
  elseif held < limit then
    redis.call('ZADD', KEYS[1], now + ttl, ARGV[i])
    held = held + 1
  else
    break
  end
  granted = granted + 1
end
if granted > 0 then redis.call('PEXPIRE', KEYS[1], ttl * 2) end
if granted == #ARGV - 2 then return {granted, 0} end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {granted, math.max(1, tonumber(first[2]) - now)}`;

/** KEYS lease sets; ARGV ttl ms, then one holder per key: extends only leases still held. */
const RENEW = `${NOW}
now = math.floor(now)
local ttl = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  -- An expired lease stays lost even if nobody has purged it yet.
  if tonumber(redis.call('ZSCORE', key, ARGV[i + 1]) or 0) > now then
    redis.call('ZADD', key, 'XX', now + ttl, ARGV[i + 1])
    redis.call('PEXPIRE', key, ttl * 2)
  end
end
return 0`;

/** KEYS[1] claim, KEYS[2] stats; ARGV id, ttl s, counter → {claimed 0/1, holder}. */
const CLAIM = `local holder = redis.call('GET', KEYS[1])
if holder then redis.call('HINCRBY', KEYS[2], ARGV[3], 1) return {0, holder} end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return {1, ARGV[1]}`;

/** KEYS[1] claim, KEYS[2] stats; ARGV from, to, ttl s, counter: taken while `from` holds it or nobody does (the refusal that led here is uncounted). */
const RECLAIM = `local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
redis.call('HINCRBY', KEYS[2], ARGV[4], -1)
return 1`;

/** KEYS[1] claim; ARGV id: deleted only when this id holds it. */
const UNCLAIM = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

interface FlowCommands {
  tqFlowTake(key: string, rate: number, burst: number, want: number): Promise<[number, number]>;
  tqFlowAcquire(key: string, limit: number, ttl: number, ...holders: string[]): Promise<[number, number]>;
  tqFlowRenew(...args: Array<string | number>): Promise<number>;
  tqFlowClaim(key: string, stats: string, id: string, ttl: number, counter: string): Promise<[number, string]>;
  tqFlowUnclaim(key: string, id: string): Promise<number>;
  tqFlowReclaim(key: string, stats: string, from: string, to: string, ttl: number, counter: string): Promise<number>;
}

export interface RedisFlowStoreOptions {
  logger?: Logger;
  /** Key prefix (default `tq:flow:`). */
  prefix?: string;
}

type FlowRedis = Redis & FlowCommands;

export class RedisFlowStore implements FlowStore {
  readonly name = 'redis';
  private readonly prefix: string;
  private readonly display: string;
  private readonly connection: LazyConnection<FlowRedis>;
  private closed = false;

  constructor(url: string, options: RedisFlowStoreOptions = {}) {
    const endpoint = parseRedisUrl(url);
    this.display = endpoint.display;
    this.prefix = options.prefix ?? 'tq:flow:';
    const logger = options.logger ?? silentLogger;
    this.connection = new LazyConnection(
      () => {
        // Used again after close(): a new connection, watched as the first was.
        this.closed = false;
        const client = createConnection({ endpoint, role: 'commands', maxRetriesPerRequest: 20, name: 'tq-flow' });
        client.defineCommand('tqFlowTake', { numberOfKeys: 1, lua: TAKE });
        client.defineCommand('tqFlowAcquire', { numberOfKeys: 1, lua: ACQUIRE });
        client.defineCommand('tqFlowClaim', { numberOfKeys: 2, lua: CLAIM });
        client.defineCommand('tqFlowUnclaim', { numberOfKeys: 1, lua: UNCLAIM });
        client.defineCommand('tqFlowReclaim', { numberOfKeys: 2, lua: RECLAIM });
        client.defineCommand('tqFlowRenew', { lua: RENEW });
        // An outage is logged once, and its end, not once per reconnection attempt.
        watchOutages(client, {
          logger,
          lost: (err) => backendError('flow store lost the connection to', this.display, err),
          restored: `[broker-redis] flow store reconnected to ${this.display}`,
          isClosed: () => this.closed,
        });
        return client as FlowRedis;
      },
      (err) => backendError('connect the flow store', this.display, err),
    );
  }

  private ready(): Promise<FlowRedis> {
    return this.connection.ready();
  }

  async takeTokens(key: string, rate: number, burst: number, want: number): Promise<{ granted: number; waitMs: number }> {
    const client = await this.ready();
    const [granted, waitMs] = await client.tqFlowTake(this.prefix + key, rate, burst, want);
    return { granted, waitMs };
  }

  async acquireLeases(key: string, holders: readonly string[], limit: number, ttlMs: number): Promise<{ granted: number; retryMs: number }> {
    const client = await this.ready();
    const [granted, retryMs] = await client.tqFlowAcquire(this.prefix + key, limit, Math.ceil(ttlMs), ...holders);
    return { granted, retryMs };
  }

  async renewLeases(leases: ReadonlyArray<{ key: string; holder: string }>, ttlMs: number): Promise<void> {
    if (leases.length === 0) return;
    const client = await this.ready();
    await client.tqFlowRenew(leases.length, ...leases.map((l) => this.prefix + l.key), Math.ceil(ttlMs), ...leases.map((l) => l.holder));
  }

  async releaseLease(key: string, holder: string): Promise<void> {
    const client = await this.ready();
    await client.zrem(this.prefix + key, holder);
  }

  async claim(key: string, id: string, ttlSeconds: number, counter: string): Promise<{ claimed: boolean; holder: string }> {
    const client = await this.ready();
    const [claimed, holder] = await client.tqFlowClaim(this.prefix + key, `${this.prefix}stats`, id, Math.max(1, Math.ceil(ttlSeconds)), counter);
    return { claimed: claimed === 1, holder };
  }

  async reclaim(key: string, from: string, to: string, ttlSeconds: number, counter: string): Promise<boolean> {
    const client = await this.ready();
    return (await client.tqFlowReclaim(this.prefix + key, `${this.prefix}stats`, from, to, Math.max(1, Math.ceil(ttlSeconds)), counter)) === 1;
  }

  async unclaim(key: string, id: string): Promise<void> {
    const client = await this.ready();
    await client.tqFlowUnclaim(this.prefix + key, id);
  }

  /** Tokens are shown as stored at the last grant (a bucket refills lazily, on the next take). */
  async snapshot(): Promise<FlowSnapshot> {
    const client = await this.ready();
    const out: FlowSnapshot = { tokens: {}, running: {}, deduped: {}, claimed: 0 };
    let cursor = '0';
    // Lease expiries are the server's milliseconds (TIME), not this machine's.
    const [seconds, micros] = await client.time();
    const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${this.prefix}*`, 'COUNT', 500);
      cursor = next;
      // A page's reads are sent together: one round trip per page, not one per key.
      const reads: Promise<void>[] = [];
      for (const full of keys) {
        const key = full.slice(this.prefix.length);
        if (key.startsWith('rate:')) {
          reads.push(client.hget(full, 't').then((tokens) => void (out.tokens[key.slice(5)] = Math.floor(Number(tokens ?? 0) * 100) / 100)));
        } else if (key.startsWith('conc:')) {
          reads.push(client.zcount(full, now, '+inf').then((n) => void (out.running[key.slice(5)] = n)));
        } else if (key.startsWith('dedup:')) out.claimed++;
      }
      await Promise.all(reads);
    } while (cursor !== '0');
    const stats = await client.hgetall(`${this.prefix}stats`);
    for (const [task, n] of Object.entries(stats)) out.deduped[task] = Number(n);
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.connection.take()?.disconnect();
  }
}

/** The flow store for a Redis URL; called by @tq/core (flow.ts). */
export function createFlowStore(url: string, context: { logger: Logger; prefix: string }): RedisFlowStore {
  return new RedisFlowStore(url, context);
}
