/**
 * ioredis connections with tq's behaviour, and the mapping of ioredis/Redis errors into tq's
 * taxonomy: every error says what happened and what to do, and is `retryable` when trying again
 * may help (a lost connection, a server still loading, a failover in progress).
 */
import { BackendError, BrokerError, isTqError, type Logger } from '@tq/core';
import { Redis, type RedisOptions } from 'ioredis';
import type { RedisEndpoint } from './url.js';

export type ConnectionRole = 'commands' | 'blocking' | 'subscriber';

export interface ConnectionSettings {
  endpoint: RedisEndpoint;
  role: ConnectionRole;
  /** Reconnect attempts a queued command waits through before it fails (retryable). */
  maxRetriesPerRequest: number;
  /** Extra ioredis options from the user. */
  redisOptions?: Record<string, unknown>;
  /** Shown in CLIENT LIST. */
  name: string;
  /**
   * ioredis' auto-pipelining (commands connections only, on by default): off for connections
   * whose callers batch for themselves, where it only adds a pipeline per command and holds each
   * command back until the previous one has been answered.
   */
  autoPipelining?: boolean;
}

/** Exponential backoff with jitter, 50 ms doubling to 2 s; never gives up. */
export function reconnectDelay(attempt: number): number {
  const base = Math.min(2000, 50 * 2 ** Math.min(attempt - 1, 6));
  return Math.round(base / 2 + Math.random() * (base / 2));
}

export function createConnection(settings: ConnectionSettings): Redis {
  const { role } = settings;
  const options: RedisOptions = {
    ...settings.endpoint.options,
    lazyConnect: true,
    connectionName: settings.name,
    retryStrategy: reconnectDelay,
    enableOfflineQueue: true,
    // Commands batch themselves per tick; blocking and subscriber connections must not.
    enableAutoPipelining: role === 'commands' && settings.autoPipelining !== false,
    // A blocking pop is re-issued by its loop with the current queues, never replayed blindly.
    autoResendUnfulfilledCommands: role !== 'blocking',
    autoResubscribe: true,
    maxRetriesPerRequest: role === 'commands' ? settings.maxRetriesPerRequest : null,
    // A server that answers LOADING after a restart is waited for.
    enableReadyCheck: true,
    ...(settings.redisOptions as RedisOptions | undefined),
  };
  return new Redis(options);
}

interface ErrorLike {
  name?: string;
  message?: string;
  code?: string;
  errno?: string | number;
  syscall?: string;
  command?: { name?: string };
}

const RETRYABLE_REPLIES = /^(LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN|NOREPLICAS|UNBLOCKED)\b/;

/** What went wrong, for messages: `ECONNREFUSED`, `Connection is closed.`, the Redis reply. */
export function describeRedisError(err: unknown): { text: string; retryable: boolean; hint: string } {
  const e = (err ?? {}) as ErrorLike;
  const message = String(e.message ?? err);
  const code = typeof e.code === 'string' ? e.code : undefined;
  if (e.name === 'MaxRetriesPerRequestError') {
    return { text: 'the connection is down and reconnecting did not succeed in time', retryable: true, hint: 'Is Redis running?' };
  }
  if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EPIPE' || code === 'ENOENT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') {
    return { text: code, retryable: true, hint: 'Is Redis running?' };
  }
  if (code && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL/.test(code)) {
    return { text: `${message} (${code})`, retryable: false, hint: 'Check the TLS options: ssl_ca_certs, ssl_cert_reqs, or the host name in the URL.' };
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return { text: `${code} (the host name does not resolve)`, retryable: true, hint: 'Check the host in the URL.' };
  if (code === 'ETIMEDOUT' || /timed? ?out/i.test(message)) return { text: code ?? message, retryable: true, hint: 'Is Redis reachable from here?' };
  if (/Connection is closed|Stream isn't writeable|connection.*(lost|closed)/i.test(message)) {
    return { text: message, retryable: true, hint: 'Is Redis running?' };
  }
  if (/^(NOAUTH|WRONGPASS|ERR AUTH|ERR invalid password|ERR Client sent AUTH)/.test(message)) {
    return { text: message, retryable: false, hint: 'Check the user name and password in the URL.' };
  }
  if (/^OOM\b/.test(message)) return { text: message, retryable: false, hint: 'Redis reached its maxmemory limit.' };
  if (/^NOPERM\b/.test(message)) return { text: message, retryable: false, hint: 'The Redis user lacks a permission this transport needs.' };
  if (/All sentinels are unreachable|Failed to connect to sentinel|is not a valid master|could not be found/i.test(message)) {
    return { text: message, retryable: true, hint: 'Check the sentinel addresses and the masterName option.' };
  }
  if (RETRYABLE_REPLIES.test(message)) return { text: message, retryable: true, hint: 'Redis is busy or failing over; it will be retried.' };
  if (e.name === 'ReplyError') return { text: message, retryable: false, hint: '' };
  return { text: message, retryable: true, hint: '' };
}

function compose(what: string, display: string, err: unknown): { message: string; retryable: boolean } {
  const { text, retryable, hint } = describeRedisError(err);
  return { message: `[tq] [broker-redis] ${what} ${display}: ${text.replace(/\.$/, '')}.${hint ? ` ${hint}` : ''}`, retryable };
}

/** A BrokerError for a failed operation; tq errors pass through unchanged. */
export function brokerError(what: string, display: string, err: unknown): Error {
  if (isTqError(err)) return err;
  const { message, retryable } = compose(what, display, err);
  return new BrokerError(message, { cause: err, retryable });
}

/** A BackendError for a failed operation; tq errors pass through unchanged. */
export function backendError(what: string, display: string, err: unknown): Error {
  if (isTqError(err)) return err;
  const { message, retryable } = compose(what, display, err);
  return new BackendError(message, { cause: err, retryable });
}

/**
 * Connect a lazily-created connection. The first failure is reported (and the connection stopped)
 * rather than retried silently forever, so a missing server is a clear error at start. A server
 * that accepts the connection but never answers fails after ioredis' `connectTimeout` (10 s).
 */
export async function connectOnce(client: Redis, onError: (err: unknown) => Error): Promise<void> {
  if (client.status === 'ready') return;
  let firstError: unknown = null;
  const listener = (err: unknown) => {
    firstError ??= err;
  };
  client.on('error', listener);
  const ms = client.options.connectTimeout ?? 10_000;
  let timer: NodeJS.Timeout | undefined;
  const silence = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${ms} ms`), { code: 'ETIMEDOUT' })), ms);
  });
  try {
    await Promise.race([client.connect(), silence]);
  } catch (err) {
    client.disconnect();
    throw onError(firstError ?? err);
  } finally {
    clearTimeout(timer);
    client.off('error', listener);
  }
}

/**
 * A connection opened on first use: callers share one attempt, a failed attempt leaves nothing
 * behind (the next call tries again), and `take()` at close also ends an attempt in flight.
 */
export class LazyConnection<T extends Redis> {
  /** The open connection; null until `ready()` succeeded and after `take()`. */
  client: T | null = null;
  private opening: Promise<T> | null = null;
  private pending: T | null = null;

  constructor(
    private readonly create: () => T,
    private readonly onError: (err: unknown) => Error,
  ) {}

  ready(): Promise<T> {
    if (this.client) return Promise.resolve(this.client);
    this.opening ??= (async () => {
      const client = (this.pending = this.create());
      try {
        await connectOnce(client, this.onError);
      } finally {
        this.pending = null;
      }
      this.client = client;
      return client;
    })();
    this.opening.catch(() => {
      this.opening = null;
    });
    return this.opening;
  }

  /** Forget the connection and return it, to be quit; an attempt in flight is ended (it rejects). */
  take(): T | null {
    this.pending?.disconnect();
    const client = this.client;
    this.client = null;
    this.opening = null;
    return client;
  }
}

export interface OutageWatch {
  logger: Logger;
  /** The line for a lost connection, e.g. `brokerError('lost the connection to', …)`. */
  lost(err: Error): Error;
  /** The line for a restored one. */
  restored: string;
  isClosed(): boolean;
  /** Called once per outage, on its first error. */
  onDown?(err: Error): void;
  /** Called on every `ready`, after the outage (if any) was logged; `reconnected` is false the first time. */
  onReady?(reconnected: boolean): void;
}

/** Log a connection outage once (not once per retry) and its end, and report both. */
export function watchOutages(client: Redis, watch: OutageWatch): void {
  let down = false;
  let connected = false;
  client.on('error', (err: Error) => {
    // Before the first `ready`, connectOnce reports the failure; there is no outage to log yet.
    if (watch.isClosed() || down || !connected) return;
    down = true;
    watch.logger.warn(`${watch.lost(err).message.replace(/^\[tq\] /, '')} Reconnecting.`);
    watch.onDown?.(err);
  });
  client.on('ready', () => {
    if (down) watch.logger.info(watch.restored);
    down = false;
    watch.onReady?.(connected);
    connected = true;
  });
}
