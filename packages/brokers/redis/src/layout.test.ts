import { describe, expect, it } from 'vitest';
import { DEFAULT_PRIORITY_STEPS, DEFAULT_SEP, Layout, topicPattern } from './layout.js';
import { resolveBackendOptions, resolveBrokerOptions } from './options.js';

describe('kombu key layout', () => {
  const layout = new Layout({ prefix: '', sep: DEFAULT_SEP, steps: DEFAULT_PRIORITY_STEPS, db: 0 });

  it('files a priority under the largest step not above it; step 0 has no suffix', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((p) => layout.step(p))).toEqual([0, 0, 0, 3, 3, 3, 6, 6, 6, 9]);
    expect(layout.listKey('celery', 0)).toBe('celery');
    expect(layout.listKey('celery', 5)).toBe('celery\x06\x163');
    expect(layout.queueKeys('q')).toEqual(['q', 'q\x06\x163', 'q\x06\x166', 'q\x06\x169']);
  });

  it('wraps to the last step below the first one, as Python bisect does', () => {
    const custom = new Layout({ prefix: '', sep: ':', steps: [2, 5], db: 0 });
    expect(custom.step(0)).toBe(5);
    expect(custom.listKey('q', 2)).toBe('q:2');
  });

  it('prefixes every key and channel with the global key prefix', () => {
    const prefixed = new Layout({ prefix: 'app1:', sep: DEFAULT_SEP, steps: DEFAULT_PRIORITY_STEPS, db: 3 });
    expect(prefixed.listKey('celery', 9)).toBe('app1:celery\x06\x169');
    expect(prefixed.unacked).toBe('app1:unacked');
    expect(prefixed.unackedIndex).toBe('app1:unacked_index');
    expect(prefixed.unackedMutex).toBe('app1:unacked_mutex');
    expect(prefixed.bindingKey('celery')).toBe('app1:_kombu.binding.celery');
    expect(prefixed.channel('celery.pidbox', '')).toBe('app1:/3.celery.pidbox');
    expect(prefixed.channel('celeryev', 'worker.heartbeat')).toBe('app1:/3.celeryev/worker.heartbeat');
  });

  it('writes binding members and kombu topic patterns', () => {
    expect(layout.bindingMember('celery', '', 'celery')).toBe('celery\x06\x16\x06\x16celery');
    expect(layout.parseBindingMember('a\x06\x16b\x06\x16c')).toEqual({ routingKey: 'a', pattern: 'b', queue: 'c' });
    expect(topicPattern('usa.*.#')).toBe('^usa\\.[^\\.]+\\..*?$');
    expect(new RegExp(topicPattern('usa.#')).test('usa.news.today')).toBe(true);
    expect(new RegExp(topicPattern('*.news')).test('usa.news')).toBe(true);
    expect(new RegExp(topicPattern('*.news')).test('usa.weather')).toBe(false);
  });
});

describe('transport options', () => {
  it('has kombu defaults and accepts Celery spellings', () => {
    const d = resolveBrokerOptions({});
    expect(d).toMatchObject({ visibilityTimeout: 3600, globalKeyprefix: '', sep: '\x06\x16', prioritySteps: [0, 3, 6, 9], queueOrderStrategy: 'round_robin', unackedRestoreInterval: 10 });
    const c = resolveBrokerOptions({ visibility_timeout: 43200, global_keyprefix: 'x:', queue_order_strategy: 'sorted', master_name: 'm', sentinel_kwargs: { password: 'p' } });
    expect(c).toMatchObject({ visibilityTimeout: 43200, globalKeyprefix: 'x:', queueOrderStrategy: 'sorted', masterName: 'm', sentinelPassword: 'p' });
    expect(resolveBrokerOptions({ visibilityTimeout: 2 }).unackedRestoreInterval).toBe(0.5);
  });

  it('refuses bad values with a clear message', () => {
    expect(() => resolveBrokerOptions({ visibilityTimeout: 0 })).toThrow(/visibilityTimeout must be a positive number of seconds/);
    expect(() => resolveBrokerOptions({ queueOrderStrategy: 'random' })).toThrow(/round_robin, sorted or priority/);
    expect(() => resolveBrokerOptions({ prioritySteps: [] })).toThrow(/prioritySteps/);
  });

  it('applies Celery result key prefix rules', () => {
    expect(resolveBackendOptions({ global_keyprefix: 'app' }, 86400).keyprefix).toBe('app_');
    expect(resolveBackendOptions({ globalKeyprefix: 'app:' }, 86400).keyprefix).toBe('app:');
    expect(resolveBackendOptions({}, 86400)).toMatchObject({ keyprefix: '', expires: 86400 });
    expect(resolveBackendOptions({}, null).expires).toBeNull();
    expect(resolveBackendOptions({ expires: 60 }, 86400).expires).toBe(60);
  });
});
