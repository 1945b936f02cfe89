/**
 * @tq/canvas: Celery's workflow primitives for tq — group, chain, chord, map, starmap and
 * chunks, nested to any depth, with Celery's signature dicts and messages, so workflows cross
 * between Python Celery and tq in both directions.
 */
export { canvas, installCanvas } from './install.js';
export { Chain, chain } from './chain.js';
export { Group, group, type GroupOptions } from './group.js';
export { Chord, chord, type ChordCall } from './chord.js';
export { GroupResult } from './group-result.js';
export { XMap, XStarmap, Chunks, xmap, xstarmap, chunks } from './map.js';
export type { AnySignature, CommonArgs, ResultsOf, ValidChain, Last } from './types.js';
