import { describe, expect, it } from 'vitest';
import { maskSecrets } from './worker-json.js';

describe('masking worker configuration', () => {
  it('hides secret-looking settings and passwords in URLs', () => {
    expect(
      maskSecrets({
        broker_url: 'amqp://user:hunter2@rabbit:5672//',
        result_backend: 'redis://:topsecret@redis:6379/1',
        aws_secret_access_key: 'AKIA-SECRET',
        broker_transport_options: { password: 'p', region: 'eu' },
        task_default_queue: 'celery',
        worker_concurrency: 4,
      }),
    ).toEqual({
      broker_url: 'amqp://user:***@rabbit:5672//',
      result_backend: 'redis://:***@redis:6379/1',
      aws_secret_access_key: '********',
      broker_transport_options: { password: '********', region: 'eu' },
      task_default_queue: 'celery',
      worker_concurrency: 4,
    });
  });
});
