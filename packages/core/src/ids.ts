/** Identifiers: task ids, the client's reply-to oid, node names. */
import { randomFillSync } from 'node:crypto';
import { hostname as osHostname } from 'node:os';

// Random bytes are drawn 4 KiB (256 ids) at a time, as `crypto.randomUUID()` also batches its randomness.
const POOL_IDS = 256;
const pool = Buffer.allocUnsafe(16 * POOL_IDS);
let poolOffset = pool.length;
const HEX = Buffer.from('0123456789abcdef', 'latin1');
const text = Buffer.allocUnsafe(36);
text[8] = text[13] = text[18] = text[23] = 0x2d; // '-'
/** Where each of the 16 bytes' two hex digits go in `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`. */
const AT = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

/**
 * A random (version 4) uuid in lowercase hex. Written into one buffer and read out as one flat
 * string: Node 20's `crypto.randomUUID()` returns a rope of about twenty pieces (~520 bytes), and a
 * task id lives on in its message, its AsyncResult and a memory backend's stored result.
 */
export function uuid(): string {
  if (poolOffset === pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const o = poolOffset;
  poolOffset += 16;
  pool[o + 6] = (pool[o + 6]! & 0x0f) | 0x40; // version 4
  pool[o + 8] = (pool[o + 8]! & 0x3f) | 0x80; // RFC 4122 variant
  for (let i = 0; i < 16; i++) {
    const byte = pool[o + i]!;
    const at = AT[i]!;
    text[at] = HEX[byte >> 4]!;
    text[at + 1] = HEX[byte & 0x0f]!;
  }
  return text.toString('latin1', 0, 36);
}

export function hostname(): string {
  return osHostname();
}

/** Celery's anonymous node name for a client: `gen<pid>@<host>`. */
export function anonNodename(): string {
  return `gen${process.pid}@${hostname()}`;
}

/**
 * Expand a worker node name the way Celery's `-n` does: `%h` host, `%n` short host, `%d` domain,
 * `%i` process index (0 here), `%I` (empty), `%%` a percent sign; a name without `@` gets
 * `celery@` prepended.
 */
export function expandNodename(template: string | undefined, host = hostname()): string {
  const [short = host, ...rest] = host.split('.');
  const domain = rest.join('.');
  const name = (template ?? 'celery@%h').replace(/%([hndiI%])/g, (_, c: string) => {
    switch (c) {
      case 'h':
        return host;
      case 'n':
        return short;
      case 'd':
        return domain;
      case 'i':
        return '0';
      case 'I':
        return '';
      default:
        return '%';
    }
  });
  return name.includes('@') ? name : `celery@${name}`;
}
