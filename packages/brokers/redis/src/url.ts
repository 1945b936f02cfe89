/**
 * Redis URLs as Celery and kombu write them, turned into ioredis connection options:
 *
 *   redis://[[user]:password@]host[:port][/db]
 *   rediss://…                      TLS; ?ssl_cert_reqs=CERT_NONE|CERT_OPTIONAL|CERT_REQUIRED,
 *                                   ssl_ca_certs, ssl_certfile, ssl_keyfile (file paths)
 *   redis+socket:///path/to.sock?virtual_host=db   (also socket:// and unix://, ?db=)
 *   sentinel://[:password@]host:port[;sentinel://host2:port…][/db]   with option masterName
 */
import { readFileSync } from 'node:fs';
import { ConfigurationError, redactUrl } from '@tq/core';
import type { RedisOptions } from 'ioredis';

export interface RedisEndpoint {
  /** ioredis options for this server (no behaviour options: those are added per connection). */
  options: RedisOptions;
  /** The database number (also the `/<db>.` of fanout channels). */
  db: number;
  /** The URL with its password hidden, for logs and errors. */
  display: string;
}

export interface EndpointOptions {
  masterName?: string | undefined;
  sentinelPassword?: string | undefined;
}

const SCHEMES = new Set(['redis', 'rediss', 'redis+socket', 'socket', 'unix', 'sentinel', 'sentinels']);

function parseDb(value: string | null | undefined, url: string): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.replace(/^\/+|\/+$/g, '');
  if (text === '') return undefined;
  if (!/^\d+$/.test(text)) {
    throw new ConfigurationError(`the database in ${redactUrl(url)} must be a number (redis://host:6379/0), got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function readPem(path: string, what: string, url: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigurationError(`cannot read ${what} ${path} named in ${redactUrl(url)}: ${(err as Error).message}`, { cause: err });
  }
}

function tlsOptions(query: URLSearchParams, host: string, url: string): Record<string, unknown> {
  const tls: Record<string, unknown> = {};
  if (host && !/^\d+\.\d+\.\d+\.\d+$/.test(host)) tls['servername'] = host;
  const reqs = (query.get('ssl_cert_reqs') ?? '').toLowerCase();
  if (reqs === 'cert_none' || reqs === 'none') tls['rejectUnauthorized'] = false;
  else if (reqs === 'cert_optional' || reqs === 'optional') tls['rejectUnauthorized'] = false;
  const ca = query.get('ssl_ca_certs');
  if (ca) tls['ca'] = readPem(ca, 'the CA file', url);
  const cert = query.get('ssl_certfile');
  if (cert) tls['cert'] = readPem(cert, 'the certificate file', url);
  const key = query.get('ssl_keyfile');
  if (key) tls['key'] = readPem(key, 'the key file', url);
  if ((query.get('ssl_check_hostname') ?? '').toLowerCase() === 'false') tls['checkServerIdentity'] = () => undefined;
  return tls;
}

function parseOne(text: string, whole: string): { scheme: string; url: URL } {
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text.trim());
  const scheme = m?.[1]?.toLowerCase() ?? '';
  if (!SCHEMES.has(scheme)) {
    throw new ConfigurationError(`${JSON.stringify(redactUrl(whole))} is not a Redis URL (expected redis://, rediss://, redis+socket:// or sentinel://)`);
  }
  let url: URL;
  try {
    // The WHATWG parser treats unknown schemes as opaque but still splits the authority.
    url = new URL(text.trim().replace(/^[^:]+:/, 'redis:'));
  } catch (err) {
    throw new ConfigurationError(`${JSON.stringify(redactUrl(whole))} is not a valid URL: ${(err as Error).message}`, { cause: err });
  }
  return { scheme, url };
}

/** Parse a Redis URL (any form above) into ioredis options, the db number and a printable URL. */
export function parseRedisUrl(text: string, extra: EndpointOptions = {}): RedisEndpoint {
  const display = redactUrl(text);
  const parts = text.split(';').filter((p) => p.trim() !== '');
  if (parts.length === 0) throw new ConfigurationError('an empty Redis URL');
  const first = parseOne(parts[0]!, text);
  const { scheme, url } = first;
  const query = url.searchParams;
  const username = decode(url.username);
  const password = decode(url.password);
  const auth: RedisOptions = {};
  if (username) auth.username = username;
  if (password) auth.password = password;

  if (scheme === 'sentinel' || scheme === 'sentinels') {
    const sentinels: Array<{ host: string; port: number }> = [];
    let db: number | undefined;
    for (const part of parts) {
      const { scheme: s, url: u } = parseOne(part, text);
      if (s !== 'sentinel' && s !== 'sentinels') {
        throw new ConfigurationError(`${JSON.stringify(display)}: every alternative of a sentinel URL must be sentinel://host:port`);
      }
      sentinels.push({ host: u.hostname || '127.0.0.1', port: u.port ? Number(u.port) : 26379 });
      db ??= parseDb(u.pathname, text);
      if (!auth.password && u.password) auth.password = decode(u.password);
    }
    db ??= parseDb(query.get('virtual_host') ?? query.get('db'), text) ?? 0;
    if (!extra.masterName) {
      throw new ConfigurationError(
        `${display} is a Redis Sentinel URL: set the transport option masterName (Celery's broker_transport_options={'master_name': 'mymaster'})`,
      );
    }
    const options: RedisOptions = { ...auth, sentinels, name: extra.masterName, db };
    if (extra.sentinelPassword) options.sentinelPassword = extra.sentinelPassword;
    if (scheme === 'sentinels') {
      options.enableTLSForSentinelMode = true;
      options.tls = tlsOptions(query, '', text);
      options.sentinelTLS = tlsOptions(query, '', text);
    }
    return { options, db, display };
  }

  if (parts.length > 1) throw new ConfigurationError(`${JSON.stringify(display)}: only sentinel:// URLs may list alternatives separated by ';'`);

  if (scheme === 'redis+socket' || scheme === 'socket' || scheme === 'unix') {
    const path = decode(url.pathname);
    if (!path || path === '/') throw new ConfigurationError(`${display} names no socket path (redis+socket:///path/to/redis.sock?virtual_host=0)`);
    const db = parseDb(query.get('virtual_host') ?? query.get('db'), text) ?? 0;
    return { options: { ...auth, path, db }, db, display };
  }

  const db = parseDb(url.pathname, text) ?? parseDb(query.get('virtual_host') ?? query.get('db'), text) ?? 0;
  const host = url.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
  const options: RedisOptions = { ...auth, host, port: url.port ? Number(url.port) : 6379, db };
  if (scheme === 'rediss') options.tls = tlsOptions(query, host, text);
  return { options, db, display };
}
