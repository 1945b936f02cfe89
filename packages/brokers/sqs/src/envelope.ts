/**
 * kombu's virtual-transport envelope as its SQS channel stores it: the JSON message
 *
 *   {"body": "<base64 payload>", "content-encoding": …, "content-type": …, "headers": {…},
 *    "properties": {…, "delivery_mode": 2, "delivery_info": {"exchange": "", "routing_key": "q"},
 *    "priority": 0, "body_encoding": "base64", "delivery_tag": "<uuid4>"}}
 *
 * and the SQS MessageBody is that JSON base64-encoded once more (`sqs_base64_encoding`, the
 * default). SNS fanout publishes the JSON itself (kombu's SNS fanout does), so reading accepts
 * both, as kombu's `_optional_b64_decode` does.
 */
import { randomUUID } from 'node:crypto';
import { ProtocolError, pyJsonDumps, pyJsonLoads, type MessageProperties, type RawMessage } from '@tq/protocol';

/** Properties the transport writes itself, or that travel as SQS request fields instead. */
const OWN = new Set(['delivery_mode', 'delivery_info', 'priority', 'body_encoding', 'delivery_tag', 'message_attributes']);
const ENVELOPE_ONLY = new Set(['delivery_info', 'body_encoding', 'delivery_tag']);

/** The envelope JSON for a publish to `exchange` with `routingKey`. */
export function envelopeJson(message: RawMessage, exchange: string, routingKey: string): string {
  const props = message.properties;
  const properties: Record<string, unknown> = {};
  for (const key in props) if (!OWN.has(key) && props[key] !== undefined) properties[key] = props[key];
  properties['delivery_mode'] = props.delivery_mode ?? 2;
  properties['delivery_info'] = { exchange, routing_key: routingKey };
  properties['priority'] = typeof props.priority === 'number' ? props.priority : 0;
  properties['body_encoding'] = 'base64';
  properties['delivery_tag'] = randomUUID();
  return pyJsonDumps({
    body: Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength).toString('base64'),
    'content-encoding': message.contentEncoding,
    'content-type': message.contentType,
    headers: message.headers ?? {},
    properties,
  });
}

/** The SQS MessageBody for an envelope. */
export function sqsBody(json: string, base64: boolean): string {
  return base64 ? Buffer.from(json, 'utf8').toString('base64') : json;
}

export interface DecodedEnvelope {
  message: RawMessage;
  exchange: string;
  routingKey: string;
  priority: number | null;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fail(what: string): never {
  throw new ProtocolError(`not a kombu SQS message: ${what}`, { field: 'envelope' });
}

/** kombu's `_optional_b64_decode`: the decoded text if `body` is exactly base64, else `body`. */
export function optionalBase64(body: string): string {
  const trimmed = body.trim();
  if (trimmed.startsWith('{')) return body;
  const bytes = Buffer.from(trimmed, 'base64');
  if (bytes.length === 0 || bytes.toString('base64') !== trimmed) return body;
  return bytes.toString('utf8');
}

/**
 * Decode a MessageBody. Throws ProtocolError, saying why, for anything that is not an envelope
 * (neither base64 nor JSON, not a mapping, a body that is not a string); what the payload holds
 * is the worker's concern.
 */
export function decodeSqsBody(raw: string, fallbackRoutingKey = ''): DecodedEnvelope {
  const text = optionalBase64(raw);
  let parsed: unknown;
  try {
    parsed = pyJsonLoads(text);
  } catch (err) {
    fail(text === raw && !raw.trim().startsWith('{') ? `neither base64 nor JSON (${(err as Error).message})` : `invalid JSON (${(err as Error).message})`);
  }
  if (!isObject(parsed)) fail(`expected a JSON object, got ${Array.isArray(parsed) ? 'a list' : typeof parsed}`);
  const headers = parsed['headers'] ?? {};
  const properties = parsed['properties'] ?? {};
  if (!isObject(headers)) fail('headers is not a mapping');
  if (!isObject(properties)) fail('properties is not a mapping');
  const body = parsed['body'] ?? '';
  if (typeof body !== 'string') fail('body is not a string');
  const encoding = properties['body_encoding'];
  if (encoding !== undefined && encoding !== null && encoding !== 'base64') fail(`unsupported body_encoding ${JSON.stringify(encoding)}`);
  const own: MessageProperties = {};
  for (const key in properties) if (!ENVELOPE_ONLY.has(key)) own[key] = properties[key];
  const info = isObject(properties['delivery_info']) ? properties['delivery_info'] : {};
  const contentType = parsed['content-type'];
  const contentEncoding = parsed['content-encoding'];
  return {
    message: {
      body: Buffer.from(body, encoding === 'base64' ? 'base64' : 'utf8'),
      contentType: typeof contentType === 'string' ? contentType : '',
      contentEncoding: typeof contentEncoding === 'string' ? contentEncoding : '',
      headers,
      properties: own,
    },
    exchange: typeof info['exchange'] === 'string' ? info['exchange'] : '',
    routingKey: typeof info['routing_key'] === 'string' ? info['routing_key'] : fallbackRoutingKey,
    priority: typeof properties['priority'] === 'number' ? properties['priority'] : null,
  };
}
