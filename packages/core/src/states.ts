/**
 * Task states and Celery's precedence between them. A result backend keeps the state with the
 * highest precedence when two writers race (e.g. a late STARTED never hides a SUCCESS).
 */

export const PENDING = 'PENDING';
export const RECEIVED = 'RECEIVED';
export const STARTED = 'STARTED';
export const SUCCESS = 'SUCCESS';
export const FAILURE = 'FAILURE';
export const REVOKED = 'REVOKED';
export const REJECTED = 'REJECTED';
export const RETRY = 'RETRY';
export const IGNORED = 'IGNORED';

export type BuiltinState =
  | typeof PENDING
  | typeof RECEIVED
  | typeof STARTED
  | typeof SUCCESS
  | typeof FAILURE
  | typeof REVOKED
  | typeof REJECTED
  | typeof RETRY
  | typeof IGNORED;
/** A state: one of Celery's, or a custom one set with `updateState`. */
export type TaskState = BuiltinState | (string & {});

export const READY_STATES: ReadonlySet<string> = new Set([SUCCESS, FAILURE, REVOKED]);
export const UNREADY_STATES: ReadonlySet<string> = new Set([PENDING, RECEIVED, STARTED, REJECTED, RETRY]);
export const EXCEPTION_STATES: ReadonlySet<string> = new Set([RETRY, FAILURE, REVOKED]);
export const PROPAGATE_STATES: ReadonlySet<string> = new Set([FAILURE, REVOKED]);

/** Celery's order, highest first; custom states sit between FAILURE and REVOKED. */
const ORDER = [SUCCESS, FAILURE, null, REVOKED, STARTED, RECEIVED, REJECTED, RETRY, PENDING];
const CUSTOM = ORDER.indexOf(null);

/** A number where higher means "wins": precedence(SUCCESS) > precedence(STARTED). */
export function precedence(state: string): number {
  const index = ORDER.indexOf(state);
  return ORDER.length - (index === -1 ? CUSTOM : index);
}

export function isReady(state: string): boolean {
  return READY_STATES.has(state);
}
