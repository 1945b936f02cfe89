/**
 * Celery task messages: protocol v2 (headers + `[args, kwargs, embed]` body) on output, v1 and
 * v2 on input. Building keeps Celery's header order so that tq's messages are byte-for-byte
 * what a Python client would send; decoding validates every field a worker relies on.
 */
import { compress, decompress } from './compression.js';
import { ProtocolError } from './errors.js';
import { checkBodySize, maxBodySize, MAX_ID_LENGTH, MAX_RETRIES, type DecodeLimits } from './limits.js';
import type { MessageProperties, RawMessage } from './message.js';
import { parsePyDatetime, pyIsoDatetime } from './python-json.js';
import { argsRepr, kwargsRepr } from './python-repr.js';
import { deserialize, serialize, type SerializerName } from './serialization.js';
import { isPlainObject, validateSignatureDict, type SignatureDict } from './signature-dict.js';

export interface Embed {
  callbacks: SignatureDict[] | null;
  errbacks: SignatureDict[] | null;
  chain: SignatureDict[] | null;
  chord: SignatureDict | null;
}

/** Protocol v2 headers, in Celery's order. Custom headers follow the standard ones. */
export interface TaskHeaders {
  lang: string;
  task: string;
  id: string;
  shadow: string | null;
  eta: string | null;
  expires: string | null;
  group: string | null;
  group_index: number | null;
  retries: number;
  /** [hard, soft] in seconds. */
  timelimit: [number | null, number | null];
  root_id: string | null;
  parent_id: string | null;
  argsrepr: string;
  kwargsrepr: string;
  origin: string;
  ignore_result: boolean;
  replaced_task_nesting?: number;
  stamped_headers?: string[] | null;
  stamps?: Record<string, unknown>;
  compression?: string;
  [custom: string]: unknown;
}

export interface TaskMessage {
  /** The protocol the message arrived in; tq always sends 2. */
  protocol: 1 | 2;
  headers: TaskHeaders;
  properties: MessageProperties;
  args: unknown[];
  kwargs: Record<string, unknown>;
  embed: Embed;
}

export interface TaskMessageInput {
  id: string;
  task: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  callbacks?: SignatureDict[] | null;
  errbacks?: SignatureDict[] | null;
  chain?: SignatureDict[] | null;
  chord?: SignatureDict | null;
  shadow?: string | null;
  eta?: Date | string | null;
  expires?: Date | string | null;
  group?: string | null;
  groupIndex?: number | null;
  retries?: number;
  timeLimit?: number | null;
  softTimeLimit?: number | null;
  rootId?: string | null;
  parentId?: string | null;
  argsrepr?: string;
  kwargsrepr?: string;
  origin: string;
  ignoreResult?: boolean;
  replacedTaskNesting?: number;
  stamps?: Record<string, unknown>;
  /** Extra headers, merged after the standard ones (Celery's `headers=` option). */
  headers?: Record<string, unknown>;
  replyTo?: string;
  priority?: number | null;
  deliveryMode?: 1 | 2;
  /** Seconds until the message expires in the broker (AMQP `expiration`), as Celery sets from `expires`. */
  expirationSeconds?: number | null;
  /** Extra message properties (Celery passes unknown apply_async options through as properties). */
  properties?: Record<string, unknown>;
}

const EMPTY_EMBED: Embed = Object.freeze({ callbacks: null, errbacks: null, chain: null, chord: null }) as Embed;

function isoOrNull(value: Date | string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  return typeof value === 'string' ? value : pyIsoDatetime(value);
}

/** Build a v2 task message with Celery's header and property order. */
export function createTaskMessage(input: TaskMessageInput): TaskMessage {
  const args = input.args ?? [];
  const kwargs = input.kwargs ?? {};
  const headers: TaskHeaders = {
    lang: 'py',
    task: input.task,
    id: input.id,
    shadow: input.shadow ?? null,
    eta: isoOrNull(input.eta),
    expires: isoOrNull(input.expires),
    group: input.group ?? null,
    group_index: input.groupIndex ?? null,
    retries: input.retries ?? 0,
    timelimit: [input.timeLimit ?? null, input.softTimeLimit ?? null],
    root_id: input.rootId || input.id,
    parent_id: input.parentId ?? null,
    argsrepr: input.argsrepr ?? argsRepr(args),
    kwargsrepr: input.kwargsrepr ?? kwargsRepr(kwargs),
    origin: input.origin,
    ignore_result: input.ignoreResult ?? false,
    replaced_task_nesting: input.replacedTaskNesting ?? 0,
    stamped_headers: input.stamps && Object.keys(input.stamps).length ? Object.keys(input.stamps) : null,
    stamps: input.stamps ?? {},
  };
  if (input.headers) Object.assign(headers, input.headers);
  const properties: MessageProperties = { correlation_id: input.id, reply_to: input.replyTo ?? '' };
  if (input.properties) Object.assign(properties, input.properties);
  properties.delivery_mode = input.deliveryMode ?? 2;
  if (input.expirationSeconds !== null && input.expirationSeconds !== undefined) {
    properties.expiration = String(Math.max(0, Math.trunc(input.expirationSeconds * 1000)));
  }
  if (input.priority !== null && input.priority !== undefined) properties.priority = input.priority;
  return {
    protocol: 2,
    headers,
    properties,
    args,
    kwargs,
    embed: {
      callbacks: input.callbacks ?? null,
      errbacks: input.errbacks ?? null,
      chain: input.chain ?? null,
      chord: input.chord ?? null,
    },
  };
}

export interface EncodeOptions {
  serializer?: SerializerName;
  /** `gzip`, `zlib` or `brotli` (or their mime types). */
  compression?: string | null;
}

/** Serialize a task message into a RawMessage that any broker can carry. */
export function encodeTaskMessage(message: TaskMessage, options: EncodeOptions = {}): RawMessage {
  const { args, kwargs, embed } = message;
  const serialized = serialize([args, kwargs, embed], options.serializer ?? 'json');
  let body = serialized.body;
  let headers: Record<string, unknown> = message.headers;
  if (options.compression) {
    const compressed = compress(body, options.compression);
    body = compressed.data;
    headers = { ...message.headers, compression: compressed.mime };
  }
  return {
    body,
    contentType: serialized.contentType,
    contentEncoding: serialized.contentEncoding,
    headers,
    properties: message.properties,
  };
}

// ---------------------------------------------------------------------------------------------
// Decoding

type Fail = (what: string, field: string) => never;

function failer(messageId: string | null): Fail {
  return (what, field) => {
    throw new ProtocolError(what, { field, messageId });
  };
}

function optionalString(value: unknown, field: string, fail: Fail): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') return fail(`expected a string or null, got ${typeName(value)}`, field);
  return value;
}

function optionalDate(value: unknown, field: string, fail: Fail): string | null {
  if (value === undefined || value === null) return null;
  if (value instanceof Date) return pyIsoDatetime(value);
  if (typeof value !== 'string') return fail(`expected an ISO-8601 date string or null, got ${typeName(value)}`, field);
  if (!parsePyDatetime(value)) return fail(`not an ISO-8601 date: ${JSON.stringify(value)}`, field);
  return value;
}

function optionalInt(value: unknown, field: string, fail: Fail): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isInteger(value)) return fail(`expected an integer or null, got ${typeName(value)}`, field);
  return value;
}

function optionalSeconds(value: unknown, field: string, fail: Fail): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    return fail(`expected a number of seconds or null, got ${typeName(value)}`, field);
  }
  return value;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return `a ${typeof value}`;
}

function signatureList(value: unknown, field: string, messageId: string | null, fail: Fail): SignatureDict[] | null {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value)) return fail(`expected a list of signatures or null, got ${typeName(value)}`, field);
  return value.map((sig, i) => validateSignatureDict(sig, `${field}[${i}]`, messageId));
}

function decodeEmbed(value: unknown, messageId: string | null, fail: Fail): Embed {
  if (value === undefined || value === null) return { ...EMPTY_EMBED };
  if (!isPlainObject(value)) return fail(`expected the embed mapping or null, got ${typeName(value)}`, 'body[2]');
  return {
    callbacks: signatureList(value['callbacks'], 'body[2].callbacks', messageId, fail),
    errbacks: signatureList(value['errbacks'], 'body[2].errbacks', messageId, fail),
    chain: signatureList(value['chain'], 'body[2].chain', messageId, fail),
    chord: value['chord'] === undefined || value['chord'] === null ? null : validateSignatureDict(value['chord'], 'body[2].chord', messageId),
  };
}

function decodeTimelimit(value: unknown, field: string, fail: Fail): [number | null, number | null] {
  if (value === undefined || value === null) return [null, null];
  if (!Array.isArray(value) || value.length !== 2) return fail('timelimit must be [hard, soft]', field);
  return [optionalSeconds(value[0], `${field}[0]`, fail), optionalSeconds(value[1], `${field}[1]`, fail)];
}

function bodyPayload(raw: RawMessage, messageId: string | null, limits: DecodeLimits | undefined): unknown {
  const compression = raw.headers['compression'];
  const limit = maxBodySize(limits);
  let body = raw.body;
  if (!(body instanceof Uint8Array)) throw new ProtocolError(`the body must be bytes, got ${typeName(body)}`, { field: 'body', messageId });
  checkBodySize(body.byteLength, limit, messageId);
  if (compression !== undefined && compression !== null) {
    if (typeof compression !== 'string') throw new ProtocolError('compression must be a mime type string', { field: 'headers.compression', messageId });
    body = decompress(body, compression, messageId, limit);
  }
  return deserialize(body, raw.contentType, messageId);
}

/**
 * Decode and validate a task message (protocol v2, or v1 when the headers carry no `task`).
 * Throws ProtocolError naming the field and the message id for anything a worker could not run,
 * or anything beyond the bounds in limits.ts.
 */
export function decodeTaskMessage(raw: RawMessage, limits?: DecodeLimits): TaskMessage {
  if (!isPlainObject(raw.headers)) throw new ProtocolError('headers must be a mapping', { field: 'headers' });
  const properties = isPlainObject(raw.properties) ? (raw.properties as MessageProperties) : {};
  // Errors name the message by its id, else by the correlation id Celery sets to the same value.
  const messageId = idForErrors(raw.headers['id']) ?? idForErrors(properties.correlation_id);
  if ('task' in raw.headers) return decodeV2(raw, properties, messageId, limits);
  return decodeV1(raw, properties, messageId, limits);
}

/** An id as errors quote it: one too long to be an id is cut, so that it cannot flood the log. */
function idForErrors(id: unknown): string | null {
  if (typeof id !== 'string' || id.length === 0) return null;
  return id.length <= MAX_ID_LENGTH ? id : `${id.slice(0, 36)}…`;
}

function checkId(id: unknown, field: string, fail: Fail): void {
  if (typeof id !== 'string' || id.length === 0) fail('the task id is missing or not a string', field);
  if (id.length > MAX_ID_LENGTH) fail(`the task id is ${id.length} characters long, above the limit of ${MAX_ID_LENGTH}`, field);
}

function checkRetries(retries: number | null, field: string, fail: Fail): void {
  if (retries === null) return;
  if (retries < 0) fail('retries must not be negative', field);
  if (retries > MAX_RETRIES) fail(`retries is ${retries}, above the limit of ${MAX_RETRIES}`, field);
}

function decodeV2(raw: RawMessage, properties: MessageProperties, messageId: string | null, limits: DecodeLimits | undefined): TaskMessage {
  const fail = failer(messageId);
  const h = raw.headers;
  if (typeof h['task'] !== 'string' || h['task'].length === 0) fail('the task name is missing or not a string', 'headers.task');
  checkId(h['id'], 'headers.id', fail);
  const payload = bodyPayload(raw, messageId, limits);
  if (!Array.isArray(payload) || payload.length < 2 || payload.length > 3) {
    fail(`the body must be [args, kwargs, embed], got ${typeName(payload)}`, 'body');
  }
  const [args, kwargs, embed] = payload as [unknown, unknown, unknown];
  if (!Array.isArray(args)) fail(`args must be a list, got ${typeName(args)}`, 'body[0]');
  if (!isPlainObject(kwargs)) fail(`kwargs must be a mapping, got ${typeName(kwargs)}`, 'body[1]');
  const retries = h['retries'] === undefined || h['retries'] === null ? 0 : optionalInt(h['retries'], 'headers.retries', fail);
  checkRetries(retries, 'headers.retries', fail);
  const ignoreResult = h['ignore_result'];
  if (ignoreResult !== undefined && ignoreResult !== null && typeof ignoreResult !== 'boolean') fail('ignore_result must be a boolean', 'headers.ignore_result');
  const stampedHeaders = h['stamped_headers'];
  if (stampedHeaders !== undefined && stampedHeaders !== null && !Array.isArray(stampedHeaders)) fail('stamped_headers must be a list or null', 'headers.stamped_headers');
  const stamps = h['stamps'];
  if (stamps !== undefined && stamps !== null && !isPlainObject(stamps)) fail(`stamps must be a mapping or null, got ${typeName(stamps)}`, 'headers.stamps');
  if (h['replaced_task_nesting'] !== undefined) optionalInt(h['replaced_task_nesting'], 'headers.replaced_task_nesting', fail);
  // Informational fields are not trusted either: a wrong type says the sender is not Celery.
  const lang = optionalString(h['lang'], 'headers.lang', fail);
  const argsrepr = optionalString(h['argsrepr'], 'headers.argsrepr', fail);
  const kwargsrepr = optionalString(h['kwargsrepr'], 'headers.kwargsrepr', fail);
  const origin = optionalString(h['origin'], 'headers.origin', fail);
  const headers: TaskHeaders = {
    ...h,
    lang: lang ?? 'py',
    task: h['task'] as string,
    id: h['id'] as string,
    shadow: optionalString(h['shadow'], 'headers.shadow', fail),
    eta: optionalDate(h['eta'], 'headers.eta', fail),
    expires: optionalDate(h['expires'], 'headers.expires', fail),
    group: optionalString(h['group'], 'headers.group', fail),
    group_index: optionalInt(h['group_index'], 'headers.group_index', fail),
    retries: retries ?? 0,
    timelimit: decodeTimelimit(h['timelimit'], 'headers.timelimit', fail),
    root_id: optionalString(h['root_id'], 'headers.root_id', fail),
    parent_id: optionalString(h['parent_id'], 'headers.parent_id', fail),
    argsrepr: argsrepr ?? argsRepr(args as unknown[]),
    kwargsrepr: kwargsrepr ?? kwargsRepr(kwargs as Record<string, unknown>),
    origin: origin ?? '',
    ignore_result: (ignoreResult as boolean | undefined) ?? false,
  };
  return {
    protocol: 2,
    headers,
    properties,
    args: args as unknown[],
    kwargs: kwargs as Record<string, unknown>,
    embed: decodeEmbed(embed, messageId, fail),
  };
}

function decodeV1(raw: RawMessage, properties: MessageProperties, hintId: string | null, limits: DecodeLimits | undefined): TaskMessage {
  const payload = bodyPayload(raw, hintId, limits);
  if (!isPlainObject(payload)) {
    throw new ProtocolError(`a message without a task header must be a protocol v1 body (a mapping), got ${typeName(payload)}`, {
      field: 'body',
      messageId: hintId,
    });
  }
  const id = idForErrors(payload['id']) ?? hintId;
  const fail = failer(id);
  checkId(payload['id'], 'body.id', fail);
  if (typeof payload['task'] !== 'string' || payload['task'].length === 0) fail('the task name is missing or not a string', 'body.task');
  const args = payload['args'] ?? [];
  const kwargs = payload['kwargs'] ?? {};
  if (!Array.isArray(args)) fail(`args must be a list, got ${typeName(args)}`, 'body.args');
  if (!isPlainObject(kwargs)) fail(`kwargs must be a mapping, got ${typeName(kwargs)}`, 'body.kwargs');
  const group = optionalString(payload['taskset'] ?? payload['group'], 'body.taskset', fail);
  const retries = optionalInt(payload['retries'], 'body.retries', fail) ?? 0;
  checkRetries(retries, 'body.retries', fail);
  const message = createTaskMessage({
    id: payload['id'] as string,
    task: payload['task'] as string,
    args: args as unknown[],
    kwargs: kwargs as Record<string, unknown>,
    callbacks: signatureList(payload['callbacks'], 'body.callbacks', id, fail),
    errbacks: signatureList(payload['errbacks'], 'body.errbacks', id, fail),
    chord: payload['chord'] === undefined || payload['chord'] === null ? null : validateSignatureDict(payload['chord'], 'body.chord', id),
    eta: optionalDate(payload['eta'], 'body.eta', fail),
    expires: optionalDate(payload['expires'], 'body.expires', fail),
    group,
    groupIndex: optionalInt(payload['group_index'], 'body.group_index', fail),
    retries,
    origin: '',
  });
  const [hard, soft] = decodeTimelimit(payload['timelimit'], 'body.timelimit', fail);
  message.headers.timelimit = [hard, soft];
  message.headers.root_id = null;
  message.properties = properties;
  return { ...message, protocol: 1 };
}
