/**
 * The canvas conformance suite on the memory transport: with the memory backend's atomic chord
 * counter, and with a memory backend that has no counter, so chords are joined by
 * `celery.chord_unlock` as on Celery's backends without one.
 */
import { createApp, silentLogger } from '@tq/core';
import { NoChordCounterMemoryBackend, runCanvasSuite } from '@tq/testing';

runCanvasSuite({ name: 'memory (chord counter)', createApp: () => createApp({ logger: silentLogger }) });

runCanvasSuite({
  name: 'memory without a chord counter (celery.chord_unlock)',
  createApp: () => createApp({ logger: silentLogger, backend: new NoChordCounterMemoryBackend(), resultChordRetryInterval: 0.02 }),
});
