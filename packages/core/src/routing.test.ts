import { describe, expect, it } from 'vitest';
import { Router } from './routing.js';

const defaults = { defaultQueue: 'celery', createMissingQueues: true };

describe('routing', () => {
  it('sends to the default queue through the default exchange, as Celery', () => {
    const route = new Router(undefined, [], defaults).route('tasks.add', [], {});
    expect(route.queue.name).toBe('celery');
    expect(route.target).toEqual({ exchange: '', routingKey: 'celery', exchangeType: 'direct' });
    expect(route.queue.bindings).toEqual([{ exchange: 'celery', routingKey: 'celery', exchangeType: 'direct' }]);
  });

  it('routes by exact name, glob, regex and function, first match wins', () => {
    const router = new Router(
      [
        { 'tasks.add': 'math', 'media.*': { queue: 'media', priority: 3 } },
        [/^reports\./, 'reports'],
        (name) => (name.endsWith('.slow') ? { queue: 'slow' } : null),
      ],
      [],
      defaults,
    );
    expect(router.route('tasks.add', [], {}).queue.name).toBe('math');
    const media = router.route('media.resize', [], {});
    expect(media.queue.name).toBe('media');
    expect(media.priority).toBe(3);
    expect(router.route('reports.daily', [], {}).queue.name).toBe('reports');
    expect(router.route('x.slow', [], {}).queue.name).toBe('slow');
    expect(router.route('other', [], {}).queue.name).toBe('celery');
  });

  it('lets explicit options win over routes', () => {
    const router = new Router({ 'tasks.add': { queue: 'math', priority: 1 } }, [], defaults);
    const route = router.route('tasks.add', [], {}, { queue: 'urgent', priority: 9 });
    expect(route.queue.name).toBe('urgent');
    expect(route.priority).toBe(9);
  });

  it('publishes to a named exchange when the route names exchange and routing key', () => {
    const router = new Router({ 'tasks.add': { queue: 'math', exchange: 'ops', routingKey: 'math.add' } }, [], defaults);
    expect(router.route('tasks.add', [], {}).target).toEqual({ exchange: 'ops', routingKey: 'math.add', exchangeType: 'direct' });
  });

  it('refuses unknown queues when missing queues may not be created', () => {
    const router = new Router(undefined, [{ name: 'celery' }], { ...defaults, createMissingQueues: false });
    expect(() => router.route('t', [], {}, { queue: 'nope' })).toThrow(/not defined in taskQueues/);
  });

  it('applies the configured max priority to queues', () => {
    const router = new Router(undefined, [], { ...defaults, queueMaxPriority: 10 });
    expect(router.queue('celery').maxPriority).toBe(10);
  });
});
