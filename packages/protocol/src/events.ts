/**
 * Celery events: what workers (and clients, for task-sent) publish so that monitors such as
 * Flower and `celery events` can follow them. Field order matters to byte-level tools, so
 * events are built here in Celery's order: `hostname, utcoffset, pid, clock, …fields,
 * timestamp, type`.
 */
import { ProtocolError } from './errors.js';
import type { RawMessage } from './message.js';
import { pyRepr } from './python-repr.js';
import { encodeException, type ExceptionInfo } from './result-meta.js';
import { deserialize, serialize } from './serialization.js';
import { isPlainObject } from './signature-dict.js';

export type TaskEventType =
  | 'task-sent'
  | 'task-received'
  | 'task-started'
  | 'task-succeeded'
  | 'task-failed'
  | 'task-retried'
  | 'task-rejected'
  | 'task-revoked';
export type WorkerEventType = 'worker-online' | 'worker-heartbeat' | 'worker-offline';
export type EventType = TaskEventType | WorkerEventType | (string & {});

export interface CeleryEvent {
  type: EventType;
  hostname: string;
  utcoffset: number;
  pid: number;
  clock: number;
  /** Seconds since the epoch (a float, as Python's time.time()). */
  timestamp: number;
  [field: string]: unknown;
}

export interface EventOrigin {
  hostname: string;
  pid: number;
  clock: number;
  utcoffset?: number;
}

/** Python's `utcoffset()`: whole hours **west** of UTC (UTC+2 gives -2), DST included. */
export function utcoffset(date: Date = new Date()): number {
  return Math.floor(date.getTimezoneOffset() / 60);
}

/** Build an event in Celery's field order. */
export function createEvent(type: EventType, origin: EventOrigin, fields: Record<string, unknown> = {}, timestamp?: number): CeleryEvent {
  const event: Record<string, unknown> = {
    hostname: origin.hostname,
    utcoffset: origin.utcoffset ?? utcoffset(),
    pid: origin.pid,
    clock: origin.clock,
  };
  for (const key in fields) {
    if (key !== 'type' && key !== 'timestamp') event[key] = fields[key];
  }
  event['timestamp'] = timestamp ?? (typeof fields['timestamp'] === 'number' ? fields['timestamp'] : Date.now() / 1000);
  event['type'] = type;
  return event as CeleryEvent;
}

/** The routing key of an event type: `task-succeeded` → `task.succeeded`. */
export function eventRoutingKey(type: string): string {
  return type.replace(/-/g, '.');
}

/** The routing key of a batch of task events. */
export const MULTI_EVENT_ROUTING_KEY = 'task.multi';

/** Encode one event or a batch (a list, sent under `task.multi`) as a message. */
export function encodeEventMessage(events: CeleryEvent | CeleryEvent[], hostname: string): RawMessage {
  const { body, contentType, contentEncoding } = serialize(events, 'json');
  return { body, contentType, contentEncoding, headers: { hostname }, properties: { delivery_mode: 1 } };
}

/** Decode an event message into a list of events; a malformed one is a ProtocolError. */
export function decodeEventMessage(raw: RawMessage): CeleryEvent[] {
  const payload = deserialize(raw.body, raw.contentType);
  const list = Array.isArray(payload) ? payload : [payload];
  return list.map((event, i) => {
    if (!isPlainObject(event) || typeof event['type'] !== 'string') {
      throw new ProtocolError('an event must be a mapping with a type', { field: Array.isArray(payload) ? `body[${i}]` : 'body' });
    }
    return event as CeleryEvent;
  });
}

/** The group of an event type: `task-sent` → `task`, `worker-heartbeat` → `worker`. */
export function eventGroup(type: string): string {
  const dash = type.indexOf('-');
  return dash === -1 ? type : type.slice(0, dash);
}

/**
 * Python's `repr()` of an exception, as Celery puts it in `task-failed`/`task-retried`:
 * `ValueError('bad value 7')`, `KeyError('x', 1)`, `Exception()`. The type name and arguments are
 * the ones Celery would store for the error (see `encodeException`).
 */
export function exceptionRepr(error: unknown, maxlen = 1024): string {
  return exceptionInfoRepr(encodeException(error), maxlen);
}

/** The same for an exception already in Celery's encoding (`{exc_type, exc_message, …}`). */
export function exceptionInfoRepr(info: ExceptionInfo, maxlen = 1024): string {
  const args = Array.isArray(info.exc_message) ? info.exc_message : [info.exc_message];
  const inner = args.map((arg) => pyRepr(arg, { maxlen })).join(', ');
  return `${info.exc_type}(${inner})`;
}
