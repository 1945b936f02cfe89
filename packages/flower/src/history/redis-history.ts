/**
 * Task history in Redis: one hash of records (`<key>:tasks`, id → TaskJson) and a sorted set
 * ordering them by last update (`<key>:updated`). Replicas on one Redis share both; retention
 * removes the oldest beyond `maxTasks` and those older than `maxAgeSeconds`.
 */
import { BackendError, redactUrl } from '@tq/core';
import { Redis } from 'ioredis';
import type { HistoryStore, ResolvedRetention, StoredTask } from './history-store.js';
import type { TaskJson } from '../types.js';

const CHUNK = 1000;

export class RedisHistory implements HistoryStore {
  readonly kind = 'redis';
  readonly description: string;
  private readonly client: Redis;
  private readonly tasksKey: string;
  private readonly updatedKey: string;

  constructor(url: string, key: string) {
    this.description = redactUrl(url);
    this.client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3, enableOfflineQueue: true });
    // ioredis reports connection errors on the client; the calls that fail say so themselves.
    this.client.on('error', () => undefined);
    this.tasksKey = `${key}:tasks`;
    this.updatedKey = `${key}:updated`;
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw new BackendError(`[flower] history store ${this.description}: could not ${what}: ${(err as Error).message}. Is Redis running?`, { cause: err, retryable: true });
    }
  }

  async load(limit: number): Promise<StoredTask[]> {
    return this.call('load the history', async () => {
      const ids = await this.client.zrevrange(this.updatedKey, 0, limit - 1, 'WITHSCORES');
      const out: StoredTask[] = [];
      for (let i = 0; i < ids.length; i += CHUNK * 2) {
        const slice = ids.slice(i, i + CHUNK * 2);
        const keys = slice.filter((_, j) => j % 2 === 0);
        const values = await this.client.hmget(this.tasksKey, ...keys);
        values.forEach((text, j) => {
          if (text === null) return;
          try {
            const { canvas, ...task } = JSON.parse(text) as TaskJson & { canvas?: Record<string, unknown> };
            out.push({ task, updated: Number(slice[j * 2 + 1]), ...(canvas ? { canvas } : {}) });
          } catch {
            // An unreadable record is skipped; the next event about the task rewrites it.
          }
        });
      }
      return out.reverse();
    });
  }

  async save(records: StoredTask[]): Promise<void> {
    if (records.length === 0) return;
    await this.call('save tasks', async () => {
      for (let i = 0; i < records.length; i += CHUNK) {
        const pipeline = this.client.pipeline();
        const hash: string[] = [];
        const scores: Array<string | number> = [];
        for (const r of records.slice(i, i + CHUNK)) {
          hash.push(r.task.uuid, JSON.stringify(r.canvas ? { ...r.task, canvas: r.canvas } : r.task));
          scores.push(r.updated, r.task.uuid);
        }
        pipeline.hset(this.tasksKey, ...hash);
        pipeline.zadd(this.updatedKey, ...scores);
        await pipeline.exec();
      }
    });
  }

  async trim(retention: ResolvedRetention, now: number): Promise<number> {
    return this.call('apply retention', async () => {
      const drop: string[] = [];
      if (retention.maxAgeSeconds !== null) drop.push(...(await this.client.zrangebyscore(this.updatedKey, '-inf', `(${now - retention.maxAgeSeconds}`)));
      const total = await this.client.zcard(this.updatedKey);
      const excess = total - drop.length - retention.maxTasks;
      if (excess > 0) drop.push(...(await this.client.zrange(this.updatedKey, drop.length, drop.length + excess - 1)));
      for (let i = 0; i < drop.length; i += CHUNK) {
        const ids = drop.slice(i, i + CHUNK);
        await this.client.pipeline().hdel(this.tasksKey, ...ids).zrem(this.updatedKey, ...ids).exec();
      }
      return drop.length;
    });
  }

  async count(): Promise<number> {
    return this.call('count tasks', () => this.client.zcard(this.updatedKey));
  }

  async close(): Promise<void> {
    await this.client.quit().catch(() => this.client.disconnect());
  }
}
