/**
 * @tq/core: the heart of tq — apps, tasks, signatures, results, routing, states, errors, the
 * Broker and ResultBackend contracts, the task executor that workers share, and the embedded
 * `memory://` transport.
 */
export { App, createApp, type AppPlugin, type SignatureFactory, type GroupResultFactory, type StoreResultOptions } from './app.js';
export type { AppConfig, ResolvedConfig, PublishRetryPolicy } from './config.js';
export { Task, type AnyTask, matchesError, backoffInterval, parameterNames, parseRateLimit, type TaskOptions, type ResolvedTaskOptions, type ErrorMatcher } from './task.js';
export { Signature, signatureOf, type Suffixes, type Remaining, type FreezeOptions, type ArgsOf, type ResultOf, type AcceptsResult, type StepMismatch, type PipeCheck } from './signature.js';
export { toWireOptions, fromWireOptions, mergeWireOptions, type ApplyOptions, type LinkTarget, type SignatureLike } from './apply-options.js';
export { AsyncResult, type GetOptions, type RevokeOptions } from './async-result.js';
export { EagerResult } from './eager-result.js';
export { TaskContext, type ChildRef, type ContextTask, type SignalSource, type StateUpdater, type TaskContextInit } from './context.js';
export { TaskExecutor, tracebackOf, type ExecutorHooks, type ExecutorOptions, type Invoker, type Outcome, type RunOptions } from './executor.js';
export { chordPartReturn, chordError, type ChordMember } from './chord-join.js';
export {
  Control,
  Inspect,
  type BroadcastOptions,
  type ControlOptions,
  type ControlReply,
  type InspectOptions,
  type NodeReplies,
  type OkReply,
  type RequestDict,
  type ScheduledDict,
  type WorkerStats,
} from './control.js';
export { LamportClock } from './clock.js';
export { LazyAbort } from './lazy-abort.js';
export { Signals, type SignalMap, type SignalName } from './signals.js';
export { Producer, type SentTask } from './producer.js';
export { Router, type Route, type RouteMap, type RouterFunction, type TaskRoutes, type ResolvedRoute } from './routing.js';
export * from './states.js';
export * from './errors.js';
export type {
  Broker,
  BrokerCapabilities,
  BrokerEvent,
  Consumer,
  ConsumeOptions,
  Delivery,
  DeliveryInfo,
  ExchangeType,
  PublishOptions,
  PublishTarget,
  QueueBinding,
  QueueDeclaration,
  Subscription,
} from './broker.js';
export { BrokerListeners, requireCapability } from './broker.js';
export type { ResultBackend, BackendCapabilities, ChordPart, StoreOptions, WaitOptions } from './result-backend.js';
export { createBrokerFromUrl, createBackendFromUrl, redactUrl, urlScheme, type AdapterContext, type AdapterModule } from './transports.js';
export { MemoryBroker, topicMatches, type MemoryBrokerOptions } from './memory/memory-broker.js';
export { MemoryBackend, type MemoryBackendOptions } from './memory/memory-backend.js';
export { toSeconds, toSecondsOrNull, type Duration } from './duration.js';
export { createConsoleLogger, formatLine, isLogLevel, silentLogger, type Logger, type LogLevel, type ConsoleLoggerOptions } from './logger.js';
export { uuid, hostname, anonNodename, expandNodename } from './ids.js';
export { Events, taskSentFields } from './events/events.js';
export { EventDispatcher, EVENT_EXCHANGE, type EventDispatcherOptions } from './events/dispatcher.js';
export { EventReceiver, type EventHandler, type EventHandlers, type ReceivedEvent, type ReceiverOptions } from './events/receiver.js';
export {
  State,
  EventTask,
  EventWorker,
  TASK_EVENT_TO_STATE,
  HEARTBEAT_EXPIRE_WINDOW,
  type StateOptions,
  type StateListeners,
  type StateEventName,
  type StateCounts,
  type TaskQuery,
} from './events/state.js';
export { type Clock, type AdvanceOptions, systemClock, ManualClock } from './schedules/clock.js';
export { schedule, IntervalSchedule, isSchedule, humanSeconds, type Schedule, type BeatEntryDefinition, type BeatSchedule } from './schedules/schedule.js';
export { crontab, Crontab, parseCronField, type CronField, type CrontabFields } from './schedules/crontab.js';
export { solar, Solar, type SolarEvent } from './schedules/solar.js';
export { toSchedule } from './schedules/resolve.js';
export { wallTime, instantsOf, zoneOffset, assertTimeZone, type WallTime } from './schedules/timezone.js';
export { flowStoreSource, getFlowStore, closeFlowStore, leaseTtl, dedupMaxAge, flowKey, type FlowStore, type FlowSnapshot, type FlowKeyFn, type FlowTaskOptions, type ResolvedFlow, type RateLimitSpec, type DedupMode, type BatchSpec } from './flow.js';
export { sendDeduplicated, releaseDedup, dedupKeyOf } from './dedup.js';
export { batchTask, type BatchCall } from './batch.js';
