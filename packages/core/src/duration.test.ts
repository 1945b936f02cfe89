import { describe, expect, it } from 'vitest';
import { toSeconds } from './duration.js';
import { expandNodename } from './ids.js';

describe('durations', () => {
  it('takes seconds and strings with units', () => {
    expect(toSeconds(1.5)).toBe(1.5);
    expect(toSeconds('500ms')).toBe(0.5);
    expect(toSeconds('10s')).toBe(10);
    expect(toSeconds('5m')).toBe(300);
    expect(toSeconds('2h')).toBe(7200);
    expect(toSeconds('1d')).toBe(86400);
  });

  it('names the setting in errors', () => {
    expect(() => toSeconds('soon', 'countdown')).toThrow(/countdown must be seconds/);
  });
});

describe('node names', () => {
  it("expands -n templates as Celery's worker does", () => {
    expect(expandNodename('w1@%h', 'box.example.com')).toBe('w1@box.example.com');
    expect(expandNodename('w1@%n', 'box.example.com')).toBe('w1@box');
    expect(expandNodename('%d-worker', 'box.example.com')).toBe('celery@example.com-worker');
    expect(expandNodename(undefined, 'box')).toBe('celery@box');
  });
});
