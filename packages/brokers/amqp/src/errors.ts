/**
 * amqplib's and the socket's errors, said in terms a user can act on, as core's BrokerError
 * (retryable when trying again may help: a lost or refused connection, a closed channel).
 */
import { BrokerError, ConfigurationError, isTqError } from '@tq/core';

/** AMQP reply codes that matter here. */
export const NOT_FOUND = 404;
export const ACCESS_REFUSED = 403;
export const PRECONDITION_FAILED = 406;
export const RESOURCE_LOCKED = 405;
export const NOT_ALLOWED = 530;

interface NativeError {
  code?: string | number;
  message?: string;
}

function native(err: unknown): NativeError {
  return typeof err === 'object' && err !== null ? (err as NativeError) : { message: String(err) };
}

export function replyCode(err: unknown): number | undefined {
  const code = native(err).code;
  return typeof code === 'number' ? code : undefined;
}

/** The text RabbitMQ put in a channel/connection close, without amqplib's wrapping. */
export function serverText(err: unknown): string {
  const message = native(err).message ?? String(err);
  const m = /with message "(.*)"/s.exec(message);
  return m ? m[1]! : message;
}

/** An error raised while opening the connection. */
export function connectError(err: unknown, where: string, timeoutMs: number): BrokerError {
  const e = native(err);
  const message = e.message ?? String(err);
  const sys = typeof e.code === 'string' ? e.code : undefined;
  if (sys === 'ECONNREFUSED') return new BrokerError(`[broker-amqp] cannot connect to ${where}: ECONNREFUSED. Is RabbitMQ running?`, { cause: err, retryable: true });
  if (sys === 'ENOTFOUND' || sys === 'EAI_AGAIN') return new BrokerError(`[broker-amqp] cannot connect to ${where}: ${sys} (the host name does not resolve). Check the host in the broker URL.`, { cause: err, retryable: true });
  if (sys === 'ETIMEDOUT' || /ETIMEDOUT|timed out/i.test(message)) return new BrokerError(`[broker-amqp] cannot connect to ${where}: no answer within ${timeoutMs} ms. Is RabbitMQ running and reachable?`, { cause: err, retryable: true });
  if (sys === 'ECONNRESET' || sys === 'EPIPE') return new BrokerError(`[broker-amqp] cannot connect to ${where}: ${sys} (the server closed the connection during the handshake). Is this a RabbitMQ port, with TLS only for amqps://?`, { cause: err, retryable: true });
  if (/ACCESS.REFUSED|403/.test(message)) return new BrokerError(`[broker-amqp] cannot connect to ${where}: ACCESS_REFUSED (user name or password refused). Check the credentials in the URL (rabbitmqctl list_users).`, { cause: err, retryable: false });
  if (/NOT.ALLOWED|530|vhost/i.test(message)) return new BrokerError(`[broker-amqp] cannot connect to ${where}: ${serverText(err)}. Create the vhost (rabbitmqctl add_vhost) and grant the user permissions on it (rabbitmqctl set_permissions).`, { cause: err, retryable: false });
  if (/certificate|SSL|TLS|EPROTO/i.test(message) || (sys && /^ERR_TLS|^ERR_SSL|CERT/.test(sys))) return new BrokerError(`[broker-amqp] cannot connect to ${where}: TLS failed (${message}). Check the certificates given in brokerTransportOptions.tls.`, { cause: err, retryable: false });
  return new BrokerError(`[broker-amqp] cannot connect to ${where}: ${sys ? `${sys}: ` : ''}${message}`, { cause: err, retryable: true });
}

/**
 * A declaration refused because the entity exists with other settings (PRECONDITION_FAILED):
 * RabbitMQ never changes a queue's arguments, so the user must delete it or declare the same.
 */
export function inequivalentError(kind: 'queue' | 'exchange', name: string, err: unknown): ConfigurationError {
  const text = serverText(err);
  const arg = /inequivalent arg '([^']+)'/.exec(text)?.[1];
  const detail = arg ? `its ${arg} differs (${text})` : text;
  const fix =
    kind === 'queue'
      ? `RabbitMQ cannot change an existing queue: delete it (rabbitmqctl delete_queue ${JSON.stringify(name)}) or declare it with the same settings`
      : `RabbitMQ cannot change an existing exchange: delete it (rabbitmqctl delete_exchange ${JSON.stringify(name)}) or declare it with the same type and durability`;
  return new ConfigurationError(`[broker-amqp] ${kind} ${JSON.stringify(name)} already exists with different settings: ${detail}. ${fix}.`, { cause: err });
}

/** A failed operation on an open connection. */
export function operationError(what: string, err: unknown): Error {
  if (isTqError(err)) return err;
  const code = replyCode(err);
  const text = serverText(err);
  if (code === NOT_FOUND) return new BrokerError(`[broker-amqp] ${what}: ${text}`, { cause: err, retryable: false });
  if (code === ACCESS_REFUSED) return new BrokerError(`[broker-amqp] ${what}: ${text}. The user lacks permission on this vhost (rabbitmqctl set_permissions).`, { cause: err, retryable: false });
  if (code === RESOURCE_LOCKED) return new BrokerError(`[broker-amqp] ${what}: ${text} (another connection holds it exclusively)`, { cause: err, retryable: false });
  if (err instanceof RangeError || err instanceof TypeError) return new BrokerError(`[broker-amqp] ${what}: ${err.message}`, { cause: err, retryable: false });
  return new BrokerError(`[broker-amqp] ${what}: ${text}`, { cause: err, retryable: true });
}

/** Whether an amqplib error means the channel went away under an operation (retry on a new one). */
export function isChannelGone(err: unknown): boolean {
  const message = native(err).message ?? '';
  return /Channel (ended|closed|closing)|Connection (closed|closing)|IllegalOperationError/i.test(message) || (err as Error)?.name === 'IllegalOperationError';
}
