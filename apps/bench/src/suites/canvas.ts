/**
 * Canvas on the memory transport, async pool: time from `applyAsync` to the final result for a
 * group of 10,000 tasks (every member's result, in order) and a chord of 1,000 tasks (the body's
 * result), with the chord counter and with `celery.chord_unlock`; and peak RSS. Sizes can be
 * changed with TQ_BENCH_GROUP / TQ_BENCH_CHORD: the time grows linearly with them (nothing in
 * applying or joining a group or chord is quadratic).
 */
import { chord, group } from '@tq/canvas';
import { MemoryBackend, createApp, silentLogger, type App, type BackendCapabilities } from '@tq/core';
import { Worker } from '@tq/worker';
import { heading, line, peakRssMb, perSecond } from '../report.js';

const GROUP = Number(process.env['TQ_BENCH_GROUP'] ?? 10_000);
const CHORD = Number(process.env['TQ_BENCH_CHORD'] ?? 1_000);

/** The memory backend without its chord counter: chords are joined by `celery.chord_unlock`. */
class NoCounterBackend extends MemoryBackend {
  override readonly capabilities: BackendCapabilities = { chordCounter: false, nativeWait: true, persistent: false };
}

async function withWorker<T>(app: App, fn: () => Promise<T>): Promise<T> {
  const worker = new Worker(app, { concurrency: 100, logger: silentLogger, mingle: false });
  await worker.start();
  try {
    return await fn();
  } finally {
    await worker.stop();
    await app.close();
  }
}

function tasks(app: App) {
  return {
    add: app.task('bench.add', (x: number, y: number) => x + y),
    xsum: app.task('bench.xsum', (numbers: number[]) => numbers.reduce((a, b) => a + b, 0)),
  };
}

async function timeGroup(size: number): Promise<number> {
  const app = createApp({ logger: silentLogger });
  const { add } = tasks(app);
  return withWorker(app, async () => {
    await (await group(Array.from({ length: size }, (_, i) => add.s(i, i))).applyAsync()).get(); // warm-up
    const start = performance.now();
    const values = await (await group(Array.from({ length: size }, (_, i) => add.s(i, i))).applyAsync()).get();
    const ms = performance.now() - start;
    if (values.length !== size || values[size - 1] !== (size - 1) * 2) throw new Error('wrong group result');
    return ms;
  });
}

async function timeChord(size: number, counter: boolean): Promise<number> {
  const app = createApp({ logger: silentLogger, ...(counter ? {} : { backend: new NoCounterBackend(), resultChordRetryInterval: 0.05 }) });
  const { add, xsum } = tasks(app);
  return withWorker(app, async () => {
    const build = () => chord(Array.from({ length: size }, (_, i) => add.s(i, 1)), xsum.s());
    for (let i = 0; i < 3; i++) await (await build().applyAsync()).get(); // warm-up
    const start = performance.now();
    const total = await (await build().applyAsync()).get();
    const ms = performance.now() - start;
    if (total !== ((size - 1) * size) / 2 + size) throw new Error('wrong chord result');
    return ms;
  });
}

export async function run(): Promise<void> {
  heading(`canvas on the memory transport, async pool (concurrency 100), time from applyAsync to the result`);
  perSecond(`group of ${GROUP.toLocaleString('en-US')}`, GROUP, await timeGroup(GROUP));
  perSecond(`chord of ${CHORD.toLocaleString('en-US')} (chord counter)`, CHORD, await timeChord(CHORD, true));
  perSecond(`chord of ${CHORD.toLocaleString('en-US')} (chord_unlock, 0.05 s poll)`, CHORD, await timeChord(CHORD, false));
  line('peak RSS', `${peakRssMb()} MB`);
}
