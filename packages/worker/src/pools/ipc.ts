/**
 * The protocol between a worker and its child processes or threads (docs/pools.md).
 *
 * Messages travel in batches: each side queues what it sends and writes the queue once per turn
 * of the event loop, so a task's "started" event, its result store and its "done" usually share
 * one write. Values that must keep Python/kombu types (results, task arguments in stored meta)
 * cross as kombu JSON text; the raw task message crosses as bytes and is decoded in the child.
 */
import { pyJsonDumps, pyJsonLoads, type RawMessage } from '@tq/protocol';
import {
  NotRegistered,
  SoftTimeLimitExceeded,
  TaskRevokedError,
  TimeLimitExceeded,
  TimeoutError,
  TqError,
  WorkerLostError,
  type BackendCapabilities,
  type BrokerCapabilities,
  type DeliveryInfo,
  type LogLevel,
  type Outcome,
} from '@tq/core';
import type { JobEvent } from './pool.js';

export interface ChildInit {
  appModule: string;
  hostname: string;
  kind: 'process' | 'thread';
  broker: { name: string; capabilities: BrokerCapabilities; visibilityTimeout?: number; methods: string[] };
  backend: { name: string; capabilities: BackendCapabilities; methods: string[] } | null;
  /** Log levels the worker's logger writes; the child forwards only those. */
  logLevels: LogLevel[];
  /**
   * maxMemoryPerChild (KiB), or null: the child reports its memory after each task and, when it is
   * above, starts nothing more until the worker tells it to leave (or, shutting down, to drain).
   */
  maxMemory: number | null;
}

/** What the worker sends a child. */
export type ToChild =
  | { t: 'init'; init: ChildInit }
  /** `wants`: the events the worker listens to (EVENT_BITS), when they changed since the last job sent to this child. */
  | { t: 'run'; job: number; raw: WireRaw; info: DeliveryInfo; soft: number | null; wants?: number }
  | { t: 'reply'; call: number; value?: unknown; error?: ErrorData }
  /** Hand back a queued job if it has not started (answered with `returned`; ignored otherwise). */
  | { t: 'cancel'; job: number }
  /** The worker is shutting down: run every job held, whatever the memory bound. */
  | { t: 'drain' }
  /** Hand back the queued jobs, finish the one in hand, and leave. */
  | { t: 'exit' };

/** What a child sends its worker. */
export type FromChild =
  | { t: 'ready'; pid: number; tasks: TaskSummary[] }
  | { t: 'fatal'; error: ErrorData }
  | { t: 'event'; job: number; event: WireEvent }
  | { t: 'done'; job: number; outcome: WireOutcome; memory: number }
  /** A queued job handed back unstarted (after `cancel` or `exit`). */
  | { t: 'returned'; job: number }
  | { t: 'call'; call: number; target: 'broker' | 'backend'; method: string; args: unknown }
  /** One-way calls; `id` names the task a result store is for. */
  | { t: 'cast'; target: 'broker' | 'backend'; method: string; args: unknown; id?: string }
  | { t: 'log'; level: LogLevel; message: string; fields?: Record<string, unknown> };

/** A task as a child's code registers it: the options the worker's consumer acts on. */
export interface TaskSummary {
  name: string;
  options: Record<string, unknown>;
}

/** The task options that matter to the consumer side (acks, limits, events). */
export const SUMMARY_OPTIONS = [
  'acksLate', 'acksOnFailureOrTimeout', 'rejectOnWorkerLost', 'rateLimit', 'timeLimit', 'softTimeLimit',
  'ignoreResult', 'storeErrorsEvenIfIgnored', 'trackStarted', 'sendEvents', 'maxRetries', 'priority', 'queue',
] as const;

export interface ErrorData {
  name: string;
  message: string;
  stack?: string;
  code?: string;
  retryable?: boolean;
  excType?: string;
  excModule?: string | null;
  excArgs?: unknown[];
}

export type WireEvent =
  | ['started']
  | ['succeeded', string | null, number]
  | ['failed', ErrorData, string | null, number]
  | ['retried', ErrorData, string | null]
  | ['rejected', boolean];

export type WireOutcome =
  | { state: 'SUCCESS' | 'IGNORED' | 'RETRY'; runtime: number; error?: ErrorData }
  | { state: 'FAILURE'; runtime: number; error: ErrorData; traceback: string | null; expected: boolean }
  | { state: 'REJECTED'; runtime: number; requeue: boolean; error: ErrorData }
  | { state: 'REVOKED'; runtime: number; reason: string };

/** Job events as bits of the `wants` mask a child gets. */
export const EVENT_BITS: Readonly<Record<JobEvent[0], number>> = { started: 1, succeeded: 2, failed: 4, retried: 8, rejected: 16 };

export function eventMask(events: ReadonlySet<JobEvent[0]>): number {
  let mask = 0;
  for (const event of events) mask |= EVENT_BITS[event];
  return mask;
}

/** Queue messages and write them in one batch per turn of the event loop. */
export class Outbox<T> {
  private queue: T[] = [];
  private scheduled = false;

  constructor(
    private readonly write: (batch: T[]) => void,
    private readonly onError: (error: unknown, message: T) => void = () => undefined,
  ) {}

  post(message: T): void {
    this.queue.push(message);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  readonly flush = (): void => {
    this.scheduled = false;
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    try {
      this.write(batch);
    } catch {
      // One message could not be cloned (or the channel closed): send the rest one by one.
      for (const message of batch) {
        try {
          this.write([message]);
        } catch (err) {
          this.onError(err, message);
        }
      }
    }
  };
}

/** A raw message as it crosses: the body as base64 text over JSON channels, as bytes otherwise. */
export type WireRaw = Omit<RawMessage, 'body'> & { body: Uint8Array | string };

/**
 * A raw message ready to cross. Over a JSON channel (child processes) the body becomes base64;
 * otherwise it is copied into a buffer of its own (small Node Buffers are views into a shared
 * 8 KiB slab, and cloning a view copies the whole slab).
 */
export function packRaw(raw: RawMessage, json: boolean): WireRaw {
  const body = raw.body;
  if (json) return { ...raw, body: Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('base64') };
  if (body.byteOffset === 0 && body.byteLength === body.buffer.byteLength) return raw;
  return { ...raw, body: new Uint8Array(body) };
}

export function unpackRaw(raw: WireRaw): RawMessage {
  return typeof raw.body === 'string' ? { ...raw, body: Buffer.from(raw.body, 'base64') } : (raw as RawMessage);
}

export function encodeError(error: unknown): ErrorData {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const e = error as Error & { code?: unknown; retryable?: unknown; excType?: unknown; excModule?: unknown; excArgs?: unknown };
  const data: ErrorData = { name: e.name, message: e.message };
  if (e.stack) data.stack = e.stack;
  if (typeof e.code === 'string') data.code = e.code;
  if (typeof e.retryable === 'boolean') data.retryable = e.retryable;
  if (typeof e.excType === 'string') data.excType = e.excType;
  if (typeof e.excModule === 'string' || e.excModule === null) data.excModule = e.excModule as string | null;
  if (Array.isArray(e.excArgs)) {
    try {
      data.excArgs = JSON.parse(JSON.stringify(e.excArgs)) as unknown[];
    } catch {
      data.excArgs = e.excArgs.map(String);
    }
  }
  return data;
}

const REVIVE: Record<string, (data: ErrorData) => Error> = {
  TimeLimitExceeded: (d) => new TimeLimitExceeded(typeof d.excArgs?.[0] === 'number' ? d.excArgs[0] : undefined),
  SoftTimeLimitExceeded: (d) => new SoftTimeLimitExceeded(typeof d.excArgs?.[0] === 'number' ? d.excArgs[0] : undefined),
  WorkerLostError: (d) => new WorkerLostError(d.message.replace(/^\[tq\] /, '')),
  TaskRevokedError: (d) => new TaskRevokedError(String(d.excArgs?.[0] ?? 'revoked')),
  NotRegistered: (d) => new NotRegistered(String(d.excArgs?.[0] ?? '')),
  TimeoutError: (d) => new TimeoutError(d.message.replace(/^\[tq\] /, '')),
};

/**
 * An error from the other side: tq's own errors come back as their classes (brand, code, Python
 * class), others as an Error with the original name, message, stack and Python class fields.
 */
export function decodeError(data: ErrorData): Error {
  let error: Error;
  const revive = data.excType ? REVIVE[data.excType] : undefined;
  if (revive && data.code) error = revive(data);
  else if (data.code) {
    error = new TqError(data.code, data.message, { retryable: data.retryable ?? false });
    Object.assign(error, data.excType ? { excType: data.excType, excModule: data.excModule ?? null, excArgs: data.excArgs ?? [data.message] } : {});
  } else {
    error = new Error(data.message);
    if (data.excType !== undefined) Object.assign(error, { excType: data.excType, excModule: data.excModule ?? null, excArgs: data.excArgs ?? [data.message] });
  }
  error.name = data.name;
  if (data.stack) error.stack = data.stack;
  return error;
}

/** kombu JSON for values that must keep Python types across the boundary; `undefined` is null. */
export function toJson(value: unknown): string {
  return value === undefined ? 'null' : pyJsonDumps(value);
}

export function fromJson(text: string): unknown {
  return pyJsonLoads(text);
}

export function encodeEvent(event: JobEvent): WireEvent {
  switch (event[0]) {
    case 'started':
      return ['started'];
    case 'succeeded': {
      let result: string | null;
      try {
        result = toJson(event[1]);
      } catch {
        result = JSON.stringify(String(event[1]));
      }
      return ['succeeded', result, event[2]];
    }
    case 'failed':
      return ['failed', encodeError(event[1]), event[2], event[3]];
    case 'retried':
      return ['retried', encodeError(event[1]), event[2]];
    case 'rejected':
      return ['rejected', event[1]];
  }
}

export function decodeEvent(event: WireEvent): JobEvent {
  switch (event[0]) {
    case 'started':
      return ['started'];
    case 'succeeded': {
      let result: unknown = null;
      if (event[1] !== null) {
        try {
          result = fromJson(event[1]);
        } catch {
          result = event[1];
        }
      }
      return ['succeeded', result, event[2]];
    }
    case 'failed':
      return ['failed', decodeError(event[1]), event[2], event[3]];
    case 'retried':
      return ['retried', decodeError(event[1]), event[2]];
    case 'rejected':
      return ['rejected', event[1]];
  }
}

export function encodeOutcome(outcome: Outcome): WireOutcome {
  switch (outcome.state) {
    case 'SUCCESS':
    case 'IGNORED':
      return { state: outcome.state, runtime: outcome.runtime };
    case 'RETRY':
      return { state: 'RETRY', runtime: outcome.runtime, error: encodeError(outcome.error) };
    case 'FAILURE':
      return { state: 'FAILURE', runtime: outcome.runtime, error: encodeError(outcome.error), traceback: outcome.traceback, expected: outcome.expected };
    case 'REJECTED':
      return { state: 'REJECTED', runtime: outcome.runtime, requeue: outcome.requeue, error: encodeError(outcome.error) };
    case 'REVOKED':
      return { state: 'REVOKED', runtime: outcome.runtime, reason: outcome.reason };
  }
}

export function decodeOutcome(outcome: WireOutcome): Outcome {
  switch (outcome.state) {
    case 'SUCCESS':
      return { state: 'SUCCESS', value: undefined, runtime: outcome.runtime };
    case 'IGNORED':
      return { state: 'IGNORED', runtime: outcome.runtime };
    case 'RETRY':
      return { state: 'RETRY', error: outcome.error ? decodeError(outcome.error) : null, runtime: outcome.runtime };
    case 'FAILURE':
      return { state: 'FAILURE', error: decodeError(outcome.error), traceback: outcome.traceback, runtime: outcome.runtime, expected: outcome.expected };
    case 'REJECTED':
      return { state: 'REJECTED', requeue: outcome.requeue, error: decodeError(outcome.error), runtime: outcome.runtime };
    case 'REVOKED':
      return { state: 'REVOKED', reason: outcome.reason, runtime: outcome.runtime };
  }
}

/** Fields of a log line made safe to clone. */
export function cloneableFields(fields: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!fields) return undefined;
  try {
    return JSON.parse(JSON.stringify(fields)) as Record<string, unknown>;
  } catch {
    return { fields: String(fields) };
  }
}

