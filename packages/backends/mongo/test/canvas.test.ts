/**
 * The canvas suite of @tq/testing (group, chain, chord, map, … through real workers) with the
 * MongoDB result backend as Celery runs it: chords joined by `celery.chord_unlock`. The broker
 * is the memory transport: only the backend is on test. The opt-in chord counter has its own
 * file (chord-counter.test.ts).
 */
import { createApp, silentLogger } from '@tq/core';
import { runCanvasSuite } from '@tq/testing';
import { testDatabase } from './helpers.js';

const { url } = testDatabase('canvas');

runCanvasSuite({
  name: 'mongodb',
  createApp: () => createApp({ broker: 'memory://', backend: url, resultChordRetryInterval: 0.05, logger: silentLogger }),
});
