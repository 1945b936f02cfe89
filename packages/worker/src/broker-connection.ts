/**
 * The worker's first connection to its broker. A broker that is down when the worker starts is
 * waited for, as Celery's consumer does (`broker_connection_retry_on_startup`): the waits grow
 * 2 s, 4 s, 6 s … up to 30 s (kombu's `ensure_connection` schedule), each failed attempt is
 * logged with the next wait, and the worker gives up after `brokerConnectionMaxRetries`.
 * Only errors the adapter marks `retryable` are retried: a refused password or vhost, or a TLS
 * failure, ends the start at once, because waiting cannot fix it.
 */
import { BrokerError, isTqError, type App, type Broker, type Logger } from '@tq/core';

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

/** The app's broker, connected, retrying as above; rejects with the last error, or a BrokerError once stopped. */
export async function connectBroker(app: App, options: BrokerConnectOptions): Promise<Broker> {
  for (let retry = 1; ; retry++) {
    try {
      const broker = await app.getBroker();
      if (retry > 1) options.logger.info(`connected to the broker (${broker.name}) after ${retry - 1} ${retry === 2 ? 'retry' : 'retries'}`);
      return broker;
    } catch (err) {
      const retryable = isTqError(err) && err.retryable;
      const exhausted = options.maxRetries > 0 && retry > options.maxRetries;
      if (!options.retry || !retryable || exhausted || options.signal.aborted) {
        if (exhausted) options.logger.error(`giving up on the broker after ${options.maxRetries} retries (brokerConnectionMaxRetries)`);
        throw err;
      }
      const delay = brokerRetryDelay(retry);
      const count = options.maxRetries > 0 ? `${retry}/${options.maxRetries}` : `${retry}`;
      options.logger.error(`${(err as Error).message.replace(/^\[tq\] /, '')} Trying again in ${delay} s (${count})`);
      await wait(delay * 1000, options.signal);
      if (options.signal.aborted) throw new BrokerError('[tq] the worker was stopped while it waited for the broker', { retryable: false });
    }
  }
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
