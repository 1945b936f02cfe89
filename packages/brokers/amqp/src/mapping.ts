/**
 * tq's transport-neutral RawMessage ↔ AMQP: the message travels as kombu's py-amqp transport
 * sends it — real AMQP properties (content_type, content_encoding, application headers = the
 * task headers, delivery_mode, priority, correlation_id, reply_to, expiration…) and the raw
 * body bytes, with none of the Redis envelope (no base64, no body_encoding, no delivery_tag).
 * Also the queue and exchange declarations, with Celery's arguments.
 */
import type { ExchangeType, QueueDeclaration } from '@tq/core';
import type { MessageProperties, RawMessage } from '@tq/protocol';
import type { Message, Options } from 'amqplib';

/** AMQP basic properties other than the ones RawMessage keeps beside `properties`. */
const EXTRA_PROPERTIES: ReadonlyArray<[keyof MessageProperties & string, keyof Options.Publish]> = [
  ['message_id', 'messageId'],
  ['timestamp', 'timestamp'],
  ['type', 'type'],
  ['user_id', 'userId'],
  ['app_id', 'appId'],
];

export function toBuffer(body: Uint8Array): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/**
 * The publish options for a message. Properties AMQP has no field for (kombu leaks a few, e.g.
 * `origin` from Celery 5.2 retries) are dropped, as py-amqp drops them.
 */
export function publishOptions(message: RawMessage): Options.Publish {
  const p = message.properties;
  const options: Options.Publish = {
    contentType: message.contentType,
    contentEncoding: message.contentEncoding,
    headers: message.headers,
    deliveryMode: p.delivery_mode ?? 2,
  };
  if (typeof p.priority === 'number') options.priority = p.priority;
  if (typeof p.correlation_id === 'string') options.correlationId = p.correlation_id;
  if (typeof p.reply_to === 'string') options.replyTo = p.reply_to;
  if (p.expiration !== undefined && p.expiration !== null) options.expiration = String(p.expiration);
  for (const [from, to] of EXTRA_PROPERTIES) {
    const value = p[from];
    if (value !== undefined && value !== null) (options as Record<string, unknown>)[to] = value;
  }
  return options;
}

/** Rebuild the RawMessage of a delivered (or basic.get) AMQP message. */
export function fromAmqpMessage(message: Message): RawMessage {
  const p = message.properties;
  const properties: MessageProperties = {};
  if (p.correlationId !== undefined) properties.correlation_id = p.correlationId;
  if (p.replyTo !== undefined) properties.reply_to = p.replyTo;
  if (p.deliveryMode !== undefined) properties.delivery_mode = p.deliveryMode;
  if (p.priority !== undefined) properties.priority = p.priority;
  if (p.expiration !== undefined) properties.expiration = p.expiration;
  if (p.messageId !== undefined) properties['message_id'] = p.messageId;
  if (p.timestamp !== undefined) properties['timestamp'] = p.timestamp;
  if (p.type !== undefined) properties['type'] = p.type;
  if (p.userId !== undefined) properties['user_id'] = p.userId;
  if (p.appId !== undefined) properties['app_id'] = p.appId;
  return {
    body: message.content,
    contentType: typeof p.contentType === 'string' ? p.contentType : '',
    contentEncoding: typeof p.contentEncoding === 'string' ? p.contentEncoding : '',
    headers: p.headers ?? {},
    properties,
  };
}

/** Queue arguments exactly as kombu's `Queue` + py-amqp declare them (integers in ms). */
export function queueArguments(queue: QueueDeclaration): Record<string, unknown> {
  const args: Record<string, unknown> = { ...(queue.arguments ?? {}) };
  if (queue.maxPriority !== undefined && queue.maxPriority !== null) args['x-max-priority'] = Math.trunc(queue.maxPriority);
  if (queue.messageTtl !== undefined && queue.messageTtl !== null) args['x-message-ttl'] = Math.trunc(queue.messageTtl);
  if (queue.expires !== undefined && queue.expires !== null) args['x-expires'] = Math.trunc(queue.expires);
  if (queue.deadLetterExchange !== undefined) args['x-dead-letter-exchange'] = queue.deadLetterExchange;
  if (queue.deadLetterRoutingKey !== undefined) args['x-dead-letter-routing-key'] = queue.deadLetterRoutingKey;
  if (queue.queueType !== undefined) args['x-queue-type'] = queue.queueType;
  return args;
}

export function assertQueueOptions(queue: QueueDeclaration): Options.AssertQueue {
  const quorum = queue.queueType === 'quorum';
  return {
    // Quorum queues are always durable, never exclusive or auto-delete (RabbitMQ refuses otherwise).
    durable: quorum ? true : (queue.durable ?? true),
    autoDelete: quorum ? false : (queue.autoDelete ?? false),
    exclusive: quorum ? false : (queue.exclusive ?? false),
    arguments: queueArguments(queue),
  };
}

/**
 * Celery's exchanges and their durability, so that declaring one here never conflicts with
 * what a Python worker or client declared: `celery.pidbox` and `reply.celery.pidbox` are
 * transient, everything else (the task exchanges, `celeryev`) is durable, kombu's default.
 */
export function defaultExchange(name: string, type?: ExchangeType): { type: ExchangeType; durable: boolean } {
  if (name === 'celery.pidbox') return { type: 'fanout', durable: false };
  if (name === 'reply.celery.pidbox') return { type: 'direct', durable: false };
  if (name === 'celeryev') return { type: 'topic', durable: true };
  return { type: type ?? 'direct', durable: true };
}
