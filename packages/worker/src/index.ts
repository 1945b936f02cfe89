/**
 * @tq/worker: runs tq (and Celery) tasks: consumption with prefetch, ETA holding,
 * acknowledgements, revokes, warm shutdown and remote control; the `tq` CLI.
 */
export { Worker, TerminatedSignal, type WorkerOptions, type WorkerState } from './worker.js';
export { RevokedSet, type RevokedSetOptions } from './revoked.js';
export { Pidbox, isAddressedTo, type ControlHandler } from './pidbox.js';
export { AsyncPool } from './pools/async-pool.js';
export type { Pool, PoolJob, PoolKind, PoolOptions } from './pools/pool.js';
