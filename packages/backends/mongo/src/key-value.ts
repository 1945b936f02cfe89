/**
 * Beat's lease and run records (docs/beat.md): `tq_kv` documents `{_id: key, value, expiresAt}`.
 * Reads check `expiresAt` themselves (a TTL index, where the server has one, only tidies up).
 * compareAndSet is one conditional write: from "absent or expired", an update of an expired
 * document or else an insert, where the unique `_id` lets exactly one of several writers win;
 * from a value, an update (or delete) that matches only that value, unexpired.
 *
 * MongoDB applies a conditional update atomically. FerretDB v1 does not (it reads, then writes:
 * ten concurrent updates of one matching document all report success), so there two beats can
 * both take over an *expired* lease at the same instant; taking a free one is safe everywhere.
 */
import type { Collection } from 'mongodb';
import { isDuplicateKey } from './errors.js';

interface KeyDocument {
  _id: string;
  value: string;
  expiresAt: Date | null;
}

type ErrorFor = (what: string, err: unknown) => Error;

export class KeyValueStore {
  constructor(
    private readonly collection: Collection<KeyDocument>,
    private readonly error: ErrorFor,
  ) {}

  private static live(now: Date) {
    return { $or: [{ expiresAt: null }, { expiresAt: { $gt: now } }] };
  }

  async get(key: string): Promise<string | null> {
    try {
      const doc = await this.collection.findOne({ _id: key, ...KeyValueStore.live(new Date()) });
      return doc ? doc.value : null;
    } catch (err) {
      throw this.error(`could not read ${key} on`, err);
    }
  }

  async compareAndSet(key: string, expected: string | null, value: string | null, ttl?: number): Promise<boolean> {
    const now = new Date();
    const expiresAt = ttl === undefined ? null : new Date(now.getTime() + Math.max(1, Math.ceil(ttl * 1000)));
    try {
      if (expected === null) {
        if (value === null) {
          // Absent or expired already: the only change is tidying an expired document away.
          await this.collection.deleteOne({ _id: key, expiresAt: { $lte: now } });
          return (await this.collection.countDocuments({ _id: key, ...KeyValueStore.live(now) })) === 0;
        }
        const taken = await this.collection.updateOne({ _id: key, expiresAt: { $lte: now } }, { $set: { value, expiresAt } });
        if (taken.matchedCount === 1) return true;
        try {
          await this.collection.insertOne({ _id: key, value, expiresAt });
          return true;
        } catch (err) {
          if (isDuplicateKey(err)) return false;
          throw err;
        }
      }
      const filter = { _id: key, value: expected, ...KeyValueStore.live(now) };
      if (value === null) return (await this.collection.deleteOne(filter)).deletedCount === 1;
      return (await this.collection.updateOne(filter, { $set: { value, expiresAt } })).matchedCount === 1;
    } catch (err) {
      throw this.error(`could not update ${key} on`, err);
    }
  }
}
