import { describe, expect, it } from 'vitest';
import { canonicalQueueName, entityName, nameOfQueueUrl } from './names.js';

describe("kombu's SQS queue names", () => {
  it('turns dots into dashes and other punctuation into underscores, keeping .fifo', () => {
    expect(entityName('celery')).toBe('celery');
    expect(entityName('w1@host.celery.pidbox')).toBe('w1_host-celery-pidbox');
    expect(entityName('a:b/c-d_e')).toBe('a_b_c-d_e');
    expect(entityName('orders.eu.fifo')).toBe('orders-eu.fifo');
  });

  it('applies queue_name_prefix before mangling', () => {
    expect(canonicalQueueName('prod.', 'celery')).toBe('prod-celery');
    expect(canonicalQueueName('', 'x.fifo')).toBe('x.fifo');
  });

  it('reads the queue name from a URL or an ARN', () => {
    expect(nameOfQueueUrl('http://sqs.us-east-1.localhost:9324/000000000000/celery')).toBe('celery');
    expect(nameOfQueueUrl('arn:aws:sqs:us-east-1:000000000000:dead')).toBe('dead');
  });
});
