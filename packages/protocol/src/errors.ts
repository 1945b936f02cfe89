/**
 * The root of tq's error taxonomy. It lives in the protocol package because protocol is the
 * lowest layer and throws errors of its own; @tq/core re-exports it and adds the rest.
 *
 * Errors are recognised by a brand (`isTqError`) rather than `instanceof`, so that two copies
 * of a package in one process (a common npm accident) still understand each other's errors.
 */

const BRAND = Symbol.for('tq.error');

export interface TqErrorOptions {
  cause?: unknown;
  /** Whether trying the same operation again may succeed (a lost connection: yes; bad input: no). */
  retryable?: boolean;
}

export class TqError extends Error {
  /** A stable, machine-readable code such as `PROTOCOL_ERROR` or `BROKER_UNAVAILABLE`. */
  readonly code: string;
  readonly retryable: boolean;
  readonly [BRAND] = true;

  constructor(code: string, message: string, options: TqErrorOptions = {}) {
    super(message.startsWith('[tq]') ? message : `[tq] ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

export function isTqError(value: unknown, code?: string): value is TqError {
  if (typeof value !== 'object' || value === null || (value as Record<symbol, unknown>)[BRAND] !== true) return false;
  return code === undefined || (value as TqError).code === code;
}

/** A message, or part of one, that is not valid Celery wire data. Never retryable. */
export class ProtocolError extends TqError {
  /** The offending field, e.g. `headers.id` or `body[1]`. */
  readonly field: string | undefined;
  /** The message id, when it could be read. */
  readonly messageId: string | undefined;

  constructor(message: string, details: { field?: string; messageId?: string | null; cause?: unknown } = {}) {
    const where = [
      details.field ? `field ${details.field}` : null,
      details.messageId ? `message ${details.messageId}` : null,
    ].filter(Boolean);
    super('PROTOCOL_ERROR', `invalid message${where.length ? ` (${where.join(', ')})` : ''}: ${message}`, {
      cause: details.cause,
      retryable: false,
    });
    this.field = details.field;
    this.messageId = details.messageId ?? undefined;
  }
}
