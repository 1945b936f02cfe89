/**
 * Shared settings for the integration tests: the server (TQ_MONGO_URL, default loopback FerretDB),
 * a database of each test file's own, dropped after the file, so concurrent runs never collide.
 */
import { afterAll, afterEach } from 'vitest';
import { MongoClient } from 'mongodb';

export const MONGO_URL = (process.env['TQ_MONGO_URL'] ?? 'mongodb://127.0.0.1:27017').replace(/\/+$/, '');

/** `mongodb://host:port/<db>?<query>` for a database on the shared server (or on `base`). */
export function mongoUrl(database: string, base = MONGO_URL): string {
  const m = /^(mongodb(?:\+srv)?:\/\/[^/?]*)(?:\/[^?]*)?(\?.*)?$/.exec(base);
  if (!m) throw new Error(`TQ_MONGO_URL is not a mongodb:// URL: ${base}`);
  return `${m[1]}/${database}${m[2] ?? ''}`;
}

export function uniqueDatabase(name: string): string {
  return `tqtest_${name}_${Math.random().toString(36).slice(2, 10)}`;
}

/**
 * A test file's own database: its name and URL, a plain client for reading what was written,
 * things given to `track` closed after each test, and the database dropped after the file.
 */
export function testDatabase(name: string) {
  const database = uniqueDatabase(name);
  const url = mongoUrl(database);
  const raw = new MongoClient(MONGO_URL);
  const opened: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const item of opened.splice(0).reverse()) await item.close();
  });
  afterAll(async () => {
    await raw.db(database).dropDatabase().catch(() => undefined);
    await raw.close();
  });
  return {
    database,
    url,
    raw,
    db: () => raw.db(database),
    track<T extends { close(): Promise<void> }>(item: T): T {
      opened.push(item);
      return item;
    },
  };
}
