/**
 * Fanout and topic exchanges on SQS through SNS, in kombu's SNS fanout layout (kombu 5.6's
 * `kombu/transport/SQS/SNS.py`): an exchange is the SNS topic `canonicalQueueName(prefix,
 * exchange)` (tagged `ManagedBy: Celery/Kombu`); each subscriber has its own SQS queue,
 * subscribed with RawMessageDelivery and a queue policy statement `KombuManaged` that lets the
 * topic send to it; a publish is one SNS Publish of the JSON envelope.
 *
 * Topic exchanges (Celery's `celeryev`) use the same topics: every subscriber queue receives every
 * message and the routing key pattern is matched here, against the envelope's routing key.
 * A subscriber's queue is deleted when its subscription closes; messages in a queue left behind
 * by a process that died expire with the queue's MessageRetentionPeriod (at least 60 s).
 */
import { SetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { CreateTopicCommand, PublishCommand, SNSClient, SubscribeCommand, UnsubscribeCommand, type MessageAttributeValue } from '@aws-sdk/client-sns';
import { topicMatches, type ExchangeType, type Subscription } from '@tq/core';
import type { RawMessage } from '@tq/protocol';
import { randomUUID } from 'node:crypto';
import type { SqsBroker } from './sqs-broker.js';
import { sqsError } from './sqs-broker.js';

export class SnsFanout {
  private client: SNSClient | null = null;
  private readonly topics = new Map<string, Promise<string>>();
  private readonly subscriptions = new Set<Subscription>();

  constructor(private readonly broker: SqsBroker) {}

  private sns(): SNSClient {
    if (!this.client) {
      const o = this.broker.options;
      this.client = new SNSClient({ region: o.region, ...(o.endpoint ? { endpoint: o.endpoint } : {}), ...(o.credentials ? { credentials: o.credentials } : {}), maxAttempts: 3 });
      this.broker.countCalls(this.client as never);
    }
    return this.client;
  }

  /** The topic of an exchange, created (idempotently, as kombu does) on first use. */
  topicArn(exchange: string): Promise<string> {
    let pending = this.topics.get(exchange);
    if (!pending) {
      const name = this.broker.sqsName(exchange);
      pending = this.sns()
        .send(
          new CreateTopicCommand({
            Name: name,
            Attributes: { FifoTopic: name.endsWith('.fifo') ? 'true' : 'false' },
            Tags: [
              { Key: 'ManagedBy', Value: 'Celery/Kombu' },
              { Key: 'Description', Value: 'This SNS topic is used by Kombu to enable Fanout support for AWS SQS.' },
            ],
          }),
        )
        .then(
          (reply) => reply.TopicArn!,
          (err: unknown) => {
            this.topics.delete(exchange);
            throw sqsError(`could not create the SNS topic ${name}`, this.broker.display, err);
          },
        );
      this.topics.set(exchange, pending);
    }
    return pending;
  }

  async publish(exchange: string, json: string, attributes: Record<string, { DataType?: string | undefined; StringValue?: string | undefined }> | undefined): Promise<void> {
    const arn = await this.topicArn(exchange);
    const snsAttributes: Record<string, MessageAttributeValue> = {};
    for (const [key, value] of Object.entries(attributes ?? {})) snsAttributes[key] = { DataType: 'String', StringValue: String(value.StringValue ?? '') };
    try {
      await this.sns().send(new PublishCommand({ TopicArn: arn, Message: json, ...(attributes ? { MessageAttributes: snsAttributes } : {}) }));
    } catch (err) {
      throw sqsError(`could not publish to the SNS topic of exchange ${JSON.stringify(exchange)}`, this.broker.display, err);
    }
  }

  async subscribe(
    exchange: string,
    type: ExchangeType,
    bindingKey: string,
    onMessage: (message: RawMessage, routingKey: string) => void,
    options: { queueName?: string; messageTtl?: number },
  ): Promise<Subscription> {
    const broker = this.broker;
    const queueName = options.queueName ?? `${exchange}.${randomUUID()}`;
    const declaration = { name: queueName, autoDelete: true, messageTtl: options.messageTtl ?? 300_000 };
    await broker.declareQueue(declaration);
    const info = broker.known(queueName)!;
    const [queueArn, topicArn] = await Promise.all([broker.queueArn(info), this.topicArn(exchange)]);
    let subscriptionArn: string;
    try {
      const reply = await this.sns().send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: queueArn, Attributes: { RawMessageDelivery: 'true' }, ReturnSubscriptionArn: true }));
      subscriptionArn = reply.SubscriptionArn!;
    } catch (err) {
      await broker.deleteQueue(queueName);
      throw sqsError(`could not subscribe queue ${info.url} to ${topicArn}`, broker.display, err);
    }
    // On AWS the topic may send to the queue only with this statement (kombu's, by Sid).
    const policy = {
      Version: '2012-10-17',
      Statement: [{ Sid: 'KombuManaged', Effect: 'Allow', Principal: { Service: 'sns.amazonaws.com' }, Action: 'SQS:SendMessage', Resource: queueArn, Condition: { ArnLike: { 'aws:SourceArn': topicArn } } }],
    };
    await info.client.send(new SetQueueAttributesCommand({ QueueUrl: info.url, Attributes: { Policy: JSON.stringify(policy) } })).catch((err: unknown) => {
      broker.logger.warn(`[broker-sqs] could not let ${topicArn} send to ${info.url} (queue policy): ${(err as Error).message}`);
    });
    const consumer = await broker.startConsumer(
      [declaration],
      (delivery) => {
        void delivery.ack().catch(() => undefined);
        const routingKey = delivery.info.routingKey;
        if (type === 'topic' && !topicMatches(bindingKey, routingKey)) return;
        try {
          onMessage(delivery.message, routingKey);
        } catch (err) {
          broker.logger.error(`[broker-sqs] a subscriber of exchange ${JSON.stringify(exchange)} threw: ${(err as Error).message}`);
        }
      },
      0,
      true,
    );
    let closed = false;
    const subscription: Subscription = {
      close: async () => {
        if (closed) return;
        closed = true;
        this.subscriptions.delete(subscription);
        await this.sns()
          .send(new UnsubscribeCommand({ SubscriptionArn: subscriptionArn }))
          .catch((err: unknown) => broker.logger.debug(`[broker-sqs] could not unsubscribe ${subscriptionArn}: ${(err as Error).message}`));
        await consumer.cancel();
      },
    };
    this.subscriptions.add(subscription);
    return subscription;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.subscriptions].map((s) => s.close()));
    this.client?.destroy();
  }
}
