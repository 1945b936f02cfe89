/**
 * Property-based fuzzing of every decoder that reads bytes from the network: task messages,
 * control requests and replies, events, result meta and the body codecs. Whatever the input
 * (random bytes, mutated real messages, valid JSON of the wrong shape, msgpack, compressed
 * bodies), a decoder returns or throws a ProtocolError; never a TypeError, a RangeError or a
 * hang. The seed is printed; replay a failure with `TQ_FUZZ_SEED=<seed> npx vitest run --project protocol fuzz`.
 */
import { deflateSync } from 'node:zlib';
import { encode as msgpackEncode } from '@msgpack/msgpack';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decompress } from './compression.js';
import { decodeControlReply, decodeControlRequest } from './control.js';
import { isTqError } from './errors.js';
import { decodeEventMessage } from './events.js';
import type { RawMessage } from './message.js';
import { pyJsonDumps } from './python-json.js';
import { validateResultMeta } from './result-meta.js';
import { deserialize } from './serialization.js';
import { createTaskMessage, decodeTaskMessage, encodeTaskMessage } from './task-message.js';

const seed = process.env['TQ_FUZZ_SEED'] ? Number(process.env['TQ_FUZZ_SEED']) : Math.floor(Math.random() * 2 ** 31);
const numRuns = Number(process.env['TQ_FUZZ_RUNS'] ?? 1500);
console.log(`[protocol fuzz] seed ${seed}, ${numRuns} runs per property (replay: TQ_FUZZ_SEED=${seed})`);

/** Run the decoder; anything thrown must be a ProtocolError (a TqError with code PROTOCOL_ERROR). */
function onlyProtocolErrors(decode: () => unknown): void {
  try {
    decode();
  } catch (err) {
    if (!isTqError(err, 'PROTOCOL_ERROR')) throw new Error(`a decoder threw ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`, { cause: err });
  }
}

const CONTENT_TYPES = ['application/json', 'application/x-msgpack', 'application/msgpack', 'application/x-python-serialize', 'application/x-yaml', 'text/plain', ''];

/** JSON-able values including kombu's `__type__` wrappers, right and wrong. */
const kombuValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.jsonValue({ maxDepth: 3 }),
    fc.record({ __type__: fc.constantFrom('datetime', 'date', 'time', 'decimal', 'uuid', 'bytes', 'base64', 'pickle', 'x'), __value__: fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.record({ hex: fc.string() })) }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 8 }), tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** A valid v2 message's headers with any field replaced by a value of any type. */
const headers = fc.oneof(
  fc.record(
    {
      lang: fc.anything(),
      task: fc.oneof(fc.constant('fuzz.task'), fc.anything()),
      id: fc.oneof(fc.uuid(), fc.anything(), fc.string({ minLength: 200, maxLength: 400 })),
      eta: fc.oneof(fc.constant(null), fc.string(), fc.date({ noInvalidDate: false }).map((d) => (Number.isNaN(d.getTime()) ? 'NaN' : d.toISOString())), fc.double()),
      expires: fc.anything(),
      retries: fc.oneof(fc.integer(), fc.double(), fc.anything(), fc.constant(1e9)),
      timelimit: fc.oneof(fc.tuple(fc.anything(), fc.anything()), fc.anything()),
      group_index: fc.anything(),
      compression: fc.oneof(fc.constantFrom('application/x-gzip', 'application/x-brotli', 'application/x-bz2', 'zstd'), fc.anything()),
      stamped_headers: fc.anything(),
      ignore_result: fc.anything(),
      clock: fc.anything(),
      ticket: fc.anything(),
    },
    { requiredKeys: [] },
  ),
  fc.dictionary(fc.string({ maxLength: 12 }), fc.anything(), { maxKeys: 6 }),
);

/** Bodies: random bytes, JSON text (valid, of every shape, or cut short), msgpack, compressed. */
const body = fc.oneof(
  fc.uint8Array({ maxLength: 256 }),
  kombuValue.map((v) => Buffer.from(pyJsonDumps(v), 'utf8')),
  fc.tuple(kombuValue, kombuValue, kombuValue).map((v) => Buffer.from(pyJsonDumps(v), 'utf8')),
  fc.tuple(kombuValue, fc.nat({ max: 64 })).map(([v, cut]) => Buffer.from(pyJsonDumps(v), 'utf8').subarray(0, cut)),
  fc.anything().map((v) => {
    try {
      return Buffer.from(msgpackEncode(v));
    } catch {
      return Buffer.alloc(0);
    }
  }),
  fc.uint8Array({ maxLength: 64 }).map((b) => deflateSync(b)),
  fc.nat({ max: 3000 }).map((n) => Buffer.from('['.repeat(n) + ']'.repeat(n))),
);

const raw = fc.record({
  body,
  contentType: fc.constantFrom(...CONTENT_TYPES),
  contentEncoding: fc.constantFrom('utf-8', 'binary'),
  headers: fc.oneof({ weight: 9, arbitrary: headers }, { weight: 1, arbitrary: fc.anything() }),
  properties: fc.oneof(fc.constant({}), fc.dictionary(fc.string({ maxLength: 12 }), fc.anything(), { maxKeys: 4 })),
}) as fc.Arbitrary<RawMessage>;

/** Real messages with bytes flipped, cut or inserted: close to valid, where decoders are weakest. */
const mutated = fc
  .tuple(
    fc.record({ args: fc.array(kombuValue, { maxLength: 3 }), compression: fc.constantFrom(null, 'gzip', 'brotli'), serializer: fc.constantFrom('json' as const, 'msgpack' as const) }),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
    fc.option(fc.nat()),
  )
  .map(([{ args, compression, serializer }, flips, cut]) => {
    let message: RawMessage;
    try {
      message = encodeTaskMessage(createTaskMessage({ id: 'fuzz-id', task: 'fuzz.task', args, origin: 'fuzz' }), { serializer, compression });
    } catch {
      message = encodeTaskMessage(createTaskMessage({ id: 'fuzz-id', task: 'fuzz.task', origin: 'fuzz' }));
    }
    const bytes = Buffer.from(message.body);
    for (const [at, value] of flips) if (bytes.length > 0) bytes[at % bytes.length] = value;
    return { ...message, body: cut === null ? bytes : bytes.subarray(0, cut % (bytes.length + 1)) } as RawMessage;
  });

describe('protocol decoders under fuzzing', () => {
  const params = { seed, numRuns };

  it('decodeTaskMessage: returns a message or throws a ProtocolError', () => {
    fc.assert(fc.property(fc.oneof(raw, mutated), (message) => onlyProtocolErrors(() => decodeTaskMessage(message))), params);
  });

  it('decodeTaskMessage: what it accepts has the fields a worker relies on', () => {
    fc.assert(
      fc.property(mutated, (message) => {
        let decoded;
        try {
          decoded = decodeTaskMessage(message);
        } catch (err) {
          expect(isTqError(err, 'PROTOCOL_ERROR')).toBe(true);
          return;
        }
        expect(typeof decoded.headers.id).toBe('string');
        expect(typeof decoded.headers.task).toBe('string');
        expect(Array.isArray(decoded.args)).toBe(true);
        expect(Number.isInteger(decoded.headers.retries)).toBe(true);
      }),
      params,
    );
  });

  it('control requests and replies, events and result meta: only ProtocolErrors', () => {
    fc.assert(
      fc.property(raw, (message) => {
        onlyProtocolErrors(() => decodeControlRequest(message));
        onlyProtocolErrors(() => decodeControlReply(message));
        onlyProtocolErrors(() => decodeEventMessage(message));
        onlyProtocolErrors(() => validateResultMeta(deserialize(message.body, message.contentType, null), 'fuzz-id'));
      }),
      params,
    );
  });

  it('deserialize and decompress: only ProtocolErrors, whatever the bytes and type', () => {
    fc.assert(
      fc.property(body, fc.constantFrom(...CONTENT_TYPES), fc.constantFrom('application/x-gzip', 'application/x-brotli', 'application/x-bz2', 'nope'), (bytes, type, mime) => {
        onlyProtocolErrors(() => deserialize(bytes, type, null));
        onlyProtocolErrors(() => decompress(bytes, mime, null, 1024));
      }),
      params,
    );
  });
});
