/**
 * The backend's settings, from `resultBackendTransportOptions` (or passed directly). Celery's
 * `mongodb_backend_settings` keys are accepted as they are (`database`, `taskmeta_collection`,
 * `groupmeta_collection`, `options`), so a Celery config can be copied across.
 */
import { ConfigurationError } from '@tq/core';
import type { MongoClientOptions } from 'mongodb';

export interface MongoBackendOptions {
  /** Database (Celery: `database`; default the URL's path, else `celery`). */
  database?: string;
  /** Task results (Celery: `taskmeta_collection`, default `celery_taskmeta`). */
  taskmetaCollection?: string;
  /** Saved group results (Celery: `groupmeta_collection`, default `celery_groupmeta`). */
  groupmetaCollection?: string;
  /** Beat's lease and run records (docs/beat.md), tq only (default `tq_kv`). */
  kvCollection?: string;
  /** Default seconds to keep results (default: the app's `resultExpires`, 1 day); null keeps them. */
  expires?: number | null;
  /**
   * Join chords with an atomic counter in `celery_groupmeta` instead of Celery's
   * `celery.chord_unlock` task. Only when every worker is tq: Python workers do not count.
   */
  chordCounter?: boolean;
  /**
   * Create TTL indexes so that the server deletes expired results (needs MongoDB; FerretDB v1
   * has none, and the backend says so once and carries on). Default false, as in Celery, whose
   * `celery.backend_cleanup` task deletes them instead.
   */
  ttlIndex?: boolean;
  /** Waiting: first re-read after this many seconds, doubling up to the caller's interval (default 0.01). */
  pollBackoffStart?: number;
  /** Extra MongoClient options (Celery: `options`), merged over the defaults. */
  clientOptions?: MongoClientOptions;
}

export interface ResolvedMongoOptions {
  database: string;
  taskmetaCollection: string;
  groupmetaCollection: string;
  kvCollection: string;
  expires: number | null;
  chordCounter: boolean;
  ttlIndex: boolean;
  pollBackoffStart: number;
  clientOptions: MongoClientOptions;
}

const ALIASES: Record<string, string> = {
  taskmeta_collection: 'taskmetaCollection',
  groupmeta_collection: 'groupmetaCollection',
  kv_collection: 'kvCollection',
  chord_counter: 'chordCounter',
  ttl_index: 'ttlIndex',
  poll_backoff_start: 'pollBackoffStart',
  options: 'clientOptions',
};

/** Keys every backend receives from core, not meant for this one. */
const IGNORED = new Set(['logger']);

const KNOWN = new Set(['database', 'taskmetaCollection', 'groupmetaCollection', 'kvCollection', 'expires', 'chordCounter', 'ttlIndex', 'pollBackoffStart', 'clientOptions']);

function name(value: unknown, option: string, fallback: string): string {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'string' || value === '' || /[$\0]/.test(value)) {
    throw new ConfigurationError(`the MongoDB backend option ${option} must be a non-empty name without "$", got ${JSON.stringify(value)}`);
  }
  return value;
}

export function resolveMongoOptions(raw: Record<string, unknown> | undefined, urlDatabase: string | null, defaultExpires: number | null): ResolvedMongoOptions {
  const o: Record<string, unknown> = {};
  const client: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw ?? {})) {
    if (value === undefined || IGNORED.has(key)) continue;
    const canonical = ALIASES[key] ?? key;
    // Celery passes any other key of mongodb_backend_settings to MongoClient.
    if (KNOWN.has(canonical)) o[canonical] = value;
    else client[key] = value;
  }
  const expires = o['expires'] === undefined ? defaultExpires : o['expires'];
  if (expires !== null && (typeof expires !== 'number' || !Number.isFinite(expires))) {
    throw new ConfigurationError(`the MongoDB backend option expires must be a number of seconds or null, got ${JSON.stringify(expires)}`);
  }
  const backoff = o['pollBackoffStart'] ?? 0.01;
  if (typeof backoff !== 'number' || !(backoff > 0)) throw new ConfigurationError('the MongoDB backend option pollBackoffStart must be a positive number of seconds');
  const extra = o['clientOptions'];
  if (extra !== undefined && (typeof extra !== 'object' || extra === null)) throw new ConfigurationError('the MongoDB backend option clientOptions (Celery: options) must be an object');
  return {
    database: name(o['database'], 'database', urlDatabase ?? 'celery'),
    taskmetaCollection: name(o['taskmetaCollection'], 'taskmetaCollection', 'celery_taskmeta'),
    groupmetaCollection: name(o['groupmetaCollection'], 'groupmetaCollection', 'celery_groupmeta'),
    kvCollection: name(o['kvCollection'], 'kvCollection', 'tq_kv'),
    expires: expires === null || expires <= 0 ? null : expires,
    chordCounter: o['chordCounter'] === true,
    ttlIndex: o['ttlIndex'] === true,
    pollBackoffStart: backoff,
    clientOptions: { ...client, ...(extra as MongoClientOptions | undefined) } as MongoClientOptions,
  };
}
