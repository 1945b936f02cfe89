/**
 * What the conformance suite does not cover: workflows built by Python Celery run on a tq
 * worker and give Celery's answers, Celery's built-in canvas tasks called as Python calls them,
 * and eager mode.
 */
import { readFileSync } from 'node:fs';
import { createApp, silentLogger, type App, type AppConfig } from '@tq/core';
import type { SignatureDict } from '@tq/protocol';
import { startWorker, uniqueName } from '@tq/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { GroupResult, canvas, chain, chord, group } from '../src/index.js';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/celery-5.2.6.json', import.meta.url), 'utf8')) as {
  signatures: Record<string, SignatureDict>;
  answers: Record<string, unknown>;
};

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** An app with Celery's `proj.*` tasks and a running worker on the default queue. */
async function setup(config: AppConfig = {}) {
  const app = createApp({ main: 'proj', logger: silentLogger, ...config });
  cleanups.push(() => app.close());
  app.use(canvas);
  const add = app.task('proj.add', (x: number, y: number) => x + y);
  const xsum = app.task('proj.xsum', (numbers: number[]) => numbers.reduce((a, b) => a + b, 0));
  const fail = app.task('proj.fail', (message: string): number => {
    const error = new Error(message);
    error.name = 'ValueError';
    throw error;
  });
  if (!config.taskAlwaysEager) {
    const worker = await startWorker(app);
    cleanups.push(() => worker.stop());
  }
  return { app, add, xsum, fail };
}

const wait = { timeout: 10 };

describe('workflows built by Python Celery', () => {
  for (const [name, answer] of Object.entries(fixture.answers)) {
    it(`${name}: the dict Celery wrote runs on a tq worker and gives Celery's answer`, async () => {
      const { app } = await setup();
      const sig = app.signature(structuredClone(fixture.signatures[name]!));
      expect(await (await sig.applyAsync()).get(wait)).toEqual(answer);
    });
  }
});

describe("Celery's built-in tasks, called as Python calls them", () => {
  it('celery.accumulate returns its arguments, or one of them', async () => {
    const { app } = await setup();
    expect(await (await app.sendTask('celery.accumulate', [1, 2, 3])).get(wait)).toEqual([1, 2, 3]);
    expect(await (await app.sendTask('celery.accumulate', [1, 2, 3], { kwargs: { index: 1 } })).get(wait)).toBe(2);
  });

  it('celery.chain is not a real task', async () => {
    const { app } = await setup();
    const err = await (await app.sendTask('celery.chain', [])).get(wait).catch((e: unknown) => e as Error);
    expect((err as Error).name).toBe('NotImplementedError');
  });

  it('celery.map and celery.starmap call the task for each item, in the worker', async () => {
    const { app, add } = await setup();
    const double = app.task('proj.double', (x: number) => x * 2);
    expect(await (await app.sendTask('celery.map', [double.s().toDict(), [1, 2, 3]])).get(wait)).toEqual([2, 4, 6]);
    expect(await (await app.sendTask('celery.starmap', [], { kwargs: { task: add.s().toDict(), it: [[1, 2], [3, 4]] } })).get(wait)).toEqual([3, 7]);
  });

  it('celery.chunks applies the chunks as a group and returns its tuple', async () => {
    const { app, add } = await setup();
    const r = await app.sendTask('celery.chunks', [], { kwargs: { task: add.s().toDict(), it: [[1, 1], [2, 2], [3, 3]], n: 2 } });
    const group = app.resultFromTuple(await r.get(wait));
    expect(group).toBeInstanceOf(GroupResult);
    expect(await group!.get(wait)).toEqual([[2, 4], [6]]);
  });

  it('celery.group (older clients) applies the tasks with the partial arguments', async () => {
    const { app, add } = await setup();
    const members = [add.s(1), add.s(2)];
    const ids = members.map((m) => m.freeze().id);
    const gid = uniqueName('group');
    const tuple = [[gid, null], ids.map((id) => [[id, null], null])];
    await app.sendTask('celery.group', [members.map((m) => m.toDict()), tuple, gid, [10]]);
    expect(await app.resultFromTuple(tuple)!.get(wait)).toEqual([11, 12]);
  });

  it('celery.chord (older clients) runs the chord and returns the body result', async () => {
    const { app, add, xsum } = await setup();
    const r = await app.sendTask('celery.chord', [], { kwargs: { header: [add.s(1, 1).toDict(), add.s(2, 2).toDict()], body: xsum.s().toDict() } });
    const body = app.resultFromTuple(await r.get(wait));
    expect(await body!.get(wait)).toBe(6);
  });
});

describe('eager mode (taskAlwaysEager)', () => {
  it('runs chains, groups and chords in the caller', async () => {
    const { add, xsum } = await setup({ taskAlwaysEager: true });
    const c = await chain(add.s(1, 2), add.s(3), add.s(4)).applyAsync();
    expect(await c.get()).toBe(10);
    expect(await c.parent!.get()).toBe(6);
    expect(await (await group([add.s(1, 1), add.s(2, 2)]).applyAsync()).get()).toEqual([2, 4]);
    expect(await (await chord([add.s(1, 1), add.s(2, 2)], xsum.s()).applyAsync()).get()).toBe(6);
    expect(await (await chain(add.s(1, 1), group([add.s(1), add.s(2)]), xsum.s()).applyAsync()).get()).toBe(7);
  });

  it('a failing header fails the chord', async () => {
    const { add, fail, xsum } = await setup({ taskAlwaysEager: true });
    await expect(chord([add.s(1, 1), fail.s('eager')], xsum.s()).applyAsync()).rejects.toThrow('eager');
  });
});

describe('signature kinds', () => {
  it('canvas functions install the canvas on the app of their signatures', () => {
    const app: App = createApp({ logger: silentLogger });
    cleanups.push(() => app.close());
    const add = app.task('proj.add', (x: number, y: number) => x + y);
    expect(app.hasPlugin(canvas.name)).toBe(false);
    group([add.s(1, 1)]);
    expect(app.hasPlugin(canvas.name)).toBe(true);
    expect(app.tasks.has('celery.chord_unlock')).toBe(true);
    expect(app.signature(chain(add.s(1, 1), add.s(2)).toDict())).toBeInstanceOf(chain(add.s(1, 1), add.s(2)).constructor);
  });
});
