/**
 * Remote control ("pidbox") messages: broadcast requests to workers and their replies, in
 * kombu's shapes, so that `celery inspect`/`celery control` and Flower can talk to tq workers
 * and tq's client can talk to Python workers.
 */
import { ProtocolError } from './errors.js';
import type { RawMessage } from './message.js';
import { deserialize, serialize } from './serialization.js';
import { isPlainObject } from './signature-dict.js';

export const PIDBOX_EXCHANGE = 'celery.pidbox';
export const PIDBOX_REPLY_EXCHANGE = 'reply.celery.pidbox';

export interface ControlRequest {
  method: string;
  arguments: Record<string, unknown>;
  /** Node names that should act, or null for all. */
  destination: string[] | null;
  pattern: string | null;
  /** `glob` or `pcre`, with pattern. */
  matcher: string | null;
  /** Present when a reply is wanted. */
  ticket?: string;
  reply_to?: { exchange: string; routing_key: string };
}

export interface ControlRequestInput {
  method: string;
  arguments?: Record<string, unknown>;
  destination?: string[] | null;
  pattern?: string | null;
  matcher?: string | null;
  /** Ask for replies to this ticket, sent to the reply queue named by `replyTo` (the client's oid). */
  ticket?: string | null;
  replyTo?: string | null;
}

export function createControlRequest(input: ControlRequestInput): ControlRequest {
  const request: ControlRequest = {
    method: input.method,
    arguments: input.arguments ?? {},
    destination: input.destination ?? null,
    pattern: input.pattern ?? null,
    matcher: input.matcher ?? null,
  };
  if (input.ticket && input.replyTo) {
    request.ticket = input.ticket;
    request.reply_to = { exchange: PIDBOX_REPLY_EXCHANGE, routing_key: input.replyTo };
  }
  return request;
}

/** Encode a request. `expires` is an epoch time in seconds (0 = never), `clock` the Lamport clock. */
export function encodeControlRequest(request: ControlRequest, clock: number, expires: number): RawMessage {
  const { body, contentType, contentEncoding } = serialize(request, 'json');
  return { body, contentType, contentEncoding, headers: { clock, expires }, properties: { delivery_mode: 2 } };
}

export function decodeControlRequest(raw: RawMessage): { request: ControlRequest; clock: number | null; expires: number } {
  const payload = deserialize(raw.body, raw.contentType);
  if (!isPlainObject(payload) || typeof payload['method'] !== 'string') {
    throw new ProtocolError('a control request must be a mapping with a method', { field: 'body.method' });
  }
  const args = payload['arguments'] ?? {};
  if (!isPlainObject(args)) throw new ProtocolError('control arguments must be a mapping', { field: 'body.arguments' });
  const destination = payload['destination'] ?? null;
  if (destination !== null && !(Array.isArray(destination) && destination.every((d) => typeof d === 'string'))) {
    throw new ProtocolError('destination must be a list of node names or null', { field: 'body.destination' });
  }
  const request: ControlRequest = {
    method: payload['method'],
    arguments: args,
    destination: destination as string[] | null,
    pattern: typeof payload['pattern'] === 'string' ? payload['pattern'] : null,
    matcher: typeof payload['matcher'] === 'string' ? payload['matcher'] : null,
  };
  const replyTo = payload['reply_to'];
  if (typeof payload['ticket'] === 'string' && isPlainObject(replyTo) && typeof replyTo['routing_key'] === 'string') {
    request.ticket = payload['ticket'];
    request.reply_to = {
      exchange: typeof replyTo['exchange'] === 'string' ? replyTo['exchange'] : PIDBOX_REPLY_EXCHANGE,
      routing_key: replyTo['routing_key'],
    };
  }
  const headers: Record<string, unknown> = isPlainObject(raw.headers) ? raw.headers : {};
  const clock = typeof headers['clock'] === 'number' ? headers['clock'] : null;
  const expires = typeof headers['expires'] === 'number' ? headers['expires'] : 0;
  return { request, clock, expires };
}

/** A reply: `{<node name>: result}` with headers `{ticket, clock}`. */
export function encodeControlReply(nodename: string, result: unknown, ticket: string, clock: number): RawMessage {
  const { body, contentType, contentEncoding } = serialize({ [nodename]: result }, 'json');
  return { body, contentType, contentEncoding, headers: { ticket, clock }, properties: { delivery_mode: 1 } };
}

export function decodeControlReply(raw: RawMessage): { ticket: string | null; replies: Record<string, unknown> } {
  const payload = deserialize(raw.body, raw.contentType);
  if (!isPlainObject(payload)) throw new ProtocolError('a control reply must be a mapping of node name to result', { field: 'body' });
  const ticket = isPlainObject(raw.headers) && typeof raw.headers['ticket'] === 'string' ? raw.headers['ticket'] : null;
  return { ticket, replies: payload };
}
