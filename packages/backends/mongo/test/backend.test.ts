/**
 * What a user (or a Python peer) sees of the MongoDB backend beyond the conformance suite:
 * Celery's exact documents, group documents Celery can restore, expiry and `cleanup()`, the TTL
 * option on a server without TTL indexes, and driver errors turned into tq errors that say what
 * to do.
 */
import { isTqError } from '@tq/core';
import { createResultMeta, encodeException } from '@tq/protocol';
import { freePort, recordingLogger, uniqueName } from '@tq/testing';
import { describe, expect, it } from 'vitest';
import { MongoBackend } from '../src/mongo-backend.js';
import { testDatabase } from './helpers.js';

const mongo = testDatabase('backend');
type Doc = { _id: string; [field: string]: unknown };
const docs = (collection: string) => mongo.db().collection<Doc>(collection);

describe('MongoDB backend: Celery layout', () => {
  it("stores Celery's task document: JSON text result, BSON Date, extended fields", async () => {
    const backend = mongo.track(new MongoBackend(mongo.url));
    const id = uniqueName('task');
    await backend.store(
      createResultMeta({
        taskId: id,
        status: 'FAILURE',
        result: encodeException(Object.assign(new Error('bad value 7'), { name: 'ValueError' })),
        traceback: 'Traceback …',
        dateDone: new Date('2026-01-02T03:04:05.678Z'),
        groupId: 'g1',
        parentId: 'p1',
        extended: { name: 'tasks.add', args: [2, 3], kwargs: { k: 'é' }, worker: 'w1@host', retries: 0, queue: 'celery' },
      }),
    );
    const doc = await docs('celery_taskmeta').findOne({ _id: id });
    expect(doc).toEqual({
      _id: id,
      status: 'FAILURE',
      result: '{"exc_type": "ValueError", "exc_message": ["bad value 7"], "exc_module": "builtins"}',
      traceback: 'Traceback …',
      children: [],
      date_done: new Date('2026-01-02T03:04:05.678Z'),
      group_id: 'g1',
      parent_id: 'p1',
      name: 'tasks.add',
      args: [2, 3],
      kwargs: { k: 'é' },
      worker: 'w1@host',
      retries: 0,
      queue: 'celery',
    });
    expect(await docs('celery_taskmeta').indexes()).toEqual(expect.arrayContaining([expect.objectContaining({ key: { date_done: 1 } })]));
  });

  it("reads what Celery 5.2 writes (date_done as ISO text) and refuses a pickled result", async () => {
    const backend = mongo.track(new MongoBackend(mongo.url));
    const id = uniqueName('py');
    const done = new Date();
    // Python's naive datetime.utcnow().isoformat(): microseconds, no zone.
    const naive = `${done.toISOString().slice(0, 23)}175`;
    await docs('celery_taskmeta').insertOne({ _id: id, status: 'SUCCESS', result: '{"a": [1, 2]}', traceback: null, children: [], date_done: naive });
    const meta = await backend.get(id);
    expect(meta).toMatchObject({ status: 'SUCCESS', result: { a: [1, 2] }, task_id: id });
    expect(meta?.date_done).toMatch(/\+00:00$/);
    expect(new Date(meta!.date_done!).getTime()).toBe(done.getTime());
    const pickled = uniqueName('pickle');
    const { Binary } = await import('mongodb');
    await docs('celery_taskmeta').insertOne({ _id: pickled, status: 'SUCCESS', result: new Binary(Buffer.from('\x80\x04K\x05.')), traceback: null, children: [], date_done: new Date() });
    await expect(backend.get(pickled)).rejects.toThrow(/result_serializer = 'json'/);
  });

  it('saves a group as Celery does (the member ids as JSON text) and restores one Celery saved', async () => {
    const backend = mongo.track(new MongoBackend(mongo.url));
    const gid = uniqueName('group');
    await backend.saveGroup(gid, [[gid, null], [[['a', null], null], [['b', null], null]]]);
    const doc = await docs('celery_groupmeta').findOne({ _id: gid });
    expect(doc).toMatchObject({ _id: gid, result: '["a", "b"]' });
    expect(doc?.['date_done']).toBeInstanceOf(Date);
    expect(doc).not.toHaveProperty('tq_tuple');
    const fromPython = uniqueName('pygroup');
    await docs('celery_groupmeta').insertOne({ _id: fromPython, result: '["x", "y"]', date_done: new Date() });
    expect(await backend.restoreGroup(fromPython)).toEqual([[fromPython, null], [[['x', null], null], [['y', null], null]]]);
  });

  it('keeps the shape of a group whose members are groups, which the id list cannot carry', async () => {
    const backend = mongo.track(new MongoBackend(mongo.url));
    const gid = uniqueName('nested');
    const tuple = [[gid, null], [[['inner', null], [[['a', null], null]]], [['b', [['a', null], null]], null]]];
    await backend.saveGroup(gid, tuple);
    expect(await backend.restoreGroup(gid)).toEqual(tuple);
    expect((await docs('celery_groupmeta').findOne({ _id: gid }))?.['result']).toBe('["inner", "b"]');
  });
});

describe('MongoDB backend: expiry', () => {
  it('hides expired results and cleanup() deletes them (Celery backend_cleanup)', async () => {
    const backend = mongo.track(new MongoBackend(mongo.url, { expires: 60 }));
    const old = uniqueName('old');
    const fresh = uniqueName('fresh');
    await backend.store(createResultMeta({ taskId: old, status: 'SUCCESS', result: 1, dateDone: new Date(Date.now() - 120_000) }));
    await backend.store(createResultMeta({ taskId: fresh, status: 'SUCCESS', result: 2, dateDone: new Date() }));
    expect(await backend.get(old)).toBeNull();
    expect((await backend.get(fresh))?.result).toBe(2);
    expect(await backend.cleanup()).toBeGreaterThanOrEqual(1);
    expect(await docs('celery_taskmeta').findOne({ _id: old })).toBeNull();
    expect(await docs('celery_taskmeta').findOne({ _id: fresh })).not.toBeNull();
  });

  it('with ttlIndex on a server without TTL indexes (FerretDB v1), warns once and keeps working', async () => {
    const logger = recordingLogger();
    const backend = mongo.track(new MongoBackend(mongo.url, { ttlIndex: true, logger }));
    await backend.connect();
    const id = uniqueName('ttl');
    await backend.store(createResultMeta({ taskId: id, status: 'SUCCESS', result: 3, dateDone: new Date() }));
    expect((await backend.get(id))?.result).toBe(3);
    const indexes = await docs('celery_taskmeta').indexes();
    const ttl = indexes.filter((i) => i.expireAfterSeconds !== undefined);
    const warnings = logger.lines.filter((l) => l.level === 'warn');
    // MongoDB makes the TTL indexes; a server that cannot says so once.
    if (ttl.length === 0) expect(warnings).toEqual([expect.objectContaining({ message: expect.stringContaining('TTL index') })]);
    else expect(ttl.map((i) => i.name)).toContain('tq_ttl_date_done');
  });
});

describe('MongoDB backend: errors', () => {
  it('a server that is not there is a retryable BACKEND_ERROR naming the server and what to check', async () => {
    const port = await freePort();
    const backend = mongo.track(new MongoBackend(`mongodb://user:pw@127.0.0.1:${port}/x`, { clientOptions: { serverSelectionTimeoutMS: 300 } }));
    const error = (await backend.connect().catch((e: unknown) => e)) as Error & { retryable?: boolean };
    expect(isTqError(error, 'BACKEND_ERROR')).toBe(true);
    expect(error.retryable).toBe(true);
    expect(error.message).toContain(`mongodb://user:***@127.0.0.1:${port}/x`);
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.message).toContain('Is MongoDB running');
    expect(error.message).not.toContain('pw');
  });
});
