/**
 * The indexes the backend makes on first connect. Celery makes `date_done_1` on both collections
 * (for `backend_cleanup`); tq makes the same, so Python and tq find what they expect.
 *
 * With `ttlIndex`, the server deletes expired results itself. The TTL index cannot be Celery's
 * `date_done_1` (Celery would then fail to create that one, with different options): it is
 * `{date_done: -1}`, a different key pattern that MongoDB keeps beside it. A second one on
 * `tq_expires` (expireAfterSeconds 0) removes results stored with an expiry of their own (the
 * shorter one wins; a result meant to outlive the default still goes with the default).
 * Servers without TTL indexes (FerretDB v1) get a warning, once; reads hide expired results anyway.
 */
import type { Logger } from '@tq/core';
import type { Collection, Document } from 'mongodb';
import { describeMongoError } from './errors.js';
import type { ResolvedMongoOptions } from './options.js';

export interface BackendCollections {
  tasks: Collection<Document>;
  groups: Collection<Document>;
  kv: Collection<Document>;
}

function notSupported(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 238 || code === 115 || /not (implemented|supported)/i.test(String((err as Error | null)?.message));
}

async function attempt(what: string, make: () => Promise<unknown>, logger: Logger): Promise<boolean> {
  try {
    await make();
    return true;
  } catch (err) {
    const reason = describeMongoError(err).text;
    if (notSupported(err)) logger.warn(`[backend-mongo] ${what} is not supported by this server (${reason}); expired results are hidden from readers and removed by cleanup() instead`);
    else logger.warn(`[backend-mongo] could not create ${what}: ${reason}`);
    return false;
  }
}

export async function ensureIndexes(collections: BackendCollections, options: ResolvedMongoOptions, logger: Logger): Promise<void> {
  const { tasks, groups } = collections;
  // Celery: collection.create_index('date_done', background=True), on each collection.
  await Promise.all([
    attempt('the date_done index', () => tasks.createIndex({ date_done: 1 }, { background: true }), logger),
    attempt('the date_done index', () => groups.createIndex({ date_done: 1 }, { background: true }), logger),
  ]);
  if (options.chordCounter) await attempt('the chord index', () => groups.createIndex({ chord: 1 }, { name: 'tq_chord', sparse: true }), logger);
  if (!options.ttlIndex) return;
  const ttl: Array<[string, () => Promise<unknown>]> = [
    ['a TTL index on tq_expires', () => tasks.createIndex({ tq_expires: 1 }, { name: 'tq_ttl_expires', expireAfterSeconds: 0 })],
    ['a TTL index on tq_kv.expiresAt', () => collections.kv.createIndex({ expiresAt: 1 }, { name: 'tq_ttl_expires', expireAfterSeconds: 0 })],
  ];
  if (options.expires !== null) {
    const seconds = Math.max(1, Math.round(options.expires));
    ttl.unshift(
      ['a TTL index on date_done', () => tasks.createIndex({ date_done: -1 }, { name: 'tq_ttl_date_done', expireAfterSeconds: seconds })],
      ['a TTL index on date_done', () => groups.createIndex({ date_done: -1 }, { name: 'tq_ttl_date_done', expireAfterSeconds: seconds })],
    );
  }
  for (const [what, make] of ttl) {
    // One warning is enough: a server that refuses one TTL index refuses them all.
    if (!(await attempt(what, make, logger))) break;
  }
}
