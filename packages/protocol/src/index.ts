/**
 * @tq/protocol: Celery's wire formats for tq. Types, builders and validating decoders for
 * task messages (protocol v2, v1 on input), signatures, result meta, events and remote control,
 * plus kombu-compatible JSON, msgpack and compression. No I/O.
 */
export { TqError, ProtocolError, isTqError, type TqErrorOptions } from './errors.js';
export { PyDate, PyTime, PyDecimal, PyUUID } from './python-types.js';
export { pyJsonDumps, pyJsonLoads, pyJsonString, pyIsoDatetime, parsePyDatetime } from './python-json.js';
export { pyRepr, argsRepr, kwargsRepr, type ReprOptions } from './python-repr.js';
export {
  serialize,
  deserialize,
  isSerializerName,
  CONTENT_TYPES,
  type SerializerName,
  type Serialized,
} from './serialization.js';
export { compress, decompress, compressionMime, type CompressionName } from './compression.js';
export type { RawMessage, MessageProperties } from './message.js';
export { DEFAULT_MAX_BODY_SIZE, MAX_DEPTH, MAX_ID_LENGTH, MAX_RETRIES, type DecodeLimits } from './limits.js';
export {
  signatureDict,
  validateSignatureDict,
  isPlainObject,
  type SignatureDict,
  type SubtaskType,
} from './signature-dict.js';
export {
  createTaskMessage,
  encodeTaskMessage,
  decodeTaskMessage,
  type TaskMessage,
  type TaskMessageInput,
  type TaskHeaders,
  type Embed,
  type EncodeOptions,
} from './task-message.js';
export {
  createResultMeta,
  validateResultMeta,
  encodeException,
  exceptionMessage,
  isExceptionInfo,
  type ResultMeta,
  type ResultMetaInput,
  type ResultTuple,
  type ExceptionInfo,
  type PythonExceptionLike,
} from './result-meta.js';
export {
  createEvent,
  encodeEventMessage,
  decodeEventMessage,
  eventRoutingKey,
  eventGroup,
  exceptionRepr,
  exceptionInfoRepr,
  utcoffset,
  MULTI_EVENT_ROUTING_KEY,
  type CeleryEvent,
  type EventOrigin,
  type EventType,
  type TaskEventType,
  type WorkerEventType,
} from './events.js';
export {
  createControlRequest,
  encodeControlRequest,
  decodeControlRequest,
  encodeControlReply,
  decodeControlReply,
  PIDBOX_EXCHANGE,
  PIDBOX_REPLY_EXCHANGE,
  type ControlRequest,
  type ControlRequestInput,
} from './control.js';
