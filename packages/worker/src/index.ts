/**
 * @tq/worker: runs tq (and Celery) tasks: consumption with prefetch, ETA holding,
 * acknowledgements, revokes, warm shutdown, remote control and bootsteps; the `tq` CLI.
 */
export { Worker, TerminatedSignal, type WorkerOptions, type WorkerState } from './worker.js';
export { orderSteps, type Bootstep } from './bootsteps.js';
export { WorkerHooks, type WorkerHookMap, type WorkerHookName } from './hooks.js';
export { requestDict, type RequestInfo } from './request-info.js';
export { RevokedSet, type RevokedSetOptions } from './revoked.js';
export { Pidbox, isAddressedTo, type ControlHandler } from './pidbox.js';
export { AsyncPool } from './pools/async-pool.js';
export type { Pool, PoolJob, PoolKind, PoolOptions } from './pools/pool.js';
