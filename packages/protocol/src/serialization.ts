/**
 * Serializers by name and by content type, as kombu registers them. Only data formats are
 * accepted: pickle and YAML can construct objects, so a message in either is refused before
 * a byte of it is parsed.
 */
import { isUtf8 } from 'node:buffer';
import { decode as msgpackDecode, encode as msgpackEncode } from '@msgpack/msgpack';
import { ProtocolError } from './errors.js';
import { checkJsonDepth, checkValueDepth } from './limits.js';
import { decodeJsonBody, pyJsonDumps } from './python-json.js';

export type SerializerName = 'json' | 'msgpack';

export interface Serialized {
  body: Uint8Array;
  contentType: string;
  contentEncoding: string;
}

export const CONTENT_TYPES: Record<SerializerName, { contentType: string; contentEncoding: string }> = {
  json: { contentType: 'application/json', contentEncoding: 'utf-8' },
  msgpack: { contentType: 'application/x-msgpack', contentEncoding: 'binary' },
};

/** Content types that can execute code when decoded; never accepted. */
const FORBIDDEN: Record<string, string> = {
  'application/x-python-serialize': 'pickle',
  'application/x-yaml': 'yaml',
  'application/x-pickle': 'pickle',
};


export function isSerializerName(name: string): name is SerializerName {
  return name === 'json' || name === 'msgpack';
}

export function serialize(value: unknown, serializer: SerializerName = 'json'): Serialized {
  if (serializer === 'json') {
    // Buffer.from uses Node's pooled slabs for small payloads: far less memory per message than TextEncoder.
    return { body: Buffer.from(pyJsonDumps(value), 'utf8'), ...CONTENT_TYPES.json };
  }
  if (serializer === 'msgpack') {
    return { body: msgpackEncode(value), ...CONTENT_TYPES.msgpack };
  }
  throw new TypeError(`unknown serializer ${JSON.stringify(serializer)}: use json or msgpack`);
}

/** Decode a body by its content type. Throws ProtocolError naming what was wrong. */
export function deserialize(body: Uint8Array, contentType: string | undefined, messageId?: string | null): unknown {
  const type = (contentType ?? '').toLowerCase();
  const forbidden = FORBIDDEN[type];
  if (forbidden) {
    throw new ProtocolError(`content type ${type} (${forbidden}) is refused: tq never deserializes ${forbidden}; send json or msgpack`, {
      field: 'content-type',
      messageId: messageId ?? null,
    });
  }
  if (type === 'application/json') {
    if (!isUtf8(body)) throw new ProtocolError('body is not valid UTF-8', { field: 'body', messageId: messageId ?? null });
    const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
    checkJsonDepth(text, messageId ?? null);
    return decodeJsonBody(text, messageId);
  }
  if (type === 'application/x-msgpack' || type === 'application/msgpack') {
    let value: unknown;
    try {
      value = msgpackDecode(body);
    } catch (err) {
      throw new ProtocolError(`body is not valid msgpack: ${(err as Error).message}`, {
        field: 'body',
        messageId: messageId ?? null,
        cause: err,
      });
    }
    checkValueDepth(value, messageId ?? null);
    return value;
  }
  throw new ProtocolError(`unsupported content type ${JSON.stringify(contentType ?? null)}; tq accepts application/json and application/x-msgpack`, {
    field: 'content-type',
    messageId: messageId ?? null,
  });
}
