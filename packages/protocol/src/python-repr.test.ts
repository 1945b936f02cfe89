import { describe, expect, it } from 'vitest';
import { argsRepr, kwargsRepr, pyRepr } from './python-repr.js';

describe('saferepr', () => {
  it('writes args as a tuple and kwargs as a dict, as the captured headers show', () => {
    expect(argsRepr([2, 3])).toBe('(2, 3)');
    expect(argsRepr(['x'])).toBe("('x',)");
    expect(argsRepr([])).toBe('()');
    expect(kwargsRepr({})).toBe('{}');
    expect(kwargsRepr({ y: 'é' })).toBe("{'y': 'é'}");
  });

  it('uses Python spellings of constants and nesting', () => {
    expect(pyRepr([null, true, false, 1.5, { k: [1, 'a'] }])).toBe("[None, True, False, 1.5, {'k': [1, 'a']}]");
    expect(pyRepr("it's")).toBe("'it\\'s'");
  });

  it('stops after maxlen with ", ..." and closes what was open', () => {
    const out = argsRepr([Array.from({ length: 500 }, (_, i) => i)], 40);
    expect(out.length).toBeLessThan(60);
    expect(out).toMatch(/^\(\[0, 1, 2, .*, \.\.\.\],\)$/);
  });

  it('shows deep nesting as [...] like Celery (three levels)', () => {
    expect(pyRepr([[[[1]]]])).toBe('[[[[...]]]]');
  });
});
