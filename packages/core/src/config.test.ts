import { describe, expect, it } from 'vitest';
import { MemoryBroker } from './memory/memory-broker.js';
import { resolveConfig, withEnvironment } from './config.js';

describe('transport URLs from the environment', () => {
  it('TQ_BROKER_URL and TQ_RESULT_BACKEND win over URLs in code, as Celery’s variables do', () => {
    const env = { TQ_BROKER_URL: 'redis://prod:6379/0', TQ_RESULT_BACKEND: 'redis://prod:6379/1' };
    expect(withEnvironment({ main: 'x', broker: 'redis://localhost/0', backend: null }, env)).toEqual({ main: 'x', broker: 'redis://prod:6379/0', backend: 'redis://prod:6379/1' });
    expect(withEnvironment({}, env)).toEqual({ broker: 'redis://prod:6379/0', backend: 'redis://prod:6379/1' });
  });

  it('keeps broker and backend objects passed in code, and leaves the config alone without the variables', () => {
    const broker = new MemoryBroker();
    const config = { broker, backend: 'memory://' };
    expect(withEnvironment(config, { TQ_BROKER_URL: 'redis://prod/0' }).broker).toBe(broker);
    expect(withEnvironment(config, {})).toBe(config);
    expect(withEnvironment(config, { CELERY_BROKER_URL: 'redis://python/0' })).toBe(config);
  });
});

describe('broker connection settings', () => {
  it('default to retrying 100 times at start, and refuse a negative or fractional limit', () => {
    expect(resolveConfig({})).toMatchObject({ brokerConnectionRetryOnStartup: true, brokerConnectionMaxRetries: 100 });
    expect(resolveConfig({ brokerConnectionMaxRetries: null }).brokerConnectionMaxRetries).toBe(0);
    expect(() => resolveConfig({ brokerConnectionMaxRetries: -1 })).toThrow(/brokerConnectionMaxRetries must be a whole number ≥ 0 or null, got -1/);
    expect(() => resolveConfig({ brokerConnectionMaxRetries: 1.5 })).toThrow(/got 1.5/);
  });
});
