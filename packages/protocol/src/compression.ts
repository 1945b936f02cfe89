/**
 * Body compression as kombu names it: the `compression` header carries a mime type, and the
 * short names users pass (`gzip`, `zlib`, `brotli`) are aliases of it.
 *
 * Note kombu's quirk, kept for compatibility: `gzip` and `zlib` both mean zlib's deflate format
 * under the mime type `application/x-gzip`.
 */
import { brotliCompressSync, brotliDecompressSync, deflateSync, inflateSync } from 'node:zlib';
import { ProtocolError } from './errors.js';
import { DEFAULT_MAX_BODY_SIZE } from './limits.js';

export type CompressionName = 'gzip' | 'zlib' | 'brotli' | 'application/x-gzip' | 'application/x-brotli';

interface Codec {
  mime: string;
  compress(data: Uint8Array): Uint8Array;
  /** Stops with ERR_BUFFER_TOO_LARGE past `maxOutputLength`, so a bomb never inflates in full. */
  decompress(data: Uint8Array, maxOutputLength: number): Uint8Array;
}

const zlibCodec: Codec = {
  mime: 'application/x-gzip',
  compress: (data) => deflateSync(data),
  decompress: (data, maxOutputLength) => inflateSync(data, { maxOutputLength }),
};

const brotliCodec: Codec = {
  mime: 'application/x-brotli',
  compress: (data) => brotliCompressSync(data),
  decompress: (data, maxOutputLength) => brotliDecompressSync(data, { maxOutputLength }),
};

const CODECS: Record<string, Codec> = {
  gzip: zlibCodec,
  zlib: zlibCodec,
  'application/x-gzip': zlibCodec,
  brotli: brotliCodec,
  'application/x-brotli': brotliCodec,
};

/** Compression methods Celery knows that Node cannot decode; named in errors. */
const UNSUPPORTED: Record<string, string> = {
  'application/x-bz2': 'bzip2',
  'application/x-lzma': 'lzma',
  'application/zstd': 'zstd',
};

export function compressionMime(name: string): string {
  const codec = CODECS[name];
  if (!codec) {
    throw new TypeError(`unknown compression ${JSON.stringify(name)}: use one of gzip, zlib, brotli`);
  }
  return codec.mime;
}

export function compress(data: Uint8Array, name: string): { data: Uint8Array; mime: string } {
  const codec = CODECS[name];
  if (!codec) throw new TypeError(`unknown compression ${JSON.stringify(name)}: use one of gzip, zlib, brotli`);
  return { data: codec.compress(data), mime: codec.mime };
}

/** Inflate a body; more than `maxOutputLength` bytes (default 64 MiB) is a ProtocolError, not an allocation. */
export function decompress(data: Uint8Array, mime: string, messageId?: string | null, maxOutputLength = DEFAULT_MAX_BODY_SIZE): Uint8Array {
  const codec = CODECS[mime];
  if (!codec) {
    const known = UNSUPPORTED[mime];
    throw new ProtocolError(
      known
        ? `compression ${mime} (${known}) is not supported by tq; send with gzip/zlib or brotli`
        : `unknown compression ${JSON.stringify(mime)}`,
      { field: 'headers.compression', messageId: messageId ?? null },
    );
  }
  try {
    return codec.decompress(data, maxOutputLength);
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new ProtocolError(`body inflates to more than ${maxOutputLength} bytes (a compression bomb, or raise maxBodySize)`, {
        field: 'body',
        messageId: messageId ?? null,
        cause: err,
      });
    }
    throw new ProtocolError(`body does not decompress as ${mime}: ${(err as Error).message}`, {
      field: 'body',
      messageId: messageId ?? null,
      cause: err,
    });
  }
}
