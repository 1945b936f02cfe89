/**
 * From a URL to a broker or result backend. Each scheme belongs to an adapter package that is
 * imported only when a URL names it, so an app pays only for the transports it uses, and a
 * missing package is a clear error naming what to install.
 *
 * An adapter package exports `createBroker(url, context)` and/or `createBackend(url, context)`.
 * Adapters published outside this repo get a scheme through `createApp({ transports })`.
 */
import type { Broker } from './broker.js';
import { AdapterMissingError, ConfigurationError } from './errors.js';
import type { Logger } from './logger.js';
import { MemoryBackend } from './memory/memory-backend.js';
import { MemoryBroker } from './memory/memory-broker.js';
import type { ResultBackend } from './result-backend.js';

export interface AdapterContext {
  logger: Logger;
  /** The app's transport options for this adapter (`brokerTransportOptions` / `resultBackendTransportOptions`). */
  options: Record<string, unknown>;
  /** The app's broker, for backends that ride on it (rpc://). */
  broker(): Promise<Broker>;
  /** Default result expiry in seconds (null: keep). */
  resultExpires: number | null;
  /** The app's client id: the `reply_to` of its task messages (the rpc:// backend's reply queue). */
  oid: string;
}

export interface AdapterModule {
  createBroker?(url: string, context: AdapterContext): Broker | Promise<Broker>;
  createBackend?(url: string, context: AdapterContext): ResultBackend | Promise<ResultBackend>;
}

const PACKAGES: Record<string, string> = {
  redis: '@tq/broker-redis',
  rediss: '@tq/broker-redis',
  'redis+socket': '@tq/broker-redis',
  sentinel: '@tq/broker-redis',
  amqp: '@tq/broker-amqp',
  amqps: '@tq/broker-amqp',
  pyamqp: '@tq/broker-amqp',
  rpc: '@tq/broker-amqp',
  sqs: '@tq/broker-sqs',
  mongodb: '@tq/backend-mongo',
  'mongodb+srv': '@tq/backend-mongo',
};

export function urlScheme(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url.trim());
  if (!m) throw new ConfigurationError(`${JSON.stringify(redactUrl(url))} is not a transport URL (expected scheme://…, e.g. memory://, redis://127.0.0.1:6379/0)`);
  return m[1]!.toLowerCase();
}

/** A URL with its password replaced, for logs and errors. */
export function redactUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]*:)[^@/]*@/, '$1***@');
}

/** Schemes an app adds or remaps (`AppConfig.transports`): scheme → package name. */
export type TransportPackages = Record<string, string>;

async function loadAdapter(scheme: string, extra: TransportPackages): Promise<AdapterModule> {
  const packageName = extra[scheme] ?? PACKAGES[scheme];
  if (!packageName) {
    const known = ['memory', ...new Set([...Object.keys(PACKAGES), ...Object.keys(extra)])];
    throw new ConfigurationError(`no transport for ${scheme}:// (known: ${known.join(', ')}; map more with createApp({ transports: { ${scheme}: '<package>' } }))`);
  }
  try {
    return (await import(packageName)) as AdapterModule;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && String((err as Error).message).includes(packageName)) {
      throw new AdapterMissingError(scheme, packageName, err);
    }
    throw err;
  }
}

export async function createBrokerFromUrl(url: string, context: AdapterContext, packages: TransportPackages = {}): Promise<Broker> {
  const scheme = urlScheme(url);
  if (scheme === 'memory') return new MemoryBroker();
  const adapter = await loadAdapter(scheme, packages);
  if (!adapter.createBroker) throw new ConfigurationError(`${scheme}:// is a result backend, not a broker`);
  return adapter.createBroker(url, context);
}

export async function createBackendFromUrl(url: string, context: AdapterContext, packages: TransportPackages = {}): Promise<ResultBackend> {
  const scheme = urlScheme(url);
  if (scheme === 'memory') return new MemoryBackend({ expires: context.resultExpires });
  const adapter = await loadAdapter(scheme, packages);
  if (!adapter.createBackend) throw new ConfigurationError(`${scheme}:// is a broker, not a result backend`);
  return adapter.createBackend(url, context);
}
