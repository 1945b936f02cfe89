/**
 * @tq/broker-amqp: tq's RabbitMQ broker (`amqp://`, `amqps://`, `pyamqp://`) and Celery's
 * `rpc://` result backend. Core loads this package when an app's URL names one of these
 * schemes and calls `createBroker` / `createBackend`.
 */
import { ConfigurationError, type AdapterContext, type Broker, type ResultBackend } from '@tq/core';
import { AmqpBroker, type AmqpBrokerOptions } from './amqp-broker.js';
import { RpcBackend } from './rpc-backend.js';
import { urlScheme } from '@tq/core';

export { AmqpBroker, AmqpConsumer, AmqpDelivery, QueueSubscription, isAmqpBroker, DEFAULT_AMQP_URL, type AmqpBrokerOptions, type RpcHooks } from './amqp-broker.js';
export { RpcBackend, type RpcBackendOptions } from './rpc-backend.js';
export { parseAmqpUrl, type AmqpUrl } from './url.js';
export { publishOptions, fromAmqpMessage, queueArguments, assertQueueOptions, defaultExchange } from './mapping.js';

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** Transport options (`brokerTransportOptions`) this adapter reads; unknown ones are ignored. */
function brokerOptions(url: string, context: AdapterContext): AmqpBrokerOptions {
  const o = context.options;
  const options: AmqpBrokerOptions = { url, logger: context.logger };
  const heartbeat = num(o['heartbeat']);
  if (heartbeat !== undefined) options.heartbeat = heartbeat;
  const connectionTimeout = num(o['connectionTimeout']);
  if (connectionTimeout !== undefined) options.connectionTimeout = connectionTimeout;
  const operationTimeout = num(o['operationTimeout']);
  if (operationTimeout !== undefined) options.operationTimeout = operationTimeout;
  const reconnectDelay = num(o['reconnectDelay']);
  if (reconnectDelay !== undefined) options.reconnectDelay = reconnectDelay;
  const maxReconnectDelay = num(o['maxReconnectDelay']);
  if (maxReconnectDelay !== undefined) options.maxReconnectDelay = maxReconnectDelay;
  if (typeof o['tls'] === 'object' && o['tls'] !== null) options.tls = o['tls'] as NonNullable<AmqpBrokerOptions['tls']>;
  if (typeof o['connectionName'] === 'string') options.connectionName = o['connectionName'];
  return options;
}

/** `amqp://`, `amqps://`, `pyamqp://` → a RabbitMQ broker. */
export function createBroker(url: string, context: AdapterContext): Broker {
  const scheme = urlScheme(url);
  if (scheme === 'rpc') throw new ConfigurationError('[broker-amqp] rpc:// is a result backend, not a broker; use amqp://… as the broker');
  return new AmqpBroker(brokerOptions(url, context));
}

/** `rpc://` → Celery's rpc result backend, riding on the app's amqp:// broker. */
export function createBackend(url: string, context: AdapterContext): ResultBackend {
  const scheme = urlScheme(url);
  if (scheme !== 'rpc') {
    throw new ConfigurationError(`[broker-amqp] ${scheme}:// is not a result backend (Celery 5 removed the amqp backend); use backend: 'rpc://' to get results through RabbitMQ`);
  }
  const o = context.options;
  return new RpcBackend({
    broker: () => context.broker(),
    logger: context.logger,
    expires: context.resultExpires,
    ...(typeof o['cacheSize'] === 'number' ? { cacheSize: o['cacheSize'] } : {}),
    ...(typeof o['persistent'] === 'boolean' ? { persistent: o['persistent'] } : {}),
  });
}
