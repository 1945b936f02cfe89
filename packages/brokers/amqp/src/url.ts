/**
 * Broker URLs as kombu reads them: `amqp://user:pass@host:port/vhost?heartbeat=N`, `amqps://`
 * for TLS and `pyamqp://` as an alias of `amqp://`. The vhost is the path without its first
 * slash, percent-decoded, so `amqp://guest:guest@127.0.0.1:5672//` is the vhost `/` (as in
 * Celery's docs) and an empty path is `/` too.
 */
import { ConfigurationError } from '@tq/core';

export interface AmqpUrl {
  protocol: 'amqp' | 'amqps';
  hostname: string;
  port: number;
  username: string;
  password: string;
  vhost: string;
  /** Seconds; `undefined` takes the server's suggestion, 0 disables heartbeats. */
  heartbeat: number | undefined;
  /** Milliseconds to open the TCP/TLS connection and finish the AMQP handshake. */
  connectionTimeout: number | undefined;
  frameMax: number | undefined;
  channelMax: number | undefined;
}

const SCHEMES: Record<string, 'amqp' | 'amqps'> = { amqp: 'amqp', pyamqp: 'amqp', amqps: 'amqps' };

function intParam(params: URLSearchParams, names: string[], what: string, scale = 1): number | undefined {
  for (const name of names) {
    const raw = params.get(name);
    if (raw === null || raw === '') continue;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0) {
      throw new ConfigurationError(`[broker-amqp] ${name}=${raw} in the broker URL is not a valid ${what}`);
    }
    return Math.round(value * scale);
  }
  return undefined;
}

/** Parse a broker URL; throws ConfigurationError naming what is wrong. */
export function parseAmqpUrl(url: string): AmqpUrl {
  const match = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url.trim());
  const scheme = match?.[1]?.toLowerCase();
  const protocol = scheme ? SCHEMES[scheme] : undefined;
  if (!protocol) {
    throw new ConfigurationError(`[broker-amqp] expected an amqp://, amqps:// or pyamqp:// URL, got ${JSON.stringify(url.replace(/(\/\/[^:/@]*:)[^@/]*@/, '$1***@'))}`);
  }
  // WHATWG URL does not know amqp's default ports; parse as http and keep our own defaults.
  let parsed: URL;
  let rest = url.trim().slice(match![0].length);
  if (rest === '' || rest.startsWith('/') || rest.startsWith('?')) rest = `localhost${rest}`;
  try {
    parsed = new URL(`http://${rest}`);
  } catch {
    throw new ConfigurationError(`[broker-amqp] cannot parse the broker URL ${JSON.stringify(url.replace(/(\/\/[^:/@]*:)[^@/]*@/, '$1***@'))}`);
  }
  const path = parsed.pathname;
  const vhost = path.length > 1 ? decodeURIComponent(path.slice(1)) : '/';
  const params = parsed.searchParams;
  return {
    protocol,
    hostname: (parsed.hostname || 'localhost').replace(/^\[|\]$/g, ''),
    port: parsed.port ? Number(parsed.port) : protocol === 'amqps' ? 5671 : 5672,
    username: parsed.username ? decodeURIComponent(parsed.username) : 'guest',
    password: parsed.password ? decodeURIComponent(parsed.password) : parsed.username ? '' : 'guest',
    vhost,
    heartbeat: intParam(params, ['heartbeat'], 'number of seconds'),
    connectionTimeout:
      intParam(params, ['connection_timeout', 'connectionTimeout'], 'number of milliseconds') ??
      intParam(params, ['connect_timeout'], 'number of seconds', 1000),
    frameMax: intParam(params, ['frame_max', 'frameMax'], 'frame size'),
    channelMax: intParam(params, ['channel_max', 'channelMax'], 'channel count'),
  };
}
