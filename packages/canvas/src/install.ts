/**
 * The canvas plugin: registers the signature kinds (so `app.signature(dict)` rebuilds a chain,
 * group, chord, map, starmap or chunks received from Python or from another tq process), the
 * GroupResult factory, and Celery's built-in canvas tasks. Every canvas function installs it on
 * the app of its signatures; a tq Worker installs it at construction.
 */
import type { App, AppPlugin } from '@tq/core';
import { registerBuiltins } from './builtins.js';
import { Chain } from './chain.js';
import { Chord } from './chord.js';
import { Group } from './group.js';
import { GroupResult } from './group-result.js';
import { Chunks, XMap, XStarmap } from './map.js';

export const canvas: AppPlugin = {
  name: '@tq/canvas',
  install(app: App): void {
    app.signatureKinds.set('chain', (a, dict) => new Chain(a, dict));
    app.signatureKinds.set('group', (a, dict) => new Group(a, dict));
    app.signatureKinds.set('chord', (a, dict) => new Chord(a, dict));
    app.signatureKinds.set('xmap', (a, dict) => new XMap(a, dict));
    app.signatureKinds.set('xstarmap', (a, dict) => new XStarmap(a, dict));
    app.signatureKinds.set('chunks', (a, dict) => new Chunks(a, dict));
    app.groupResultFactory = (a, id, results, parent) => new GroupResult(id, a, results, { parent });
    registerBuiltins(app);
  },
};

/** Install the canvas on `app` (once; later calls do nothing). */
export function installCanvas(app: App): void {
  if (!app.hasPlugin(canvas.name)) app.use(canvas);
}
