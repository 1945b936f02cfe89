import { describe, expect, it } from 'vitest';
import { parsePyDatetime, pyJsonDumps, pyJsonLoads } from './python-json.js';
import { PyDate, PyDecimal, PyTime, PyUUID } from './python-types.js';

describe('pyJsonDumps writes what Python json.dumps writes', () => {
  it('uses Python separators and keeps key order', () => {
    expect(pyJsonDumps([[2, 3], {}, { callbacks: null, errbacks: null, chain: null, chord: null }])).toBe(
      '[[2, 3], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]',
    );
  });

  it('escapes every non-ASCII character like ensure_ascii (output captured from Python 3.11)', () => {
    expect(pyJsonDumps({ s: 'é\u2028\u0000"\\', n: [0.5, 1e-5, 0.0001, -3, 1e20] })).toBe(
      '{"s": "\\u00e9\\u2028\\u0000\\"\\\\", "n": [0.5, 1e-05, 0.0001, -3, 100000000000000000000]}',
    );
    expect(pyJsonDumps('😀\u007f')).toBe('"\\ud83d\\ude00\\u007f"');
  });

  it('writes NaN and Infinity as Python does and reads them back', () => {
    const text = pyJsonDumps([Number.NaN, Infinity, -Infinity, 'NaN']);
    expect(text).toBe('[NaN, Infinity, -Infinity, "NaN"]');
    const back = pyJsonLoads(text) as unknown[];
    expect(back[0]).toBeNaN();
    expect(back.slice(1)).toEqual([Infinity, -Infinity, 'NaN']);
  });

  it("wraps extended types in kombu's __type__ markers and revives them", () => {
    const when = new Date('2026-11-23T23:00:48.436Z');
    const value = {
      when,
      day: new PyDate('2026-11-23'),
      at: new PyTime('23:00:48.436499'),
      price: new PyDecimal('1.10'),
      id: new PyUUID('11111111-2222-4333-8444-555555555555'),
      text: new TextEncoder().encode('héllo'),
      blob: new Uint8Array([0xff, 0x00, 0x80]),
    };
    const text = pyJsonDumps(value);
    expect(text).toBe(
      '{"when": {"__type__": "datetime", "__value__": "2026-11-23T23:00:48.436000+00:00"}, ' +
        '"day": {"__type__": "date", "__value__": "2026-11-23"}, ' +
        '"at": {"__type__": "time", "__value__": "23:00:48.436499"}, ' +
        '"price": {"__type__": "decimal", "__value__": "1.10"}, ' +
        '"id": {"__type__": "uuid", "__value__": {"hex": "11111111222243338444555555555555", "version": 4}}, ' +
        '"text": {"__type__": "bytes", "__value__": "h\\u00e9llo"}, ' +
        '"blob": {"__type__": "base64", "__value__": "/wCA"}}',
    );
    const back = pyJsonLoads(text) as Record<string, unknown>;
    expect(back['when']).toEqual(when);
    expect(back['day']).toEqual(new PyDate('2026-11-23'));
    expect(String(back['at'])).toBe('23:00:48.436499');
    expect(String(back['price'])).toBe('1.10');
    expect(String(back['id'])).toBe('11111111-2222-4333-8444-555555555555');
    expect(new TextDecoder().decode(back['text'] as Uint8Array)).toBe('héllo');
    expect([...(back['blob'] as Uint8Array)]).toEqual([0xff, 0x00, 0x80]);
  });

  it('refuses an unknown __type__ rather than guessing', () => {
    expect(() => pyJsonLoads('{"__type__": "pickle", "__value__": "x"}')).toThrow(/unsupported __type__/);
  });

  it('reads naive datetimes as UTC, as Celery does', () => {
    expect(parsePyDatetime('2026-11-23T23:00:49.362175')?.toISOString()).toBe('2026-11-23T23:00:49.362Z');
    expect(parsePyDatetime('2026-11-23T23:00:48+02:00')?.toISOString()).toBe('2026-11-23T21:00:48.000Z');
    expect(parsePyDatetime('yesterday')).toBeNull();
  });

  it('rejects values JSON cannot carry', () => {
    const loop: Record<string, unknown> = {};
    loop['self'] = loop;
    expect(() => pyJsonDumps(loop)).toThrow(/circular/);
    expect(() => pyJsonDumps(Symbol('x'))).toThrow(TypeError);
  });

  it('finds a cycle however deep it starts and whatever it goes through, and accepts shared values', () => {
    let deep: Record<string, unknown> = {};
    const root = deep;
    for (let i = 0; i < 100; i++) deep = (deep['next'] = [{}])[0] as Record<string, unknown>;
    expect(pyJsonDumps(root)).toMatch(/^(\{"next": \[){100}\{\}/);
    deep['back'] = [root];
    expect(() => pyJsonDumps(root)).toThrow(/circular/);
    const list: unknown[] = [1];
    list.push(new Map([['again', list]]));
    expect(() => pyJsonDumps(list)).toThrow(/circular/);

    const shared = { v: [1] };
    let nested: unknown = { a: shared, b: [shared, shared] };
    for (let i = 0; i < 60; i++) nested = [nested, shared];
    expect(pyJsonDumps(nested).match(/"v": \[1\]/g)).toHaveLength(63);
  });
});
