/**
 * kombu's Redis message envelope: the JSON string that sits in a queue list, in the `unacked`
 * hash and in PUBLISHed fanout messages. Python Celery reads and writes exactly this, so the key
 * order, the spacing (Python's `json.dumps`) and the padded base64 body are kept byte for byte:
 *
 *   {"body": "<base64>", "content-encoding": "utf-8", "content-type": "application/json",
 *    "headers": {...}, "properties": {<own props>, "delivery_mode": 2, ["expiration": "60000",]
 *    "delivery_info": {"exchange": "", "routing_key": "celery"}, "priority": 0,
 *    "body_encoding": "base64", "delivery_tag": "<uuid4>"}}
 */
import { ProtocolError, pyJsonDumps, pyJsonLoads, type MessageProperties, type RawMessage } from '@tq/protocol';
import { flat, keyPart, pyJsonPart, writeString } from './json.js';

/** Properties the transport writes itself; a message's own copies of them are not repeated. */
const TRANSPORT_PROPERTIES = new Set(['delivery_mode', 'expiration', 'priority', 'delivery_info', 'body_encoding', 'delivery_tag']);

/** Properties kombu adds on the way through Redis; they are not the message's own. */
const ENVELOPE_ONLY = new Set(['delivery_info', 'body_encoding', 'delivery_tag']);

function base64Of(body: Uint8Array): string {
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('base64');
}

/** The text between the body and the headers for the last content encoding and type (nearly always the same). */
let lastEncoding: string | null = null;
let lastType: string | null = null;
let contentPart = '';

/** `"delivery_info": {…}, "priority": ` by exchange and routing key (a worker publishes to a few). */
const ROUTES = new Map<string, string>();

function routePart(exchange: string, routingKey: string): string {
  const key = `${exchange}\u0000${routingKey}`;
  let part = ROUTES.get(key);
  if (part === undefined) {
    part = `"delivery_info": {"exchange": ${writeString(exchange)}, "routing_key": ${writeString(routingKey)}}, "priority": `;
    if (ROUTES.size >= 1024) ROUTES.clear();
    ROUTES.set(key, part);
  }
  return part;
}

/**
 * Encode a message as kombu's Redis envelope for a publish to `exchange` with `routingKey`.
 * `tag` is the delivery tag (a uuid4), also the key of the message in `unacked`. Every piece is
 * ASCII as written (see json.ts), so the text needs no ensure_ascii pass of its own.
 */
export function encodeEnvelope(message: RawMessage, exchange: string, routingKey: string, tag: string): string {
  const props = message.properties;
  if (message.contentEncoding !== lastEncoding || message.contentType !== lastType) {
    contentPart = `", "content-encoding": ${writeString(message.contentEncoding)}, "content-type": ${writeString(message.contentType)}, "headers": `;
    lastEncoding = message.contentEncoding;
    lastType = message.contentType;
  }
  // Concatenated rather than joined from an array: see json.ts.
  let text = `{"body": "${base64Of(message.body)}${contentPart}${pyJsonPart(message.headers ?? {})}, "properties": {`;
  for (const key in props) {
    if (TRANSPORT_PROPERTIES.has(key)) continue;
    const value = props[key];
    if (value === undefined) continue;
    text += `${keyPart(key)}${pyJsonPart(value)}, `;
  }
  text += `"delivery_mode": ${pyJsonPart(props.delivery_mode ?? 2)}, `;
  if (props.expiration !== undefined && props.expiration !== null) text += `"expiration": ${pyJsonPart(props.expiration)}, `;
  return flat(`${text}${routePart(exchange, routingKey)}${typeof props.priority === 'number' ? pyJsonPart(props.priority) : '0'}, "body_encoding": "base64", "delivery_tag": ${writeString(tag)}}}`);
}

export interface DecodedEnvelope {
  message: RawMessage;
  /** `properties.delivery_tag`, when present. */
  tag: string | null;
  exchange: string;
  routingKey: string;
  priority: number | null;
  redelivered: boolean;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fail(what: string): never {
  throw new ProtocolError(`not a kombu Redis envelope: ${what}`, { field: 'envelope' });
}

/**
 * Decode an envelope read from Redis. Throws ProtocolError for anything that is not an envelope
 * (not JSON, not a mapping, a body that is not a string, headers or properties that are not
 * mappings); what the body holds is the worker's concern.
 */
export function decodeEnvelope(json: string, fallbackRoutingKey = ''): DecodedEnvelope {
  let parsed: unknown;
  try {
    parsed = pyJsonLoads(json);
  } catch (err) {
    fail(`invalid JSON (${(err as Error).message})`);
  }
  if (!isObject(parsed)) fail(`expected a JSON object, got ${Array.isArray(parsed) ? 'a list' : typeof parsed}`);
  const headers = parsed['headers'] ?? {};
  if (!isObject(headers)) fail('headers is not a mapping');
  const properties = parsed['properties'] ?? {};
  if (!isObject(properties)) fail('properties is not a mapping');
  const rawBody = parsed['body'] ?? '';
  if (typeof rawBody !== 'string') fail('body is not a string');
  const encoding = properties['body_encoding'];
  let body: Uint8Array;
  if (encoding === 'base64') body = Buffer.from(rawBody, 'base64');
  else if (encoding === undefined || encoding === null) body = Buffer.from(rawBody, 'utf8');
  else fail(`unsupported body_encoding ${JSON.stringify(encoding)}`);

  const own: MessageProperties = {};
  for (const key in properties) if (!ENVELOPE_ONLY.has(key)) own[key] = properties[key];
  const info = isObject(properties['delivery_info']) ? properties['delivery_info'] : {};
  const tag = properties['delivery_tag'];
  const priority = properties['priority'];
  const contentType = parsed['content-type'];
  const contentEncoding = parsed['content-encoding'];
  return {
    message: {
      body,
      contentType: typeof contentType === 'string' ? contentType : '',
      contentEncoding: typeof contentEncoding === 'string' ? contentEncoding : '',
      headers,
      properties: own,
    },
    tag: typeof tag === 'string' && tag ? tag : null,
    exchange: typeof info['exchange'] === 'string' ? info['exchange'] : '',
    routingKey: typeof info['routing_key'] === 'string' ? info['routing_key'] : fallbackRoutingKey,
    priority: typeof priority === 'number' ? priority : null,
    redelivered: info['redelivered'] === true || headers['redelivered'] === true,
  };
}

/**
 * The envelope with `headers.redelivered` and `properties.delivery_info.redelivered` set, as
 * kombu's `_do_restore_message` does before pushing a message back. Returns the text unchanged
 * when it cannot be parsed (kombu, too, restores such a payload as it is).
 */
export function markRedelivered(json: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return json;
  }
  if (!markObjectRedelivered(parsed)) return json;
  return pyJsonDumps(parsed);
}

/** In place, on a parsed envelope; false when it has no headers (kombu then changes nothing). */
export function markObjectRedelivered(parsed: unknown): boolean {
  if (!isObject(parsed) || !isObject(parsed['headers'])) return false;
  parsed['headers']['redelivered'] = true;
  const properties = parsed['properties'];
  if (isObject(properties) && isObject(properties['delivery_info'])) properties['delivery_info']['redelivered'] = true;
  return true;
}

/** The priority kombu files a message under: the property clamped to 0..9 (kombu's max_priority). */
export function envelopePriority(properties: unknown): number {
  if (!isObject(properties)) return 0;
  const value = Number(properties['priority']);
  if (!Number.isFinite(value)) return 0;
  return Math.max(Math.min(Math.trunc(value), 9), 0);
}
