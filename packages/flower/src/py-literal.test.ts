import { describe, expect, it } from 'vitest';
import { parsePyLiteral } from './py-literal.js';

describe('reading argsrepr/kwargsrepr', () => {
  it('reads Python literals and JSON', () => {
    expect(parsePyLiteral("(2, 'a', None, True, -1.5e3)")).toEqual([2, 'a', null, true, -1500]);
    expect(parsePyLiteral("('one',)")).toEqual(['one']);
    expect(parsePyLiteral("{'k': [1, {'x': \"it's\"}], 'n': False}")).toEqual({ k: [1, { x: "it's" }], n: false });
    expect(parsePyLiteral('[1, "two", null]')).toEqual([1, 'two', null]);
    expect(parsePyLiteral("'a\\nb\\x41'")).toBe('a\nbA');
  });

  it('refuses what is not a literal, such as truncated text or calls', () => {
    expect(() => parsePyLiteral("(1, 'abc...")).toThrow(/cannot read/);
    expect(() => parsePyLiteral('(1, ...)')).toThrow(/cannot read/);
    expect(() => parsePyLiteral("(__import__('os'),)")).toThrow(/cannot read/);
    expect(() => parsePyLiteral('datetime.datetime(2024, 1, 1)')).toThrow(/cannot read/);
  });
});
