/**
 * The opt-in chord counter (`chordCounter: true`) through real tq workers: chords join without
 * `celery.chord_unlock`, a failed header fails the body, and a completed chord leaves only its
 * completion marker behind. (The counter's atomicity under concurrent returns is in the
 * conformance suite.)
 */
import { chord } from '@tq/canvas';
import { createApp, silentLogger, type App } from '@tq/core';
import { startWorker, uniqueName } from '@tq/testing';
import { afterEach, expect, it } from 'vitest';
import { testDatabase } from './helpers.js';

const mongo = testDatabase('chord_counter');
const stops: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

async function setup() {
  const queue = uniqueName('chords');
  const app: App = createApp({ broker: 'memory://', backend: mongo.url, resultBackendTransportOptions: { chordCounter: true }, logger: silentLogger });
  const add = app.task({ name: 'cc.add', queue }, (x: number, y: number) => x + y);
  const xsum = app.task({ name: 'cc.xsum', queue }, (values: number[]) => values.reduce((a, b) => a + b, 0));
  const fail = app.task({ name: 'cc.fail', queue }, (message: string): number => {
    throw new Error(message);
  });
  const worker = await startWorker(app, { queues: [queue, 'celery'], concurrency: 20, pool: 'async' });
  stops.push(async () => {
    await worker.stop();
    await app.close();
  });
  return { app, add, xsum, fail };
}

it('joins a chord of 50 through the counter, leaving only its completion marker', async () => {
  const { app, add, xsum } = await setup();
  const backend = await app.getBackend();
  expect(backend?.capabilities.chordCounter).toBe(true);
  const r = await chord(Array.from({ length: 50 }, (_, i) => add.s(i, i)), xsum.s()).applyAsync();
  expect(await r.get({ timeout: 20 })).toBe(2450);
  const groupId = r.parent!.id;
  const left = await mongo.db().collection<{ _id: string }>('celery_groupmeta').find({ _id: { $regex: `^${groupId}` } }).toArray();
  expect(left.map((d) => d._id)).toEqual([`${groupId}.done`]);
});

it('fails the body with ChordError when a header task fails', async () => {
  const { add, xsum, fail } = await setup();
  const r = await chord([add.s(1, 1), fail.s('boom'), add.s(2, 2)], xsum.s()).applyAsync();
  const error = await r.get({ timeout: 20 }).catch((e: unknown) => e);
  expect((error as Error).name).toBe('ChordError');
  expect((error as Error).message).toContain('boom');
});
