import { execFileSync } from 'node:child_process';
import { PyDate, PyDecimal, PyTime, PyUUID, pyJsonDumps } from '@tq/protocol';
import { describe, expect, it } from 'vitest';
import { pyJson } from './json.js';

const FIXTURES: unknown[] = [
  null,
  true,
  0,
  -7,
  3.25,
  1e-7,
  0.0001,
  12345678901234567890,
  1e21,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  'plain',
  'quote " backslash \\ slash / tab \t newline \n nul \u0000 del \u007f',
  'é ü ✓ 😀 \ud800',
  [],
  {},
  [1, 'two', [3, { four: 4 }], null, undefined],
  { a: 1, b: undefined, c: () => 1, 'd é': [true, false], nested: { deep: { deeper: ['x'] } } },
  { when: new Date('2026-11-23T23:00:48.436Z'), bytes: new Uint8Array([0xff, 0x00]), text: new Uint8Array([104, 105]) },
  { d: new PyDecimal('1.10'), day: new PyDate('2026-01-02'), t: new PyTime('03:04:05'), u: new PyUUID('0d70f2408e8c38a3854f0145b880f845', 3) },
  { map: new Map([['k', 1]]), set: new Set([1, 2]), json: { toJSON: () => 'as-json' } },
  { callbacks: null, errbacks: null, chain: null, chord: null },
  Object.assign(Object.create(null) as object, { bare: 1 }),
  { big: 10n },
];

describe('pyJson (fast json.dumps)', () => {
  it('writes exactly what pyJsonDumps writes', () => {
    for (const value of FIXTURES) expect(pyJson(value)).toBe(pyJsonDumps(value));
  });

  it('matches Python json.dumps for plain data', () => {
    const value = { s: 'é ✓ 😀 "q"\n', n: [0, -1, 2.5, 1e-7, 123456789012], b: [true, false, null], o: { 'k é': {} } };
    const python = execFileSync('/usr/bin/python3', ['-c', 'import json,sys; sys.stdout.write(json.dumps(json.loads(sys.stdin.read())))'], { input: JSON.stringify(value) }).toString();
    expect(pyJson(value)).toBe(python);
  });

  it('refuses what JSON cannot carry, as pyJsonDumps does', () => {
    const circular: Record<string, unknown> = {};
    circular['self'] = circular;
    expect(() => pyJson(circular)).toThrow(/circular/);
    expect(() => pyJson({ f: Symbol('x') })).not.toThrow();
  });
});
