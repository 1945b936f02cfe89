/**
 * Driver errors into tq's taxonomy: every error says what failed, on which server (password
 * hidden), why, and what to do, and is `retryable` when trying again may help (the server is
 * down or restarting, a primary is being elected) but not for a wrong password or a bad option.
 */
import { BackendError, ConfigurationError, isTqError } from '@tq/core';

interface DriverErrorLike {
  name?: string;
  message?: string;
  code?: number | string;
  codeName?: string;
  cause?: unknown;
  errorLabels?: readonly string[] | Set<string>;
  hasErrorLabel?: (label: string) => boolean;
}

export interface ErrorDescription {
  text: string;
  retryable: boolean;
  hint: string;
}

const AUTH_CODES = new Set([18, 11, 13]);
/** Codes MongoDB documents as transient: not primary, shutting down, interrupted, network. */
const RETRYABLE_CODES = new Set([6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 63, 150, 234]);

function innermost(err: DriverErrorLike): string {
  let e: unknown = err.cause;
  let text = '';
  for (let depth = 0; e && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) text = code;
    e = (e as { cause?: unknown }).cause;
  }
  return text;
}

/** The driver's errors for a server it could not reach or lost on the way (a closed topology is this client's own doing, not in here). */
const CONNECTION_LOST = new Set(['MongoNetworkError', 'MongoNetworkTimeoutError', 'MongoServerSelectionError', 'MongoPoolClearedError']);

export function describeMongoError(err: unknown): ErrorDescription {
  const e = (err ?? {}) as DriverErrorLike;
  const message = String(e.message ?? err);
  const name = e.name ?? '';
  const code = typeof e.code === 'number' ? e.code : undefined;
  if (name === 'MongoParseError' || name === 'MongoInvalidArgumentError' || name === 'MongoAPIError') {
    return { text: message, retryable: false, hint: 'Check the URL and the backend options.' };
  }
  if ((code !== undefined && AUTH_CODES.has(code) && /auth/i.test(message)) || /Authentication failed|auth(entication)? mechanism|SCRAM/i.test(message)) {
    return { text: message, retryable: false, hint: 'Check the user name, password and authSource in the URL.' };
  }
  if (code === 13 || e.codeName === 'Unauthorized') {
    return { text: message, retryable: false, hint: 'The MongoDB user lacks a role this backend needs (readWrite on its database).' };
  }
  if (code === 40573 || /only supported on replica sets|changeStream.*not (implemented|supported)/i.test(message)) {
    return { text: message, retryable: false, hint: 'Change streams need a replica set or sharded cluster; without one results are polled.' };
  }
  if (/certificate|self[- ]signed|TLS|SSL/i.test(message)) {
    return { text: message, retryable: false, hint: 'Check the TLS options in the URL: tls=true, tlsCAFile, tlsCertificateKeyFile, or the host name.' };
  }
  if (CONNECTION_LOST.has(name) || name === 'MongoTopologyClosedError') {
    const reason = innermost(e) || message.split('\n')[0]!;
    const hint = /ENOTFOUND|EAI_AGAIN|querySrv/.test(message + reason) ? 'Check the host in the URL.' : 'Is MongoDB running and reachable from here?';
    return { text: reason, retryable: true, hint };
  }
  if (code !== undefined && RETRYABLE_CODES.has(code)) return { text: message, retryable: true, hint: 'The server is restarting or electing a primary; it will be retried.' };
  const labelled = typeof e.hasErrorLabel === 'function' && (e.hasErrorLabel('RetryableWriteError') || e.hasErrorLabel('TransientTransactionError'));
  if (labelled) return { text: message, retryable: true, hint: '' };
  if (name === 'MongoServerError' || name === 'MongoBulkWriteError' || name === 'MongoWriteConcernError') return { text: message, retryable: false, hint: '' };
  return { text: message, retryable: true, hint: '' };
}

/** A BackendError (or ConfigurationError for a bad URL or option); tq errors pass through. */
export function backendError(what: string, display: string, err: unknown): Error {
  if (isTqError(err)) return err;
  const { text, retryable, hint } = describeMongoError(err);
  const message = `[tq] [backend-mongo] ${what} ${display}: ${text.replace(/\.$/, '')}.${hint ? ` ${hint}` : ''}`;
  const name = (err as DriverErrorLike | null)?.name;
  if (name === 'MongoParseError' || name === 'MongoInvalidArgumentError') return new ConfigurationError(message, { cause: err });
  return new BackendError(message, { cause: err, retryable });
}


/**
 * A write that failed because the connection went away (the server stopped or restarted while
 * it was on the wire), so sending it again may succeed. A bulk write reports this as a
 * MongoBulkWriteError with no write errors, the network error in `errorResponse`. Standalone
 * servers (FerretDB, a single mongod) have no retryable writes, so the driver does not retry it.
 */
export function isTransientWriteError(err: unknown): boolean {
  let e = err as (DriverErrorLike & { errorResponse?: unknown }) | null;
  for (let depth = 0; e && depth < 4; depth++) {
    if (CONNECTION_LOST.has(e.name ?? '') || (typeof e.code === 'number' && RETRYABLE_CODES.has(e.code))) return true;
    e = (e.errorResponse ?? e.cause) as typeof e;
  }
  return false;
}

/** E11000: the insert half of a conditional upsert lost to an existing document. */
export function isDuplicateKey(err: unknown): boolean {
  const e = err as DriverErrorLike | null;
  return e?.code === 11000 || e?.code === 11001;
}
