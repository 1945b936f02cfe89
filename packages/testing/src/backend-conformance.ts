/**
 * The behaviours every ResultBackend must keep, as a vitest suite. The memory backend is the
 * reference; each adapter runs it against its real server:
 *
 *   runBackendConformance({ name: 'redis', create: () => new RedisBackend(url) });
 */
import { isTqError, type ResultBackend } from '@tq/core';
import { createResultMeta, encodeException, PyDecimal, type ResultMeta } from '@tq/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from './wait.js';

export interface BackendConformanceOptions {
  name: string;
  /** A new, unconnected backend; called once per test. */
  create: () => ResultBackend | Promise<ResultBackend>;
  /** Milliseconds to wait for results (default 5000). */
  timeout?: number;
  /** The backend keeps results until read or forgotten, with no expiry (rpc://): skip the expiry test. */
  noExpiry?: boolean;
}

function meta(taskId: string, status: string, result: unknown, extra: Partial<Parameters<typeof createResultMeta>[0]> = {}): ResultMeta {
  return createResultMeta({ taskId, status, result, dateDone: status === 'SUCCESS' || status === 'FAILURE' || status === 'REVOKED' ? new Date() : null, ...extra });
}

export function runBackendConformance(options: BackendConformanceOptions): void {
  const timeout = options.timeout ?? 5000;

  describe(`ResultBackend conformance: ${options.name}`, () => {
    const opened: ResultBackend[] = [];

    async function open(): Promise<ResultBackend> {
      const backend = await options.create();
      await backend.connect();
      opened.push(backend);
      return backend;
    }

    afterEach(async () => {
      for (const backend of opened.splice(0)) await backend.close();
    });

    it('stores and reads back meta; an unknown id reads as null (PENDING)', async () => {
      const backend = await open();
      const id = uniqueName('task');
      expect(await backend.get(id)).toBeNull();
      await backend.store(meta(id, 'SUCCESS', { sum: 5, at: new Date('2026-01-02T03:04:05.678Z'), price: new PyDecimal('1.10'), name: 'é' }, { groupId: 'g1', parentId: 'p1' }));
      const got = await backend.get(id);
      expect(got?.status).toBe('SUCCESS');
      expect(got?.task_id).toBe(id);
      expect(got?.group_id).toBe('g1');
      expect(got?.parent_id).toBe('p1');
      const result = got?.result as { sum: number; at: Date; price: PyDecimal; name: string };
      expect(result.sum).toBe(5);
      expect(result.at).toEqual(new Date('2026-01-02T03:04:05.678Z'));
      expect(String(result.price)).toBe('1.10');
      expect(result.name).toBe('é');
      expect(typeof got?.date_done).toBe('string');
    });

    it('never replaces a stored SUCCESS', async () => {
      const backend = await open();
      const id = uniqueName('task');
      await backend.store(meta(id, 'SUCCESS', 42));
      await backend.store(meta(id, 'STARTED', { pid: 1 }));
      await backend.store(meta(id, 'RETRY', encodeException(new Error('late'))));
      const got = await backend.get(id);
      expect(got?.status).toBe('SUCCESS');
      expect(got?.result).toBe(42);
    });

    it('lets later states replace earlier ones otherwise', async () => {
      const backend = await open();
      const id = uniqueName('task');
      await backend.store(meta(id, 'STARTED', { pid: 1, hostname: 'w' }));
      expect((await backend.get(id))?.status).toBe('STARTED');
      await backend.store(meta(id, 'FAILURE', encodeException(new TypeError('bad'))));
      const got = await backend.get(id);
      expect(got?.status).toBe('FAILURE');
      expect(got?.result).toEqual({ exc_type: 'TypeError', exc_message: ['bad'], exc_module: 'builtins' });
    });

    it('wakes a waiter when the result becomes ready, and only then', async () => {
      const backend = await open();
      const id = uniqueName('task');
      backend.onTaskCall?.(id);
      let settled = false;
      const waiting = backend.waitFor(id, { timeout: timeout / 1000 }).then((m) => {
        settled = true;
        return m;
      });
      await backend.store(meta(id, 'STARTED', { pid: 1 }));
      await backend.store(meta(id, 'PROGRESS', { done: 3 }));
      // Not ready yet: the waiter must still be pending after the backend has seen both writes.
      await waitFor(async () => (await backend.get(id))?.status === 'PROGRESS', { timeout });
      expect(settled).toBe(false);
      await backend.store(meta(id, 'SUCCESS', 'done'));
      const got = await waiting;
      expect(got.status).toBe('SUCCESS');
      expect(got.result).toBe('done');
    });

    it('resolves at once for a result that is already ready', async () => {
      const backend = await open();
      const id = uniqueName('task');
      await backend.store(meta(id, 'REVOKED', encodeException(new Error('revoked'))));
      expect((await backend.waitFor(id, { timeout: 1 })).status).toBe('REVOKED');
    });

    it('times out a wait with a TIMEOUT error', async () => {
      const backend = await open();
      const error = await backend.waitFor(uniqueName('never'), { timeout: 0.2, interval: 0.05 }).catch((e: unknown) => e);
      expect(isTqError(error, 'TIMEOUT')).toBe(true);
    });

    it('ends a wait when its signal aborts, and at once when it was aborted before the wait', async () => {
      const backend = await open();
      const controller = new AbortController();
      const waiting = backend.waitFor(uniqueName('never'), { timeout: 30, signal: controller.signal }).catch((e: unknown) => e);
      controller.abort(new Error('stop waiting'));
      expect(((await waiting) as Error).message).toBe('stop waiting');
      const early = await backend.waitFor(uniqueName('never'), { timeout: 30, signal: AbortSignal.abort(new Error('too late')) }).catch((e: unknown) => e);
      expect((early as Error).message).toBe('too late');
      // The backend is still usable after both.
      const id = uniqueName('task');
      await backend.store(meta(id, 'SUCCESS', 5));
      expect((await backend.waitFor(id, { timeout: timeout / 1000 })).result).toBe(5);
    });

    it('reads many results in one call', async () => {
      const backend = await open();
      const ids = [uniqueName('a'), uniqueName('b'), uniqueName('missing')];
      await backend.store(meta(ids[0]!, 'SUCCESS', 1));
      await backend.store(meta(ids[1]!, 'SUCCESS', 2));
      const got = await backend.getMany(ids);
      expect(got.get(ids[0]!)?.result).toBe(1);
      expect(got.get(ids[1]!)?.result).toBe(2);
      expect(got.has(ids[2]!)).toBe(false);
    });

    it('forgets a result', async () => {
      const backend = await open();
      const id = uniqueName('task');
      await backend.store(meta(id, 'SUCCESS', 1));
      await backend.forget(id);
      expect(await backend.get(id)).toBeNull();
    });

    it('expires results after their time', async (ctx) => {
      if (options.noExpiry) return ctx.skip();
      const backend = await open();
      const id = uniqueName('task');
      await backend.store(meta(id, 'SUCCESS', 1), { expires: 1 });
      expect(await backend.get(id)).not.toBeNull();
      await waitFor(async () => (await backend.get(id)) === null, { timeout: 5000, interval: 100, message: 'the result to expire' });
    });

    it('saves, restores and deletes group results', async () => {
      const backend = await open();
      const gid = uniqueName('group');
      const tuple = [[gid, null], [[['g-1', null], null], [['g-2', null], null]]];
      await backend.saveGroup(gid, tuple);
      expect(await backend.restoreGroup(gid)).toEqual(tuple);
      await backend.deleteGroup(gid);
      expect(await backend.restoreGroup(gid)).toBeNull();
    });

    it('compare-and-set is atomic, honours expected values and expires with a ttl (beat leases)', async (ctx) => {
      const backend = await open();
      if (!backend.compareAndSet || !backend.getValue) return ctx.skip();
      const key = uniqueName('tq-conf-cas');
      const wins = await Promise.all(Array.from({ length: 10 }, (_, i) => backend.compareAndSet!(key, null, `owner-${i}`, { ttl: 30 })));
      expect(wins.filter(Boolean).length).toBe(1);
      const owner = await backend.getValue(key);
      expect(owner).toMatch(/^owner-\d$/);
      expect(await backend.compareAndSet(key, 'someone-else', 'x')).toBe(false);
      expect(await backend.compareAndSet(key, owner, 'renewed', { ttl: 0.3 })).toBe(true);
      expect(await backend.getValue(key)).toBe('renewed');
      await waitFor(async () => (await backend.getValue!(key)) === null, { timeout: 5000, message: 'the value to expire' });
      expect(await backend.compareAndSet(key, null, 'again')).toBe(true);
      expect(await backend.compareAndSet(key, 'again', null)).toBe(true);
      expect(await backend.getValue(key)).toBeNull();
    });

    it('joins a chord exactly once, with parts in header order, under concurrent returns', async (ctx) => {
      const backend = await open();
      if (!backend.capabilities.chordCounter || !backend.chordPartReturn || !backend.setChordSize) return ctx.skip();
      const gid = uniqueName('chord');
      const size = 25;
      await backend.setChordSize(gid, size);
      const order = Array.from({ length: size }, (_, i) => i).sort(() => Math.random() - 0.5);
      const joins = await Promise.all(
        order.map((i) => backend.chordPartReturn!(gid, { index: i, taskId: `t-${i}`, state: i === 3 ? 'FAILURE' : 'SUCCESS', result: i === 3 ? encodeException(new Error('x')) : i * 10 })),
      );
      const completed = joins.filter((j) => j !== null);
      expect(completed.length).toBe(1);
      const parts = completed[0]!;
      expect(parts.map((p) => p.index)).toEqual(Array.from({ length: size }, (_, i) => i));
      expect(parts[5]).toMatchObject({ taskId: 't-5', state: 'SUCCESS', result: 50 });
      expect(parts[3]?.state).toBe('FAILURE');
    });

    it('counts parts added to a running chord', async (ctx) => {
      const backend = await open();
      if (!backend.capabilities.chordCounter || !backend.chordPartReturn || !backend.setChordSize || !backend.addToChord) return ctx.skip();
      const gid = uniqueName('chord');
      await backend.setChordSize(gid, 1);
      await backend.addToChord(gid, 1);
      expect(await backend.chordPartReturn(gid, { index: 0, taskId: 'a', state: 'SUCCESS', result: 1 })).toBeNull();
      const parts = await backend.chordPartReturn(gid, { index: 1, taskId: 'b', state: 'SUCCESS', result: 2 });
      expect(parts?.map((p) => p.result)).toEqual([1, 2]);
    });
  });
}
