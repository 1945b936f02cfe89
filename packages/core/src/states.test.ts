import { describe, expect, it } from 'vitest';
import { FAILURE, PENDING, RECEIVED, REJECTED, RETRY, REVOKED, STARTED, SUCCESS, isReady, precedence } from './states.js';

describe('states', () => {
  it("orders states by Celery's precedence, custom states between FAILURE and REVOKED", () => {
    const order = [SUCCESS, FAILURE, 'PROGRESS', REVOKED, STARTED, RECEIVED, REJECTED, RETRY, PENDING];
    const sorted = [...order].sort((a, b) => precedence(b) - precedence(a));
    expect(sorted).toEqual(order);
  });

  it('knows which states are ready', () => {
    expect([SUCCESS, FAILURE, REVOKED].every(isReady)).toBe(true);
    expect([PENDING, STARTED, RETRY, 'PROGRESS'].some(isReady)).toBe(false);
  });
});
