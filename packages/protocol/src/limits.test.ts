import { createDeflate } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { isTqError } from './errors.js';
import { MAX_DEPTH, MAX_ID_LENGTH } from './limits.js';
import type { RawMessage } from './message.js';
import { decodeTaskMessage } from './task-message.js';

function raw(headers: Record<string, unknown>, body: string | Uint8Array): RawMessage {
  return { body: typeof body === 'string' ? Buffer.from(body) : body, contentType: 'application/json', contentEncoding: 'utf-8', headers, properties: {} };
}

function refusal(message: RawMessage, limits?: { maxBodySize: number }): string {
  try {
    decodeTaskMessage(message, limits);
  } catch (err) {
    expect(isTqError(err, 'PROTOCOL_ERROR')).toBe(true);
    return (err as Error).message;
  }
  throw new Error('the message was accepted');
}

/** 256 MiB of zeros deflated to about 250 KB: a small message that would inflate in full without a bound. */
async function bomb(): Promise<Buffer> {
  const deflate = createDeflate();
  const chunks: Buffer[] = [];
  deflate.on('data', (chunk: Buffer) => chunks.push(chunk));
  const zeros = Buffer.alloc(1 << 20);
  for (let i = 0; i < 256; i++) if (!deflate.write(zeros)) await new Promise((resolve) => deflate.once('drain', resolve));
  deflate.end();
  await new Promise((resolve) => deflate.on('end', resolve));
  return Buffer.concat(chunks);
}

describe('decoding limits', () => {
  it('stops inflating a compression bomb at the body limit', async () => {
    const body = await bomb();
    const before = process.memoryUsage().rss;
    expect(refusal(raw({ task: 't', id: 'bomb-1', compression: 'application/x-gzip' }, body), { maxBodySize: 1 << 20 })).toMatch(/bomb-1.*inflates to more than 1048576 bytes/);
    expect(process.memoryUsage().rss - before).toBeLessThan(64 << 20);
  });

  it('refuses a body above the limit before decoding it', () => {
    expect(refusal(raw({ task: 't', id: 'big-1' }, `[["${'x'.repeat(2048)}"], {}, null]`), { maxBodySize: 1024 })).toMatch(/big-1.*above the limit of 1024/);
  });

  it('refuses nesting deeper than Python can read, in JSON and msgpack', () => {
    const deep = `[${'['.repeat(MAX_DEPTH + 1)}${']'.repeat(MAX_DEPTH + 1)}, {}, null]`;
    expect(refusal(raw({ task: 't', id: 'deep-1' }, deep))).toMatch(/deep-1.*nested more than 1000/);
    // Brackets inside strings are text, not nesting.
    expect(decodeTaskMessage(raw({ task: 't', id: 'ok' }, `[["${'['.repeat(5000)}"], {}, null]`)).args[0]).toHaveLength(5000);
  });

  it('refuses an id longer than any backend stores, without repeating it', () => {
    const message = refusal(raw({ task: 't', id: 'x'.repeat(10_240) }, '[[], {}, null]'));
    expect(message).toMatch(new RegExp(`10240 characters long, above the limit of ${MAX_ID_LENGTH}`));
    expect(message.length).toBeLessThan(300);
  });

  it('refuses a retries count no real retry loop reaches', () => {
    expect(refusal(raw({ task: 't', id: 'r-1', retries: 1e9 }, '[[], {}, null]'))).toMatch(/r-1.*retries is 1000000000/);
  });
});
