/**
 * The canvas conformance suite: every workflow primitive of @tq/canvas (group, chain, chord,
 * map, starmap, chunks), their nestings, errors and errbacks, ordering and a 1,000-task
 * workflow, run end to end through real tq Workers on the transport under test. Each test uses
 * its own queue and worker and closes both. The memory transport is the reference:
 *
 *   runCanvasSuite({ name: 'redis', createApp: () => createApp({ broker: url, backend: url }) });
 *
 * A backend without a chord counter runs chords through `celery.chord_unlock`; give such apps a
 * short `resultChordRetryInterval` (seconds between polls) to keep the suite quick. Workers use
 * the async pool: some tests hold a task until the test lets it finish (an in-process latch),
 * to make header tasks end out of order.
 */
import { chain, chord, chunks, group, canvas, GroupResult, type AnySignature } from '@tq/canvas';
import {
  ChordError,
  MemoryBackend,
  isTqError,
  silentLogger,
  type App,
  type BackendCapabilities,
  type MemoryBackendOptions,
  type TaskContext,
} from '@tq/core';
import { Worker, type WorkerOptions } from '@tq/worker';
import { afterEach, describe, expect, it } from 'vitest';
import { Collector, uniqueName, waitFor } from './wait.js';

export interface CanvasSuiteOptions {
  name: string;
  /** A new app on the transport under test (broker and result backend); called once per test. */
  createApp: () => App | Promise<App>;
  /** Milliseconds for each test, and for each result awaited (default 30 000). */
  timeout?: number;
  /** Worker concurrency (default 20). */
  concurrency?: number;
}

/**
 * The memory result backend without its chord counter: everything is stored as usual, but
 * chords are joined by `celery.chord_unlock`, as on Celery's backends without one.
 */
export class NoChordCounterMemoryBackend extends MemoryBackend {
  override readonly capabilities: BackendCapabilities = { chordCounter: false, nativeWait: true, persistent: false };

  constructor(options: MemoryBackendOptions = {}) {
    super(options);
  }
}

class ValueError extends Error {
  override name = 'ValueError';
}

/** An in-process latch a task waits on, so a test decides when it finishes. */
class Gates {
  private readonly gates = new Map<string, { promise: Promise<void>; open: () => void }>();

  private gate(key: string) {
    let gate = this.gates.get(key);
    if (!gate) {
      let open!: () => void;
      const promise = new Promise<void>((resolve) => (open = resolve));
      gate = { promise, open };
      this.gates.set(key, gate);
    }
    return gate;
  }

  wait(key: string): Promise<void> {
    return this.gate(key).promise;
  }

  open(key: string): void {
    this.gate(key).open();
  }
}

function defineTasks(app: App, queue: string) {
  const errbacks = new Collector<string>();
  const bodyRuns = new Collector<unknown>();
  const gates = new Gates();
  const o = <N extends string>(name: N) => ({ name: `canvas.${name}`, queue });
  return {
    errbacks,
    bodyRuns,
    gates,
    add: app.task(o('add'), (x: number, y: number) => x + y),
    mul: app.task(o('mul'), (x: number, y: number) => x * y),
    sub: app.task(o('sub'), (x: number, y: number) => x - y),
    xsum: app.task(o('xsum'), (numbers: number[]) => numbers.reduce((a, b) => a + b, 0)),
    /** Sum of nested lists of numbers. */
    tsum: app.task(o('tsum'), (values: unknown): number => {
      const walk = (v: unknown): number => (Array.isArray(v) ? v.reduce((a: number, x) => a + walk(x), 0) : Number(v));
      return walk(values);
    }),
    upper: app.task(o('upper'), (s: string) => s.toUpperCase()),
    concat: app.task(o('concat'), (values: string[]) => values.join('')),
    identity: app.task(o('identity'), (value: unknown) => value),
    fail: app.task(o('fail'), (message: string): number => {
      throw new ValueError(message);
    }),
    /** An errback: records the id of the task that failed. */
    record: app.task(o('record'), (taskId: string) => {
      errbacks.push(taskId);
      return taskId;
    }),
    /** A chord body that records each run. */
    collect: app.task(o('collect'), (values: unknown[]) => {
      bodyRuns.push(values);
      return values;
    }),
    /** Returns `value` once the test opens the gate `key`. */
    gated: app.task(o('gated'), async (key: string, value: number) => {
      await gates.wait(key);
      return value;
    }),
    /** What the worker saw of the request. */
    request: app.task({ ...o('request'), bind: true }, (ctx: TaskContext, ...args: unknown[]) => ({
      id: ctx.id,
      parentId: ctx.parentId,
      rootId: ctx.rootId,
      group: ctx.group,
      groupIndex: ctx.groupIndex,
      args,
    })),
  };
}

type Tasks = ReturnType<typeof defineTasks>;

/**
 * Start a tq Worker for a test: silent, without mingle, with a unique node name. The caller
 * stops it (`worker.stop()`) before closing the app.
 */
export async function startWorker(app: App, options: WorkerOptions = {}): Promise<Worker> {
  const worker = new Worker(app, { hostname: `${uniqueName('worker')}@%h`, logger: silentLogger, mingle: false, ...options });
  await worker.start();
  return worker;
}

export function runCanvasSuite(options: CanvasSuiteOptions): void {
  const timeout = options.timeout ?? 30_000;
  const wait = { timeout: timeout / 1000 };

  describe(`canvas: ${options.name}`, { timeout }, () => {
    const cleanups: Array<() => Promise<void>> = [];

    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    /** An app on the transport, the canvas, the tasks on a queue of their own, and a running worker. */
    async function setup(): Promise<{ app: App; worker: Worker; queue: string } & Tasks> {
      const app = await options.createApp();
      cleanups.push(() => app.close());
      app.use(canvas);
      const queue = uniqueName('canvas');
      const tasks = defineTasks(app, queue);
      const worker = await startWorker(app, { queues: [queue], concurrency: options.concurrency ?? 20 });
      cleanups.push(() => worker.stop());
      return { app, worker, queue, ...tasks };
    }

    async function failure(promise: Promise<unknown>): Promise<Error> {
      const outcome = await promise.then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      );
      if (!('error' in outcome)) throw new Error(`expected a failure, got ${JSON.stringify(outcome.value)}`);
      return outcome.error as Error;
    }

    describe('signatures', () => {
      it('partials prepend call-time arguments; immutable signatures ignore them; kwargs merge', async () => {
        const { sub, add } = await setup();
        expect(await (await sub.s(1).delay(10)).get(wait)).toBe(9);
        expect(await (await sub.si(5, 2).applyAsync([100])).get(wait)).toBe(3);
        const r = await add.s().set({ kwargs: { y: 2 } }).applyAsync([], { kwargs: { x: 40 } });
        expect(await r.get(wait)).toBe(42);
      });

      it('set() options apply; a fixed task id is the result id', async () => {
        const { add } = await setup();
        const id = uniqueName('task');
        const r = await add.s(2, 2).set({ taskId: id, countdown: 0.01 }).delay();
        expect(r.id).toBe(id);
        expect(await r.get(wait)).toBe(4);
      });

      it('link calls the callback with the result; linkError calls the errback with the failed id', async () => {
        const { add, fail, record, errbacks, app } = await setup();
        const sig = add.s(1, 1);
        const cb = add.s(10).set({ taskId: uniqueName('cb') });
        sig.link(cb);
        await sig.delay();
        expect(await app.asyncResult(cb.id!).get(wait)).toBe(12);

        const failing = fail.s('boom');
        failing.linkError(record.s());
        const r = await failing.delay();
        expect(await errbacks.atLeast(1, timeout)).toEqual([r.id]);
      });

      it('clone leaves the original alone', async () => {
        const { add } = await setup();
        const base = add.s(1).set({ priority: 3 });
        const copy = base.clone([5], { queue: 'elsewhere' });
        expect(base.args).toEqual([1]);
        expect(base.options).toEqual({ priority: 3 });
        expect(copy.args).toEqual([5, 1]);
        expect(copy.options).toEqual({ priority: 3, queue: 'elsewhere' });
      });

      it('every primitive is rebuilt from its Celery dict and runs the same', async () => {
        const { app, add, xsum } = await setup();
        const workflows: Array<[AnySignature, unknown]> = [
          [chain(add.s(1, 2), add.s(3)), 6],
          [group([add.s(1, 1), add.s(2, 2)]), [2, 4]],
          [chord([add.s(1, 1), add.s(2, 2)], xsum.s()), 6],
          [chain(add.s(1, 1), group([add.s(1), add.s(2)]), xsum.s()), 7],
        ];
        for (const [workflow, expected] of workflows) {
          const rebuilt = app.signature(JSON.parse(JSON.stringify(workflow)) as Parameters<App['signature']>[0]);
          expect(rebuilt.constructor).toBe(workflow.constructor);
          expect(await (await rebuilt.applyAsync()).get(wait)).toEqual(expected);
        }
      });
    });

    describe('group', () => {
      it('runs members in parallel and returns their results in order', async () => {
        const { add } = await setup();
        const r = await group([add.s(1, 1), add.s(2, 2), add.s(3, 3)]).applyAsync();
        expect(r).toBeInstanceOf(GroupResult);
        expect(await r.get(wait)).toEqual([2, 4, 6]);
        expect(await r.join(wait)).toEqual([2, 4, 6]);
      });

      it('accepts an iterable and call-time arguments for every member', async () => {
        const { add } = await setup();
        function* members() {
          for (let i = 0; i < 4; i++) yield add.s(i);
        }
        expect(await (await group(members()).delay(10)).get(wait)).toEqual([10, 11, 12, 13]);
      });

      it('gives every member the group id and its index', async () => {
        const { request } = await setup();
        const r = await group([request.s(), request.s(), request.s()]).applyAsync();
        const seen = (await r.get(wait)) as Array<{ group: string; groupIndex: number }>;
        expect(seen.map((s) => s.group)).toEqual([r.id, r.id, r.id]);
        expect(seen.map((s) => s.groupIndex)).toEqual([0, 1, 2]);
      });

      it('GroupResult: counts, states, children, save/restore/delete, tuple', async () => {
        const { app, add } = await setup();
        const r = await group([add.s(1, 1), add.s(2, 2)]).applyAsync();
        await r.get(wait);
        expect(await r.completedCount()).toBe(2);
        expect(await r.ready()).toBe(true);
        expect(await r.successful()).toBe(true);
        expect(await r.failed()).toBe(false);
        expect(await r.waiting()).toBe(false);
        expect((await r.children()).map((c) => c.id)).toEqual(r.results.map((c) => c.id));
        await r.save();
        const restored = await GroupResult.restore(app, r.id);
        expect(restored?.results.map((c) => c.id)).toEqual(r.results.map((c) => c.id));
        expect(await restored!.get(wait)).toEqual([2, 4]);
        const fromTuple = app.resultFromTuple(JSON.parse(JSON.stringify(r.asTuple())));
        expect(fromTuple).toBeInstanceOf(GroupResult);
        expect(await fromTuple!.get(wait)).toEqual([2, 4]);
        await r.delete();
        expect(await GroupResult.restore(app, r.id)).toBeNull();
      });

      it('a failed member rethrows from get(); with propagate false it is returned in place', async () => {
        const { add, fail } = await setup();
        const r = await group([add.s(1, 1), fail.s('bad member'), add.s(2, 2)]).applyAsync();
        const err = await failure(r.get(wait));
        expect(err.name).toBe('ValueError');
        expect(err.message).toBe('bad member');
        const values = await r.get({ ...wait, propagate: false });
        expect(values[0]).toBe(2);
        expect((values[1] as unknown as Error).name).toBe('ValueError');
        expect(values[2]).toBe(4);
        expect(await r.failed()).toBe(true);
        expect(await r.successful()).toBe(false);
        expect(await r.completedCount()).toBe(2);
      });

      it('an empty group gives []', async () => {
        const { app } = await setup();
        const r = await group([], { app }).applyAsync();
        expect(await r.get(wait)).toEqual([]);
      });

      it('revoke() revokes every member', async () => {
        const { worker, add } = await setup();
        const g = group([add.s(1, 1), add.s(2, 2)]);
        const r = g.freeze();
        await r.revoke();
        await waitFor(() => r.results.every((m) => worker.revoked.has(m.id)), { timeout, message: 'the revoke to reach the worker' });
        await g.applyAsync();
        const err = await failure(r.get(wait));
        expect(isTqError(err, 'TASK_REVOKED')).toBe(true);
      });
    });

    describe('chain', () => {
      it('passes each result to the next step; the result is the last step, parents walk back', async () => {
        const { add } = await setup();
        const r = await chain(add.s(1, 2), add.s(3), add.s(4)).applyAsync();
        expect(await r.get(wait)).toBe(10);
        expect(await r.parent!.get(wait)).toBe(6);
        expect(await r.parent!.parent!.get(wait)).toBe(3);
        expect(r.parent!.parent!.parent).toBeNull();
      });

      it('pipe() is the | of Celery; call-time arguments go to the first step', async () => {
        const { add, mul } = await setup();
        expect(await (await add.s(1, 2).pipe(mul.s(10)).applyAsync()).get(wait)).toBe(30);
        expect(await (await chain(add.s(1), mul.s(2)).delay(4)).get(wait)).toBe(10);
      });

      it('a chain of one task, and immutable steps that ignore the previous result', async () => {
        const { add } = await setup();
        expect(await (await chain(add.s(1, 2)).applyAsync()).get(wait)).toBe(3);
        expect(await (await chain(add.s(1, 1), add.si(5, 5), add.s(1)).applyAsync()).get(wait)).toBe(11);
      });

      it('sets parent_id to the previous step and root_id to the first', async () => {
        const { request } = await setup();
        const r = await chain(request.s(), request.s(), request.s()).applyAsync();
        const last = (await r.get(wait)) as { id: string; parentId: string; rootId: string };
        const middle = (await r.parent!.get(wait)) as { id: string; parentId: string; rootId: string };
        const first = (await r.parent!.parent!.get(wait)) as { id: string; parentId: string | null; rootId: string };
        expect(first.rootId).toBe(first.id);
        expect(first.parentId).toBeNull();
        expect(middle.parentId).toBe(first.id);
        expect(last.parentId).toBe(middle.id);
        expect([middle.rootId, last.rootId]).toEqual([first.id, first.id]);
      });

      it('a failed step fails every later step, and the chain errback runs once', async () => {
        const { add, fail, record, errbacks } = await setup();
        const c = chain(add.s(1, 1), fail.si('step two'), add.s(1), add.s(1));
        c.linkError(record.s());
        const r = await c.applyAsync();
        const err = await failure(r.get(wait));
        expect(err.name).toBe('ValueError');
        expect(err.message).toBe('step two');
        // Every later step fails with the same error (the states may land in any order).
        expect((await failure(r.parent!.get(wait))).message).toBe('step two');
        expect((await failure(r.parent!.parent!.get(wait))).message).toBe('step two');
        expect(await r.parent!.parent!.parent!.get(wait)).toBe(2);
        expect(await errbacks.atLeast(1, timeout)).toEqual([r.parent!.parent!.id]);
      });

      it('a group in the middle becomes a chord; a group at the end gives a GroupResult', async () => {
        const { add, xsum } = await setup();
        const middle = await chain(add.s(1, 1), group([add.s(1), add.s(2), add.s(3)]), xsum.s(), add.s(100)).applyAsync();
        expect(await middle.get(wait)).toBe(112);
        const end = await chain(add.s(1, 1), group([add.s(1), add.s(2)])).applyAsync();
        expect(end).toBeInstanceOf(GroupResult);
        expect(await end.get(wait)).toEqual([3, 4]);
      });

      it('a failure before a final group fails every member (nothing waits forever)', async () => {
        const { add, fail } = await setup();
        const r = await chain(fail.s('first'), group([add.s(1), add.s(2)])).applyAsync();
        const err = await failure(r.get(wait));
        expect(err.message).toBe('first');
      });
    });

    describe('chord', () => {
      it('calls the body with the header results in header order', async () => {
        const { add, xsum, gated, gates, collect } = await setup();
        expect(await (await chord([add.s(1, 1), add.s(2, 2)], xsum.s()).applyAsync()).get(wait)).toBe(6);
        // The first member finishes last; the body still sees the header's order.
        const r = await chord([gated.s('first', 1), gated.s('second', 2), add.s(1, 2)], collect.s()).applyAsync();
        const header = r.parent as GroupResult;
        expect(await header.results[2]!.get(wait)).toBe(3);
        gates.open('second');
        expect(await header.results[1]!.get(wait)).toBe(2);
        gates.open('first');
        expect(await r.get(wait)).toEqual([1, 2, 3]);
      });

      it('the callable form chord(header)(body)', async () => {
        const { add, xsum } = await setup();
        const r = await chord([add.s(1, 1), add.s(2, 2), add.s(3, 3)])(xsum.s());
        expect(await r.get(wait)).toBe(12);
      });

      it('group.pipe(task) is a chord; the result parent is the header', async () => {
        const { add, xsum } = await setup();
        const r = await group([add.s(1, 1), add.s(2, 2)]).pipe(xsum.s()).applyAsync();
        expect(await r.get(wait)).toBe(6);
        expect(r.parent).toBeInstanceOf(GroupResult);
        expect(await r.parent!.get(wait)).toEqual([2, 4]);
      });

      it('header members carry the group id, their index and the body', async () => {
        const { request, identity } = await setup();
        const r = await chord([request.s(), request.s()], identity.s()).applyAsync();
        const seen = (await r.get(wait)) as Array<{ group: string; groupIndex: number }>;
        expect(seen.map((s) => s.groupIndex)).toEqual([0, 1]);
        expect(seen[0]!.group).toBe(r.parent!.id);
      });

      it('a failed header task fails the body with ChordError and runs the body errbacks; the body never runs', async () => {
        const { add, fail, collect, record, errbacks, bodyRuns } = await setup();
        const body = collect.s();
        body.linkError(record.s());
        const r = await chord([add.s(1, 1), fail.s('header'), add.s(2, 2)], body).applyAsync();
        const err = await failure(r.get(wait));
        expect(err).toBeInstanceOf(ChordError);
        expect(err.message).toMatch(/Dependency \S+ raised ValueError/);
        expect(await errbacks.atLeast(1, timeout)).toEqual([r.id]);
        expect(bodyRuns.items).toEqual([]);
      });

      it('a revoked header task fails the body (it never stays unfired)', async () => {
        const { app, worker, add, xsum } = await setup();
        const revoked = add.s(2, 2).set({ taskId: uniqueName('revoked') });
        await app.control.revoke(revoked.id!, { destination: [worker.hostname], reply: true, timeout: timeout / 1000 });
        await waitFor(() => worker.revoked.has(revoked.id!), { timeout, message: 'the revoke to reach the worker' });
        const r = await chord([add.s(1, 1), revoked], xsum.s()).applyAsync();
        const err = await failure(r.get(wait));
        expect(err).toBeInstanceOf(ChordError);
        expect(err.message).toContain(revoked.id!);
      });

      it('a header task unknown to the worker fails the body', async () => {
        const { app, queue, add, xsum } = await setup();
        const unknown = app.signature<[], number>('canvas.not_registered', [1]).set({ queue });
        const r = await chord([add.s(1, 1), unknown], xsum.s()).applyAsync();
        const err = await failure(r.get(wait));
        expect(err).toBeInstanceOf(ChordError);
        expect(err.message).toMatch(/NotRegistered/);
      });

      it('the body runs exactly once', async () => {
        const { add, collect, bodyRuns } = await setup();
        const r = await chord([add.s(1, 1), add.s(2, 2), add.s(3, 3), add.s(4, 4)], collect.s()).applyAsync();
        expect(await r.get(wait)).toEqual([2, 4, 6, 8]);
        // A second, later chord on the same worker: by the time it is done the first body
        // cannot still be queued.
        await (await chord([add.s(0, 0)], collect.s()).applyAsync()).get(wait);
        expect(bodyRuns.items).toEqual([[2, 4, 6, 8], [0]]);
      });

      it('an empty header runs the body with []', async () => {
        const { collect } = await setup();
        const r = await chord([], collect.s()).applyAsync();
        expect(await r.get(wait)).toEqual([]);
      });

      it('a failing body fails the chord and runs its errbacks', async () => {
        const { add, fail, record, errbacks } = await setup();
        const body = fail.si('in body');
        body.linkError(record.s());
        const r = await chord([add.s(1, 1)], body).applyAsync();
        const err = await failure(r.get(wait));
        expect(err.message).toBe('in body');
        expect(await errbacks.atLeast(1, timeout)).toEqual([r.id]);
      });

      it('link on a chord calls the callback with the body result', async () => {
        const { app, add, xsum } = await setup();
        const cb = add.s(100).set({ taskId: uniqueName('cb') });
        const c = chord([add.s(1, 1), add.s(2, 2)], xsum.s());
        c.link(cb);
        await c.applyAsync();
        expect(await app.asyncResult(cb.id!).get(wait)).toBe(106);
      });
    });

    describe('nesting', () => {
      it('chord of chains', async () => {
        const { add, mul, xsum } = await setup();
        const r = await chord([chain(add.s(1, 1), mul.s(10)), chain(add.s(2, 2), mul.s(10))], xsum.s()).applyAsync();
        expect(await r.get(wait)).toBe(60);
      });

      it('group of chains', async () => {
        const { add, mul } = await setup();
        const r = await group([add.s(1, 1).pipe(mul.s(10)), add.s(2, 2).pipe(mul.s(10))]).applyAsync();
        expect(await r.get(wait)).toEqual([20, 40]);
      });

      it('chain of chords', async () => {
        const { add, xsum } = await setup();
        const r = await chain(chord([add.s(1, 1), add.s(2, 2)], xsum.s()), chord([add.s(1), add.s(2)], xsum.s())).applyAsync();
        // 6, then [6 + 1, 6 + 2] summed.
        expect(await r.get(wait)).toBe(15);
      });

      it('chord whose header holds a chord, and chord whose body is a chord', async () => {
        const { add, xsum, tsum } = await setup();
        const inner = await chord([chord([add.s(1, 1), add.s(2, 2)], xsum.s()), add.s(3, 3)], xsum.s()).applyAsync();
        expect(await inner.get(wait)).toBe(12);
        // The body chord's header members each get the outer header's results: tsum([2, 4]).
        const bodyChord = await chord([add.s(1, 1), add.s(2, 2)], chord([tsum.s(), tsum.s()], xsum.s())).applyAsync();
        expect(await bodyChord.get(wait)).toBe(12);
      });

      it('chord with a group body and with a chain body', async () => {
        const { add, xsum, mul, tsum } = await setup();
        const groupBody = await chord([add.s(1, 1), add.s(2, 2)], group([xsum.s(), tsum.s()])).applyAsync();
        expect(await groupBody.get(wait)).toEqual([6, 6]);
        const chainBody = await chord([add.s(1, 1), add.s(2, 2)], xsum.s().pipe(mul.s(10))).applyAsync();
        expect(await chainBody.get(wait)).toBe(60);
      });

      it('a header member ending in a group keeps its nested shape', async () => {
        const { add, identity } = await setup();
        const r = await chord([chain(add.s(1, 1), group([add.s(1), add.s(2)])), add.s(5, 5)], identity.s()).applyAsync();
        expect(await r.get(wait)).toEqual([[3, 4], 10]);
      });

      it('a failure deep in a nested workflow reaches the top', async () => {
        const { add, fail, xsum } = await setup();
        const r = await chain(add.s(1, 1), chord([add.s(1), chain(add.s(2), fail.si('deep'))], xsum.s()), add.s(1)).applyAsync();
        const err = await failure(r.get(wait));
        expect(err).toBeInstanceOf(ChordError);
      });
    });

    describe('map, starmap, chunks', () => {
      it('map and starmap return lists; chunks a list of lists', async () => {
        const { add, upper } = await setup();
        expect(await (await upper.map(['a', 'b']).applyAsync()).get(wait)).toEqual(['A', 'B']);
        expect(await (await add.starmap([[1, 2], [3, 4]]).applyAsync()).get(wait)).toEqual([3, 7]);
        const pairs: Array<[number, number]> = Array.from({ length: 7 }, (_, i) => [i, i]);
        expect(await (await add.chunks(pairs, 3).applyAsync()).get(wait)).toEqual([[0, 2, 4], [6, 8, 10], [12]]);
        const g = chunks(add, pairs, 4).group();
        expect(g.tasks).toHaveLength(2);
        expect(await (await g.applyAsync()).get(wait)).toEqual([[0, 2, 4, 6], [8, 10, 12]]);
      });

      it('map in a chain and in a chord', async () => {
        const { add, upper, concat, tsum } = await setup();
        expect(await (await chain(upper.map(['a', 'b']), concat.s()).applyAsync()).get(wait)).toBe('AB');
        const r = await chord([add.starmap([[1, 1], [2, 2]]), add.starmap([[3, 3]])], tsum.s()).applyAsync();
        expect(await r.get(wait)).toBe(12);
      });
    });

    describe('scale', () => {
      it('a group of 1,000 tasks', async () => {
        const { add } = await setup();
        const r = await group(Array.from({ length: 1000 }, (_, i) => add.s(i, i))).applyAsync();
        const values = await r.get(wait);
        expect(values).toHaveLength(1000);
        expect(values[999]).toBe(1998);
      });

      it('a chord of 1,000 tasks', async () => {
        const { add, xsum } = await setup();
        const r = await chord(Array.from({ length: 1000 }, (_, i) => add.s(i, 1)), xsum.s()).applyAsync();
        expect(await r.get(wait)).toBe((999 * 1000) / 2 + 1000);
      });
    });
  });
}

