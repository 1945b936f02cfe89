import { describe, expect, it } from 'vitest';
import { resolveOptions } from './options.js';

describe('sqs:// URLs and transport options', () => {
  it("reads kombu's URL forms", () => {
    expect(resolveOptions('sqs://')).toMatchObject({ endpoint: undefined, credentials: undefined, display: 'sqs.us-east-1.amazonaws.com' });
    expect(resolveOptions('sqs://AKIA:se%2Fcr%2Bet@')).toMatchObject({ endpoint: undefined, credentials: { accessKeyId: 'AKIA', secretAccessKey: 'se/cr+et' } });
    expect(resolveOptions('sqs://k:s@127.0.0.1:9324')).toMatchObject({ endpoint: 'http://127.0.0.1:9324', credentials: { accessKeyId: 'k', secretAccessKey: 's' } });
    expect(resolveOptions('sqs://k:s@vpce.example.com', { is_secure: true }).endpoint).toBe('https://vpce.example.com');
    expect(resolveOptions('sqs://', { endpointUrl: 'http://localhost:4566', region: 'eu-west-1' })).toMatchObject({ endpoint: 'http://localhost:4566', region: 'eu-west-1' });
  });

  it("takes kombu's option names and defaults", () => {
    const o = resolveOptions('sqs://', { queue_name_prefix: 'prod-', visibility_timeout: 60, wait_time_seconds: 20, 'sqs-creation-attributes': { KmsMasterKeyId: 'alias/aws/sqs' } });
    expect(o).toMatchObject({ queueNamePrefix: 'prod-', visibilityTimeout: 60, waitTimeSeconds: 20, creationAttributes: { KmsMasterKeyId: 'alias/aws/sqs' }, base64: true, fanout: true });
    expect(resolveOptions('sqs://')).toMatchObject({ visibilityTimeout: 1800, waitTimeSeconds: 10 });
  });

  it('refuses options that cannot work, saying what to change', () => {
    expect(() => resolveOptions('sqs://', { waitTimeSeconds: 30 })).toThrow(/waitTimeSeconds must be a number of seconds from 0 to 20/);
    expect(() => resolveOptions('sqs://', { predefined_queues: { 'a.fifo': { url: 'https://sqs/1/a' } } })).toThrow(/must both end in \.fifo/);
    expect(() => resolveOptions('sqs://', { predefinedQueues: { a: {} } })).toThrow(/predefinedQueues\.a needs a url/);
  });
});
