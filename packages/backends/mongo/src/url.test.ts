import { isTqError } from '@tq/core';
import { describe, expect, it } from 'vitest';
import { resolveMongoOptions } from './options.js';
import { parseMongoUrl, redactMongoUrl } from './url.js';

describe('MongoDB URLs and settings', () => {
  it('takes the database from the path, as Celery does, and hides passwords', () => {
    const e = parseMongoUrl('mongodb://user:s3cret@h1:27017,h2:27018/results?replicaSet=rs0&tls=true&authSource=admin');
    expect(e.database).toBe('results');
    expect(e.url).toBe('mongodb://user:s3cret@h1:27017,h2:27018/results?replicaSet=rs0&tls=true&authSource=admin');
    expect(e.display).toBe('mongodb://user:***@h1:27017,h2:27018/results?replicaSet=rs0&tls=true&authSource=admin');
    expect(parseMongoUrl('mongodb+srv://cluster0.example.net/?retryWrites=true').database).toBeNull();
    expect(parseMongoUrl('mongodb://').url).toBe('mongodb://localhost/');
    expect(redactMongoUrl('mongodb+srv://a:b@x/y')).toBe('mongodb+srv://a:***@x/y');
  });

  it('refuses what is not a MongoDB URL or database name, saying what is expected', () => {
    const error = (() => {
      try {
        parseMongoUrl('redis://127.0.0.1');
      } catch (e) {
        return e;
      }
    })();
    expect(isTqError(error, 'CONFIGURATION_ERROR')).toBe(true);
    expect((error as Error).message).toContain('mongodb://');
    expect(() => parseMongoUrl('mongodb://h/bad.name')).toThrow(/not a valid MongoDB database name/);
  });

  it("reads Celery's mongodb_backend_settings keys; other keys go to MongoClient", () => {
    const o = resolveMongoOptions({ database: 'jobs', taskmeta_collection: 'tm', groupmeta_collection: 'gm', options: { maxPoolSize: 5 }, connectTimeoutMS: 100 }, 'fromurl', 86400);
    expect(o).toMatchObject({ database: 'jobs', taskmetaCollection: 'tm', groupmetaCollection: 'gm', expires: 86400, chordCounter: false, ttlIndex: false });
    expect(o.clientOptions).toEqual({ maxPoolSize: 5, connectTimeoutMS: 100 });
    expect(resolveMongoOptions({}, 'fromurl', null)).toMatchObject({ database: 'fromurl', taskmetaCollection: 'celery_taskmeta', groupmetaCollection: 'celery_groupmeta', kvCollection: 'tq_kv', expires: null });
    expect(resolveMongoOptions({}, null, 10).database).toBe('celery');
    expect(() => resolveMongoOptions({ taskmeta_collection: '' }, null, 10)).toThrow(/taskmetaCollection/);
  });
});
