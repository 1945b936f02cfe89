/**
 * JSON exactly as Celery writes it: Python's `json.dumps` with kombu's encoder.
 *
 * - separators `", "` and `": "`, `ensure_ascii` (every character outside space..tilde is
 *   written as `\uXXXX`), insertion-ordered keys, `NaN`/`Infinity` allowed;
 * - kombu's `{"__type__": ..., "__value__": ...}` wrappers for the types JSON lacks:
 *   `Date` ⇄ datetime, `Uint8Array` ⇄ bytes (or base64 when not UTF-8), `PyDate`, `PyTime`,
 *   `PyDecimal`, `PyUUID`.
 *
 * Byte-identical output matters: Celery's own tests and tools compare bodies, and the captured
 * messages in the wire spec are test vectors.
 */
import { isUtf8 } from 'node:buffer';
import { ProtocolError } from './errors.js';
import { PyDate, PyDecimal, PyTime, PyUUID } from './python-types.js';

const NON_ASCII = /[^\x20-\x7e]/;
const NON_ASCII_G = /[\u007f-\uffff]/g;

function escapeChar(ch: string): string {
  return `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/** A string literal as Python writes it with `ensure_ascii=True`. */
export function pyJsonString(s: string): string {
  const quoted = JSON.stringify(s);
  return NON_ASCII.test(s) ? quoted.replace(NON_ASCII_G, escapeChar) : quoted;
}

/** A number as Python's `float.__repr__` / `int.__repr__` writes it. */
export function pyJsonNumber(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return 'Infinity';
  if (n === -Infinity) return '-Infinity';
  // JavaScript cannot tell 3 from 3.0; an integral value is written as Python writes an int.
  if (Number.isInteger(n)) return Math.abs(n) < 1e21 ? String(n) : BigInt(n).toString();
  if (Math.abs(n) < 1e-4) {
    // Python switches to exponent form below 1e-4, with a two-digit exponent.
    const [mantissa, exp = '0'] = n.toExponential().split('e');
    const sign = exp.startsWith('-') ? '-' : '+';
    const digits = exp.replace(/^[+-]/, '').padStart(2, '0');
    return `${mantissa}e${sign}${digits}`;
  }
  return String(n);
}

/** Python's `datetime.isoformat()` for an aware UTC datetime. */
export function pyIsoDatetime(date: Date): string {
  const time = date.getTime();
  if (time === lastIsoTime) return lastIso;
  const iso = date.toISOString(); // 2026-11-23T23:00:48.436Z
  const ms = date.getUTCMilliseconds();
  lastIsoTime = time;
  lastIso = ms === 0 ? `${iso.slice(0, 19)}+00:00` : `${iso.slice(0, 19)}.${String(ms).padStart(3, '0')}000+00:00`;
  return lastIso;
}

// Many results finish within the same millisecond; formatting a date is not free.
let lastIsoTime = Number.NaN;
let lastIso = '';

function utf8Text(bytes: Uint8Array): string | null {
  return isUtf8(bytes) ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8') : null;
}

function wrap(type: string, value: string): string {
  return `{"__type__": ${pyJsonString(type)}, "__value__": ${value}}`;
}

const NULL_EMBED = '{"callbacks": null, "errbacks": null, "chain": null, "chord": null}';

function isNullEmbed(value: object): boolean {
  const v = value as Record<string, unknown>;
  if (v['callbacks'] !== null || v['errbacks'] !== null || v['chain'] !== null || v['chord'] !== null) return false;
  let keys = 0;
  for (const key in v) if (Object.prototype.hasOwnProperty.call(v, key)) keys++;
  return keys === 4;
}

/**
 * Containers nested deeper than this are tracked to detect a cycle. Shallower ones are not: a
 * cycle always reaches this depth, and repeats an object below it, while most values never get
 * there (a Set per call would cost an allocation and two hash operations per container).
 */
const CYCLE_DEPTH = 32;

/** `seen` holds the containers on the path from CYCLE_DEPTH down, made when the path gets there. */
function enter(value: object, depth: number, seen: Set<object> | null): Set<object> | null {
  if (depth < CYCLE_DEPTH) return null;
  if (seen === null) seen = new Set();
  else if (seen.has(value)) throw new TypeError('cannot encode a circular structure as JSON');
  seen.add(value);
  return seen;
}

function encodeValue(value: unknown, depth: number, seen: Set<object> | null): string {
  switch (typeof value) {
    case 'string':
      return pyJsonString(value);
    case 'number':
      return pyJsonNumber(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return value.toString();
    case 'undefined':
      return 'null';
    case 'object':
      break;
    default:
      throw new TypeError(`cannot encode a ${typeof value} as JSON`);
  }
  if (value === null) return 'null';
  if (Array.isArray(value)) {
    const path = enter(value, depth, seen);
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ', ';
      out += encodeValue(value[i], depth + 1, path);
    }
    path?.delete(value);
    return `${out}]`;
  }
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new TypeError('cannot encode an invalid Date');
    return wrap('datetime', pyJsonString(pyIsoDatetime(value)));
  }
  if (value instanceof Uint8Array) {
    const text = utf8Text(value);
    return text === null
      ? wrap('base64', pyJsonString(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64')))
      : wrap('bytes', pyJsonString(text));
  }
  if (value instanceof PyDate) return wrap('date', pyJsonString(value.iso));
  if (value instanceof PyTime) return wrap('time', pyJsonString(value.iso));
  if (value instanceof PyDecimal) return wrap('decimal', pyJsonString(value.value));
  if (value instanceof PyUUID) {
    return wrap('uuid', `{"hex": ${pyJsonString(value.hex)}, "version": ${value.version === null ? 'null' : value.version}}`);
  }
  if (value instanceof Map) return encodeValue(Object.fromEntries(value), depth, seen);
  if (value instanceof Set) return encodeValue([...value], depth, seen);
  const toJSON = (value as { toJSON?: () => unknown }).toJSON;
  if (typeof toJSON === 'function') return encodeValue(toJSON.call(value), depth, seen);
  if ('chord' in value && isNullEmbed(value)) return NULL_EMBED;
  const path = enter(value, depth, seen);
  let out = '{';
  let first = true;
  for (const key in value) {
    if (!Object.prototype.hasOwnProperty.call(value, key)) continue;
    const v = (value as Record<string, unknown>)[key];
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    if (!first) out += ', ';
    first = false;
    out += `${pyJsonString(key)}: ${encodeValue(v, depth + 1, path)}`;
  }
  path?.delete(value);
  return `${out}}`;
}

/** Serialize like kombu's `json.dumps`. Throws TypeError for values JSON cannot carry. */
export function pyJsonDumps(value: unknown): string {
  return encodeValue(value, 0, null);
}

const TYPE_KEY = '"__type__"';
const SPECIAL_NUMBER = '\u0000tq-number:';

function reviveTyped(type: unknown, raw: unknown): unknown {
  switch (type) {
    case 'datetime': {
      if (typeof raw !== 'string') break;
      const date = parsePyDatetime(raw);
      if (date) return date;
      break;
    }
    case 'date':
      if (typeof raw === 'string') return new PyDate(raw.slice(0, 10));
      break;
    case 'time':
      if (typeof raw === 'string') return new PyTime(raw);
      break;
    case 'decimal':
      if (typeof raw === 'string') return new PyDecimal(raw);
      break;
    case 'uuid':
      if (raw && typeof raw === 'object' && typeof (raw as { hex?: unknown }).hex === 'string') {
        const { hex, version } = raw as { hex: string; version?: number | null };
        return new PyUUID(hex, version ?? null);
      }
      break;
    case 'bytes':
      if (typeof raw === 'string') return new Uint8Array(Buffer.from(raw, 'utf8'));
      break;
    case 'base64':
      if (typeof raw === 'string') return new Uint8Array(Buffer.from(raw, 'base64'));
      break;
    default:
      throw new TypeError(`unsupported __type__ ${JSON.stringify(type)}`);
  }
  throw new TypeError(`malformed __value__ for __type__ ${JSON.stringify(type)}`);
}

function reviver(this: unknown, _key: string, value: unknown): unknown {
  if (typeof value === 'string' && value.startsWith(SPECIAL_NUMBER)) {
    return Number(value.slice(SPECIAL_NUMBER.length));
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    if ('__type__' in value && '__value__' in value && Object.keys(value).length === 2) {
      const { __type__: type, __value__: raw } = value as { __type__: unknown; __value__: unknown };
      return reviveTyped(type, raw);
    }
  }
  return value;
}

/**
 * Walk JSON text outside its string literals: `visit` sees each structural character and returns
 * the index to continue from (to skip a token it consumed).
 */
export function scanOutsideStrings(text: string, visit: (ch: number, i: number) => number): void {
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 92 /* \ */) i++;
      else if (ch === 34 /* " */) inString = false;
      continue;
    }
    if (ch === 34) {
      inString = true;
      continue;
    }
    i = visit(ch, i);
  }
}

/** Rewrites Python's bare NaN / Infinity / -Infinity tokens, which JSON.parse refuses. */
function quoteSpecialNumbers(text: string): string {
  let out = '';
  let last = 0;
  scanOutsideStrings(text, (_ch, i) => {
    for (const token of ['-Infinity', 'Infinity', 'NaN']) {
      if (text.startsWith(token, i)) {
        out += `${text.slice(last, i)}"\\u0000tq-number:${token}"`;
        last = i + token.length;
        return last - 1;
      }
    }
    return i;
  });
  return out + text.slice(last);
}

/** Parse JSON written by Python/kombu, reviving `__type__` wrappers. Throws SyntaxError/TypeError. */
export function pyJsonLoads(text: string): unknown {
  let needsReviver = text.includes(TYPE_KEY);
  let source = text;
  let parsed: unknown;
  try {
    parsed = needsReviver ? JSON.parse(source, reviver) : JSON.parse(source);
  } catch (err) {
    if (!(err instanceof SyntaxError) || !/NaN|Infinity/.test(text)) throw err;
    source = quoteSpecialNumbers(text);
    needsReviver = true;
    parsed = JSON.parse(source, reviver);
  }
  return parsed;
}

/**
 * Python's `datetime.fromisoformat` for the forms Celery writes. A naive value is UTC, as Celery
 * treats it. Microseconds beyond milliseconds are dropped (a JavaScript Date holds milliseconds).
 */
export function parsePyDatetime(text: string): Date | null {
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d{1,6}))?(Z|[+-]\d{2}:?\d{2}(?::?\d{2})?)?$/.exec(text.trim());
  if (!m) return null;
  const [, day, clock, fraction = '', zone] = m;
  const ms = fraction ? `.${fraction.padEnd(3, '0').slice(0, 3)}` : '';
  const tz = !zone || zone === 'Z' ? 'Z' : zone.length === 5 ? `${zone.slice(0, 3)}:${zone.slice(3)}` : zone.slice(0, 6);
  const time = clock!.length === 5 ? `${clock}:00` : clock;
  const date = new Date(`${day}T${time}${ms}${tz}`);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** Wraps pyJsonLoads errors as ProtocolError for message decoding. */
export function decodeJsonBody(text: string, messageId?: string | null): unknown {
  try {
    return pyJsonLoads(text);
  } catch (err) {
    throw new ProtocolError(`body is not valid JSON: ${(err as Error).message}`, { field: 'body', messageId: messageId ?? null, cause: err });
  }
}
