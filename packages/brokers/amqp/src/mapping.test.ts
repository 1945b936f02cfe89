import { createTaskMessage, encodeTaskMessage } from '@tq/protocol';
import type { Message } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { assertQueueOptions, defaultExchange, fromAmqpMessage, publishOptions, queueArguments } from './mapping.js';

describe('message mapping', () => {
  const raw = encodeTaskMessage(
    createTaskMessage({ id: 'id-1', task: 'proj.add', args: [2, 3], kwargs: {}, origin: 'gen1@h', replyTo: 'oid-1', priority: 5, expirationSeconds: 60 }),
  );

  it('puts Celery properties into real AMQP properties and the task headers into application headers', () => {
    const options = publishOptions(raw);
    expect(options).toMatchObject({
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      deliveryMode: 2,
      priority: 5,
      correlationId: 'id-1',
      replyTo: 'oid-1',
      expiration: '60000',
    });
    expect(options.headers).toBe(raw.headers);
    expect((options.headers as Record<string, unknown>)['task']).toBe('proj.add');
  });

  it('drops properties AMQP has no field for (kombu leaks some) and keeps the standard extras', () => {
    const options = publishOptions({ ...raw, properties: { ...raw.properties, origin: 'gen1@h', message_id: 'm1', app_id: 'a' } });
    expect(options).not.toHaveProperty('origin');
    expect(options).toMatchObject({ messageId: 'm1', appId: 'a' });
  });

  it('rebuilds a RawMessage with snake_case properties from a delivered message', () => {
    const delivered = {
      content: Buffer.from('[[2, 3], {}, {}]'),
      fields: { deliveryTag: 1, redelivered: false, exchange: '', routingKey: 'celery', consumerTag: 't' },
      properties: {
        contentType: 'application/json', contentEncoding: 'utf-8', headers: { id: 'id-1', task: 'proj.add' },
        deliveryMode: 2, priority: 5, correlationId: 'id-1', replyTo: 'oid-1', expiration: '60000',
        messageId: undefined, timestamp: undefined, type: undefined, userId: undefined, appId: undefined, clusterId: undefined,
      },
    } as unknown as Message;
    const message = fromAmqpMessage(delivered);
    expect(message.contentType).toBe('application/json');
    expect(message.headers).toEqual({ id: 'id-1', task: 'proj.add' });
    expect(message.properties).toEqual({ correlation_id: 'id-1', reply_to: 'oid-1', delivery_mode: 2, priority: 5, expiration: '60000' });
    expect(Buffer.from(message.body).toString()).toBe('[[2, 3], {}, {}]');
  });
});

describe('declarations', () => {
  it("maps a QueueDeclaration onto kombu's queue arguments", () => {
    expect(
      queueArguments({ name: 'q', maxPriority: 10, messageTtl: 5000, expires: 60000, deadLetterExchange: 'dlx', deadLetterRoutingKey: 'dead', queueType: 'quorum', arguments: { 'x-max-length': 5 } }),
    ).toEqual({ 'x-max-length': 5, 'x-max-priority': 10, 'x-message-ttl': 5000, 'x-expires': 60000, 'x-dead-letter-exchange': 'dlx', 'x-dead-letter-routing-key': 'dead', 'x-queue-type': 'quorum' });
  });

  it('declares task queues durable by default; quorum queues always durable and never auto-delete', () => {
    expect(assertQueueOptions({ name: 'celery' })).toMatchObject({ durable: true, autoDelete: false, exclusive: false });
    expect(assertQueueOptions({ name: 'q', queueType: 'quorum', durable: false, autoDelete: true })).toMatchObject({ durable: true, autoDelete: false });
  });

  it("knows Celery's exchanges", () => {
    expect(defaultExchange('celery.pidbox')).toEqual({ type: 'fanout', durable: false });
    expect(defaultExchange('reply.celery.pidbox')).toEqual({ type: 'direct', durable: false });
    expect(defaultExchange('celeryev')).toEqual({ type: 'topic', durable: true });
    expect(defaultExchange('celery', 'direct')).toEqual({ type: 'direct', durable: true });
  });
});
