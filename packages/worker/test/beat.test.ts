import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BrokerError, ManualClock, MemoryBackend, MemoryBroker, createApp, crontab, isTqError, schedule, silentLogger, type App, type BeatSchedule, type Broker, type Logger } from '@tq/core';
import { Collector } from '@tq/testing';
import { Beat, FileStore, MemoryStore, Worker, backendStore, beatStep, runTaskId, type BeatOptions, type BeatSent, type BeatStore } from '../src/index.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

interface Sent {
  name: string;
  id: string;
  args: unknown[];
  at: string;
}

/** An app on its own memory transport whose sends are recorded with the manual clock's time. */
function newApp(clock: ManualClock, config: Parameters<typeof createApp>[0] = {}, shared?: { broker: MemoryBroker; backend: MemoryBackend }): { app: App; sent: Sent[] } {
  const app = createApp({
    logger: silentLogger,
    broker: shared?.broker ?? new MemoryBroker(),
    backend: shared?.backend ?? new MemoryBackend({ now: () => clock.now() }),
    ...config,
  });
  const sent: Sent[] = [];
  app.signals.on('taskSent', (task) => sent.push({ name: task.name, id: task.id, args: task.args, at: iso(clock.now()) }));
  cleanups.push(() => app.close());
  return { app, sent };
}

async function startBeat(app: App, options: BeatOptions): Promise<Beat> {
  const beat = new Beat(app, { logger: silentLogger, ...options });
  await beat.start();
  cleanups.push(() => beat.stop());
  return beat;
}

async function tempFile(name = 'celerybeat-schedule'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tq-beat-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return join(dir, name);
}

describe('beat schedules', () => {
  it('sends an interval entry every interval after the last run', async () => {
    const clock = new ManualClock('2026-01-01T00:00:00Z');
    const { app, sent } = newApp(clock, { beatSchedule: { tick: { task: 'proj.tick', schedule: 10, args: [1], kwargs: { k: 'v' } } } });
    await startBeat(app, { clock, store: new MemoryStore({ shared: false }) });
    await clock.advance(35_000);
    expect(sent).toEqual([
      { name: 'proj.tick', id: expect.any(String), args: [1], at: '2026-01-01T00:00:10.000Z' },
      { name: 'proj.tick', id: expect.any(String), args: [1], at: '2026-01-01T00:00:20.000Z' },
      { name: 'proj.tick', id: expect.any(String), args: [1], at: '2026-01-01T00:00:30.000Z' },
    ]);
    expect(new Set(sent.map((s) => s.id)).size).toBe(3);
  });

  it('sends a crontab entry at its minute, once', async () => {
    const clock = new ManualClock('2026-01-05T09:29:50Z');
    const { app, sent } = newApp(clock, { beatSchedule: { report: { task: 'proj.report', schedule: crontab({ minute: 30, hour: 9, dayOfWeek: 'mon-fri' }) } } });
    const beat = await startBeat(app, { clock, store: new MemoryStore({ shared: false }) });
    await clock.advance(9_000);
    expect(sent).toEqual([]);
    await clock.advance(1_000);
    expect(sent.map((s) => s.at)).toEqual(['2026-01-05T09:30:00.000Z']);
    await clock.advanceTo('2026-01-06T09:29:59Z');
    expect(sent).toHaveLength(1);
    await clock.advanceTo('2026-01-06T09:30:00Z');
    expect(sent.map((s) => s.at)).toEqual(['2026-01-05T09:30:00.000Z', '2026-01-06T09:30:00.000Z']);
    const [status] = await beat.status();
    expect(status).toMatchObject({ name: 'report', task: 'proj.report', totalRunCount: 2, lastRunAt: new Date('2026-01-06T09:30:00Z'), nextRunAt: new Date('2026-01-07T09:30:00Z') });
  });

  it('handles DST in Europe/Berlin: a missing 02:30 is skipped, a doubled 02:30 runs once', async () => {
    const clock = new ManualClock('2026-03-27T12:00:00Z');
    const { app, sent } = newApp(clock, {
      timezone: 'Europe/Berlin',
      beatSchedule: {
        nightly: { task: 'proj.nightly', schedule: crontab({ minute: 30, hour: 2 }) },
        quarter: { task: 'proj.quarter', schedule: '*/15 2 * * *' },
      },
    });
    await startBeat(app, { clock, store: new MemoryStore({ shared: false }), maxInterval: 86_400 });
    const times = (name: string) => sent.filter((s) => s.name === name).map((s) => s.at);
    await clock.advanceTo('2026-03-31T00:00:00Z');
    expect(times('proj.nightly')).toEqual(['2026-03-28T01:30:00.000Z', '2026-03-30T00:30:00.000Z']);
    // 02:00–02:45 each night except 29 March, when 02:xx does not exist.
    expect(times('proj.quarter').filter((t) => t.startsWith('2026-03-29'))).toEqual([]);
    expect(times('proj.quarter').filter((t) => t.startsWith('2026-03-30'))).toEqual(['2026-03-30T00:00:00.000Z', '2026-03-30T00:15:00.000Z', '2026-03-30T00:30:00.000Z', '2026-03-30T00:45:00.000Z']);
    sent.length = 0;
    await clock.advanceTo('2026-10-24T12:00:00Z');
    sent.length = 0;
    await clock.advanceTo('2026-10-26T12:00:00Z');
    expect(times('proj.nightly')).toEqual(['2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']);
    // On 25 October 02:00–02:59 happens twice; each quarter runs once (in the first pass).
    expect(times('proj.quarter').filter((t) => t.startsWith('2026-10-25'))).toEqual(['2026-10-25T00:00:00.000Z', '2026-10-25T00:15:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-25T00:45:00.000Z']);
  });
});

describe('beat state', () => {
  it('survives a restart: no run repeated, the run due while it was down sent once', async () => {
    const file = await tempFile();
    const clock = new ManualClock('2026-01-01T00:00:00Z');
    const beatSchedule: BeatSchedule = { tick: { task: 'proj.tick', schedule: '60s' } };
    const first = newApp(clock, { beatSchedule });
    const beat1 = await startBeat(first.app, { clock, scheduleFile: file });
    await clock.advance(150_000);
    expect(first.sent.map((s) => s.at)).toEqual(['2026-01-01T00:01:00.000Z', '2026-01-01T00:02:00.000Z']);
    await beat1.stop();
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ format: 'tq-beat-schedule', version: 1 });

    // Restarted at 00:02:30: the 00:02 run is not repeated.
    const second = newApp(clock, { beatSchedule });
    const beat2 = await startBeat(second.app, { clock, scheduleFile: file });
    await clock.advance(20_000);
    expect(second.sent).toEqual([]);
    await beat2.stop();

    // Down from 00:02:50 to 00:05:10: the runs due at 00:03, 00:04 and 00:05 collapse into one, at once.
    await clock.advanceTo('2026-01-01T00:05:10Z');
    const third = newApp(clock, { beatSchedule });
    const beat3 = await startBeat(third.app, { clock, scheduleFile: file });
    expect(third.sent.map((s) => s.at)).toEqual(['2026-01-01T00:05:10.000Z']);
    await clock.advance(60_000);
    expect(third.sent.map((s) => s.at)).toEqual(['2026-01-01T00:05:10.000Z', '2026-01-01T00:06:10.000Z']);
    expect((await beat3.status())[0]).toMatchObject({ totalRunCount: 4 });
  });

  it('sends a run that was claimed but maybe not sent, with the same task id', async () => {
    const clock = new ManualClock('2026-01-01T00:00:30Z');
    const store = new MemoryStore({ shared: false });
    const beatSchedule: BeatSchedule = { tick: { task: 'proj.tick', schedule: 60 } };
    const { app, sent } = newApp(clock, { beatSchedule });
    // What a beat that died between claiming the 00:00:00 run and sending it leaves behind.
    const probe = new Beat(app, { clock, store, logger: silentLogger });
    await probe.start();
    await probe.stop();
    const key = 'tq-beat:__main__:entry:tick';
    const fresh = JSON.parse((await store.get(key))!);
    const orphanId = runTaskId('__main__', 'tick', at('2026-01-01T00:00:00Z'), 1);
    await store.compareAndSet(key, await store.get(key), JSON.stringify({ ...fresh, totalRunCount: 1, pending: { taskId: orphanId, due: '2026-01-01T00:00:00.000Z' } }));
    const resent: BeatSent[] = [];
    const beat = new Beat(app, { clock, store, logger: silentLogger });
    beat.on('sent', (s) => resent.push(s));
    await beat.start();
    cleanups.push(() => beat.stop());
    expect(sent.map((s) => s.id)).toEqual([orphanId]);
    expect(resent).toEqual([{ entry: 'tick', task: 'proj.tick', taskId: orphanId, due: at('2026-01-01T00:00:00Z'), resent: true }]);
    expect(JSON.parse((await store.get(key))!)).toMatchObject({ totalRunCount: 1, pending: null });
  });

  it('keeps a run the broker refused and sends it again, with the same task id', async () => {
    const clock = new ManualClock('2026-01-01T00:00:00Z');
    const memory = new MemoryBroker();
    let refuse = 2;
    const broker: Broker = Object.assign(Object.create(memory) as MemoryBroker, {
      publish: (...args: Parameters<MemoryBroker['publish']>) => (refuse-- > 0 ? Promise.reject(new BrokerError('connection lost')) : memory.publish(...args)),
    });
    const { app, sent } = newApp(clock, { broker, taskPublishRetry: false, beatSchedule: { tick: { task: 'proj.tick', schedule: 60 } } });
    const beat = await startBeat(app, { clock, store: new MemoryStore({ shared: false }) });
    const sends: BeatSent[] = [];
    const errors: unknown[] = [];
    beat.on('sent', (s) => sends.push(s));
    beat.on('error', (e) => errors.push(e));
    await clock.advance(60_000);
    expect(sent).toEqual([]);
    expect(errors).toHaveLength(1);
    await clock.advance(10_000);
    expect(errors).toHaveLength(2);
    expect(sends).toEqual([{ entry: 'tick', task: 'proj.tick', taskId: runTaskId('__main__', 'tick', at('2026-01-01T00:01:00Z'), 1), due: at('2026-01-01T00:01:00Z'), resent: true }]);
    expect(sent.map((s) => `${s.id}@${s.at}`)).toEqual([`${sends[0]!.taskId}@2026-01-01T00:01:10.000Z`]);
    // The next run counts from the claim, not from the late send.
    await clock.advanceTo('2026-01-01T00:02:00Z');
    expect(sent.map((s) => s.at)).toEqual(['2026-01-01T00:01:10.000Z', '2026-01-01T00:02:00.000Z']);
  });

  it('picks up a changed schedule: the entry starts over from now', async () => {
    const file = await tempFile();
    const clock = new ManualClock('2026-01-01T00:00:00Z');
    const first = newApp(clock, { beatSchedule: { job: { task: 'proj.job', schedule: '1h' } } });
    const beat1 = await startBeat(first.app, { clock, scheduleFile: file });
    await clock.advance(3_600_000);
    expect(first.sent).toHaveLength(1);
    await beat1.stop();
    await clock.advance(600_000);
    const infos: string[] = [];
    const logger: Logger = { ...silentLogger, info: (m: string) => void infos.push(m) };
    const second = newApp(clock, { beatSchedule: { job: { task: 'proj.job', schedule: crontab({ minute: '*/5' }) } } });
    const beat2 = await startBeat(second.app, { clock, scheduleFile: file, logger });
    expect(infos.some((m) => /the schedule of "job" changed to <crontab: \*\/5 \* \* \* \*>; it starts over from now/.test(m))).toBe(true);
    await clock.advance(10 * 60_000);
    expect(second.sent.map((s) => s.at)).toEqual(['2026-01-01T01:15:00.000Z', '2026-01-01T01:20:00.000Z']);
    expect((await beat2.status())[0]!.totalRunCount).toBe(3);
  });

  it('refuses a file that is not its own, naming it', async () => {
    const file = await tempFile();
    const { writeFile } = await import('node:fs/promises');
    await writeFile(file, Buffer.from([0x80, 0x04, 0x95]));
    const clock = new ManualClock('2026-01-01T00:00:00Z');
    const { app } = newApp(clock, { beatSchedule: { tick: { task: 't', schedule: 1 } } });
    const beat = new Beat(app, { clock, scheduleFile: file, logger: silentLogger });
    await expect(beat.start()).rejects.toThrow(/is not a tq beat schedule file \(it may be Python Celery's shelve of the same name\)/);
    await beat.stop();
  });
});

describe('beat start-up checks', () => {
  it('reports every bad entry by name and refuses to start', async () => {
    const clock = new ManualClock('2026-01-01T00:00:00Z');
    const { app } = newApp(clock, {
      beatSchedule: {
        good: { task: 'proj.good', schedule: 10 },
        'no-task': { schedule: 10 },
        'bad-cron': { task: 'proj.x', schedule: '61 * * * *' },
        'bad-interval': { task: 'proj.x', schedule: 'often' },
        'bad-args': { task: 'proj.x', schedule: 5, args: { a: 1 } },
        'never': { task: 'proj.x', schedule: '0 0 31 2 *' },
      },
    });
    const beat = new Beat(app, { clock, store: new MemoryStore(), logger: silentLogger });
    const error = await beat.start().then(
      () => null,
      (err: unknown) => err,
    );
    expect(isTqError(error, 'CONFIGURATION_ERROR')).toBe(true);
    const message = (error as Error).message;
    expect(message).toMatch(/^\[tq\] beat: invalid beatSchedule entries:/);
    expect(message).toMatch(/"no-task": no task name/);
    expect(message).toMatch(/"bad-cron": invalid crontab minute "61": 61 is outside 0-59/);
    expect(message).toMatch(/"bad-interval": schedule interval must be seconds or a string like/);
    expect(message).toMatch(/"bad-args": args must be an array/);
    expect(message).toMatch(/"never": crontab 0 0 31 2 \* can never run/);
    expect(message).not.toMatch(/"good"/);
    await beat.stop();
  });

  it('warns about a task this app does not register, and sends it by name anyway', async () => {
    const clock = new ManualClock('2026-01-01T00:00:00Z');
    const warnings: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (m: string) => void warnings.push(m) };
    const { app, sent } = newApp(clock, { beatSchedule: { remote: { task: 'python.tasks.cleanup', schedule: 60, relative: true } as never } });
    app.task('proj.local', () => 1);
    await startBeat(app, { clock, store: new MemoryStore({ shared: false }), logger });
    expect(warnings).toEqual([
      'beat: "remote": relative is not supported; the interval counts from the last run',
      'beat: "remote": task python.tasks.cleanup is not registered in this app; beat sends it by name, so a worker must have it',
    ]);
    await clock.advance(60_000);
    expect(sent.map((s) => s.name)).toEqual(['python.tasks.cleanup']);
  });
});

describe('several beats, one sender', () => {
  /** Two beats (each with its own app) on one broker and one result backend. */
  async function pair(beatSchedule: BeatSchedule, options: BeatOptions = {}) {
    const clock = new ManualClock('2026-01-01T00:00:00Z');
    const shared = { broker: new MemoryBroker(), backend: new MemoryBackend({ now: () => clock.now() }) };
    const a = newApp(clock, { beatSchedule }, shared);
    const b = newApp(clock, { beatSchedule }, shared);
    const beatA = await startBeat(a.app, { clock, store: 'backend', owner: 'a', ...options });
    const beatB = await startBeat(b.app, { clock, store: 'backend', owner: 'b', ...options });
    const all = () => [...a.sent.map((s) => ({ ...s, by: 'a' })), ...b.sent.map((s) => ({ ...s, by: 'b' }))].sort((x, y) => x.at.localeCompare(y.at));
    return { clock, shared, a, b, beatA, beatB, all };
  }

  it('elects one leader; only it sends, each run once', async () => {
    const { clock, beatA, beatB, all } = await pair({ tick: { task: 'proj.tick', schedule: 30 } });
    expect([beatA.isLeader, beatB.isLeader]).toEqual([true, false]);
    await clock.advance(5 * 60_000);
    expect(all().map((s) => s.by)).toEqual(Array(10).fill('a'));
    expect(all().map((s) => s.at)).toEqual(Array.from({ length: 10 }, (_, i) => iso(at('2026-01-01T00:00:00Z') + (i + 1) * 30_000)));
  });

  it('when the leader dies, the other takes over within one lease period, without a repeat or a gap', async () => {
    const { clock, beatA, beatB, all } = await pair({ tick: { task: 'proj.tick', schedule: 30 } }, { leaseTtl: 15 });
    await clock.advance(60_000);
    expect(all().map((s) => `${s.by}@${s.at}`)).toEqual(['a@2026-01-01T00:00:30.000Z', 'a@2026-01-01T00:01:00.000Z']);
    // Killed: no release, the lease must expire.
    const killedAt = clock.now();
    await beatA.stop({ releaseLease: false });
    let tookOver = 0;
    beatB.on('leader', () => (tookOver = clock.now()));
    await clock.advance(5 * 60_000);
    expect(tookOver - killedAt).toBeGreaterThan(0);
    expect(tookOver - killedAt).toBeLessThanOrEqual(15_000 + 1_500);
    const runs = all();
    expect(runs.map((s) => s.at)).toEqual(Array.from({ length: 12 }, (_, i) => iso(at('2026-01-01T00:00:00Z') + (i + 1) * 30_000)));
    expect(runs.slice(2).every((s) => s.by === 'b')).toBe(true);
    expect(new Set(runs.map((s) => s.id)).size).toBe(12);
  });

  it('a leader that stops hands over at once (it releases the lease)', async () => {
    const { clock, beatA, beatB, all } = await pair({ tick: { task: 'proj.tick', schedule: 30 } }, { leaseTtl: 60 });
    await clock.advance(30_000);
    await beatA.stop();
    let tookOver = 0;
    beatB.on('leader', () => (tookOver = clock.now()));
    await clock.advance(60_000);
    expect(tookOver - at('2026-01-01T00:00:30Z')).toBeLessThanOrEqual(6_000);
    expect(all().map((s) => `${s.by}@${s.at}`)).toEqual(['a@2026-01-01T00:00:30.000Z', 'b@2026-01-01T00:01:00.000Z', 'b@2026-01-01T00:01:30.000Z']);
  });

  it('even two beats that both think they lead send each run once (the claim is a compare-and-set)', async () => {
    const clock = new ManualClock('2026-01-01T00:00:00Z');
    const shared = new MemoryStore({ now: () => clock.now() });
    // Both see the lease as theirs; the entry records are shared for real.
    const splitBrain = (owner: string): BeatStore => ({
      description: `split-brain ${owner}`,
      shared: true,
      get: (key) => shared.get(key),
      compareAndSet: (key, expected, value, ttl) => (key.endsWith(':lease') ? Promise.resolve(true) : shared.compareAndSet(key, expected, value, ttl)),
      close: async () => undefined,
    });
    const beatSchedule: BeatSchedule = { a: { task: 'proj.a', schedule: 7 }, b: { task: 'proj.b', schedule: crontab() } };
    const one = newApp(clock, { beatSchedule });
    const two = newApp(clock, { beatSchedule });
    await startBeat(one.app, { clock, store: splitBrain('one') });
    await startBeat(two.app, { clock, store: splitBrain('two') });
    await clock.advance(10 * 60_000);
    const sent = [...one.sent, ...two.sent];
    expect(sent.filter((s) => s.name === 'proj.b')).toHaveLength(10);
    expect(sent.filter((s) => s.name === 'proj.a')).toHaveLength(Math.floor(600 / 7));
    expect(new Set(sent.map((s) => s.id)).size).toBe(sent.length);
  });

  it('keeps its state in the result backend, so a replacement process continues the schedule', async () => {
    const clock = new ManualClock('2026-01-01T00:00:00Z');
    const backend = new MemoryBackend({ now: () => clock.now() });
    const broker = new MemoryBroker();
    const beatSchedule: BeatSchedule = { tick: { task: 'proj.tick', schedule: 60 } };
    const first = newApp(clock, { beatSchedule }, { broker, backend });
    const beat1 = await startBeat(first.app, { clock, store: backendStore(backend) });
    await clock.advance(125_000);
    await beat1.stop();
    const second = newApp(clock, { beatSchedule }, { broker, backend });
    await startBeat(second.app, { clock, store: backendStore(backend) });
    await clock.advance(60_000);
    expect([...first.sent, ...second.sent].map((s) => s.at)).toEqual(['2026-01-01T00:01:00.000Z', '2026-01-01T00:02:00.000Z', '2026-01-01T00:03:00.000Z']);
  });
});

describe('beat stores', () => {
  it('the file store writes atomically and reads back what it wrote', async () => {
    const file = await tempFile('state/beat.json');
    const store = new FileStore(file);
    expect(await store.get('k')).toBeNull();
    expect(await store.compareAndSet('k', null, 'v1')).toBe(true);
    expect(await store.compareAndSet('k', null, 'v2')).toBe(false);
    expect(await store.compareAndSet('k', 'v1', 'v2')).toBe(true);
    await store.close();
    const again = new FileStore(file);
    expect(await again.get('k')).toBe('v2');
    expect(await again.compareAndSet('k', 'v2', null)).toBe(true);
    expect(await new FileStore(file).get('k')).toBeNull();
  });

  it('the memory backend implements the optional compare-and-set with expiry', async () => {
    let now = 0;
    const backend = new MemoryBackend({ now: () => now });
    expect(await backend.compareAndSet('lease', null, 'a', { ttl: 10 })).toBe(true);
    expect(await backend.compareAndSet('lease', null, 'b', { ttl: 10 })).toBe(false);
    expect(await backend.compareAndSet('lease', 'a', 'a', { ttl: 10 })).toBe(true);
    now = 9_999;
    expect(await backend.getValue('lease')).toBe('a');
    now = 10_000;
    expect(await backend.getValue('lease')).toBeNull();
    expect(await backend.compareAndSet('lease', null, 'b', { ttl: 10 })).toBe(true);
    expect(await backend.compareAndSet('lease', 'b', null)).toBe(true);
    expect(await backend.getValue('lease')).toBeNull();
    // Concurrent claims: exactly one wins.
    const wins = await Promise.all(Array.from({ length: 5 }, (_, i) => backend.compareAndSet('run', null, String(i))));
    expect(wins.filter(Boolean)).toHaveLength(1);
  });

  it('auto picks the file when the backend is not persistent, and says where state lives', async () => {
    const file = await tempFile();
    const clock = new ManualClock('2026-01-01T00:00:00Z');
    const infos: string[] = [];
    const logger: Logger = { ...silentLogger, info: (m: string) => void infos.push(m) };
    const { app } = newApp(clock, { beatSchedule: { tick: { task: 'proj.tick', schedule: schedule(5) } } });
    const beat = await startBeat(app, { clock, scheduleFile: file, logger });
    expect(beat.store).toBeInstanceOf(FileStore);
    expect(infos[0]).toMatch(/^beat: 1 entry, state in file .*celerybeat-schedule$/);
    const shared = await startBeat(app, { clock, store: 'backend', logger });
    expect(infos.at(-2)).toMatch(/state in the memory result backend \(shared: lease tq-beat:__main__:lease, ttl 15s\)/);
    expect(shared.isLeader).toBe(true);
  });
});

describe('beat in a worker (-B)', () => {
  it('runs as a bootstep: the worker runs what beat sends, and stopping the worker stops beat', async () => {
    const clock = new ManualClock('2026-01-01T00:00:00Z');
    const { app } = newApp(clock, { beatSchedule: { ping: { task: 'proj.ping', schedule: 5, args: ['x'] } } });
    const ran = new Collector<string>();
    app.task('proj.ping', (x: string) => void ran.push(x));
    const step = beatStep({ clock, store: new MemoryStore({ shared: false }) });
    const worker = new Worker(app, { logger: silentLogger, mingle: false, steps: [step] });
    await worker.start();
    cleanups.push(() => worker.stop({ timeout: 5 }));
    expect(step.beat?.isLeader).toBe(true);
    await clock.advance(10_000);
    expect(await ran.atLeast(2)).toEqual(['x', 'x']);
    await worker.stop();
    expect(step.beat).toBeNull();
    expect(clock.pending).toBe(0);
  });
});
