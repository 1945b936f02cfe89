/**
 * The `sqs://` URL and the transport options, as kombu reads them, so a Celery
 * `broker_url` / `broker_transport_options` pair can be copied across as it is:
 *
 *   sqs://                         AWS, credentials from the SDK's default chain
 *   sqs://KEY:SECRET@              AWS with these credentials (URL-encode a secret with `/` or `+`)
 *   sqs://KEY:SECRET@host:9324     an endpoint of your own (an emulator, a VPC endpoint): http
 *                                  unless `isSecure` is set
 *
 * Each option takes tq's camelCase name or kombu's snake_case one (`queue_name_prefix`,
 * `visibility_timeout`, `wait_time_seconds`, `predefined_queues`, `sqs-creation-attributes`, …).
 */
import { ConfigurationError } from '@tq/core';

export interface PredefinedQueue {
  /** The queue's URL; no ListQueues / GetQueueUrl / CreateQueue call is made for it. */
  url: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  region?: string;
}

export interface SqsBrokerOptions {
  /** AWS region (kombu: `region`; default the SDK's, else us-east-1). */
  region?: string;
  /** Endpoint URL, overriding the URL's host (emulators, VPC endpoints). */
  endpointUrl?: string;
  /** Use https for the URL's host (kombu: `is_secure`; default false for an explicit host). */
  isSecure?: boolean;
  /** Prefix of every queue and topic name (kombu: `queue_name_prefix`). */
  queueNamePrefix?: string;
  /** Seconds a received message stays invisible (kombu: 1800); also the attribute queues are created with. */
  visibilityTimeout?: number;
  /** Long-poll seconds per ReceiveMessage, 0..20 (kombu: 10). */
  waitTimeSeconds?: number;
  /** Queues that exist already: name → URL (and credentials); other queues are refused. */
  predefinedQueues?: Record<string, PredefinedQueue>;
  /** Extra CreateQueue attributes (kombu: `sqs-creation-attributes`), e.g. `{ KmsMasterKeyId: 'alias/aws/sqs' }`. */
  sqsCreationAttributes?: Record<string, string>;
  /** Base64 the message body (kombu: `sqs_base64_encoding`, default true). */
  sqsBase64Encoding?: boolean;
  /** Fanout and topic exchanges (events, remote control) through SNS (default true; kombu: `supports_fanout`). */
  supportsFanout?: boolean;
  /** `maxReceiveCount` of the redrive policy for queues declared with a dead-letter queue (default 5). */
  maxReceiveCount?: number;
  /** Milliseconds acknowledgements wait to share a DeleteMessageBatch (default 5). */
  ackBatchWindow?: number;
  /**
   * Long polls a consumer keeps in flight per queue when its prefetch has room for more than ten
   * messages (default 4). Each idle poll is one API call per `waitTimeSeconds`.
   */
  receivePolls?: number;
}

export interface ResolvedOptions {
  region: string;
  endpoint: string | undefined;
  credentials: { accessKeyId: string; secretAccessKey: string } | undefined;
  queueNamePrefix: string;
  visibilityTimeout: number;
  waitTimeSeconds: number;
  predefinedQueues: Map<string, PredefinedQueue>;
  creationAttributes: Record<string, string>;
  base64: boolean;
  fanout: boolean;
  maxReceiveCount: number;
  ackBatchWindow: number;
  receivePolls: number;
  /** The endpoint for logs and errors, without credentials. */
  display: string;
}

const ALIASES: Record<string, string> = {
  endpoint_url: 'endpointUrl',
  is_secure: 'isSecure',
  queue_name_prefix: 'queueNamePrefix',
  visibility_timeout: 'visibilityTimeout',
  wait_time_seconds: 'waitTimeSeconds',
  predefined_queues: 'predefinedQueues',
  'sqs-creation-attributes': 'sqsCreationAttributes',
  sqs_base64_encoding: 'sqsBase64Encoding',
  supports_fanout: 'supportsFanout',
  max_receive_count: 'maxReceiveCount',
  ack_batch_window: 'ackBatchWindow',
  receive_polls: 'receivePolls',
  access_key_id: 'accessKeyId',
  secret_access_key: 'secretAccessKey',
  session_token: 'sessionToken',
};

function camel(raw: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw ?? {})) if (value !== undefined) out[ALIASES[key] ?? key] = value;
  return out;
}

function fail(what: string): never {
  throw new ConfigurationError(`the SQS transport option ${what}`);
}

function seconds(value: unknown, name: string, fallback: number, max: number): number {
  if (value === undefined || value === null) return fallback;
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || n > max) fail(`${name} must be a number of seconds from 0 to ${max}, got ${JSON.stringify(value)}`);
  return n;
}

function predefined(raw: unknown): Map<string, PredefinedQueue> {
  const out = new Map<string, PredefinedQueue>();
  if (raw === undefined || raw === null) return out;
  if (typeof raw !== 'object') fail('predefinedQueues must map queue names to { url }');
  for (const [name, entry] of Object.entries(raw as Record<string, unknown>)) {
    const q = camel(entry as Record<string, unknown>);
    if (typeof q['url'] !== 'string' || !q['url']) fail(`predefinedQueues.${name} needs a url`);
    // kombu's check: a FIFO URL needs a FIFO name and the other way round.
    if (q['url'].endsWith('.fifo') !== name.endsWith('.fifo')) fail(`predefinedQueues.${name}: a FIFO queue's name and URL must both end in .fifo (url ${q['url']})`);
    out.set(name, q as unknown as PredefinedQueue);
  }
  return out;
}

export function resolveOptions(url: string, raw: Record<string, unknown> = {}): ResolvedOptions {
  // Not `new URL`: `sqs://` and `sqs://KEY:SECRET@` have no host, and a secret may hold `/`.
  const m = /^sqs:\/\/(?:(.*)@)?([^/?#@]*)[/?#]?.*$/is.exec(url.trim());
  if (!m) {
    throw new ConfigurationError(`${JSON.stringify(url.replace(/\/\/.*@/, '//***@'))} is not an SQS URL (expected sqs://, sqs://KEY:SECRET@ or sqs://KEY:SECRET@host:port)`);
  }
  const o = camel(raw);
  const [userinfo = '', host = ''] = [m[1], m[2]];
  const colon = userinfo.indexOf(':');
  const user = decodeURIComponent(colon === -1 ? userinfo : userinfo.slice(0, colon));
  const password = colon === -1 ? '' : decodeURIComponent(userinfo.slice(colon + 1));
  const secure = o['isSecure'] === true;
  let endpoint = typeof o['endpointUrl'] === 'string' && o['endpointUrl'] ? o['endpointUrl'] : undefined;
  if (!endpoint && host) endpoint = `${secure ? 'https' : 'http'}://${host}`;
  const region = typeof o['region'] === 'string' && o['region'] ? o['region'] : (process.env['AWS_REGION'] ?? process.env['AWS_DEFAULT_REGION'] ?? 'us-east-1');
  const prefix = o['queueNamePrefix'] ?? '';
  if (typeof prefix !== 'string') fail('queueNamePrefix must be a string');
  const attributes = o['sqsCreationAttributes'] ?? {};
  if (typeof attributes !== 'object' || attributes === null) fail('sqsCreationAttributes must map attribute names to values');
  const maxReceiveCount = o['maxReceiveCount'] ?? 5;
  if (!Number.isInteger(maxReceiveCount) || (maxReceiveCount as number) < 1) fail('maxReceiveCount must be a positive integer');
  const receivePolls = o['receivePolls'] ?? 4;
  if (!Number.isInteger(receivePolls) || (receivePolls as number) < 1) fail('receivePolls must be a positive integer');
  return {
    region,
    endpoint,
    credentials: user ? { accessKeyId: user, secretAccessKey: password } : undefined,
    queueNamePrefix: prefix,
    visibilityTimeout: seconds(o['visibilityTimeout'], 'visibilityTimeout', 1800, 43_200),
    waitTimeSeconds: Math.trunc(seconds(o['waitTimeSeconds'], 'waitTimeSeconds', 10, 20)),
    predefinedQueues: predefined(o['predefinedQueues']),
    creationAttributes: Object.fromEntries(Object.entries(attributes as Record<string, unknown>).map(([k, v]) => [k, String(v)])),
    base64: o['sqsBase64Encoding'] !== false,
    fanout: o['supportsFanout'] !== false,
    maxReceiveCount: maxReceiveCount as number,
    ackBatchWindow: seconds(o['ackBatchWindow'], 'ackBatchWindow', 5, 1000),
    receivePolls: receivePolls as number,
    display: endpoint ?? `sqs.${region}.amazonaws.com`,
  };
}
