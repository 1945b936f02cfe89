/**
 * What the memory:// result backend does beyond the conformance suite (which runs in
 * @tq/testing): it lets go of expired results nobody reads, and what it hands out is the caller's.
 */
import { createResultMeta } from '@tq/protocol';
import { describe, expect, it } from 'vitest';
import { ManualClock, MemoryBackend } from '../src/index.js';

function success(taskId: string, result: unknown, extra: Partial<Parameters<typeof createResultMeta>[0]> = {}) {
  return createResultMeta({ taskId, status: 'SUCCESS', result, dateDone: new Date(), ...extra });
}

describe('MemoryBackend', () => {
  it('drops expired results that are never read, within a minute of their expiry', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const backend = new MemoryBackend({ now: () => clock.now(), expires: 10 });
    for (let i = 0; i < 100; i++) await backend.store(success(`old-${i}`, i));
    await backend.saveGroup('old-group', [['old-0', null]]);
    await backend.store(success('kept', 'long'), { expires: 3600 });
    expect(backend.size()).toBe(101);

    await clock.advance(61_000);
    await backend.store(success('new', 1));
    expect(backend.size()).toBe(2);
    expect(await backend.get('kept')).toMatchObject({ status: 'SUCCESS', result: 'long' });
    expect((backend as unknown as { groups: Map<string, unknown> }).groups.size).toBe(0);
    expect(await backend.restoreGroup('old-group')).toBeNull();
  });

  it('sweeps expired results from among longer-lived and never-expiring ones', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const backend = new MemoryBackend({ now: () => clock.now(), expires: 100 });
    await backend.store(success('forever', 1), { expires: 0 });
    await backend.store(success('hour', 1), { expires: 3600 });
    for (let i = 0; i < 10; i++) await backend.store(success(`early-${i}`, i));
    await clock.advance(50_000);
    for (let i = 0; i < 10; i++) await backend.store(success(`late-${i}`, i));
    await clock.advance(61_000);
    await backend.store(success('now', 1));
    // The early ten expired at 100 s; the late ten (expiring at 150 s) and the long-lived two stay.
    expect(backend.size()).toBe(13);
    expect(await backend.get('forever')).not.toBeNull();
    await clock.advance(3600_000);
    await backend.store(success('later', 1));
    expect(backend.size()).toBe(2);
  });

  it('sweeps a short-lived result stored after default-lifetime ones, and one stored again in place', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const backend = new MemoryBackend({ now: () => clock.now(), expires: 3600 });
    await backend.store(createResultMeta({ taskId: 'long', status: 'STARTED', result: null }));
    await backend.store(success('day-old', 1));
    await backend.store(success('short', 1), { expires: 30 });
    await backend.store(createResultMeta({ taskId: 'progress', status: 'PROGRESS', result: { done: 1 } }), { expires: 30 });
    await clock.advance(20_000);
    await backend.store(createResultMeta({ taskId: 'progress', status: 'PROGRESS', result: { done: 2 } }), { expires: 30 });
    await clock.advance(45_000);
    await backend.store(success('now', 1));
    // At 65 s: 'short' (expired at 30 s) and 'progress' (stored again at 20 s, expired at 50 s) are gone.
    expect(backend.size()).toBe(3);
    expect(await backend.get('long')).toMatchObject({ status: 'STARTED' });
  });

  it('drops a chord whose header never finished, and a lease nobody reads again, once expired', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const backend = new MemoryBackend({ now: () => clock.now(), expires: 10 });
    const internals = backend as unknown as { chords: Map<string, unknown>; values: Map<string, unknown> };
    await backend.setChordSize('chord-1', 2);
    expect(await backend.chordPartReturn('chord-1', { taskId: 'a', index: 0, state: 'SUCCESS', result: 1 })).toBeNull();
    await backend.compareAndSet('lease', null, 'me', { ttl: 5 });
    expect(internals.chords.size).toBe(1);
    await clock.advance(61_000);
    await backend.store(success('now', 1));
    expect(internals.chords.size).toBe(0);
    expect(internals.values.size).toBe(0);
  });

  it('reads back every meta field in Celery key order, and shares no object with the store', async () => {
    const backend = new MemoryBackend();
    const children = [[['child-1', null], null]];
    const extended = { name: 'tasks.add', args: [1, 2], kwargs: { z: 3 }, worker: 'w@h', retries: 0, queue: 'celery' };
    await backend.store(success('t1', { sum: [3] }, { children, groupId: 'g1', parentId: 'p1', extended }));

    const got = await backend.get('t1');
    expect(got).toEqual({ ...success('t1', { sum: [3] }, { children, groupId: 'g1', parentId: 'p1', extended }), date_done: got?.date_done });
    expect(Object.keys(got ?? {})).toEqual(Object.keys(success('t1', null, { children, groupId: 'g1', parentId: 'p1', extended })));

    (got?.result as { sum: number[] }).sum.push(4);
    got?.children.push('changed');
    (got?.args as unknown[]).push('changed');
    const again = await backend.get('t1');
    expect(again?.result).toEqual({ sum: [3] });
    expect(again?.children).toEqual([[['child-1', null], null]]);
    expect(again?.args).toEqual([1, 2]);
  });

  it('refuses, before keeping anything, a meta that could not be read back, and wakes its waiter later', async () => {
    const backend = new MemoryBackend();
    const waiting = backend.waitFor('t2', { timeout: 5 });
    const unreadable = { __type__: 'pickle', __value__: 'x' };
    const extended = { name: 'tasks.f', args: [() => 1], kwargs: {}, worker: null, retries: 0, queue: null };
    await expect(backend.store(success('t2', unreadable))).rejects.toThrow(/result of task t2 cannot be stored as JSON.*__type__/);
    await expect(backend.store(success('t2', 1, { extended: { ...extended, args: [unreadable] } }))).rejects.toThrow(/meta of task t2 cannot be stored/);
    await expect(backend.store(success('t2', 1, { extended }))).rejects.toThrow(/meta of task t2 cannot be stored/);
    expect(await backend.get('t2')).toBeNull();
    await backend.store(success('t2', 'fine'));
    expect((await waiting).result).toBe('fine');
  });

  it('never replaces a SUCCESS, whether or not someone waits, and after a wait that timed out', async () => {
    const backend = new MemoryBackend();
    const timedOut = await backend.waitFor('t3', { timeout: 0.01 }).catch((e: unknown) => e);
    expect(timedOut).toBeInstanceOf(Error);
    const first = backend.waitFor('t3');
    await backend.store(success('t3', 'first'));
    await backend.store(createResultMeta({ taskId: 't3', status: 'FAILURE', result: null, dateDone: new Date() }));
    expect((await first).result).toBe('first');
    expect((await backend.get('t3'))?.status).toBe('SUCCESS');
  });

  it('keeps a plain result with its own fields only', async () => {
    const backend = new MemoryBackend();
    await backend.store(success('plain', 7));
    const got = await backend.get('plain');
    expect(Object.keys(got ?? {})).toEqual(['status', 'result', 'traceback', 'children', 'date_done', 'task_id']);
    expect(got).toMatchObject({ status: 'SUCCESS', result: 7, traceback: null, children: [], task_id: 'plain' });
  });

  it('lets go of a waiter that gave up, keeps the others, and keeps waiters through an expired or forgotten result', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const backend = new MemoryBackend({ now: () => clock.now(), expires: 10 });
    const slots = (backend as unknown as { results: Map<string, unknown> }).results;

    const alone = await backend.waitFor('gone', { timeout: 0.01 }).catch((e: unknown) => e);
    expect(alone).toBeInstanceOf(Error);
    expect(slots.has('gone')).toBe(false);

    const giveUp = new AbortController();
    const quitter = backend.waitFor('t4', { signal: giveUp.signal }).catch((e: unknown) => e);
    const stayer = backend.waitFor('t4');
    giveUp.abort(new Error('gave up'));
    expect(await quitter).toMatchObject({ message: 'gave up' });
    await backend.store(createResultMeta({ taskId: 't4', status: 'STARTED', result: null }));
    expect(backend.size()).toBe(1);

    // STARTED expires while awaited: the result goes, the waiter stays and gets the SUCCESS.
    await clock.advance(61_000);
    await backend.store(success('other', 1));
    expect(await backend.get('t4')).toBeNull();
    expect(backend.size()).toBe(1);
    await backend.forget('t4');
    await backend.store(success('t4', 'late'));
    expect((await stayer).result).toBe('late');
    expect(backend.size()).toBe(2);
  });
});
