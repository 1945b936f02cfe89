/**
 * The worker's first connections to its broker and its result backend. One that is down when the
 * worker starts is waited for, as Celery's consumer does for the broker
 * (`broker_connection_retry_on_startup`): the waits grow 2 s, 4 s, 6 s … up to 30 s (kombu's
 * `ensure_connection` schedule), each failed attempt is logged with the next wait, and the worker
 * gives up after `brokerConnectionMaxRetries`. Only errors the adapter marks `retryable` are
 * retried: a refused password or vhost, or a TLS failure, ends the start at once, because waiting
 * cannot fix it. The backend is waited for too (Celery connects it lazily): a process pool needs
 * it to start its children, and a worker that consumed without it could not store what it ran.
 */
import { isTqError, TqError, type App, type Broker, type Logger, type ResultBackend } from '@tq/core';

/** The start was ended by `stop()` (or a signal) while the worker waited for its broker or backend. */
export class StartAborted extends TqError {
  constructor(what = 'broker') {
    super('START_ABORTED', `[tq] the worker was stopped while it waited for the ${what}`);
  }
}

export interface BrokerConnectOptions {
  /** Retry at all (`brokerConnectionRetryOnStartup`). */
  retry: boolean;
  /** Retries before giving up; 0 = no limit. */
  maxRetries: number;
  logger: Logger;
  /** Aborted when the worker is stopped while it waits. */
  signal: AbortSignal;
}

/** Seconds to wait before retry `n` (1-based). */
export function brokerRetryDelay(n: number): number {
  return Math.min(30, 2 * n);
}

/** The app's broker, connected, retrying as above; rejects with the last error, or StartAborted once stopped. */
export function connectBroker(app: App, options: BrokerConnectOptions): Promise<Broker> {
  return connectWithRetry('broker', () => app.getBroker(), (broker) => broker.name, options);
}

/** The app's result backend (null when it has none), connected, retrying as the broker does. */
export function connectBackend(app: App, options: BrokerConnectOptions): Promise<ResultBackend | null> {
  return connectWithRetry('result backend', () => app.getBackend(), (backend) => backend?.name ?? 'none', options);
}

async function connectWithRetry<T>(what: string, connect: () => Promise<T>, name: (value: T) => string, options: BrokerConnectOptions): Promise<T> {
  const { signal } = options;
  for (let retry = 1; ; retry++) {
    try {
      // An attempt can take the whole connection timeout: a stop does not wait for it.
      const value = await untilAborted(connect(), signal, what);
      if (retry > 1) options.logger.info(`connected to the ${what} (${name(value)}) after ${retry - 1} ${retry === 2 ? 'retry' : 'retries'}`);
      return value;
    } catch (err) {
      if (signal.aborted) throw new StartAborted(what);
      const retryable = isTqError(err) && err.retryable;
      const exhausted = options.maxRetries > 0 && retry > options.maxRetries;
      if (!options.retry || !retryable || exhausted) {
        if (exhausted) options.logger.error(`giving up on the ${what} after ${options.maxRetries} retries (brokerConnectionMaxRetries)`);
        throw err;
      }
      const delay = brokerRetryDelay(retry);
      const count = options.maxRetries > 0 ? `${retry}/${options.maxRetries}` : `${retry}`;
      options.logger.error(`${(err as Error).message.replace(/^\[tq\] /, '')} Trying again in ${delay} s (${count})`);
      await wait(delay * 1000, signal);
      if (signal.aborted) throw new StartAborted(what);
    }
  }
}

/** `promise`, or a rejection as soon as `signal` aborts (the promise's own outcome is then ignored). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal, what: string): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(new StartAborted(what));
  }
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(new StartAborted(what));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) reject(new StartAborted(what));
        else resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

function wait(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
