/**
 * Task history in MongoDB: one collection (default `tq-flower`) of `{ _id: uuid, updated, task }`
 * documents with an index on `updated`. The `mongodb` driver is an optional dependency, loaded
 * only when a mongodb:// history URL is given.
 */
import { AdapterMissingError, BackendError, redactUrl } from '@tq/core';
import type { Collection, MongoClient } from 'mongodb';
import type { HistoryStore, ResolvedRetention, StoredTask } from './history-store.js';
import type { TaskJson } from '../types.js';

interface Doc {
  _id: string;
  updated: number;
  task: TaskJson;
  canvas?: Record<string, unknown>;
}

export class MongoHistory implements HistoryStore {
  readonly kind = 'mongodb';

  private constructor(
    readonly description: string,
    private readonly client: MongoClient,
    private readonly collection: Collection<Doc>,
  ) {}

  static async open(url: string, name: string): Promise<MongoHistory> {
    let driver: typeof import('mongodb');
    try {
      driver = await import('mongodb');
    } catch (err) {
      throw new AdapterMissingError('mongodb', 'mongodb', err);
    }
    const description = redactUrl(url);
    const client = new driver.MongoClient(url, { serverSelectionTimeoutMS: 5000 });
    try {
      await client.connect();
      const collection = client.db().collection<Doc>(name);
      await collection.createIndex({ updated: 1 });
      return new MongoHistory(description, client, collection);
    } catch (err) {
      await client.close().catch(() => undefined);
      throw new BackendError(`[flower] history store ${description}: could not connect: ${(err as Error).message}. Is MongoDB running?`, { cause: err });
    }
  }

  async load(limit: number): Promise<StoredTask[]> {
    const docs = await this.collection.find({}).sort({ updated: -1 }).limit(limit).toArray();
    return docs.reverse().map((d) => ({ task: d.task, updated: d.updated, ...(d.canvas ? { canvas: d.canvas } : {}) }));
  }

  async save(records: StoredTask[]): Promise<void> {
    if (records.length === 0) return;
    await this.collection.bulkWrite(
      records.map((r) => ({ replaceOne: { filter: { _id: r.task.uuid }, replacement: { _id: r.task.uuid, updated: r.updated, task: r.task, ...(r.canvas ? { canvas: r.canvas } : {}) }, upsert: true } })),
      { ordered: false },
    );
  }

  async trim(retention: ResolvedRetention, now: number): Promise<number> {
    let dropped = 0;
    if (retention.maxAgeSeconds !== null) dropped += (await this.collection.deleteMany({ updated: { $lt: now - retention.maxAgeSeconds } })).deletedCount;
    const total = await this.collection.countDocuments();
    if (total > retention.maxTasks) {
      const cut = await this.collection.find({}, { projection: { updated: 1 } }).sort({ updated: -1 }).skip(retention.maxTasks).limit(1).toArray();
      if (cut[0]) dropped += (await this.collection.deleteMany({ updated: { $lte: cut[0].updated } })).deletedCount;
    }
    return dropped;
  }

  count(): Promise<number> {
    return this.collection.countDocuments();
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
