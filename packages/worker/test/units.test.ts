/** The small pieces: sizes, rate buckets, revoked-set exchange, command arguments, the import graph. */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RevokedSet, TokenBucket, compileArguments, importGraph, isAddressedTo, parseMemorySize } from '../src/index.js';
import { FIXTURES } from './cli-helpers.js';

describe('parseMemorySize', () => {
  it('reads KiB like Celery, and units', () => {
    expect(parseMemorySize(12000)).toBe(12000);
    expect(parseMemorySize('12000')).toBe(12000);
    expect(parseMemorySize('512KB')).toBe(512);
    expect(parseMemorySize('200MB')).toBe(200 * 1024);
    expect(parseMemorySize('1.5GiB')).toBe(1.5 * 1024 * 1024);
    expect(() => parseMemorySize('lots')).toThrow(/like 512KB, 200MB, 1GB/);
    expect(() => parseMemorySize(0)).toThrow(/positive/);
  });
});

describe('TokenBucket', () => {
  it('holds one token and refills at its rate', () => {
    let now = 0;
    const bucket = new TokenBucket(10, 1, () => now);
    expect(bucket.canConsume()).toBe(true);
    expect(bucket.canConsume()).toBe(false);
    expect(bucket.expectedTime()).toBeCloseTo(0.1);
    now = 50;
    expect(bucket.canConsume()).toBe(false);
    now = 100;
    expect(bucket.canConsume()).toBe(true);
    now = 10_000;
    expect(bucket.canConsume()).toBe(true);
    expect(bucket.canConsume()).toBe(false);
  });
});

describe('RevokedSet', () => {
  it("exchanges Celery's LimitedSet data: floats out; epochs, pairs and monotonic readings in", () => {
    let now = 1_700_000_000_000;
    const set = new RevokedSet({ now: () => now });
    set.add('a');
    expect(set.toCeleryData()).toEqual({ a: [1_700_000_000.001, 'a'] });
    expect(set.mergeCeleryData({ b: [1_699_999_999.5, 'b'], c: 1_699_999_000.25, d: 12345.6 })).toBe(3);
    expect(set.ids().sort()).toEqual(['a', 'b', 'c', 'd']);
    now += 4 * 3600 * 1000;
    expect(set.ids()).toEqual([]);
  });
});

describe('remote-control helpers', () => {
  it("map command-line arguments as Celery's Panel does", () => {
    expect(compileArguments('rate_limit', ['tasks.add', '10/s'])).toEqual({ task_name: 'tasks.add', rate_limit: '10/s' });
    expect(compileArguments('terminate', ['SIGKILL', 'id1', 'id2'])).toEqual({ signal: 'SIGKILL', task_id: ['id1', 'id2'] });
    expect(compileArguments('time_limit', ['tasks.add', '10', '20'])).toEqual({ task_name: 'tasks.add', soft: 10, hard: 20 });
    expect(compileArguments('revoke', ['a', 'b'])).toEqual({ task_id: ['a', 'b'] });
    expect(compileArguments('conf', ['yes'])).toEqual({ with_defaults: true });
    expect(compileArguments('autoscale', ['10', '3'])).toEqual({ max: 10, min: 3 });
    expect(() => compileArguments('ping', ['x'])).toThrow(/takes arguments/);
  });

  it('address nodes by list, glob and regex', () => {
    const request = (destination: string[] | null, pattern: string | null = null, matcher: string | null = null) => ({ method: 'ping', arguments: {}, destination, pattern, matcher });
    expect(isAddressedTo(request(null), 'w1@h')).toBe(true);
    expect(isAddressedTo(request(['w2@h']), 'w1@h')).toBe(false);
    expect(isAddressedTo(request(null, 'w?@*', 'glob'), 'w1@h')).toBe(true);
    expect(isAddressedTo(request(null, '^w[23]@', 'pcre'), 'w1@h')).toBe(false);
  });
});

describe('importGraph', () => {
  it('follows relative imports of the app module inside the project, never into node_modules', () => {
    const dir = mkdtempSync(join(FIXTURES, '.graph-'));
    try {
      mkdirSync(join(dir, 'lib'));
      mkdirSync(join(dir, 'node_modules', 'dep'), { recursive: true });
      writeFileSync(join(dir, 'app.ts'), "import { a } from './lib/a.js';\nimport dep from './node_modules/dep/index.js';\nimport '@tq/core';\nexport default a + dep;\n");
      writeFileSync(join(dir, 'lib', 'a.ts'), "export { b as a } from './b';\nconst lazy = () => import('../late.mjs');\n");
      writeFileSync(join(dir, 'lib', 'b.ts'), 'export const b = 1;\n');
      writeFileSync(join(dir, 'late.mjs'), 'export default 1;\n');
      writeFileSync(join(dir, 'node_modules', 'dep', 'index.js'), 'export default 1;\n');
      const files = importGraph(join(dir, 'app.ts')).map((f) => f.slice(dir.length + 1)).sort();
      expect(files).toEqual(['app.ts', 'late.mjs', 'lib/a.ts', 'lib/b.ts']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
