/**
 * The result backend's Redis layout (read with a plain client) and its waiting modes: Celery's
 * meta and chord-counter keys byte for byte, results pushed over pub/sub, and the bulk mode that
 * listens with one pattern while thousands of results are awaited.
 */
import { uniqueName, waitFor } from '@tq/testing';
import { createResultMeta, encodeException } from '@tq/protocol';
import { describe, expect, it } from 'vitest';
import { RedisBackend } from '../src/redis-backend.js';
import { DB, rawClient, redisUrl, testKeyspace } from './helpers.js';

const keys = testKeyspace(DB.backend, 'backend');
const { prefix } = keys;

function open(options: ConstructorParameters<typeof RedisBackend>[1] = {}): RedisBackend {
  const backend = new RedisBackend(redisUrl(DB.backend), { globalKeyprefix: prefix, ...options });
  return keys.track(backend);
}

const meta = (id: string, result: unknown, status = 'SUCCESS') => createResultMeta({ taskId: id, status, result, dateDone: new Date('2026-11-23T23:00:49.362Z') });

describe('Redis result backend layout', () => {
  it('writes celery-task-meta-<id> as Celery does, with its expiry, and publishes it on the same channel', async () => {
    const backend = open({ expires: 120 });
    const id = uniqueName('meta');
    const listener = rawClient(DB.backend);
    try {
      const seen: string[] = [];
      listener.on('message', (_c: string, m: string) => seen.push(m));
      await listener.subscribe(`${prefix}celery-task-meta-${id}`);
      await backend.store(meta(id, 5));
      const stored = await keys.raw.get(`${prefix}celery-task-meta-${id}`);
      expect(stored).toBe(`{"status": "SUCCESS", "result": 5, "traceback": null, "children": [], "date_done": "2026-11-23T23:00:49.362000+00:00", "task_id": "${id}"}`);
      const ttl = await keys.raw.ttl(`${prefix}celery-task-meta-${id}`);
      expect(ttl).toBeGreaterThan(100);
      expect(ttl).toBeLessThanOrEqual(120);
      await waitFor(() => seen.length === 1, { message: 'the PUBLISH' });
      expect(seen[0]).toBe(stored);
    } finally {
      listener.disconnect();
    }
  });

  it('applies Celery result key prefix rules (an underscore is added)', async () => {
    const backend = new RedisBackend(redisUrl(DB.backend), { globalKeyprefix: `${prefix}app` });
    keys.track(backend);
    await backend.store(meta('prefixed', 1));
    expect(await keys.raw.exists(`${prefix}app_celery-task-meta-prefixed`)).toBe(1);
  });

  it('keeps the chord counter in .j / .t / .s exactly as Celery, and removes it when joined', async () => {
    const backend = open();
    const gid = uniqueName('chord');
    await backend.setChordSize(gid, 2);
    await backend.addToChord(gid, 1);
    expect(await keys.raw.get(`${prefix}celery-taskset-meta-${gid}.s`)).toBe('2');
    expect(await keys.raw.get(`${prefix}celery-taskset-meta-${gid}.t`)).toBe('1');
    expect(await backend.chordPartReturn(gid, { index: 1, taskId: 't-1', state: 'SUCCESS', result: { v: 'é' } })).toBeNull();
    expect(await backend.chordPartReturn(gid, { index: 0, taskId: 't-0', state: 'FAILURE', result: encodeException(new TypeError('bad')) })).toBeNull();
    expect(await keys.raw.zrange(`${prefix}celery-taskset-meta-${gid}.j`, 0, -1, 'WITHSCORES')).toEqual([
      '[1, "t-0", "FAILURE", {"exc_type": "TypeError", "exc_message": ["bad"], "exc_module": "builtins"}]',
      '0',
      '[1, "t-1", "SUCCESS", {"v": "\\u00e9"}]',
      '1',
    ]);
    const parts = await backend.chordPartReturn(gid, { index: Number.MAX_SAFE_INTEGER, taskId: 't-x', state: 'SUCCESS', result: 3 });
    expect(parts?.map((p) => [p.index, p.taskId, p.state])).toEqual([
      [0, 't-0', 'FAILURE'],
      [1, 't-1', 'SUCCESS'],
      [Number.MAX_SAFE_INTEGER, 't-x', 'SUCCESS'],
    ]);
    expect(await keys.raw.exists(`${prefix}celery-taskset-meta-${gid}.j`, `${prefix}celery-taskset-meta-${gid}.t`, `${prefix}celery-taskset-meta-${gid}.s`)).toBe(0);
  });

  it('saves a group as {"result": <tuple>}', async () => {
    const backend = open();
    const gid = uniqueName('group');
    await backend.saveGroup(gid, [[gid, null], [[['a', null], null]]]);
    expect(await keys.raw.get(`${prefix}celery-taskset-meta-${gid}`)).toBe(`{"result": [["${gid}", null], [[["a", null], null]]]}`);
  });

  it('waits on thousands of results with one pattern subscription, then goes back to channels', async () => {
    const backend = open({ bulkSubscribeThreshold: 500 });
    const writer = open();
    const ids = Array.from({ length: 1500 }, (_, i) => `${uniqueName('bulk')}-${i}`);
    // A third of the results exist before anyone waits (the GET closes that race).
    await Promise.all(ids.slice(0, 500).map((id, i) => writer.store(meta(id, i))));
    for (const id of ids) backend.onTaskCall(id);
    expect(backend.subscriptionMode()).toBe('pattern');
    const waits = ids.map((id) => backend.waitFor(id, { timeout: 20 }));
    await Promise.all(ids.slice(500).map((id, i) => writer.store(meta(id, 500 + i))));
    const results = (await Promise.all(waits)).map((m) => m.result);
    expect(results).toEqual(ids.map((_, i) => i));
    await waitFor(() => backend.subscriptionMode() === 'channels', { message: 'back to per-task channels' });
    expect(backend.waitingCount()).toBe(0);
    const later = uniqueName('after-bulk');
    backend.onTaskCall(later);
    const waiting = backend.waitFor(later, { timeout: 5 });
    await writer.store(meta(later, 'x'));
    expect((await waiting).result).toBe('x');
  });

  it('rejects waiters when closed, and refuses to replace a SUCCESS Python wrote', async () => {
    const backend = open();
    const id = uniqueName('py');
    await keys.raw.set(`${prefix}celery-task-meta-${id}`, `{"status": "SUCCESS", "result": 1, "traceback": null, "children": [], "date_done": "2026-11-23T23:00:49.362175", "task_id": "${id}"}`);
    await backend.store(meta(id, encodeException(new Error('late')), 'FAILURE'));
    expect((await backend.get(id))?.status).toBe('SUCCESS');
    const waiting = backend.waitFor(uniqueName('never')).catch((e: unknown) => e);
    await backend.close();
    expect(String(await waiting)).toMatch(/closed while a result was awaited/);
  });
});
