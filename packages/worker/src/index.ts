/**
 * @tq/worker: runs tq (and Celery) tasks: consumption with prefetch, ETA holding, rate limits,
 * time limits, acknowledgements, revokes, warm and cold shutdown, pools (async, process, thread,
 * solo) with autoscaling and child recycling, remote control, bootsteps; the `tq` CLI.
 */
export { Worker, TerminatedSignal, type WorkerOptions, type WorkerState } from './worker.js';
export { orderSteps, type Bootstep } from './bootsteps.js';
export { WorkerHooks, type WorkerHookMap, type WorkerHookName } from './hooks.js';
export { requestDict, type RequestInfo } from './request-info.js';
export { RevokedSet, type RevokedSetOptions } from './revoked.js';
export { Pidbox, isAddressedTo, type ControlHandler } from './pidbox.js';
export { INSPECT_COMMANDS, CONTROL_COMMANDS } from './control/index.js';
export { COMMANDS as REMOTE_COMMANDS, compileArguments, type CommandMeta } from './control/meta.js';
export { AsyncPool, SoloPool } from './pools/async-pool.js';
export { ChildPool, type ChildPoolOptions } from './pools/child-pool.js';
export { POOL_KINDS, type JobEvent, type Pool, type PoolJob, type PoolKind, type PoolOptions } from './pools/pool.js';
export { RateLimiter, TokenBucket } from './rate-limit.js';
export { Autoscaler } from './autoscaler.js';
export { StateDb } from './statedb.js';
export { Autoreloader, importGraph } from './autoreload.js';
export { parseMemorySize } from './size.js';
export { eventsStep, TQ_VERSION, type EventsStep, type EventsStepOptions, type EventsController } from './events/events-step.js';
export { Beat, runTaskId, type BeatOptions, type BeatSent, type BeatEntryStatus } from './beat/beat.js';
export { beatStep, type BeatStep } from './beat/beat-step.js';
export { prepareEntries, scheduleHash, type BeatEntry, type PreparedSchedule } from './beat/entries.js';
export { FileStore, MemoryStore, backendStore, supportsBeatStore, type BeatStore } from './beat/store.js';
