/**
 * Bounds on what a decoder accepts from the network. A message is data from anyone who can reach
 * the broker: without bounds a few bytes can make a worker allocate gigabytes (a compression
 * bomb), overflow its stack (deep nesting) or hold a slot forever. Each bound is well above what
 * Celery itself can produce or read, so no message a Celery client sends is refused.
 */
import { ProtocolError } from './errors.js';
import { scanOutsideStrings } from './python-json.js';

export interface DecodeLimits {
  /**
   * Largest body accepted, in bytes, before and after decompression (default 64 MiB; RabbitMQ
   * 4 refuses messages above 16 MiB by default, and Redis lists hold what is pushed).
   */
  maxBodySize?: number;
}

export const DEFAULT_MAX_BODY_SIZE = 64 * 1024 * 1024;

/**
 * Deepest nesting of lists and mappings in a body. Python's json module stops at its recursion
 * limit (1000 frames), so a Celery peer can neither send nor read anything deeper.
 */
export const MAX_DEPTH = 1000;

/** Longest task id (Celery's database backend stores ids in a 155-character column; UUIDs have 36). */
export const MAX_ID_LENGTH = 255;

/** Highest `retries` header: a task retried every minute for two years stays below it. */
export const MAX_RETRIES = 1_000_000;

export function maxBodySize(limits: DecodeLimits | undefined): number {
  return limits?.maxBodySize ?? DEFAULT_MAX_BODY_SIZE;
}

export function checkBodySize(size: number, limit: number, messageId: string | null, what = 'body'): void {
  if (size > limit) {
    throw new ProtocolError(`${what} is ${size} bytes, above the limit of ${limit} (raise maxBodySize to accept it)`, { field: 'body', messageId });
  }
}

/**
 * Refuse JSON text nested deeper than MAX_DEPTH, before parsing it (JSON.parse itself copes,
 * but everything that walks the value afterwards recurses). Text shorter than twice the limit
 * cannot nest that deep, so the common small message is not scanned.
 */
export function checkJsonDepth(text: string, messageId: string | null): void {
  if (text.length < MAX_DEPTH * 2) return;
  let depth = 0;
  scanOutsideStrings(text, (ch, i) => {
    if (ch === 91 /* [ */ || ch === 123 /* { */) {
      if (++depth > MAX_DEPTH) throw tooDeep(messageId);
    } else if (ch === 93 /* ] */ || ch === 125 /* } */) depth--;
    return i;
  });
}

/** The same bound on an already decoded value (msgpack), walked without recursion. */
export function checkValueDepth(value: unknown, messageId: string | null): void {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (item === null || typeof item !== 'object' || ArrayBuffer.isView(item)) continue;
    if (depth > MAX_DEPTH) throw tooDeep(messageId);
    const children = Array.isArray(item) ? item : item instanceof Map ? [...item.values()] : Object.values(item);
    for (const child of children) if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
  }
}

function tooDeep(messageId: string | null): ProtocolError {
  return new ProtocolError(`body is nested more than ${MAX_DEPTH} levels deep`, { field: 'body', messageId });
}
