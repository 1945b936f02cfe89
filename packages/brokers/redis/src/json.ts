/**
 * Python's `json.dumps` (ensure_ascii, `", "` / `": "` separators), fast, for the envelope and
 * the result meta written on every message. Plain data — strings, finite numbers in the range
 * where JavaScript and Python print them alike, booleans, null, arrays and plain objects — is
 * written here in one pass with no intermediate strings per value; anything else (Date,
 * Uint8Array, the Py* types, Map/Set, objects with toJSON, very small floats, NaN) is handed to
 * @tq/protocol's `pyJsonDumps`, which knows kombu's `__type__` wrappers. The output is identical
 * to `pyJsonDumps`; this file only exists because these two values are encoded per message.
 * Strings are escaped as ensure_ascii wants one by one (most need nothing), so the text is ASCII
 * as it is built and never needs a pass of its own.
 */
import { pyJsonDumps, pyJsonString } from '@tq/protocol';

/** `"key": ` for the keys seen again and again (header and meta names). */
const KEYS = new Map<string, string>();

export function keyPart(key: string): string {
  let part = KEYS.get(key);
  if (part === undefined) {
    part = `${writeString(key)}: `;
    if (KEYS.size < 4096) KEYS.set(key, part);
  }
  return part;
}

function plainNumber(n: number): boolean {
  if (!Number.isFinite(n)) return false;
  if (Number.isInteger(n)) return Math.abs(n) < 1e21;
  const a = Math.abs(n);
  return a >= 1e-4 && a < 1e16;
}

/** What JSON or ensure_ascii escapes in a string (DEL and beyond too); most strings (ids, names, reprs) have none. */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u007f-\uffff]/;

/** A string as Python's json.dumps writes it (ensure_ascii). */
export function writeString(value: string): string {
  return NEEDS_ESCAPE.test(value) ? pyJsonString(value) : `"${value}"`;
}

// Built by concatenation, not by pushing parts to an array and joining: V8 keeps `+` as a rope
// and flattens it once, which is more than twice as fast for the small values written here.
function write(value: unknown, depth: number): string {
  switch (typeof value) {
    case 'string':
      return writeString(value);
    case 'number':
      return plainNumber(value) ? String(value) : pyJsonDumps(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'undefined':
      return 'null';
    case 'object':
      break;
    default:
      return pyJsonDumps(value);
  }
  if (value === null) return 'null';
  // Deep or circular: pyJsonDumps detects cycles and says so.
  if (depth > 64) return pyJsonDumps(value);
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    let text = `[${write(value[0], depth + 1)}`;
    for (let i = 1; i < value.length; i++) text += `, ${write(value[i], depth + 1)}`;
    return `${text}]`;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if ((proto !== Object.prototype && proto !== null) || typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return pyJsonDumps(value);
  }
  const record = value as Record<string, unknown>;
  let text = '{';
  let first = true;
  for (const key in record) {
    if (!Object.prototype.hasOwnProperty.call(record, key)) continue;
    const v = record[key];
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    if (first) first = false;
    else text += ', ';
    text += keyPart(key) + write(v, depth + 1);
  }
  return `${text}}`;
}

/**
 * The text as one flat string. `+` builds a rope (a tree of the pieces); reading a character
 * makes V8 flatten it, so the pieces die young instead of being kept (and copied by every
 * garbage collection) until the text is written out, batches later.
 */
export function flat(text: string): string {
  text.charCodeAt(0);
  return text;
}

/** Exactly `pyJsonDumps(value)`, faster for plain data. Throws TypeError as it does. Not flattened: for parts of a larger text. */
export function pyJsonPart(value: unknown): string {
  return write(value, 0);
}

/** `pyJsonPart` as one flat string. */
export function pyJson(value: unknown): string {
  return flat(write(value, 0));
}
