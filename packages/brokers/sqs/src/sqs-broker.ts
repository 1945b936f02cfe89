/**
 * The SQS broker: kombu's SQS transport layout, so Python Celery clients and workers share the
 * same queues with tq.
 *
 * - A queue is the SQS queue `canonicalQueueName(prefix, name)`, found with GetQueueUrl and
 *   created when missing (VisibilityTimeout, FifoQueue, `sqs-creation-attributes`), or taken
 *   from `predefinedQueues` without any such call. The MessageBody is base64 of kombu's JSON
 *   envelope; FIFO queues get MessageGroupId / MessageDeduplicationId from the message's
 *   properties (kombu's defaults "default" / a uuid4), standard queues DelaySeconds (≤ 900 s).
 * - Consuming is long polling, up to ten messages a call, within the prefetch. Publishes, acks
 *   (DeleteMessage) and visibility changes are coalesced into batch calls.
 * - reject(requeue) = visibility 0; reject(drop) moves the message to the queue's redrive-policy
 *   DLQ when it has one, else deletes it. `Delivery.touch()` extends the visibility
 *   (ChangeMessageVisibility), so a message a tq worker holds (an ETA task, a long acksLate task)
 *   is never delivered twice while the worker lives; if the worker dies, it comes back.
 * - Fanout and topic exchanges (remote control, events) go through SNS topics fanned out to one
 *   SQS queue per subscriber (`fanout.ts`).
 */
import {
  ChangeMessageVisibilityBatchCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListQueuesCommand,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
  type Message,
  type MessageAttributeValue,
  type SendMessageBatchRequestEntry,
} from '@aws-sdk/client-sqs';
import {
  BrokerError,
  BrokerListeners,
  ConfigurationError,
  EncodeError,
  silentLogger,
  type Broker,
  type BrokerCapabilities,
  type BrokerEvent,
  type ConsumeOptions,
  type Consumer,
  type Delivery,
  type DeliveryInfo,
  type ExchangeType,
  type Logger,
  type PublishOptions,
  type PublishTarget,
  type QueueDeclaration,
  type Subscription,
} from '@tq/core';
import type { RawMessage } from '@tq/protocol';
import { randomUUID } from 'node:crypto';
import { Batcher, SQS_BATCH_LIMIT } from './batcher.js';
import { decodeSqsBody, envelopeJson, sqsBody, type DecodedEnvelope } from './envelope.js';
import { SnsFanout } from './fanout.js';
import { canonicalQueueName, isFifo, nameOfQueueUrl } from './names.js';
import { resolveOptions, type ResolvedOptions, type SqsBrokerOptions } from './options.js';

export interface SqsBrokerConfig extends SqsBrokerOptions {
  logger?: Logger;
}

/** SQS's limit on DelaySeconds; a later ETA is held by the worker. */
export const MAX_DELAY_SECONDS = 900;
/** kombu's pidbox reply exchange: replies go to `<oid>.reply.celery.pidbox`. */
const REPLY_EXCHANGE = 'reply.celery.pidbox';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function describe(err: unknown): string {
  const e = err as { name?: string; message?: string; code?: string };
  const text = `${e.name && e.name !== 'Error' ? `${e.name}: ` : ''}${e.message ?? String(err)}`;
  return e.code === 'ECONNREFUSED' || /ECONNREFUSED/.test(text) ? `${text}. Is the SQS endpoint running?` : text;
}

/** An SDK error as a BrokerError saying what failed where. */
export function sqsError(what: string, where: string, err: unknown): BrokerError {
  const fault = (err as { $fault?: string }).$fault;
  return new BrokerError(`[broker-sqs] ${what} on ${where}: ${describe(err)}`, { cause: err, retryable: fault !== 'client' });
}

function isMissingQueue(err: unknown): boolean {
  const e = err as { name?: string; Code?: string; message?: string };
  return /QueueDoesNotExist|NonExistentQueue/.test(`${e.name ?? ''} ${e.Code ?? ''} ${e.message ?? ''}`);
}

/** `message_attributes` as kombu passes them (boto's shape), or plain values made strings. */
function messageAttributes(raw: unknown): Record<string, MessageAttributeValue> | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const out: Record<string, MessageAttributeValue> = {};
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (value && typeof value === 'object' && 'DataType' in value) out[key] = value as MessageAttributeValue;
    else out[key] = { DataType: typeof value === 'number' ? 'Number' : 'String', StringValue: String(value) };
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

export interface QueueInfo {
  url: string;
  client: SQSClient;
  fifo: boolean;
  /** Delete the queue when this broker stops consuming it (pidbox reply queues, subscriber queues). */
  autoDelete: boolean;
}

interface VisibilityEntry {
  handle: string;
  timeout: number;
}

export class SqsBroker implements Broker {
  readonly name = 'sqs';
  readonly capabilities: BrokerCapabilities;
  readonly visibilityTimeout: number;
  readonly options: ResolvedOptions;
  readonly logger: Logger;
  /** SQS and SNS API calls this broker made (each batch call counts once). */
  apiCalls = 0;

  readonly client: SQSClient;
  private readonly clients = new Map<string, SQSClient>();
  private readonly queues = new Map<string, QueueInfo>();
  private readonly resolving = new Map<string, Promise<QueueInfo>>();
  private readonly deadLetters = new Map<string, Promise<QueueInfo | null>>();
  private readonly bindings = new Map<string, Array<{ routingKey: string; queue: string }>>();
  private readonly exchangeTypes = new Map<string, ExchangeType>();
  private readonly warned = new Set<string>();
  private readonly listeners = new BrokerListeners((event, err) => this.logger.error(`a ${event} listener of the SQS broker threw: ${err.message}`));
  readonly consumers = new Set<SqsConsumer>();
  /** Deliveries handed out and not settled. */
  readonly unsettled = new Set<SqsDelivery>();
  readonly fanout: SnsFanout;
  private connected: Promise<void> | null = null;
  closed = false;

  private readonly sends: Batcher<SendMessageBatchRequestEntry>;
  private readonly deletes: Batcher<string>;
  private readonly visibility: Batcher<VisibilityEntry>;

  constructor(url: string, config: SqsBrokerConfig = {}) {
    const { logger, ...rest } = config;
    this.options = resolveOptions(url, rest as Record<string, unknown>);
    this.logger = logger ?? silentLogger;
    this.visibilityTimeout = this.options.visibilityTimeout;
    this.capabilities = {
      priorities: false,
      delayedDelivery: true,
      fanout: this.options.fanout,
      queueLength: true,
      purge: true,
      deadLetter: true,
      visibilityTimeout: true,
    };
    this.client = this.newClient(this.options.region, this.options.credentials);
    this.fanout = new SnsFanout(this);
    this.sends = new Batcher((url, entries) => this.sendBatch(url, entries));
    this.deletes = new Batcher((url, handles) => this.deleteBatch(url, handles), this.options.ackBatchWindow);
    this.visibility = new Batcher((url, entries) => this.visibilityBatch(url, entries));
  }

  /** An SDK client that counts its calls; used for SNS too. */
  newClient(region: string, credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined): SQSClient {
    const client = new SQSClient({
      region,
      ...(this.options.endpoint ? { endpoint: this.options.endpoint } : {}),
      ...(credentials ? { credentials } : {}),
      maxAttempts: 3,
    });
    this.countCalls(client);
    return client;
  }

  countCalls(client: { middlewareStack: SQSClient['middlewareStack'] }): void {
    client.middlewareStack.add(
      (next) => (args) => {
        this.apiCalls++;
        return next(args);
      },
      { step: 'initialize', name: 'tqCountCalls' },
    );
  }

  get display(): string {
    return this.options.display;
  }

  on(event: BrokerEvent, listener: (detail?: unknown) => void): void {
    this.listeners.add(event, listener);
  }

  /** Check the endpoint answers (ListQueues), unless every queue is predefined (no such permission is needed then). */
  connect(): Promise<void> {
    if (this.closed) return Promise.reject(new BrokerError('[broker-sqs] the SQS broker is closed', { retryable: false }));
    this.connected ??= (async () => {
      if (this.options.predefinedQueues.size > 0) return;
      try {
        await this.client.send(new ListQueuesCommand({ MaxResults: 1, ...(this.options.queueNamePrefix ? { QueueNamePrefix: canonicalQueueName('', this.options.queueNamePrefix) } : {}) }));
      } catch (err) {
        throw sqsError('cannot connect to SQS', this.display, err);
      }
      this.listeners.emit('connected');
    })().catch((err: unknown) => {
      this.connected = null;
      this.listeners.emit('error', err);
      throw err;
    });
    return this.connected;
  }

  // -- queues ------------------------------------------------------------------------------

  sqsName(queue: string): string {
    return canonicalQueueName(this.options.queueNamePrefix, queue);
  }

  /** A queue's URL and client, without any call once known. */
  known(queue: string): QueueInfo | undefined {
    return this.queues.get(queue);
  }

  queueInfo(queue: string, declaration?: QueueDeclaration): Promise<QueueInfo> {
    const known = this.queues.get(queue);
    if (known) return Promise.resolve(known);
    let pending = this.resolving.get(queue);
    if (!pending) {
      pending = this.resolve(queue, declaration).then(
        (info) => {
          this.queues.set(queue, info);
          this.resolving.delete(queue);
          return info;
        },
        (err: unknown) => {
          this.resolving.delete(queue);
          throw err;
        },
      );
      this.resolving.set(queue, pending);
    }
    return pending;
  }

  private clientFor(entry: { accessKeyId?: string; secretAccessKey?: string; sessionToken?: string; region?: string }): SQSClient {
    if (!entry.accessKeyId && !entry.region) return this.client;
    const key = `${entry.region ?? ''}\u0000${entry.accessKeyId ?? ''}`;
    let client = this.clients.get(key);
    if (!client) {
      const credentials = entry.accessKeyId
        ? { accessKeyId: entry.accessKeyId, secretAccessKey: entry.secretAccessKey ?? '', ...(entry.sessionToken ? { sessionToken: entry.sessionToken } : {}) }
        : this.options.credentials;
      client = this.newClient(entry.region ?? this.options.region, credentials);
      this.clients.set(key, client);
    }
    return client;
  }

  private async resolve(queue: string, declaration?: QueueDeclaration): Promise<QueueInfo> {
    const name = this.sqsName(queue);
    const autoDelete = declaration?.autoDelete === true;
    const predefined = this.options.predefinedQueues;
    if (predefined.size > 0) {
      const entry = predefined.get(name) ?? predefined.get(queue);
      if (!entry) {
        throw new ConfigurationError(`[broker-sqs] queue ${JSON.stringify(name)} is not in predefinedQueues (${[...predefined.keys()].join(', ')}); add it with its URL, or leave predefinedQueues out to have queues created`);
      }
      return { url: entry.url, client: this.clientFor(entry), fifo: isFifo(name), autoDelete: false };
    }
    try {
      const found = await this.client.send(new GetQueueUrlCommand({ QueueName: name }));
      return { url: found.QueueUrl!, client: this.client, fifo: isFifo(name), autoDelete };
    } catch (err) {
      if (!isMissingQueue(err)) throw sqsError(`could not look up queue ${name}`, this.display, err);
    }
    const attributes: Record<string, string> = { VisibilityTimeout: String(Math.round(this.visibilityTimeout)) };
    if (isFifo(name)) attributes['FifoQueue'] = 'true';
    if (declaration?.messageTtl !== undefined) attributes['MessageRetentionPeriod'] = String(Math.min(1_209_600, Math.max(60, Math.ceil(declaration.messageTtl / 1000))));
    if (declaration?.deadLetterRoutingKey !== undefined) {
      const dead = await this.queueInfo(declaration.deadLetterRoutingKey);
      const arn = await this.queueArn(dead);
      attributes['RedrivePolicy'] = JSON.stringify({ deadLetterTargetArn: arn, maxReceiveCount: this.options.maxReceiveCount });
    }
    Object.assign(attributes, this.options.creationAttributes);
    try {
      const created = await this.client.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
      return { url: created.QueueUrl!, client: this.client, fifo: isFifo(name), autoDelete };
    } catch (err) {
      throw sqsError(`could not create queue ${name}`, this.display, err);
    }
  }

  async queueArn(info: QueueInfo): Promise<string> {
    try {
      const got = await info.client.send(new GetQueueAttributesCommand({ QueueUrl: info.url, AttributeNames: ['QueueArn'] }));
      return got.Attributes!['QueueArn']!;
    } catch (err) {
      throw sqsError(`could not read the ARN of ${info.url}`, this.display, err);
    }
  }

  async declareQueue(queue: QueueDeclaration): Promise<void> {
    if (this.closed) throw new BrokerError('[broker-sqs] the SQS broker is closed', { retryable: false });
    for (const binding of queue.bindings ?? []) {
      if (binding.exchange === '') continue;
      if (binding.exchangeType) this.exchangeTypes.set(binding.exchange, binding.exchangeType);
      let list = this.bindings.get(binding.exchange);
      if (!list) this.bindings.set(binding.exchange, (list = []));
      if (!list.some((b) => b.routingKey === binding.routingKey && b.queue === queue.name)) list.push({ routingKey: binding.routingKey, queue: queue.name });
    }
    await this.queueInfo(queue.name, queue);
  }

  async declareExchange(name: string, type: ExchangeType): Promise<void> {
    // Exchanges live in the process, as in kombu's virtual transport; fanout ones are SNS topics.
    this.exchangeTypes.set(name, type);
  }

  /** The queues a direct exchange routes (exchange, routing key) to: kombu's in-process bindings. */
  private route(exchange: string, routingKey: string): string[] {
    if (exchange === '') return [routingKey];
    const bound = (this.bindings.get(exchange) ?? []).filter((b) => b.routingKey === routingKey).map((b) => b.queue);
    if (bound.length > 0) return bound;
    // A worker replying to a client it never declared the queue of: kombu's pidbox naming.
    if (exchange === REPLY_EXCHANGE) return [`${routingKey}.${REPLY_EXCHANGE}`];
    return [];
  }

  // -- publishing --------------------------------------------------------------------------

  async publish(message: RawMessage, target: PublishTarget, options: PublishOptions = {}): Promise<void> {
    if (this.closed) throw new BrokerError('[broker-sqs] the SQS broker is closed', { retryable: false });
    if (options.declare) for (const q of options.declare) if (!this.queues.has(q.name)) await this.declareQueue(q);
    const { exchange, routingKey } = target;
    let json: string;
    try {
      json = envelopeJson(message, exchange, routingKey);
    } catch (err) {
      throw new EncodeError(`cannot encode the message's headers or properties as JSON: ${(err as Error).message}`, err);
    }
    const type = exchange === '' ? 'direct' : (target.exchangeType ?? this.exchangeTypes.get(exchange) ?? 'direct');
    if (type !== 'direct') {
      if (!this.options.fanout) throw new ConfigurationError(`[broker-sqs] ${type} exchange ${JSON.stringify(exchange)} needs SNS fanout, which supportsFanout: false turned off`);
      await this.fanout.publish(exchange, json, messageAttributes(message.properties['message_attributes']));
      return;
    }
    const queues = this.route(exchange, routingKey);
    if (queues.length === 0) {
      const id = `${exchange}\u0000${routingKey}`;
      if (!this.warned.has(id)) {
        this.warned.add(id);
        this.logger.warn(`[broker-sqs] a message to exchange ${JSON.stringify(exchange)} with routing key ${JSON.stringify(routingKey)} matched no queue declared in this process and was dropped`);
      }
      return;
    }
    await Promise.all(queues.map((queue) => this.send(queue, message, json, options.deliverAt)));
  }

  private async send(queue: string, message: RawMessage, json: string, deliverAt: number | undefined): Promise<void> {
    const info = this.queues.get(queue) ?? (await this.queueInfo(queue));
    const props = message.properties;
    const entry: SendMessageBatchRequestEntry = { Id: '', MessageBody: sqsBody(json, this.options.base64) };
    const attributes = messageAttributes(props['message_attributes']);
    if (attributes) entry.MessageAttributes = attributes;
    if (typeof props['MessageGroupId'] === 'string') entry.MessageGroupId = props['MessageGroupId'];
    if (info.fifo) {
      entry.MessageGroupId ??= 'default';
      entry.MessageDeduplicationId = typeof props['MessageDeduplicationId'] === 'string' ? props['MessageDeduplicationId'] : randomUUID();
    } else {
      let delay = typeof props['DelaySeconds'] === 'number' ? props['DelaySeconds'] : 0;
      if (deliverAt !== undefined) delay = Math.max(delay, Math.ceil((deliverAt - Date.now()) / 1000));
      if (delay > 0) entry.DelaySeconds = Math.min(MAX_DELAY_SECONDS, Math.trunc(delay));
    }
    await this.sends.add(info.url, entry, entry.MessageBody!.length);
  }

  private async sendBatch(url: string, entries: SendMessageBatchRequestEntry[]): Promise<Array<Error | null>> {
    const client = this.clientOf(url);
    if (entries.length === 1) {
      const { Id: _id, ...one } = entries[0]!;
      try {
        await client.send(new SendMessageCommand({ QueueUrl: url, ...one }));
        return [null];
      } catch (err) {
        return [sqsError(`could not publish to ${nameOfQueueUrl(url)}`, this.display, err)];
      }
    }
    entries.forEach((e, i) => (e.Id = String(i)));
    try {
      const reply = await client.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: entries }));
      return this.outcomes(entries.length, reply.Failed, `could not publish to ${nameOfQueueUrl(url)}`);
    } catch (err) {
      throw sqsError(`could not publish ${entries.length} messages to ${nameOfQueueUrl(url)}`, this.display, err);
    }
  }

  private outcomes(n: number, failed: Array<{ Id?: string | undefined; Code?: string | undefined; Message?: string | undefined; SenderFault?: boolean | undefined }> | undefined, what: string): Array<Error | null> {
    const out: Array<Error | null> = new Array<Error | null>(n).fill(null);
    for (const f of failed ?? []) {
      out[Number(f.Id)] = new BrokerError(`[broker-sqs] ${what} on ${this.display}: ${f.Code}: ${f.Message}`, { retryable: !f.SenderFault });
    }
    return out;
  }

  clientOf(url: string): SQSClient {
    for (const info of this.queues.values()) if (info.url === url) return info.client;
    return this.client;
  }

  // -- consuming ---------------------------------------------------------------------------

  consume(queues: QueueDeclaration[], onMessage: (delivery: Delivery) => void, options: ConsumeOptions): Promise<Consumer> {
    return this.startConsumer(queues, onMessage, options.prefetch, false);
  }

  /**
   * `abortable`: cancelling aborts the polls in flight instead of waiting for them. Only for
   * broadcast copies (subscriber queues), which may be lost: a task message an aborted poll took
   * would stay invisible for the whole visibility timeout.
   */
  async startConsumer(queues: QueueDeclaration[], onMessage: (delivery: Delivery) => void, prefetch: number, abortable: boolean): Promise<SqsConsumer> {
    if (this.closed) throw new BrokerError('[broker-sqs] the SQS broker is closed', { retryable: false });
    for (const queue of queues) await this.declareQueue(queue);
    const consumer = new SqsConsumer(this, queues.map((q) => q.name), onMessage, prefetch, abortable ? new AbortController() : null);
    this.consumers.add(consumer);
    consumer.start();
    return consumer;
  }

  async receive(queue: string, max: number, signal?: AbortSignal): Promise<Message[]> {
    const info = await this.queueInfo(queue);
    try {
      const reply = await info.client.send(
        new ReceiveMessageCommand({
          QueueUrl: info.url,
          MaxNumberOfMessages: Math.max(1, Math.min(SQS_BATCH_LIMIT, max)),
          WaitTimeSeconds: this.options.waitTimeSeconds,
          MessageSystemAttributeNames: info.fifo ? ['ApproximateReceiveCount', 'MessageGroupId'] : ['ApproximateReceiveCount'],
          MessageAttributeNames: ['All'],
        }),
        signal ? { abortSignal: signal } : {},
      );
      return reply.Messages ?? [];
    } catch (err) {
      throw sqsError(`could not receive from ${info.url}`, this.display, err);
    }
  }

  /** Hand a received message to its consumer, or reject it with a logged reason if it is not a kombu message. */
  deliver(consumer: SqsConsumer, queue: string, sqs: Message, info: QueueInfo): void {
    let decoded: DecodedEnvelope;
    try {
      decoded = decodeSqsBody(sqs.Body ?? '', queue);
    } catch (err) {
      const reason = (err as Error).message.replace(/^\[tq\] /, '');
      const body = sqs.Body ?? '';
      this.logger.error(`[broker-sqs] rejected a message from queue ${queue}: ${reason}: ${JSON.stringify(body.length > 200 ? `${body.slice(0, 200)}…` : body)}`);
      void this.drop(queue, info, sqs, reason).catch((e: unknown) => this.logger.warn(`[broker-sqs] could not remove a rejected message from ${queue}: ${(e as Error).message}`));
      return;
    }
    if (sqs.MessageAttributes && decoded.message.properties['message_attributes'] === undefined) {
      decoded.message.properties['message_attributes'] = sqs.MessageAttributes;
    }
    const delivery = new SqsDelivery(this, consumer, queue, info, sqs, decoded);
    this.unsettled.add(delivery);
    consumer.inflight++;
    try {
      consumer.onMessage(delivery);
    } catch (err) {
      this.logger.error(`[broker-sqs] the message handler of queue ${queue} threw: ${(err as Error).message}`);
    }
  }

  settle(delivery: SqsDelivery, how: 'ack' | 'requeue' | 'drop'): Promise<void> {
    if (delivery.settled) return Promise.resolve();
    delivery.settled = true;
    this.unsettled.delete(delivery);
    delivery.consumer.release();
    const handle = delivery.deliveryTag;
    const fail = (what: string) => (err: unknown) => {
      throw sqsError(`could not ${what} message ${delivery.sqs.MessageId ?? ''}`, this.display, err);
    };
    if (how === 'ack') return this.deletes.add(delivery.url, handle).catch(fail('acknowledge'));
    if (how === 'requeue') return this.visibility.add(delivery.url, { handle, timeout: 0 }).catch(fail('requeue'));
    return this.drop(delivery.queue, delivery.queueInfo, delivery.sqs, null);
  }

  /** reject(false): into the queue's redrive-policy DLQ when it has one, then deleted. */
  private async drop(queue: string, info: QueueInfo, sqs: Message, reason: string | null): Promise<void> {
    const dead = await this.deadLetterQueue(queue, info);
    if (dead) {
      const attributes: Record<string, MessageAttributeValue> = { ...(sqs.MessageAttributes ?? {}) };
      if (reason) attributes['tq_reject_reason'] = { DataType: 'String', StringValue: reason.slice(0, 1000) };
      try {
        await dead.client.send(
          new SendMessageCommand({
            QueueUrl: dead.url,
            MessageBody: sqs.Body ?? '',
            ...(Object.keys(attributes).length > 0 ? { MessageAttributes: attributes } : {}),
            ...(dead.fifo ? { MessageGroupId: sqs.Attributes?.['MessageGroupId'] ?? 'default', MessageDeduplicationId: randomUUID() } : {}),
          }),
        );
      } catch (err) {
        throw sqsError(`could not dead-letter a message from ${queue} to ${dead.url}`, this.display, err);
      }
    }
    await this.deletes.add(info.url, sqs.ReceiptHandle ?? '');
  }

  /** The queue a queue's RedrivePolicy names, read once per queue. */
  private deadLetterQueue(queue: string, info: QueueInfo): Promise<QueueInfo | null> {
    let pending = this.deadLetters.get(queue);
    if (!pending) {
      pending = (async () => {
        const got = await info.client.send(new GetQueueAttributesCommand({ QueueUrl: info.url, AttributeNames: ['RedrivePolicy'] }));
        const policy = got.Attributes?.['RedrivePolicy'];
        if (!policy) return null;
        const arn = String((JSON.parse(policy) as { deadLetterTargetArn?: string }).deadLetterTargetArn ?? '');
        const name = nameOfQueueUrl(arn);
        for (const entry of this.options.predefinedQueues.values()) {
          if (nameOfQueueUrl(entry.url) === name) return { url: entry.url, client: this.clientFor(entry), fifo: isFifo(name), autoDelete: false };
        }
        const account = arn.split(':')[4];
        const found = await info.client.send(new GetQueueUrlCommand({ QueueName: name, ...(account ? { QueueOwnerAWSAccountId: account } : {}) }));
        return { url: found.QueueUrl!, client: info.client, fifo: isFifo(name), autoDelete: false };
      })().catch((err: unknown) => {
        this.deadLetters.delete(queue);
        throw sqsError(`could not read the redrive policy of ${info.url}`, this.display, err);
      });
      this.deadLetters.set(queue, pending);
    }
    return pending;
  }

  touch(delivery: SqsDelivery): Promise<void> {
    if (delivery.settled || this.closed) return Promise.resolve();
    return this.visibility.add(delivery.url, { handle: delivery.deliveryTag, timeout: Math.round(this.visibilityTimeout) }).catch((err: unknown) => {
      throw sqsError(`could not extend the visibility of message ${delivery.sqs.MessageId ?? ''}`, this.display, err);
    });
  }

  /** Make messages visible again at once (received for a consumer that stopped meanwhile). */
  giveBack(url: string, messages: Message[]): Promise<void> {
    return Promise.all(messages.map((m) => this.visibility.add(url, { handle: m.ReceiptHandle ?? '', timeout: 0 }))).then(() => undefined);
  }

  private async deleteBatch(url: string, handles: string[]): Promise<Array<Error | null>> {
    const reply = await this.clientOf(url).send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: handles.map((h, i) => ({ Id: String(i), ReceiptHandle: h })) }));
    return this.outcomes(handles.length, reply.Failed, `could not delete a message from ${nameOfQueueUrl(url)}`);
  }

  private async visibilityBatch(url: string, entries: VisibilityEntry[]): Promise<Array<Error | null>> {
    const reply = await this.clientOf(url).send(
      new ChangeMessageVisibilityBatchCommand({ QueueUrl: url, Entries: entries.map((e, i) => ({ Id: String(i), ReceiptHandle: e.handle, VisibilityTimeout: e.timeout })) }),
    );
    return this.outcomes(entries.length, reply.Failed, `could not change the visibility of a message in ${nameOfQueueUrl(url)}`);
  }

  // -- fanout ------------------------------------------------------------------------------

  async subscribe(
    exchange: string,
    bindingKey: string,
    onMessage: (message: RawMessage, routingKey: string) => void,
    options: { exchangeType?: ExchangeType; queueName?: string; messageTtl?: number; expires?: number } = {},
  ): Promise<Subscription> {
    if (this.closed) throw new BrokerError('[broker-sqs] the SQS broker is closed', { retryable: false });
    if (!this.options.fanout) throw new ConfigurationError('[broker-sqs] subscribing needs SNS fanout, which supportsFanout: false turned off');
    const type = options.exchangeType ?? this.exchangeTypes.get(exchange) ?? 'fanout';
    return this.fanout.subscribe(exchange, type, bindingKey, onMessage, options);
  }

  /** Delete a queue this broker created for its own use (a subscriber's, a pidbox reply queue). */
  async deleteQueue(queue: string): Promise<void> {
    const info = this.queues.get(queue);
    this.queues.delete(queue);
    if (!info || this.options.predefinedQueues.size > 0) return;
    await info.client.send(new DeleteQueueCommand({ QueueUrl: info.url })).catch((err: unknown) => this.logger.debug(`[broker-sqs] could not delete queue ${info.url}: ${describe(err)}`));
  }

  // -- inspection --------------------------------------------------------------------------

  async queueLength(queue: string): Promise<number> {
    const info = await this.queueInfo(queue);
    try {
      const got = await info.client.send(new GetQueueAttributesCommand({ QueueUrl: info.url, AttributeNames: ['ApproximateNumberOfMessages'] }));
      return Number(got.Attributes?.['ApproximateNumberOfMessages'] ?? 0);
    } catch (err) {
      throw sqsError(`could not read the length of ${info.url}`, this.display, err);
    }
  }

  async purge(queue: string): Promise<number> {
    const info = await this.queueInfo(queue);
    const waiting = await this.queueLength(queue);
    try {
      await info.client.send(new PurgeQueueCommand({ QueueUrl: info.url }));
    } catch (err) {
      throw sqsError(`could not purge ${info.url}`, this.display, err);
    }
    return waiting;
  }

  unackedCount(): number {
    return this.unsettled.size;
  }

  // -- shutdown ----------------------------------------------------------------------------

  /** Stop consuming (long polls finish, anything they bring is made visible again), return every unsettled delivery (visibility 0), close. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.consumers].map((consumer) => consumer.cancel()));
    await this.fanout.close();
    const held = [...this.unsettled];
    this.unsettled.clear();
    for (const delivery of held) {
      delivery.settled = true;
      void this.visibility.add(delivery.url, { handle: delivery.deliveryTag, timeout: 0 }).catch((err: unknown) => {
        this.logger.warn(`[broker-sqs] could not return message ${delivery.sqs.MessageId ?? ''} to ${delivery.queue} at shutdown (its visibility timeout will): ${(err as Error).message}`);
      });
    }
    await Promise.allSettled([this.sends.drain(), this.deletes.drain(), this.visibility.drain()]);
    this.client.destroy();
    for (const client of this.clients.values()) client.destroy();
    this.listeners.emit('disconnected');
  }
}

export class SqsDelivery implements Delivery {
  readonly message: RawMessage;
  readonly info: DeliveryInfo;
  readonly deliveryTag: string;
  readonly url: string;
  settled = false;

  constructor(
    private readonly broker: SqsBroker,
    readonly consumer: SqsConsumer,
    readonly queue: string,
    readonly queueInfo: QueueInfo,
    readonly sqs: Message,
    decoded: DecodedEnvelope,
  ) {
    this.url = queueInfo.url;
    this.message = decoded.message;
    this.deliveryTag = sqs.ReceiptHandle ?? '';
    const receives = Number(sqs.Attributes?.['ApproximateReceiveCount'] ?? 1);
    this.info = { exchange: decoded.exchange, routingKey: decoded.routingKey, priority: decoded.priority, redelivered: receives > 1 };
  }

  ack(): Promise<void> {
    return this.broker.settle(this, 'ack');
  }

  reject(requeue: boolean): Promise<void> {
    return this.broker.settle(this, requeue ? 'requeue' : 'drop');
  }

  /** ChangeMessageVisibility to the full visibility timeout, from now. */
  touch(): Promise<void> {
    return this.broker.touch(this);
  }
}

/**
 * One consumer: a long-polling loop per queue, each asking for as many messages as the prefetch
 * leaves room for (at most ten). Stopping never aborts a poll in flight (SQS would have made its
 * messages invisible already): it waits for the poll and makes what it brought visible again.
 */
export class SqsConsumer implements Consumer {
  inflight = 0;
  private reserved = 0;
  private readonly loops = new Map<string, { active: boolean; done: Promise<void> }>();
  /** Long polls in flight per queue: enough for the prefetch, ten messages each, at most `receivePolls`. */
  private readonly polls: number;
  private waiters: Array<() => void> = [];
  private stopped = false;

  constructor(
    private readonly broker: SqsBroker,
    private readonly names: string[],
    readonly onMessage: (delivery: Delivery) => void,
    private prefetch: number,
    private readonly abort: AbortController | null,
  ) {
    this.polls = prefetch > 0 ? Math.max(1, Math.min(broker.options.receivePolls, Math.ceil(prefetch / SQS_BATCH_LIMIT))) : 1;
  }

  get queues(): readonly string[] {
    return [...this.loops.entries()].filter(([, l]) => l.active).map(([name]) => name);
  }

  start(): void {
    for (const name of this.names) this.startLoop(name);
  }

  private startLoop(name: string): void {
    const existing = this.loops.get(name);
    if (existing?.active) return;
    const state = { active: true, done: Promise.resolve() };
    const loops: Array<Promise<void>> = [];
    for (let i = 0; i < this.polls; i++) {
      loops.push(this.run(name, state).catch((err: unknown) => this.broker.logger.error(`[broker-sqs] the consumer of ${name} stopped: ${(err as Error).message}`)));
    }
    state.done = Promise.all(loops).then(() => undefined);
    this.loops.set(name, state);
  }

  private room(): number {
    if (this.prefetch <= 0) return SQS_BATCH_LIMIT;
    return Math.min(SQS_BATCH_LIMIT, this.prefetch - this.inflight - this.reserved);
  }

  release(): void {
    this.inflight--;
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private async run(name: string, state: { active: boolean }): Promise<void> {
    let failures = 0;
    while (state.active && !this.stopped) {
      const room = this.room();
      if (room <= 0) {
        await new Promise<void>((resolve) => this.waiters.push(resolve));
        continue;
      }
      this.reserved += room;
      let messages: Message[];
      try {
        messages = await this.broker.receive(name, room, this.abort?.signal);
      } catch (err) {
        this.reserved -= room;
        if (!state.active || this.stopped) break;
        failures++;
        const wait = Math.min(5000, 100 * 2 ** Math.min(failures - 1, 6));
        (failures === 1 ? this.broker.logger.warn : this.broker.logger.debug).call(this.broker.logger, `[broker-sqs] consuming ${name} failed (${(err as Error).message.replace(/^\[tq\] /, '')}); retrying in ${wait} ms`);
        await sleep(wait);
        continue;
      }
      this.reserved -= room;
      if (failures > 0) {
        this.broker.logger.info(`[broker-sqs] consuming ${name} again`);
        failures = 0;
      }
      if (!state.active || this.stopped) {
        const info = this.broker.known(name);
        if (info && messages.length > 0) await this.broker.giveBack(info.url, messages).catch(() => undefined);
        break;
      }
      const info = this.broker.known(name);
      if (info) for (const message of messages) this.broker.deliver(this, name, message, info);
    }
  }

  async setPrefetch(prefetch: number): Promise<void> {
    this.prefetch = Math.max(0, Math.trunc(prefetch));
    this.wake();
  }

  async addQueue(queue: QueueDeclaration): Promise<void> {
    await this.broker.declareQueue(queue);
    if (!this.stopped) this.startLoop(queue.name);
  }

  async cancelQueue(name: string): Promise<void> {
    const loop = this.loops.get(name);
    if (!loop) return;
    loop.active = false;
    this.wake();
    await loop.done;
  }

  /** Stop polling; resolves once every poll in flight has returned (within waitTimeSeconds). */
  async cancel(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    this.wake();
    for (const loop of this.loops.values()) loop.active = false;
    await Promise.all([...this.loops.values()].map((l) => l.done));
    this.broker.consumers.delete(this);
    for (const name of this.loops.keys()) if (this.broker.known(name)?.autoDelete) await this.broker.deleteQueue(name);
  }
}
